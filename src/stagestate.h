/* stagestate: a stage's per-robot state blocks (detect_robot_state, learn_robot_state), written
 * in one statement at the stage's commit: the robots' ids and their blocks as two binary arrays
 * unnested into an upsert on (consumer, robot_id). */
#ifndef PGPULSE_STAGESTATE_H
#define PGPULSE_STAGESTATE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "buf.h"

/* Appends one robot's block to out. */
typedef void stagestate_save_fn(const void *robot, buf *out);

/* Upserts n blocks into table (a constant of the caller: detect_robot_state, ...) for consumer:
 * robot ids[i] gets the block save(robots[i]) writes. n 0 does nothing. Returns 0, or -1 with a
 * message. */
int stagestate_write(PGconn *conn, const char *table, const char *consumer, const int32_t *ids,
                     const void *const *robots, size_t n, stagestate_save_fn *save, char *err,
                     size_t errlen);

#endif
