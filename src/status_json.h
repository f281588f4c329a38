/* status_json: each stream consumer's figures (rows, position, lag, checkpoint age, slot and the
 * WAL it may still hold) as JSON, from stream_status's result — what `pgpulse status --json`
 * prints and what /api/pipeline serves, so the two always say the same. */
#ifndef PGPULSE_STATUS_JSON_H
#define PGPULSE_STATUS_JSON_H

#include <jansson.h>
#include <libpq-fe.h>

#include "slotbound.h"

/* {"stages":[{"name","stages","source","shard","rows","lsn","lag_bytes","lag_seconds",
 * "checkpoint_age_seconds","active","slot","slot_status","mode","recoveries","applied_xids",
 * "slot_safe_wal_bytes","max_slot_wal_keep_bytes","slot_wal_left","warning","nodes"}, ...]} for
 * the rows of r (stream_status). "nodes" is null but on Citus, where it lists each node's part:
 * {"node","lsn","lag_bytes","slot_status","slot_safe_wal_bytes","slot_wal_left","warning"}, and
 * the consumer's lag is their sum, its slot status the worst, its WAL left the least. New
 * reference. */
json_t *status_json(PGresult *r);

/* Row i of r's nodes on Citus, each with its "slot_wal_left" and "warning" (naming the node)
 * added (a new reference to the array), or NULL on plain PostgreSQL. */
json_t *status_nodes(PGresult *r, int i);

/* Assesses row i of r's slot, or on Citus its nodes' (status_nodes, else NULL): a warning
 * sentence into msg (empty when all is well; on Citus the nodes' warnings joined by "; ") and
 * the least share of the bound left into *left (-1: unknown or unbounded). Returns 1 when there
 * is a slot to assess (0 for a poller). */
int status_assess(PGresult *r, int i, json_t *nodes, double *left, char *msg, size_t len);

#endif
