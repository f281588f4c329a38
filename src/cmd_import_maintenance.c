/* pgpulse import-maintenance FILE|-: work orders from a maintenance log (CSV or JSON lines, see
 * maintlog.h) into maintenance_event, in one transaction.
 *
 * Reject and continue, as `pgpulse ingest` does: a line that is not a valid order, an order for
 * a robot that does not exist, an order whose id appears again further down the file, and an
 * order with the same robot, kind and start as another event already stored go to
 * ingest_reject with their line and reason; the others load. A work order's id is unique
 * within its source (--source, default the file's name without its directory): an order
 * already stored is left as it is when unchanged and updated when its export changed, so a
 * file imported twice stores each order once. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "loader.h"
#include "maintlog.h"
#include "pgarray.h"
#include "pgconn.h"
#include "tstamp.h"
#include "util.h"

#define IMPORT_MAINT_SHOWN_REJECTS 20          /* printed to stderr; all go to ingest_reject */
#define IMPORT_MAINT_MAX_INPUT (INT64_C(256) << 20) /* bytes read at most */

static void cmd_import_maintenance_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse import-maintenance [--db URL] [--source NAME] FILE|-\n"
            "Loads maintenance work orders into maintenance_event, in one transaction.\n\n"
            "FILE is CSV with a header naming the columns robot, start, end, kind, text and\n"
            "work_order (any case; end, text and an axis column are optional; other columns are\n"
            "ignored), or JSON lines with the same keys. Times are ISO 8601 with a zone or epoch\n"
            "seconds; kind is failure, repair, inspection or replacement.\n\n"
            "options:\n"
            "  --db URL        database (default: $PGPULSE_DB, PG* variables, private cluster)\n"
            "  --source NAME   the system that numbered the work orders: an order's id is unique\n"
            "                  within it (default: the file's name without its directory)\n"
            "Bad lines, and orders for robots that do not exist, go to ingest_reject with their\n"
            "line and reason; the load goes on. Importing the same file again stores nothing\n"
            "twice; an order whose fields changed is updated.\n");
}

/* One order as loaded, with its line for a reject found in the database. */
typedef struct import_order {
    maintlog_order o;      /* text pointers below, owned */
    char *order;           /* NUL-terminated copies */
    char *text;
    const char *raw;       /* the line in the input buffer */
    size_t raw_len;
    int rejected;          /* rejected in the file (a repeated id) */
} import_order;

typedef struct import_reject {
    uint64_t line_no;
    const char *raw;
    size_t raw_len;
    char *reason;
} import_reject;

typedef struct import_load {
    const char *path;
    const char *source;
    import_order *orders;
    size_t norders, cap_orders;
    import_reject *rejects;
    size_t nrejects, cap_rejects;
    size_t nfile_rejects;     /* rejects found in the file, before the database's */
    /* The last attempt's outcome. */
    uint64_t inserted, updated, unchanged, rejects_new;
} import_load;

static void import_add_reject(import_load *l, uint64_t line_no, const char *raw, size_t raw_len,
                              char *reason)
{
    if (l->nrejects == l->cap_rejects) {
        l->cap_rejects = l->cap_rejects ? 2 * l->cap_rejects : 64;
        l->rejects = xrealloc(l->rejects, l->cap_rejects * sizeof *l->rejects);
    }
    l->rejects[l->nrejects++] = (import_reject){line_no, raw, raw_len, reason};
}

