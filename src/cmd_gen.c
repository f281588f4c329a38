/* pgpulse gen: the fleet simulator (gen.h) as a command — paced to a rate, written as CSV or
 * into PostgreSQL through the same batched, idempotent loader as `pgpulse ingest`, with the
 * ground truth of its faults as CSV (--truth) and in the fault table. Also fits profiles
 * (--calibrate). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "calstats.h"
#include "cli.h"
#include "csvin.h"
#include "gen.h"
#include "genprof.h"
#include "loader.h"
#include "pgarray.h"
#include "pgconn.h"
#include "readingcsv.h"
#include "tstamp.h"
#include "util.h"

#define GEN_DEFAULT_ROBOTS 20
#define GEN_DEFAULT_START "2026-01-01T00:00:00Z" /* unpaced runs: a fixed start, same output */
#define GEN_CSV_BUF (1 << 20)
#define GEN_FLUSH_MS 100 /* a paced run commits what waits at least this often */

static volatile sig_atomic_t cmd_gen_stop;

static void cmd_gen_on_signal(int sig)
{
    (void)sig;
    cmd_gen_stop = 1;
}

static void cmd_gen_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse gen [options]                  simulate a robot fleet\n"
            "       pgpulse gen --calibrate FILE --profile-out P.json   fit a profile\n\n"
            "  --robots N          fleet size (default %d); robot ids from --first-robot (1)\n"
            "  --rate R|max        rows per second for the whole fleet, held steady\n"
            "  --speedup X|max     simulated time runs X times faster than wall time\n"
            "                      (default: real time for an endless run; max with --rows or\n"
            "                      --duration). With --rate and no --speedup, X is 1 and the\n"
            "                      robots' sampling interval is set to meet the rate.\n"
            "  --rows N            stop after N rows (plus any late rows still held back)\n"
            "  --duration S        stop after S simulated seconds\n"
            "  --seed S            same seed, same output, byte for byte (default 1)\n"
            "  --start TS          simulated start, ISO 8601 or epoch seconds (default: now when\n"
            "                      paced, " GEN_DEFAULT_START " when unpaced)\n"
            "  --faults none|default|heavy   fault injection (default: default; see below)\n"
            "  --profile FILE      a profile from --calibrate (default: built in, fitted from the\n"
            "                      workshop's robot export)\n"
            "  --out -             write native CSV to standard output instead of the database\n"
            "  --truth FILE        write the faults as CSV: robot_id,axis,kind,level,ts_start,ts_end\n"
            "  --db URL            database (default: $PGPULSE_DB, PG* variables, private cluster);\n"
            "                      rows go through the ingest loader, faults to the fault table\n"
            "  --batch N           rows per transaction into the database (default %d)\n\n"
            "Faults per robot and simulated hour with --faults default (heavy: 5x, wear 3x):\n"
            "  plateau 0.4 (15-45 rows +2-4 sigma ALERT, +4-6 sigma ERROR), spike 0.5 (one row\n"
            "  1.5-3x the axis's largest running current, ERROR),\n"
            "  stuck 0.1, noise 0.2, dropout 0.05, wear 1 per 7 days (ends in a failure and a\n"
            "  repair), duplicate 0.5, late 0.5, clock_jump 0.03. See docs/simulator.md.\n",
            GEN_DEFAULT_ROBOTS, LOADER_DEFAULT_BATCH);
}

typedef struct gen_args {
    int robots;
    int32_t first_robot;
    double rate;      /* 0: not given; INFINITY: max */
    double speedup;   /* 0: not given; INFINITY: max */
    int64_t rows;     /* 0: unbounded */
    double duration;  /* 0: unbounded */
    uint64_t seed;
    const char *start;
    gen_faults faults;
    const char *profile;
    const char *out;
    const char *truth;
    const char *db;
    int batch;
    const char *calibrate;
    const char *profile_out;
} gen_args;

static int cmd_gen_number(const char *flag, const char *val, double lo, double hi, int allow_max,
                          double *out)
{
    if (allow_max && !strcmp(val, "max")) {
        *out = INFINITY;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || *end || end == val || !(v >= lo && v <= hi)) {
        cli_error("gen", "%s: expected a number in %g..%g%s, got '%s'", flag, lo, hi,
                  allow_max ? " or max" : "", val);
        return -1;
    }
    *out = v;
    return 0;
}

