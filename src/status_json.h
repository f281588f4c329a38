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
 * "slot_safe_wal_bytes","max_slot_wal_keep_bytes","slot_wal_left","warning"}, ...]} for the rows
 * of r (stream_status). New reference. */
json_t *status_json(PGresult *r);

/* The slot of row i of r, as slotbound sees it; returns 0 for a consumer without a slot (poll). */
int status_slot(PGresult *r, int i, slotbound_slot *s);

#endif
