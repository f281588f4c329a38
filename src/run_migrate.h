/* run_migrate: moves a home made by an older `pgpulse run` — two consumers, `live` (stage live)
 * and `detect` (stage detect), each with its own slot — to the one consumer `pipeline` (stages
 * live,detect) that run now starts, exactly once: the pipeline's slot is created first, at a
 * consistent point C; each old consumer is run alone until it has applied every transaction that
 * commits below C and none at or above it (stream_opts.stop_lsn); then in one transaction the
 * stages' state and outputs (stream_stage_state, detect_robot_state, anomaly, detect_band) move
 * to `pipeline` and the old consumers are dropped with their slots (stream_drop). The pipeline's
 * slot delivers exactly the transactions that commit at or after C, so no reading is applied
 * twice or skipped, and its detect stage goes on from the old one's state as if one consumer had
 * read everything. Killed at any step, it is run again and finishes (docs/streaming.md,
 * "Migrating an old home"). */
#ifndef PGPULSE_RUN_MIGRATE_H
#define PGPULSE_RUN_MIGRATE_H

#include <stddef.h>

#define RUN_MIGRATE_PIPELINE "pipeline" /* the consumer `pgpulse run` runs */

/* What a migration did. */
typedef struct run_migrate_result {
    int migrated;     /* 1: old consumers were moved to pipeline now; 0: there were none */
    char from[32];    /* the old consumers moved: "live and detect", "live" or "detect" */
    char lsn[32];     /* where pipeline took over from them (its slot's consistent point) */
    char slots[300];  /* the old slots dropped, ", "-separated ("" if none existed) */
} run_migrate_result;

/* Migrates the consumers live and detect of an older run to RUN_MIGRATE_PIPELINE, if the database
 * has them (else returns 0 with res->migrated 0, having changed nothing). owner_url is used for
 * the move and the drops (the schema's owner); stage_url for running the consumers and creating
 * the pipeline's slot (the login the stages run as). The old consumers must not be running: one
 * that is (it holds its consumer lock) is reported, as is a `pipeline` that has applied rows of
 * its own beside them, or a consumer named live or detect that is not of the old layout (other
 * stages, polling, shards). Creating the slot waits for the transactions open in the cluster.
 * Resumable: killed at any point and called again, it finishes with the same outcome. Returns
 * 0, or -1 with a message. Fault injection for tests: PGPULSE_TEST_FAULT=migrate-STEP:N kills
 * the process at the N-th pass through STEP (settled, prepared, drained-live, drained-detect,
 * moved, dropped). */
int run_migrate(const char *owner_url, const char *stage_url, run_migrate_result *res, char *err,
                size_t errlen);

#endif
