/* pgpulse ingest FILE|-: CSV readings into `reading` (see readingcsv.h for the formats and
 * loader.h for how rows are written exactly once). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "csvin.h"
#include "loader.h"
#include "pgconn.h"
#include "progress.h"
#include "readingcsv.h"
#include "util.h"

#define INGEST_SHOWN_REJECTS 20  /* rejects printed to stderr; all go to ingest_reject */
#define INGEST_DEFAULT_FLUSH_MS 200

static void cmd_ingest_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse ingest FILE|- [options]\n"
            "Loads readings from a CSV file or standard input ('-').\n\n"
            "Formats, recognised by the header:\n"
            "  robot_id,ts,axis1,...,axis8    ts in ISO 8601 with a zone, or epoch seconds\n"
            "  a robot export (\"Trait\",\"Axis #1\"..\"Axis #14\",\"Time\"): give --robot ID\n\n"
            "options:\n"
            "  --db URL            database (default: $PGPULSE_DB, PG* variables, private cluster)\n"
            "  --robot ID          the robot a robot export belongs to\n"
            "  --create-robot      create that robot if it does not exist\n"
            "  --batch N           rows per transaction (default %d)\n"
            "  --flush-ms N        commit a partial batch when input pauses this long (default %d)\n"
            "  --source NAME       name recorded for the input (default: the file name)\n"
            "  --retry-seconds N   keep reconnecting after a lost connection this long (default %d)\n"
            "  --max-line N        longest line accepted, in bytes (default %d)\n"
            "Bad lines go to the table ingest_reject with their line number and reason; the load\n"
            "goes on. Rows already stored are counted, never stored twice.\n",
            LOADER_DEFAULT_BATCH, INGEST_DEFAULT_FLUSH_MS, LOADER_DEFAULT_RETRY_SECONDS,
            CSVIN_DEFAULT_MAX_LINE);
}

typedef struct ingest_args {
    const char *path;
    const char *db;
    const char *source;
    int32_t robot;
    int create_robot;
    int batch;
    int flush_ms;
    int retry_seconds;
    long max_line;
} ingest_args;

static int cmd_ingest_parse(int argc, char **argv, ingest_args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"robot", required_argument, NULL, 'r'},
        {"create-robot", no_argument, NULL, 'C'},
        {"batch", required_argument, NULL, 'b'},
        {"flush-ms", required_argument, NULL, 'f'},
        {"source", required_argument, NULL, 's'},
        {"retry-seconds", required_argument, NULL, 'R'},
        {"max-line", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    memset(a, 0, sizeof *a);
    a->batch = LOADER_DEFAULT_BATCH;
    a->flush_ms = INGEST_DEFAULT_FLUSH_MS;
    a->retry_seconds = LOADER_DEFAULT_RETRY_SECONDS;
    a->max_line = CSVIN_DEFAULT_MAX_LINE;
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': a->db = optarg; break;
        case 's': a->source = optarg; break;
        case 'C': a->create_robot = 1; break;
        case 'r':
            if (cli_parse_long("ingest", "--robot", optarg, 1, INT32_MAX, &v)) return CLI_USAGE;
            a->robot = (int32_t)v;
            break;
        case 'b':
            if (cli_parse_long("ingest", "--batch", optarg, 1, 10000000, &v)) return CLI_USAGE;
            a->batch = (int)v;
            break;
        case 'f':
            if (cli_parse_long("ingest", "--flush-ms", optarg, 1, 3600000, &v)) return CLI_USAGE;
            a->flush_ms = (int)v;
            break;
        case 'R':
            if (cli_parse_long("ingest", "--retry-seconds", optarg, 1, 86400, &v)) return CLI_USAGE;
            a->retry_seconds = (int)v;
            break;
        case 'L':
            if (cli_parse_long("ingest", "--max-line", optarg, 256, 16 << 20, &v)) return CLI_USAGE;
            a->max_line = v;
            break;
        case 'h': cmd_ingest_usage(stdout); return CLI_OK;
        default: cmd_ingest_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cmd_ingest_usage(stderr);
        return CLI_USAGE;
    }
    a->path = argv[optind];
    if (!a->source) a->source = a->path;
    return -1;
}