static int cmd_gen_parse(int argc, char **argv, gen_args *a)
{
    static const struct option opts[] = {
        {"robots", required_argument, NULL, 'n'},   {"first-robot", required_argument, NULL, 'F'},
        {"rate", required_argument, NULL, 'r'},     {"speedup", required_argument, NULL, 'x'},
        {"rows", required_argument, NULL, 'R'},     {"duration", required_argument, NULL, 'D'},
        {"seed", required_argument, NULL, 's'},     {"start", required_argument, NULL, 'S'},
        {"faults", required_argument, NULL, 'f'},   {"profile", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},      {"truth", required_argument, NULL, 't'},
        {"db", required_argument, NULL, 'd'},       {"batch", required_argument, NULL, 'b'},
        {"calibrate", required_argument, NULL, 'c'}, {"profile-out", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},           {0}};
    memset(a, 0, sizeof *a);
    a->robots = GEN_DEFAULT_ROBOTS;
    a->first_robot = 1;
    a->seed = 1;
    a->faults = GEN_FAULTS_DEFAULT;
    a->batch = LOADER_DEFAULT_BATCH;
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (cmd_gen_number("--robots", optarg, 1, 10000000, 0, &v)) return CLI_USAGE;
            a->robots = (int)v;
            break;
        case 'F':
            if (cmd_gen_number("--first-robot", optarg, 1, 2000000000, 0, &v)) return CLI_USAGE;
            a->first_robot = (int32_t)v;
            break;
        case 'r':
            if (cmd_gen_number("--rate", optarg, 0.01, 1e9, 1, &a->rate)) return CLI_USAGE;
            break;
        case 'x':
            if (cmd_gen_number("--speedup", optarg, 1e-3, 1e9, 1, &a->speedup)) return CLI_USAGE;
            break;
        case 'R':
            if (cmd_gen_number("--rows", optarg, 1, 1e15, 0, &v)) return CLI_USAGE;
            a->rows = (int64_t)v;
            break;
        case 'D':
            if (cmd_gen_number("--duration", optarg, 0.001, 1e10, 0, &a->duration)) return CLI_USAGE;
            break;
        case 's':
            if (cmd_gen_number("--seed", optarg, 0, 1.8e19, 0, &v)) return CLI_USAGE;
            a->seed = (uint64_t)v;
            break;
        case 'S': a->start = optarg; break;
        case 'f':
            if (!strcmp(optarg, "none"))
                a->faults = GEN_FAULTS_NONE;
            else if (!strcmp(optarg, "default"))
                a->faults = GEN_FAULTS_DEFAULT;
            else if (!strcmp(optarg, "heavy"))
                a->faults = GEN_FAULTS_HEAVY;
            else {
                cli_error("gen", "--faults: expected none, default or heavy, got '%s'", optarg);
                return CLI_USAGE;
            }
            break;
        case 'p': a->profile = optarg; break;
        case 'o': a->out = optarg; break;
        case 't': a->truth = optarg; break;
        case 'd': a->db = optarg; break;
        case 'b':
            if (cmd_gen_number("--batch", optarg, 1, 1e7, 0, &v)) return CLI_USAGE;
            a->batch = (int)v;
            break;
        case 'c': a->calibrate = optarg; break;
        case 'P': a->profile_out = optarg; break;
        case 'h': cmd_gen_usage(stdout); return CLI_OK;
        default: cmd_gen_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("gen", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (a->out && strcmp(a->out, "-") != 0) {
        cli_error("gen", "--out: only '-' (standard output) is supported; redirect it to a file");
        return CLI_USAGE;
    }
    if (a->calibrate && !a->profile_out) {
        cli_error("gen", "--calibrate needs --profile-out FILE");
        return CLI_USAGE;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* --calibrate */

static int cmd_gen_calibrate(const gen_args *a)
{
    int fd = open(a->calibrate, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("gen", "%s: %s", a->calibrate, strerror(errno));
        return CLI_FAIL;
    }
    csvin *in = csvin_new(fd, 0);
    csvin_row row;
    readingcsv fmt;
    char err[512];
    int rc = CLI_FAIL;
    reading *rows = NULL;
    size_t n = 0, cap = 0, bad = 0;
    int got = csvin_next(in, &row, -1, err, sizeof err);
    if (got != CSVIN_ROW) {
        cli_error("gen", "%s: %s", a->calibrate, got == CSVIN_EOF ? "empty file" : err);
        goto cleanup;
    }
    if (readingcsv_detect(&fmt, &row, 1, err, sizeof err) != 0) {
        cli_error("gen", "%s:%llu: %s", a->calibrate, (unsigned long long)row.line_no, err);
        goto cleanup;
    }
    int64_t now = util_now_us();
    while ((got = csvin_next(in, &row, -1, err, sizeof err)) == CSVIN_ROW) {
        if (n == cap) rows = xrealloc(rows, sizeof *rows * (cap = cap ? cap * 2 : 65536));
        char reason[256];
        if (readingcsv_decode(&fmt, &row, now, &rows[n], reason, sizeof reason) == READINGCSV_REJECT) {
            if (bad++ < 10)
                fprintf(stderr, "%s:%llu: skipped: %s\n", a->calibrate,
                        (unsigned long long)row.line_no, reason);
            continue;
        }
        /* One robot's series: a native file with several robots is fitted on the first. */
        if (n > 0 && rows[n].robot_id != rows[0].robot_id) continue;
        n++;
    }
    if (got == CSVIN_IOERR) {
        cli_error("gen", "%s: %s", a->calibrate, err);
        goto cleanup;
    }
    genprof p;
    if (genprof_fit(&p, rows, n, a->calibrate, err, sizeof err) != 0) {
        cli_error("gen", "%s: %s", a->calibrate, err);
        goto cleanup;
    }
    gen_calibrate(&p, a->seed);
    if (genprof_save(&p, a->profile_out, err, sizeof err) != 0) {
        cli_error("gen", "%s", err);
        goto cleanup;
    }
    fprintf(stderr,
            "pgpulse gen: fitted %s from %zu rows of robot %d (%zu lines skipped): idle %.1f %%, "
            "median interval %.3f s, program %.1f s\n",
            a->profile_out, n, (int)rows[0].robot_id, bad, 100 * p.target.idle_fraction,
            p.interval_q[GENPROF_QN / 2], p.program_s);
    rc = CLI_OK;
cleanup:
    free(rows);
    csvin_free(in);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Sinks */

typedef struct gen_sink {
    /* CSV */
    int csv;                 /* writing CSV to stdout */
    char *cbuf;
    size_t clen;
    readingcsv_writer w;
    /* database */
    loader *ld;
    PGconn *ctl;             /* faults and maintenance events */
    const char *conninfo;    /* to reconnect ctl */
    pgarray f_robot, f_axis, f_kind, f_level, f_start, f_end, f_mag, f_rows;
    size_t f_n;
    pgarray e_robot, e_axis, e_kind, e_ts;
    size_t e_n;
    char source[64];
    /* truth CSV */
    FILE *truth;
    uint64_t faults, events;
} gen_sink;

static int gen_sink_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int gen_sink_flush_csv(gen_sink *s, char *err, size_t errlen)
{
    if (!s->csv || !s->clen) return 0;
    if (gen_sink_write_all(s->cbuf, s->clen) != 0)
        return util_err(err, errlen, "writing to standard output: %s", strerror(errno));
    s->clen = 0;
    return 0;
}

static int gen_sink_row(gen_sink *s, const reading *r, char *err, size_t errlen)
{
    if (s->csv) {
        if (GEN_CSV_BUF - s->clen < READINGCSV_ROW_MAX && gen_sink_flush_csv(s, err, errlen))
            return -1;
        s->clen += readingcsv_write_row(&s->w, r, s->cbuf + s->clen);
        return 0;
    }
    return loader_add(s->ld, r, 0, "", 0, err, errlen);
}

static void gen_fmt_ts(int64_t us, char *out, size_t len)
{
    tstamp_format(us, out, len);
}

/* The faults and events of one flush as statement parameters (a cli_retry step's argument). */
typedef struct gen_truth {
    const char *faults[9];
    size_t nfaults;
    const char *events[5];
    size_t nevents;
} gen_truth;

/* Inserts them: a cli_retry step, as both statements skip rows already stored. */
static int gen_insert_truth(PGconn *conn, void *arg, char *err, size_t errlen)
{
    const gen_truth *t = arg;
    int rc = 0;
    if (t->nfaults)
        rc = pgconn_query(
            conn,
            "INSERT INTO fault (robot_id, axis, kind, level, ts_start, ts_end, magnitude, rows, "
            "source) SELECT *, $9 FROM unnest($1::int[], $2::smallint[], $3::text[], $4::text[], "
            "$5::timestamptz[], $6::timestamptz[], $7::float8[], $8::bigint[]) "
            "ON CONFLICT (robot_id, kind, coalesce(axis, 0), ts_start) DO NOTHING",
            9, t->faults, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc == 0 && t->nevents)
        rc = pgconn_query(
            conn,
            "INSERT INTO maintenance_event (robot_id, axis, kind, ts, detail, source) "
            "SELECT r, a, k, t, CASE k WHEN 'failure' THEN 'wear of axis ' || a END, $5 "
            "FROM unnest($1::int[], $2::smallint[], $3::text[], $4::timestamptz[]) AS x(r, a, k, t) "
            "ON CONFLICT (robot_id, kind, ts) DO NOTHING",
            5, t->events, PGRES_COMMAND_OK, NULL, err, errlen);
    return rc;
}

/* Writes the faults and events gathered so far to the database (one statement each; a lost
 * connection is re-established and the statements run again). */
static int gen_sink_flush_truth(gen_sink *s, char *err, size_t errlen)
{
    if (!s->ctl || (!s->f_n && !s->e_n)) return 0;
    gen_truth t = {.faults = {pgarray_end(&s->f_robot), pgarray_end(&s->f_axis),
                              pgarray_end(&s->f_kind), pgarray_end(&s->f_level),
                              pgarray_end(&s->f_start), pgarray_end(&s->f_end),
                              pgarray_end(&s->f_mag), pgarray_end(&s->f_rows), s->source},
                   .nfaults = s->f_n,
                   .events = {pgarray_end(&s->e_robot), pgarray_end(&s->e_axis),
                              pgarray_end(&s->e_kind), pgarray_end(&s->e_ts), s->source},
                   .nevents = s->e_n};
    int rc = cli_retry("gen", s->conninfo, CLI_RETRY_SECONDS, &s->ctl, gen_insert_truth, &t, err,
                       errlen);
    pgarray *arrays[] = {&s->f_robot, &s->f_axis,  &s->f_kind, &s->f_level, &s->f_start, &s->f_end,
                         &s->f_mag,   &s->f_rows,  &s->e_robot, &s->e_axis, &s->e_kind, &s->e_ts};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(arrays); i++) pgarray_free(arrays[i]);
    s->f_n = s->e_n = 0;
    return rc;
}

static void gen_sink_fault(gen_sink *s, const gen_fault *f)
{
    char a[40], b[40];
    gen_fmt_ts(f->ts_start, a, sizeof a);
    gen_fmt_ts(f->ts_end, b, sizeof b);
    s->faults++;
    if (s->truth) {
        char axis[8];
        snprintf(axis, sizeof axis, "%d", f->axis);
        fprintf(s->truth, "%d,%s,%s,%s,%s,%s\n", (int)f->robot_id, f->axis ? axis : "all",
                gen_kind_name(f->kind), gen_level_name(f->level), a, b);
    }
    if (s->ctl) {
        pgarray_int(&s->f_robot, f->robot_id);
        if (f->axis)
            pgarray_int(&s->f_axis, f->axis);
        else
            pgarray_null(&s->f_axis);
        pgarray_str(&s->f_kind, gen_kind_name(f->kind));
        pgarray_str(&s->f_level, gen_level_name(f->level));
        pgarray_str(&s->f_start, a);
        pgarray_str(&s->f_end, b);
        pgarray_float(&s->f_mag, f->magnitude);
        pgarray_int(&s->f_rows, f->rows);
        s->f_n++;
    }
}

static void gen_sink_event(gen_sink *s, const gen_event *e)
{
    s->events++;
    if (!s->ctl) return;
    char t[40];
    gen_fmt_ts(e->ts, t, sizeof t);
    pgarray_int(&s->e_robot, e->robot_id);
    if (e->axis)
        pgarray_int(&s->e_axis, e->axis);
    else
        pgarray_null(&s->e_axis);
    pgarray_str(&s->e_kind, e->kind == GEN_FAILURE ? "failure" : "repair");
    pgarray_str(&s->e_ts, t);
    s->e_n++;
}

/* Passes finished faults and events on. */
static void gen_sink_drain(gen_sink *s, gen *g)
{
    gen_fault f;
    while (gen_pop_fault(g, &f)) gen_sink_fault(s, &f);
    gen_event e;
    while (gen_pop_event(g, &e)) gen_sink_event(s, &e);
}

/* Makes the fleet's robots exist (robots already there are used as they are). A cli_retry
 * step: the insert skips robots already stored. */
static int gen_create_robots(PGconn *conn, void *arg, char *err, size_t errlen)
{
    const gen_args *a = arg;
    char first[16], last[16];
    snprintf(first, sizeof first, "%d", (int)a->first_robot);
    snprintf(last, sizeof last, "%d", (int)(a->first_robot + a->robots - 1));
    const char *params[] = {first, last};
    int rc = pgconn_query(conn,
                          "INSERT INTO robot (robot_id, name) SELECT g, 'sim-' || g "
                          "FROM generate_series($1::int, $2::int) g ON CONFLICT DO NOTHING",
                          2, params, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc != 0) return rc;
    /* Real robots in the range would get simulated rows: say so. */
    PGresult *r = NULL;
    rc = pgconn_query(conn,
                      "SELECT count(*), string_agg(robot_id::text, ', ' ORDER BY robot_id) "
                      "FROM robot WHERE robot_id BETWEEN $1 AND $2 AND name NOT LIKE 'sim-%'",
                      2, params, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc != 0) return rc;
    if (atoi(PQgetvalue(r, 0, 0)) > 0)
        fprintf(stderr,
                "pgpulse gen: note: robot(s) %.200s are not simulated robots; their rows will "
                "mix with simulated ones (--first-robot keeps a fleet apart)\n",
                PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */

int cmd_gen(int argc, char **argv)
{
    gen_args a;
    int prc = cmd_gen_parse(argc, argv, &a);
    if (prc >= 0) return prc;
    if (a.calibrate) return cmd_gen_calibrate(&a);

    char err[1024];
    genprof p;
    if (a.profile) {
        if (genprof_load(&p, a.profile, err, sizeof err) != 0) {
            cli_error("gen", "%s", err);
            return CLI_FAIL;
        }
    } else {
        genprof_default(&p);
    }

    /* Pacing: rate R (fleet rows per wall second) and speedup X (simulated seconds per wall
     * second) fix each robot's mean sampling interval N * X / R. */
    double mean_iv = gen_mean_interval(&p);
    int bounded = a.rows > 0 || a.duration > 0;
    int unpaced = isinf(a.rate) || isinf(a.speedup) || (!a.rate && !a.speedup && bounded);
    double scale = 1, rate = 0;
    if (!unpaced) {
        double x = a.speedup > 0 ? a.speedup : 1;
        if (a.rate > 0) {
            rate = a.rate;
            scale = gen_scale_for_interval(&p, a.robots * x / rate);
        } else {
            rate = x * a.robots / mean_iv;
        }
    }
    /* Timestamps have millisecond resolution: a robot samples at most 1,000 times a simulated
     * second, so beyond that the simulated clock runs ahead of the pace asked for. */
    double per_robot = unpaced ? 0 : rate / a.robots / (a.speedup > 0 ? a.speedup : 1);
    if (per_robot > 1000)
        fprintf(stderr,
                "pgpulse gen: note: %.0f rows/s for %d robots means %.0f samples per simulated "
                "second per robot, above the 1,000 that millisecond timestamps allow: simulated "
                "time will run %.1f times faster than asked (more --robots avoid it)\n",
                rate, a.robots, per_robot, per_robot / 1000);
    int64_t start;
    const char *start_text = a.start ? a.start : unpaced ? GEN_DEFAULT_START : NULL;
    if (start_text) {
        int trc = tstamp_parse(start_text, strlen(start_text), TSTAMP_EPOCH_OK, &start);
        if (trc != TSTAMP_OK) {
            cli_error("gen", "--start: %s: '%s'", tstamp_strerror(trc), start_text);
            return CLI_USAGE;
        }
    } else {
        start = util_now_us() / 1000 * 1000;
    }

    gen_sink s;
    memset(&s, 0, sizeof s);
    snprintf(s.source, sizeof s.source, "gen seed=%llu", (unsigned long long)a.seed);
    int rc = CLI_FAIL;
    char *conninfo = NULL;
    gen *g = NULL;
    if (a.truth) {
        s.truth = fopen(a.truth, "w");
        if (!s.truth) {
            cli_error("gen", "%s: %s", a.truth, strerror(errno));
            return CLI_FAIL;
        }
        fputs("robot_id,axis,kind,level,ts_start,ts_end\n", s.truth);
    }
    if (a.out) {
        s.csv = 1;
        s.cbuf = xmalloc(GEN_CSV_BUF);
        readingcsv_writer_init(&s.w);
        memcpy(s.cbuf, READINGCSV_HEADER, strlen(READINGCSV_HEADER));
        s.clen = strlen(READINGCSV_HEADER);
    } else {
        s.ctl = cli_connect("gen", a.db, 1, &conninfo);
        if (!s.ctl) goto cleanup;
        s.conninfo = conninfo;
        if (cli_retry("gen", conninfo, CLI_RETRY_SECONDS, &s.ctl, gen_create_robots, &a, err,
                      sizeof err) != 0) {
            cli_error("gen", "%s", err);
            goto cleanup;
        }
        loader_opts lo = {.source = s.source, .batch_rows = a.batch};
        s.ld = loader_new(conninfo, &lo, err, sizeof err);
        if (!s.ld) {
            cli_error("gen", "%s", err);
            goto cleanup;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cmd_gen_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (s.csv) signal(SIGPIPE, SIG_IGN);

    gen_opts go = {.robots = a.robots, .first_robot = a.first_robot, .seed = a.seed,
                   .start_us = start, .interval_scale = scale, .faults = a.faults};
    g = gen_new(&p, &go);
    int64_t end_us = a.duration > 0 ? start + (int64_t)(a.duration * 1e6) : INT64_MAX;
    int64_t t0 = util_mono_us();
    int64_t emitted = 0;
    int64_t last_flush = t0;
    reading r;
    while (!cmd_gen_stop && (a.rows == 0 || emitted < a.rows)) {
        if (!unpaced) {
            /* Row k is due at t0 + k / rate: sleep until it is, flushing what waits. */
            int64_t due_us = t0 + (int64_t)((double)emitted * 1e6 / rate);
            int64_t now = util_mono_us();
            if (now < due_us) {
                if (gen_sink_flush_csv(&s, err, sizeof err)) goto failed;
                if (s.ld && loader_pending_age_ms(s.ld) >= GEN_FLUSH_MS &&
                    loader_flush(s.ld, err, sizeof err))
                    goto failed;
                gen_sink_drain(&s, g);
                if (s.ctl && (s.f_n || s.e_n) && now - last_flush > 1000000) {
                    if (gen_sink_flush_truth(&s, err, sizeof err)) goto failed;
                    last_flush = now;
                }
                int64_t wait = due_us - now;
                if (wait > GEN_FLUSH_MS * 1000) wait = GEN_FLUSH_MS * 1000;
                struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        gen_next(g, &r);
        if (gen_now(g) >= end_us) break;
        if (gen_sink_row(&s, &r, err, sizeof err)) goto failed;
        emitted++;
        if ((emitted & 1023) == 0) {
            gen_sink_drain(&s, g);
            int64_t now = util_mono_us();
            if (s.ctl && (s.f_n + s.e_n > 1000 || now - last_flush > 1000000)) {
                if (gen_sink_flush_truth(&s, err, sizeof err)) goto failed;
                last_flush = now;
            }
        }
    }
    /* End every fault in progress and send the rows still held back (late ones). */
    gen_close(g);
    while (gen_next_queued(g, &r)) {
        if (gen_sink_row(&s, &r, err, sizeof err)) goto failed;
        emitted++;
    }
    rc = CLI_OK;
    goto finish;
failed:
    cli_error("gen", "%s", err);
finish:
    gen_sink_drain(&s, g);
    if (rc == CLI_OK && (gen_sink_flush_csv(&s, err, sizeof err) ||
                         (s.ld && loader_flush(s.ld, err, sizeof err)) ||
                         gen_sink_flush_truth(&s, err, sizeof err))) {
        cli_error("gen", "%s", err);
        rc = CLI_FAIL;
    }
    {
        double secs = (double)(util_mono_us() - t0) / 1e6;
        char b1[32], b2[32], from[40], to[40];
        tstamp_format(start, from, sizeof from);
        tstamp_format(gen_now(g), to, sizeof to);
        fprintf(stderr,
                "pgpulse gen: %d robot%s, %s rows in %.2f s (%s rows/s%s), %llu faults, %llu "
                "maintenance events; simulated %s to %s\n",
                a.robots, a.robots == 1 ? "" : "s", util_fmt_count(b1, sizeof b1, (uint64_t)emitted),
                secs, util_fmt_count(b2, sizeof b2, (uint64_t)(secs > 0 ? (double)emitted / secs : 0)),
                unpaced ? ", unpaced" : "", (unsigned long long)s.faults,
                (unsigned long long)s.events, from, to);
    }
cleanup:
    gen_free(g);
    loader_free(s.ld);
    if (s.ctl) PQfinish(s.ctl);
    if (s.truth && fclose(s.truth) != 0 && rc == CLI_OK) {
        cli_error("gen", "%s: %s", a.truth, strerror(errno));
        rc = CLI_FAIL;
    }
    free(s.cbuf);
    free(conninfo);
    return rc;
}