static char *import_strndup(const char *p, size_t n)
{
    char *s = xmalloc(n + 1);
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Sorting orders: by id, and by robot, kind and start, the first line first. */
static int import_cmp_id(const void *a, const void *b)
{
    const import_order *x = *(import_order *const *)a, *y = *(import_order *const *)b;
    int c = strcmp(x->order, y->order);
    if (c) return c;
    return (x->o.line_no > y->o.line_no) - (x->o.line_no < y->o.line_no);
}

static int import_cmp_identity(const void *a, const void *b)
{
    const import_order *x = *(import_order *const *)a, *y = *(import_order *const *)b;
    if (x->o.robot_id != y->o.robot_id) return x->o.robot_id < y->o.robot_id ? -1 : 1;
    if (x->o.kind != y->o.kind) return x->o.kind < y->o.kind ? -1 : 1;
    if (x->o.start_us != y->o.start_us) return x->o.start_us < y->o.start_us ? -1 : 1;
    return (x->o.line_no > y->o.line_no) - (x->o.line_no < y->o.line_no);
}

/* Rejects the orders that repeat an earlier line's id, then those that repeat an earlier
 * order's robot, kind and start (maintenance_event stores one event per robot, kind and time). */
static void import_reject_repeats(import_load *l)
{
    if (l->norders < 2) return;
    import_order **ix = xmalloc(l->norders * sizeof *ix);
    for (size_t pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (size_t i = 0; i < l->norders; i++)
            if (!l->orders[i].rejected) ix[n++] = &l->orders[i];
        qsort(ix, n, sizeof *ix, pass == 0 ? import_cmp_id : import_cmp_identity);
        for (size_t i = 1, first = 0; i < n; i++) {
            const import_order *f = ix[first];
            int same = pass == 0 ? strcmp(f->order, ix[i]->order) == 0
                                 : f->o.robot_id == ix[i]->o.robot_id &&
                                       f->o.kind == ix[i]->o.kind &&
                                       f->o.start_us == ix[i]->o.start_us;
            if (!same) {
                first = i;
                continue;
            }
            import_order *o = ix[i];
            o->rejected = 1;
            char *reason =
                pass == 0
                    ? xasprintf("work_order: '%s' is given again (first on line %llu)", o->order,
                                (unsigned long long)ix[first]->o.line_no)
                    : xasprintf("same robot, kind and start as work order '%s' on line %llu",
                                ix[first]->order, (unsigned long long)ix[first]->o.line_no);
            import_add_reject(l, o->o.line_no, o->raw, o->raw_len, reason);
        }
    }
    free(ix);
}

/* Parses the input into orders and rejects. Returns 0, or -1 with a message in err when the
 * file cannot be read at all (its header is unusable, or it holds no non-blank line). */
static int import_parse(import_load *l, const char *data, size_t size, char *err, size_t errlen)
{
    maintlog *p = maintlog_new();
    int rc = 0;
    size_t start = 0;
    uint64_t line_no = 0;
    while (start < size) {
        const char *line = data + start;
        const char *nl = memchr(line, '\n', size - start);
        size_t len = nl ? (size_t)(nl - line) : size - start;
        start += len + 1;
        line_no++;
        maintlog_order o;
        char reason[256];
        int got = maintlog_line(p, line, len, line_no, &o, reason, sizeof reason);
        size_t raw_len = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
        if (got == MAINTLOG_BADHEADER) {
            rc = util_err(err, errlen, "%s:%llu: %s", l->path, (unsigned long long)line_no,
                          reason);
            goto done;
        }
        if (got == MAINTLOG_REJECT) {
            import_add_reject(l, line_no, line, raw_len, xstrdup(reason));
        } else if (got == MAINTLOG_ORDER) {
            if (l->norders == l->cap_orders) {
                l->cap_orders = l->cap_orders ? 2 * l->cap_orders : 64;
                l->orders = xrealloc(l->orders, l->cap_orders * sizeof *l->orders);
            }
            import_order *io = &l->orders[l->norders++];
            memset(io, 0, sizeof *io);
            io->o = o;
            io->order = import_strndup(o.order, o.order_len);
            io->text = import_strndup(o.text, o.text_len);
            io->raw = line;
            io->raw_len = raw_len;
        }
    }
    if (maintlog_get_format(p) == MAINTLOG_UNKNOWN)
        rc = util_err(err, errlen, "%s: empty input (no header line or record)", l->path);
    else
        import_reject_repeats(l);
done:
    maintlog_free(p);
    return rc;
}

/* Rejects the orders (by index) a query's first column lists, with the reason its second
 * column gives. */
static void import_reject_rows(import_load *l, const size_t *map, PGresult *r, int *dropped)
{
    for (int i = 0; i < PQntuples(r); i++) {
        size_t k = map[strtoull(PQgetvalue(r, i, 0), NULL, 10) - 1];
        import_order *o = &l->orders[k];
        dropped[k] = 1;
        import_add_reject(l, o->o.line_no, o->raw, o->raw_len, xstrdup(PQgetvalue(r, i, 1)));
    }
}

/* The orders not yet rejected as statement parameters: robot, axis, kind, start, end, text,
 * order (7 arrays); map[i] is the order behind element i + 1. */
static size_t import_arrays(const import_load *l, const int *dropped, pgarray *a, size_t *map)
{
    size_t n = 0;
    for (size_t k = 0; k < l->norders; k++) {
        const import_order *io = &l->orders[k];
        if (io->rejected || dropped[k]) continue;
        char ts[40];
        pgarray_int(&a[0], io->o.robot_id);
        if (io->o.axis)
            pgarray_int(&a[1], io->o.axis);
        else
            pgarray_null(&a[1]);
        pgarray_str(&a[2], maintlog_kind_name(io->o.kind));
        tstamp_format(io->o.start_us, ts, sizeof ts);
        pgarray_str(&a[3], ts);
        if (io->o.has_end) {
            tstamp_format(io->o.end_us, ts, sizeof ts);
            pgarray_str(&a[4], ts);
        } else {
            pgarray_null(&a[4]);
        }
        pgarray_str(&a[5], io->text[0] ? io->text : NULL);
        pgarray_str(&a[6], io->order);
        map[n++] = k;
    }
    return n;
}

/* Rejects the orders a query lists (its first column: the element's index, its second: why),
 * the query given the not-yet-rejected orders' columns cols (of import_arrays'), and the source
 * after them when with_source. Returns 0, or -1 with a message. */
static int import_reject_where(PGconn *conn, import_load *l, int *dropped, size_t *map, const int *cols,
                               int ncols, int with_source, const char *sql, char *err, size_t errlen)
{
    pgarray a[7];
    memset(a, 0, sizeof a);
    import_arrays(l, dropped, a, map);
    const char *p[8];
    int np = 0;
    for (int i = 0; i < ncols; i++) p[np++] = pgarray_end(&a[cols[i]]);
    if (with_source) p[np++] = l->source;
    PGresult *r = NULL;
    int rc = pgconn_query(conn, sql, np, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc == 0) import_reject_rows(l, map, r, dropped);
    PQclear(r);
    for (int i = 0; i < 7; i++) pgarray_free(&a[i]);
    return rc;
}

/* The import, one transaction: a cli_retry step (a loss rolls it back, or it committed and
 * running it again changes nothing). */
static int import_write(PGconn *conn, void *arg, char *err, size_t errlen)
{
    import_load *l = arg;
    for (size_t i = l->nfile_rejects; i < l->nrejects; i++) free(l->rejects[i].reason);
    l->nrejects = l->nfile_rejects;
    l->inserted = l->updated = l->unchanged = l->rejects_new = 0;
    int *dropped = xmalloc((l->norders + 1) * sizeof *dropped);
    memset(dropped, 0, (l->norders + 1) * sizeof *dropped);
    size_t *map = xmalloc((l->norders + 1) * sizeof *map);
    pgarray a[7];
    memset(a, 0, sizeof a);
    PGresult *r = NULL;
    int rc = pgconn_exec(conn, "BEGIN", err, errlen);
    if (rc) goto cleanup;

    /* Robots that do not exist; events already stored with the same robot, kind and start
     * that are not this order. */
    static const int robot_cols[] = {0}, same_cols[] = {0, 2, 3, 6};
    rc = import_reject_where(conn, l, dropped, map, robot_cols, 1, 0,
                             "SELECT i, 'robot: robot ' || r || ' does not exist (load the asset "
                             "tables: pgpulse import-assets)' FROM unnest($1::int[]) WITH ORDINALITY "
                             "AS u(r, i) WHERE NOT EXISTS (SELECT 1 FROM robot WHERE robot_id = u.r) "
                             "ORDER BY i",
                             err, errlen);
    if (rc == 0)
        rc = import_reject_where(
             conn, l, dropped, map, same_cols, 4, 1,
             "SELECT u.i, format('same robot, kind and start as event %s already stored (source %s%s)', "
             "e.event_id, coalesce(quote_literal(e.source), 'unknown'), "
             "coalesce(', work order ' || quote_literal(e.work_order), '')) "
             "FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::text[]) WITH ORDINALITY "
             "AS u(r, k, t, o, i) JOIN maintenance_event e ON e.robot_id = u.r AND e.kind = u.k "
             "AND e.ts = u.t WHERE (e.source, e.work_order) IS DISTINCT FROM ($5::text, u.o) "
             "ORDER BY u.i",
             err, errlen);
    /* An order stored for another robot: an order's robot is part of its row's key (the
     * distribution column on Citus, sql/017_distributable.sql), so it is refused, not moved. */
    static const int order_cols[] = {0, 6};
    if (rc == 0)
        rc = import_reject_where(
             conn, l, dropped, map, order_cols, 2, 1,
             "SELECT u.i, format('work order %s of source %s is stored for robot %s (event %s); "
             "an order cannot move to another robot', quote_literal(u.o), quote_literal($3::text), "
             "e.robot_id, e.event_id) "
             "FROM unnest($1::int[], $2::text[]) WITH ORDINALITY AS u(r, o, i) "
             "JOIN maintenance_event e ON e.source = $3::text AND e.work_order = u.o "
             "AND e.robot_id <> u.r ORDER BY u.i",
             err, errlen);
    if (rc) goto cleanup;

    /* The orders: new ones inserted, changed ones updated, the others left alone. */
    size_t n = import_arrays(l, dropped, a, map);
    const char *p3[] = {pgarray_end(&a[0]), pgarray_end(&a[1]), pgarray_end(&a[2]),
                        pgarray_end(&a[3]), pgarray_end(&a[4]), pgarray_end(&a[5]),
                        pgarray_end(&a[6]), l->source};
    rc = pgconn_query(
        conn,
        "INSERT INTO maintenance_event AS m (robot_id, axis, kind, ts, ts_end, detail, source, "
        "work_order, rev) SELECT r, a, k, t, e, d, $8, o, pg_current_xact_id() FROM unnest($1::int[], $2::smallint[], "
        "$3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[]) "
        "AS u(r, a, k, t, e, d, o) "
        "ON CONFLICT (robot_id, source, work_order) DO UPDATE SET "
        "axis = EXCLUDED.axis, kind = EXCLUDED.kind, ts = EXCLUDED.ts, ts_end = EXCLUDED.ts_end, "
        "detail = EXCLUDED.detail, rev = EXCLUDED.rev WHERE (m.robot_id, m.axis, m.kind, m.ts, m.ts_end, m.detail) "
        "IS DISTINCT FROM (EXCLUDED.robot_id, EXCLUDED.axis, EXCLUDED.kind, EXCLUDED.ts, "
        "EXCLUDED.ts_end, EXCLUDED.detail) RETURNING m.xmax = 0",
        8, p3, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) goto cleanup;
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 0)[0] == 't')
            l->inserted++;
        else
            l->updated++;
    }
    l->unchanged = n - (uint64_t)PQntuples(r);
    PQclear(r);
    r = NULL;
    for (int i = 0; i < 7; i++) pgarray_free(&a[i]);

    /* The rejects, each line recorded once however often the file is imported. */
    if (l->nrejects) {
        pgarray lines = {0}, raws = {0}, reasons = {0};
        for (size_t i = 0; i < l->nrejects; i++) {
            const import_reject *j = &l->rejects[i];
            pgarray_int(&lines, (int64_t)j->line_no);
            pgarray_text(&raws, j->raw, j->raw_len < LOADER_RAW_MAX ? j->raw_len : LOADER_RAW_MAX);
            pgarray_str(&reasons, j->reason);
        }
        const char *p4[] = {l->source, pgarray_end(&lines), pgarray_end(&raws),
                            pgarray_end(&reasons)};
        rc = pgconn_query(conn,
                          "INSERT INTO ingest_reject (source, line_no, raw, reason, load_id) "
                          "SELECT $1, n, w, why, gen_random_uuid() FROM unnest($2::int8[], "
                          "$3::text[], $4::text[]) AS u(n, w, why) ON CONFLICT DO NOTHING",
                          4, p4, PGRES_COMMAND_OK, &r, err, errlen);
        if (rc == 0) l->rejects_new = strtoull(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        r = NULL;
        pgarray_free(&lines);
        pgarray_free(&raws);
        pgarray_free(&reasons);
        if (rc) goto cleanup;
    }
    rc = pgconn_exec(conn, "COMMIT", err, errlen);

cleanup:
    if (rc && rc != PGCONN_LOST && PQstatus(conn) == CONNECTION_OK) {
        char ignored[256];
        pgconn_exec(conn, "ROLLBACK", ignored, sizeof ignored);
    }
    PQclear(r);
    for (int i = 0; i < 7; i++) pgarray_free(&a[i]);
    free(dropped);
    free(map);
    return rc;
}

