/* stagestate: per-robot state blocks of a stage, upserted in one statement. */
#include "stagestate.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "pgconn.h"
#include "util.h"

#define STAGESTATE_OID_INT4 23
#define STAGESTATE_OID_BYTEA 17

int stagestate_write(PGconn *conn, const char *table, const char *consumer, const int32_t *ids,
                     const void *const *robots, size_t n, stagestate_save_fn *save, char *err,
                     size_t errlen)
{
    if (!n) return 0;
    buf idb = {0}, states = {0};
    pgarray_bin_header(&idb, STAGESTATE_OID_INT4, n);
    pgarray_bin_header(&states, STAGESTATE_OID_BYTEA, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t id = htonl((uint32_t)ids[i]);
        pgarray_bin_elem(&idb, &id, 4);
        /* The element's length, then the block saved in place. */
        size_t at = states.len;
        buf_append(&states, "\0\0\0\0", 4);
        save(robots[i], &states);
        uint32_t len = htonl((uint32_t)(states.len - at - 4));
        memcpy(states.data + at, &len, 4);
    }
    char *sql = xasprintf("INSERT INTO %s (consumer, robot_id, state) "
                          "SELECT $1, i, st FROM unnest($2::int[], $3::bytea[]) AS x(i, st) "
                          "ON CONFLICT (consumer, robot_id) DO UPDATE SET state = EXCLUDED.state",
                          table);
    const char *p[] = {consumer, (const char *)idb.data, (const char *)states.data};
    int lens[] = {0, (int)idb.len, (int)states.len};
    int fmts[] = {0, 1, 1};
    PGresult *r = PQexecParams(conn, sql, 3, NULL, p, lens, fmts, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = -1;
    }
    PQclear(r);
    free(sql);
    buf_free(&idb);
    buf_free(&states);
    return rc;
}
