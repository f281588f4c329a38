/* stage_warehouse: the `warehouse` stage (issue 12, docs/warehouse.md) — keeps
 * dw.fact_reading_minute, dw.fact_reading_hour and dw.fact_reading_day equal, at every commit,
 * to the aggregates (dw_agg.h) of the readings it has seen, and runs the registered fact feeds
 * (dw.sync_feeds) in the same transaction. It keeps no state of its own: the tables are the
 * state. Also the writing primitives `pgpulse warehouse refresh` uses (cmd_warehouse.c). */
#ifndef PGPULSE_STAGE_WAREHOUSE_H
#define PGPULSE_STAGE_WAREHOUSE_H

#include <libpq-fe.h>

#include "dw_agg.h"
#include "stream.h"

extern const stream_stage_ops stage_warehouse_ops;

/* The fact tables by grain. */
typedef enum warehouse_level {
    WAREHOUSE_MINUTE = 0,
    WAREHOUSE_HOUR = 1,
    WAREHOUSE_DAY = 2,
} warehouse_level;

/* The SQL name of the level's table ("dw.fact_reading_minute") and its period column. */
const char *warehouse_table(warehouse_level level);
const char *warehouse_column(warehouse_level level);

/* Writes the cells of `cells` (whose period must be the level's) to the level's table. With
 * add, each cell is first merged with the row already stored for its key (which it then
 * replaces): the table receives cells as increments. Without, each cell replaces its row.
 * Uses p as scratch. Inside the caller's transaction, which should hold the lock that
 * serialises writers (warehouse_lock). The cells hold the merged values afterwards. Returns 0,
 * or -1 with a message. */
int warehouse_write(PGconn *conn, warehouse_level level, dw_agg *cells, dw_agg_params *p, int add,
                    char *err, size_t errlen);

/* Adds the minutes of the cells of a minute dw_agg to dw.dim_time (dw.ensure_time over each run
 * of consecutive minutes). Returns 0, or -1 with a message. */
int warehouse_ensure_time(PGconn *conn, const dw_agg *minutes, char *err, size_t errlen);

/* The lock that serialises the writers of the reading facts, inside the caller's transaction:
 * the stage takes it shared (stages of disjoint robots write side by side), a refresh
 * exclusive. Returns 0, or -1 with a message. */
int warehouse_lock(PGconn *conn, int exclusive, char *err, size_t errlen);

#endif