/* For a robot export: the robot must exist, or be created when asked. A step (cli_retry):
 * both statements can run again after a lost connection. */
static int cmd_ingest_check_robot(PGconn *conn, void *arg, char *err, size_t errlen)
{
    const ingest_args *a = arg;
    char id[16];
    snprintf(id, sizeof id, "%d", (int)a->robot);
    /* A created robot is named after its file, without directory and extension. */
    const char *slash = strrchr(a->path, '/');
    char base[256];
    snprintf(base, sizeof base, "%s", slash ? slash + 1 : a->path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = '\0';
    const char *params[] = {id, base};
    const char *sql = a->create_robot
                          ? "INSERT INTO robot (robot_id, name) VALUES ($1, $2) "
                            "ON CONFLICT (robot_id) DO NOTHING"
                          : "SELECT 1 FROM robot WHERE robot_id = $1 AND $2::text IS NOT NULL";
    PGresult *r = NULL;
    int rc = pgconn_query(conn, sql, 2, params,
                          a->create_robot ? PGRES_COMMAND_OK : PGRES_TUPLES_OK, &r, err, errlen);
    if (rc != 0) return rc;
    if (a->create_robot && strcmp(PQcmdTuples(r), "1") == 0) {
        fprintf(stderr, "pgpulse ingest: created robot %d ('%s')\n", (int)a->robot, base);
    } else if (!a->create_robot && PQntuples(r) == 0) {
        util_err(err, errlen,
                 "robot %d does not exist: load the asset tables (pgpulse import-assets DIR) or "
                 "pass --create-robot",
                 (int)a->robot);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int cmd_ingest(int argc, char **argv)
{
    ingest_args a;
    int prc = cmd_ingest_parse(argc, argv, &a);
    if (prc >= 0) return prc;

    int fd = 0;
    uint64_t total = 0;
    if (strcmp(a.path, "-") != 0) {
        fd = open(a.path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            cli_error("ingest", "%s: %s", a.path, strerror(errno));
            return CLI_FAIL;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) total = (uint64_t)st.st_size;
    }

    int rc = CLI_FAIL;
    char err[2048];
    char *conninfo = NULL;
    PGconn *conn = NULL;
    loader *ld = NULL;
    csvin *in = csvin_new(fd, (size_t)a.max_line);
    csvin_row row;
    readingcsv fmt;
    progress prog;
    uint64_t nread = 0;
    int warned_extra = 0;

    int got = csvin_next(in, &row, -1, err, sizeof err);
    if (got == CSVIN_IOERR) {
        cli_error("ingest", "%s: %s", a.path, err);
        goto cleanup;
    }
    if (got == CSVIN_EOF) {
        cli_error("ingest", "%s: empty input (no header line)", a.path);
        goto cleanup;
    }
    if (readingcsv_detect(&fmt, &row, a.robot, err, sizeof err) != 0) {
        cli_error("ingest", "%s:%llu: %s", a.path, (unsigned long long)row.line_no, err);
        rc = fmt.format == READINGCSV_WORKSHOP && a.robot <= 0 ? CLI_USAGE : CLI_FAIL;
        goto cleanup;
    }
    if (fmt.ignored[0])
        fprintf(stderr, "pgpulse ingest: %s: ignoring column(s) %s\n", a.path, fmt.ignored);
    csvin_keep_blank_lines(in, 1); /* below the header, a line that lost its content is a reject */

    conn = cli_connect_retry("ingest", a.db, 1, a.retry_seconds, &conninfo);
    if (!conn) goto cleanup;
    if (fmt.format == READINGCSV_WORKSHOP &&
        cli_retry("ingest", conninfo, a.retry_seconds, &conn, cmd_ingest_check_robot, &a, err,
                  sizeof err) != 0) {
        cli_error("ingest", "%s", err);
        goto cleanup;
    }
    PQfinish(conn);
    conn = NULL;

    loader_opts lo = {.source = a.source, .batch_rows = a.batch, .retry_seconds = a.retry_seconds};
    ld = loader_new(conninfo, &lo, err, sizeof err);
    if (!ld) {
        cli_error("ingest", "%s", err);
        goto cleanup;
    }

    progress_start(&prog, total);
    int64_t now_us = util_now_us();
    uint64_t shown = 0;
    for (;;) {
        int64_t age = loader_pending_age_ms(ld);
        int timeout = age < 0 ? -1 : (age >= a.flush_ms ? 0 : a.flush_ms - (int)age);
        got = csvin_next(in, &row, timeout, err, sizeof err);
        if (got == CSVIN_TIMEOUT) {
            if (loader_flush(ld, err, sizeof err) != 0) goto failed;
            continue;
        }
        if (got == CSVIN_IOERR) {
            cli_error("ingest", "%s: %s", a.path, err);
            goto failed;
        }
        if (got == CSVIN_EOF) break;
        nread++;
        if ((nread & 4095) == 0) now_us = util_now_us();
        reading rd;
        char reason[256];
        int d = readingcsv_decode(&fmt, &row, now_us, &rd, reason, sizeof reason);
        if (d == READINGCSV_REJECT) {
            if (shown++ < INGEST_SHOWN_REJECTS)
                fprintf(stderr, "%s:%llu: rejected: %s\n", a.path,
                        (unsigned long long)row.line_no, reason);
            if (loader_reject(ld, row.line_no, row.raw, row.raw_len, reason, err, sizeof err))
                goto failed;
        } else {
            if (d == READINGCSV_OK_EXTRA && !warned_extra++)
                fprintf(stderr,
                        "%s:%llu: note: Axis #9..#14 hold values; pgpulse stores axes 1-8 "
                        "(said once)\n",
                        a.path, (unsigned long long)row.line_no);
            if (loader_add(ld, &rd, row.line_no, row.raw, row.raw_len, err, sizeof err))
                goto failed;
        }
        progress_update(&prog, nread, csvin_bytes_read(in));
    }
    if (loader_flush(ld, err, sizeof err) != 0) goto failed;
    progress_finish(&prog);

    const loader_stats *s = loader_get_stats(ld);
    if (shown > INGEST_SHOWN_REJECTS)
        fprintf(stderr, "%s: ... and %llu more rejected lines (all are in ingest_reject)\n",
                a.path, (unsigned long long)(shown - INGEST_SHOWN_REJECTS));
    double secs = progress_elapsed(&prog);
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("%s: read %s, inserted %s, already present %s, rejected %s in %.2f s (%s rows/s)\n",
           a.source, util_fmt_count(b1, sizeof b1, nread),
           util_fmt_count(b2, sizeof b2, s->inserted), util_fmt_count(b3, sizeof b3, s->present),
           util_fmt_count(b4, sizeof b4, s->rejected), secs,
           util_fmt_count(b5, sizeof b5, (uint64_t)(secs > 0 ? (double)nread / secs : 0)));
    rc = CLI_OK;
    goto cleanup;

failed:
    progress_finish(&prog);
    cli_error("ingest", "%s: %s", a.path, err);
    fprintf(stderr,
            "pgpulse ingest: %llu rows were committed before this; running the same command "
            "again finishes the load (rows already stored are skipped)\n",
            (unsigned long long)(loader_get_stats(ld)->inserted + loader_get_stats(ld)->present));
cleanup:
    loader_free(ld);
    if (conn) PQfinish(conn);
    free(conninfo);
    csvin_free(in);
    if (fd > 0) close(fd);
    return rc;
}
