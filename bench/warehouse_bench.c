/* warehouse_bench: the warehouse stage alone over a backlog — the readings of a database's
 * `reading` table, loaded into memory in (ts, robot_id) order first, handed to the stage in
 * batches of --batch rows, each batch committed in its own transaction as a consumer does
 * (stage rows + commit; no stream decoding). The dw reading facts are emptied before each run;
 * the figure is rows per second of wall time, and the time spent in the commits.
 *
 *   warehouse_bench --db URL [--batch N] [--reps R] [--limit N] */
#include <getopt.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "copybin.h"
#include "pgconn.h"
#include "stage_warehouse.h"
#include "util.h"

static reading *load(PGconn *conn, long limit, size_t *n)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8 FROM "
             "reading ORDER BY ts, robot_id%s%ld",
             limit > 0 ? " LIMIT " : "", limit > 0 ? limit : 0L);
    if (limit <= 0) sql[strlen(sql) - 1] = '\0'; /* no LIMIT: drop the trailing 0 */
    PGresult *r = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "load: %s", PQerrorMessage(conn));
        exit(1);
    }
    *n = (size_t)PQntuples(r);
    reading *rows = xmalloc(*n * sizeof *rows + 1);
    for (size_t i = 0; i < *n; i++) {
        rows[i].robot_id = (int32_t)copybin_get32((const uint8_t *)PQgetvalue(r, (int)i, 0));
        rows[i].ts_us = (int64_t)copybin_get64((const uint8_t *)PQgetvalue(r, (int)i, 1)) + COPYBIN_PG_EPOCH_US;
        for (int a = 0; a < READING_AXES; a++) {
            uint64_t u = copybin_get64((const uint8_t *)PQgetvalue(r, (int)i, 2 + a));
            memcpy(&rows[i].axis[a], &u, 8);
        }
    }
    PQclear(r);
    return rows;
}

/* CPU seconds (user + system) of this process, and of the server process behind conn (read
 * from /proc: a local server run by the same user or readable by it; -1 when unreadable). */
static double cpu_self(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}

static double cpu_backend(PGconn *conn)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", PQbackendPID(conn));
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* fields after the command name: state is field 3 */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void must(PGconn *conn, const char *sql)
{
    char err[1024];
    if (pgconn_exec(conn, sql, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", sql, err);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {0}};
    const char *db = NULL;
    long batch = STREAM_DEFAULT_BATCH_ROWS, reps = 3, limit = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'b': batch = atol(optarg); break;
        case 'r': reps = atol(optarg); break;
        case 'l': limit = atol(optarg); break;
        default: fprintf(stderr, "usage: warehouse_bench --db URL [--batch N] [--reps R] [--limit N]\n"); return 2;
        }
    }
    if (!db || batch <= 0) {
        fprintf(stderr, "usage: warehouse_bench --db URL [--batch N] [--reps R] [--limit N]\n");
        return 2;
    }
    PGconn *conn = PQconnectdb(db);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(conn));
        return 1;
    }
    size_t n;
    reading *rows = load(conn, limit, &n);
    printf("%zu readings loaded; batches of %ld rows; server process %d\n", n, batch,
           PQbackendPID(conn));
    fflush(stdout);
    char err[1024];
    stream_ctx ctx = {.consumer = "warehouse_bench", .shard = 0, .shards = 1};
    must(conn, "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES "
               "('warehouse_bench', '{warehouse}', 'poll') ON CONFLICT DO NOTHING");
    for (long rep = 0; rep < reps; rep++) {
        must(conn, "TRUNCATE dw.fact_reading_minute, dw.fact_reading_hour, dw.fact_reading_day");
        must(conn, "CHECKPOINT");
        void *st = stage_warehouse_ops.open(NULL, 0, &ctx, conn, err, sizeof err);
        if (!st) {
            fprintf(stderr, "open: %s\n", err);
            return 1;
        }
        double cpu0 = cpu_self(), be0 = cpu_backend(conn);
        int64_t t0 = util_mono_us(), in_commit = 0, in_rows = 0;
        for (size_t at = 0; at < n; at += (size_t)batch) {
            size_t k = n - at < (size_t)batch ? n - at : (size_t)batch;
            int64_t a = util_mono_us();
            stage_warehouse_ops.rows(st, rows + at, k);
            int64_t b = util_mono_us();
            must(conn, "BEGIN");
            buf state = {0};
            if (stage_warehouse_ops.commit(st, conn, &state, err, sizeof err)) {
                fprintf(stderr, "commit: %s\n", err);
                return 1;
            }
            must(conn, "COMMIT");
            in_rows += b - a;
            in_commit += util_mono_us() - b;
        }
        double s = (double)(util_mono_us() - t0) / 1e6;
        double cpu = cpu_self() - cpu0, be = cpu_backend(conn) - be0;
        printf("run %ld: %.2f s, %.0f rows/s (rows %.2f s, commits %.2f s; cpu: bench %.2f s, "
               "server %.2f s)\n",
               rep + 1, s, (double)n / s, (double)in_rows / 1e6, (double)in_commit / 1e6, cpu,
               be0 < 0 ? -1.0 : be);
        fflush(stdout);
        stage_warehouse_ops.free(st);
    }
    free(rows);
    PQfinish(conn);
    return 0;
}