/* Reads all of fd into b (at most IMPORT_MAINT_MAX_INPUT bytes). */
static int import_read_all(int fd, buf *b, char *err, size_t errlen)
{
    for (;;) {
        uint8_t *p = buf_reserve(b, 65536);
        ssize_t got = read(fd, p, 65536);
        if (got < 0) {
            if (errno == EINTR) continue;
            return util_err(err, errlen, "%s", strerror(errno));
        }
        if (got == 0) return 0;
        buf_commit(b, (size_t)got);
        if ((int64_t)b->len > IMPORT_MAINT_MAX_INPUT)
            return util_err(err, errlen, "larger than %lld MiB: split it",
                            (long long)(IMPORT_MAINT_MAX_INPUT >> 20));
    }
}

static void import_free(import_load *l)
{
    for (size_t i = 0; i < l->norders; i++) {
        free(l->orders[i].order);
        free(l->orders[i].text);
    }
    free(l->orders);
    for (size_t i = 0; i < l->nrejects; i++) free(l->rejects[i].reason);
    free(l->rejects);
}

static int import_cmp_reject(const void *a, const void *b)
{
    const import_reject *x = a, *y = b;
    return (x->line_no > y->line_no) - (x->line_no < y->line_no);
}

int cmd_import_maintenance(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"source", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL, *source = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'd') {
            db = optarg;
        } else if (ch == 's') {
            source = optarg;
        } else {
            cmd_import_maintenance_usage(ch == 'h' ? stdout : stderr);
            return ch == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if (optind + 1 != argc || (source && !source[0])) {
        cmd_import_maintenance_usage(stderr);
        return CLI_USAGE;
    }
    const char *path = argv[optind];
    if (!source) {
        const char *slash = strrchr(path, '/');
        source = slash && slash[1] ? slash + 1 : path;
    }

    int rc = CLI_FAIL;
    char err[1024];
    buf in = {0};
    import_load l = {.path = path, .source = source};
    PGconn *conn = NULL;
    char *conninfo = NULL;
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || import_read_all(fd, &in, err, sizeof err) != 0) {
        cli_error("import-maintenance", "%s: %s", path, fd < 0 ? strerror(errno) : err);
        goto cleanup;
    }
    if (import_parse(&l, (const char *)in.data, in.len, err, sizeof err) != 0) {
        cli_error("import-maintenance", "%s; nothing was imported", err);
        goto cleanup;
    }
    l.nfile_rejects = l.nrejects;

    conn = cli_connect("import-maintenance", db, 1, &conninfo);
    if (!conn) goto cleanup;
    if (cli_retry("import-maintenance", conninfo, CLI_RETRY_SECONDS, &conn, import_write, &l, err,
                  sizeof err) != 0) {
        cli_error("import-maintenance", "%s; nothing was imported (the transaction was rolled "
                  "back, or lost with the connection: running the same command again finishes "
                  "it)", err);
        goto cleanup;
    }

    if (l.nrejects) qsort(l.rejects, l.nrejects, sizeof *l.rejects, import_cmp_reject);
    for (size_t i = 0; i < l.nrejects && i < IMPORT_MAINT_SHOWN_REJECTS; i++)
        fprintf(stderr, "%s:%llu: rejected: %s\n", path,
                (unsigned long long)l.rejects[i].line_no, l.rejects[i].reason);
    if (l.nrejects > IMPORT_MAINT_SHOWN_REJECTS)
        fprintf(stderr, "%s: ... and %zu more rejected lines (all are in ingest_reject)\n", path,
                l.nrejects - IMPORT_MAINT_SHOWN_REJECTS);
    uint64_t loaded = l.inserted + l.updated + l.unchanged;
    printf("%s: %llu work order%s loaded (%llu new, %llu updated, %llu unchanged), %zu rejected "
           "(%llu newly recorded in ingest_reject); source '%s'\n",
           path, (unsigned long long)loaded, loaded == 1 ? "" : "s", (unsigned long long)l.inserted,
           (unsigned long long)l.updated, (unsigned long long)l.unchanged, l.nrejects,
           (unsigned long long)l.rejects_new, source);
    rc = CLI_OK;

cleanup:
    if (conn) PQfinish(conn);
    free(conninfo);
    import_free(&l);
    buf_free(&in);
    if (fd > 0) close(fd);
    return rc;
}
