/* copyloop: the physical limit of loading readings, the yardstick of bench/ingest.
 *
 *     copyloop --db URL [--batch N] FILE
 *
 * Reads a native readings CSV (robot_id,ts,axis1..axis8) with pgpulse's own parser and encodes
 * every row as a COPY BINARY tuple in memory before the clock starts. Then it times only the
 * loading: COPY reading (...) FROM STDIN (FORMAT binary), one COPY per N rows (default 10,000,
 * as pgpulse ingest commits), each COPY a transaction of its own (autocommit), or a single COPY
 * for everything with --batch 0. No bookkeeping, no duplicate handling, no partition checks:
 * the partitions must exist. Prints one line for the harness to read:
 *
 *     copyloop rows=1000000 batch=10000 seconds=2.345 rows_per_s=426439 cpu_s=0.210
 *
 * (cpu_s is this process's user+system time during the timed part.) Exits 0, or 1 with a
 * message on standard error; a row the parser rejects is an error here. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "buf.h"
#include "copybin.h"
#include "csvin.h"
#include "readingcsv.h"
#include "util.h"

#define COPYLOOP_DEFAULT_BATCH 10000
#define COPYLOOP_SEND_CHUNK (256 * 1024) /* bytes per PQputCopyData, as pgpulse's loader */
#define COPYLOOP_TUPLE_LEN (2 + 8 + 12 + READING_AXES * 12) /* one encoded reading */
#define COPYLOOP_SQL "COPY reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, " \
                     "axis7, axis8) FROM STDIN (FORMAT binary)"

/* The encoded rows: tuples only, back to back; header and trailer are sent per COPY. */
typedef struct copyloop_data {
    uint8_t header[COPYBIN_HEADER_LEN]; /* the COPY BINARY header */
    buf tuples;                         /* nrows * COPYLOOP_TUPLE_LEN bytes */
    size_t nrows;                       /* rows read */
} copyloop_data;

static void copyloop_usage(FILE *out)
{
    fprintf(out, "usage: copyloop --db URL [--batch N] FILE\n"
                 "  --batch N  rows per COPY (and transaction); 0: one COPY for all (default %d)\n",
                 COPYLOOP_DEFAULT_BATCH);
}

/* Parses and encodes every row of path into d. Returns 0, or -1 with a message in err. */
static int copyloop_read(const char *path, copyloop_data *d, char *err, size_t errlen)
{
    int rc = -1;
    csvin *in = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return util_err(err, errlen, "%s: %s", path, strerror(errno));
    in = csvin_new(fd, 0);

    csvin_row row;
    readingcsv fmt;
    char why[256];
    int got = csvin_next(in, &row, -1, why, sizeof why);
    if (got != CSVIN_ROW) {
        util_err(err, errlen, "%s: %s", path, got == CSVIN_EOF ? "empty file" : why);
        goto cleanup;
    }
    if (readingcsv_detect(&fmt, &row, 0, why, sizeof why) != 0 ||
        fmt.format != READINGCSV_NATIVE) {
        util_err(err, errlen, "%s: not a native readings CSV: %s", path, why);
        goto cleanup;
    }
    int64_t now_us = util_now_us();
    while ((got = csvin_next(in, &row, -1, why, sizeof why)) == CSVIN_ROW) {
        reading r;
        if (readingcsv_decode(&fmt, &row, now_us, &r, why, sizeof why) == READINGCSV_REJECT) {
            util_err(err, errlen, "%s:%llu: %s", path, (unsigned long long)row.line_no, why);
            goto cleanup;
        }
        copybin_write_tuple_start(&d->tuples, 2 + READING_AXES);
        copybin_write_int4(&d->tuples, r.robot_id);
        copybin_write_timestamptz(&d->tuples, r.ts_us);
        for (int a = 0; a < READING_AXES; a++) copybin_write_float8(&d->tuples, r.axis[a]);
        d->nrows++;
    }
    if (got == CSVIN_IOERR) {
        util_err(err, errlen, "%s: %s", path, why);
        goto cleanup;
    }
    assert(d->tuples.len == d->nrows * COPYLOOP_TUPLE_LEN);
    buf h = {0};
    copybin_write_header(&h);
    memcpy(d->header, h.data, sizeof d->header);
    buf_free(&h);
    rc = 0;
cleanup:
    csvin_free(in);
    close(fd);
    return rc;
}

/* Sends n bytes in COPYLOOP_SEND_CHUNK pieces. Returns 0 or -1 (libpq's message on conn). */
static int copyloop_put(PGconn *conn, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k = n < COPYLOOP_SEND_CHUNK ? n : COPYLOOP_SEND_CHUNK;
        if (PQputCopyData(conn, (const char *)p, (int)k) != 1) return -1;
        p += k;
        n -= k;
    }
    return 0;
}

/* One COPY of rows [first, first + n). Returns 0, or -1 with a message in err. */
static int copyloop_copy(PGconn *conn, const copyloop_data *d, size_t first, size_t n, char *err,
                         size_t errlen)
{
    static const uint8_t trailer[2] = {0xFF, 0xFF};
    PGresult *r = PQexec(conn, COPYLOOP_SQL);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        util_err(err, errlen, "COPY: %s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int rc = -1;
    if (copyloop_put(conn, d->header, sizeof d->header) != 0 ||
        copyloop_put(conn, d->tuples.data + first * COPYLOOP_TUPLE_LEN,
                     n * COPYLOOP_TUPLE_LEN) != 0 ||
        copyloop_put(conn, trailer, sizeof trailer) != 0 || PQputCopyEnd(conn, NULL) != 1) {
        util_err(err, errlen, "sending COPY data: %s", PQerrorMessage(conn));
        goto drain;
    }
    r = PQgetResult(conn);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        util_err(err, errlen, "COPY: %s", PQresultErrorMessage(r));
    else if (strtoull(PQcmdTuples(r), NULL, 10) != n)
        util_err(err, errlen, "COPY stored %s rows, not %zu", PQcmdTuples(r), n);
    else
        rc = 0;
    PQclear(r);
drain:
    while ((r = PQgetResult(conn))) PQclear(r);
    return rc;
}

static double copyloop_cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL;
    long batch = COPYLOOP_DEFAULT_BATCH;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'd': db = optarg; break;
        case 'b':
            errno = 0;
            batch = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || batch < 0) {
                fprintf(stderr, "copyloop: --batch: expected a count >= 0, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': copyloop_usage(stdout); return 0;
        default: copyloop_usage(stderr); return 2;
        }
    }
    if (!db || optind + 1 != argc) {
        copyloop_usage(stderr);
        return 2;
    }

    int rc = 1;
    char err[1024];
    copyloop_data d = {0};
    PGconn *conn = NULL;
    if (copyloop_read(argv[optind], &d, err, sizeof err) != 0) goto fail;
    if (d.nrows == 0) {
        snprintf(err, sizeof err, "%s: no rows", argv[optind]);
        goto fail;
    }
    conn = PQconnectdb(db);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, sizeof err, "cannot connect: %s", PQerrorMessage(conn));
        goto fail;
    }

    size_t step = batch == 0 ? d.nrows : (size_t)batch;
    int64_t t0 = util_mono_us();
    double cpu0 = copyloop_cpu_s();
    for (size_t first = 0; first < d.nrows; first += step) {
        size_t n = d.nrows - first < step ? d.nrows - first : step;
        if (copyloop_copy(conn, &d, first, n, err, sizeof err) != 0) goto fail;
    }
    double secs = (double)(util_mono_us() - t0) / 1e6;
    double cpu = copyloop_cpu_s() - cpu0;
    printf("copyloop rows=%zu batch=%ld seconds=%.3f rows_per_s=%.0f cpu_s=%.3f\n", d.nrows, batch,
           secs, (double)d.nrows / secs, cpu);
    rc = 0;
    goto cleanup;
fail:
    err[strcspn(err, "\n")] = '\0'; /* libpq's messages end with a newline */
    fprintf(stderr, "copyloop: %s\n", err);
cleanup:
    if (conn) PQfinish(conn);
    buf_free(&d.tuples);
    return rc;
}
