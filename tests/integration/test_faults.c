/* Deterministic connection faults in `pgpulse ingest`, through the fault proxy (faultproxy.h):
 * a small load cut at every message boundary, in both directions, each run checked for exactly
 * once against an undisturbed run; a COMMIT that reaches the server after the loader looked it
 * up; stalls; a robot export's first connection; a partition dropped during a load.
 * `test_faults NAME...` runs only the tests whose names contain a NAME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* `pgpulse ingest` cut at every message boundary. */

#define LOAD_LINES 300 /* data lines: 298 readings and 2 bad lines */
#define LOAD_BATCH "100"
#define RUN_LIMIT_S 120 /* a run still going after this is a hang: it is killed and fails */

static const char *ingdb;   /* test_faults_ingest, direct */
static char *ingproxy;      /* the same through the proxy */
static char *loadpath;

/* What a load leaves behind, to compare with the uninterrupted run. */
typedef struct load_state {
    char *reading;  /* count, sums and md5 of reading */
    char *rejects;  /* md5 of ingest_reject (source, line, raw, reason) */
    char *batches;  /* the batches' bookkeeping, md5 */
    int64_t rows, inserted, rejected, nbatches;
} load_state;

static void load_state_free(load_state *s)
{
    free(s->reading);
    free(s->rejects);
    free(s->batches);
}

static load_state load_state_read(PGconn *c)
{
    load_state s;
    s.reading = harness_query_text(
        c, "SELECT count(*) || ' ' || sum(robot_id) || ' ' || sum(axis1) || ' ' || sum(axis8) || "
           "' ' || md5(string_agg(concat_ws(',', robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
           "axis6, axis7, axis8), ';' ORDER BY robot_id, ts)) FROM reading");
    s.rejects = harness_query_text(
        c, "SELECT count(*) || ' ' || md5(string_agg(concat_ws(',', source, line_no, raw, "
           "reason), ';' ORDER BY line_no)) FROM ingest_reject");
    s.batches = harness_query_text(
        c, "SELECT count(*) || ' ' || md5(string_agg(concat_ws(',', seq, source, first_line, "
           "last_line, rows_read, rows_inserted, rows_present, rows_rejected, ts_min, ts_max), ';' "
           "ORDER BY seq)) FROM ingest_batch");
    s.rows = harness_query_int(c, "SELECT count(*) FROM reading");
    s.inserted = harness_query_int(c, "SELECT coalesce(sum(rows_inserted), 0) FROM ingest_batch");
    s.rejected = harness_query_int(c, "SELECT coalesce(sum(rows_rejected), 0) FROM ingest_batch");
    s.nbatches = harness_query_int(c, "SELECT count(DISTINCT load_id) FROM ingest_batch");
    return s;
}

/* Writes the load: 298 readings of robots 1..5, five a second from 23:59:30 UTC, so that they
 * cross midnight (a partition is created mid-load), and two bad lines. */
static void write_load(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n", f);
    const long base = 1717286370; /* 2024-06-01T23:59:30Z */
    for (long i = 0, row = 0; i < LOAD_LINES; i++) {
        if (i == 49) {
            fputs("3,1717286400,1,2,x,4,5,6,7,8\n", f); /* not a number */
            continue;
        }
        if (i == 199) {
            fputs("3,1717286400,1,2,3\n", f); /* too few fields */
            continue;
        }
        fprintf(f, "%ld,%ld.%03ld,%ld.5,2,3,4,5,6,7,%ld\n", 1 + row % 5, base + row / 5,
                (row % 5) * 100, row % 17, row);
        row++;
    }
    fclose(f);
}

/* DELETE, not TRUNCATE: a few hundred rows go faster than new files for every partition. */
static void reset_load(PGconn *c)
{
    harness_exec(c, "BEGIN; DELETE FROM reading; DELETE FROM ingest_batch; "
                    "DELETE FROM ingest_reject; COMMIT");
}

static harness_out run_ingest(void)
{
    return harness_pgpulse_limit(RUN_LIMIT_S, NULL,
                                 (const char *[]){"ingest", "--db", ingproxy, "--batch", LOAD_BATCH,
                                                  "--source", "sweep.csv", loadpath, NULL});
}

/* One sweep point: a rule, a load, and the checks; fails the test saying where. */
static void ingest_point(PGconn *c, const faultproxy_rule *rule, const load_state *ref,
                         const char *what)
{
    faultproxy *p = harness_proxy();
    int64_t t0 = util_mono_us();
    reset_load(c);
    faultproxy_arm(p, rule);
    int64_t t1 = util_mono_us();
    harness_out o = run_ingest();
    int64_t t2 = util_mono_us();
    faultproxy_event at;
    int fired = faultproxy_fired(p, &at);
    faultproxy_arm(p, NULL);
    if (!fired) fail_msg("%s: the rule never fired (the load's messages changed?)", what);
    if (o.status != 0) fail_msg("%s: ingest exited with %d:\n%s", what, o.status, o.err);
    if (!strstr(o.out, "read 300, inserted 298, already present 0, rejected 2"))
        fail_msg("%s: unexpected summary: %s", what, o.out);
    harness_out_free(&o);
    load_state s = load_state_read(c);
    if (strcmp(s.reading, ref->reading) || strcmp(s.rejects, ref->rejects) ||
        strcmp(s.batches, ref->batches) || s.inserted != ref->rows ||
        s.rejected != 2 || s.nbatches != 1)
        fail_msg("%s: not exactly once:\n  reading %s\n     want %s\n  rejects %s\n     want %s\n"
                 "  batches %s\n     want %s\n  inserted %lld of %lld, rejected %lld",
                 what, s.reading, ref->reading, s.rejects, ref->rejects, s.batches, ref->batches,
                 (long long)s.inserted, (long long)ref->rows, (long long)s.rejected);
    load_state_free(&s);
    if (getenv("PGPULSE_FAULTS_TRACE"))
        print_message("%s: reset %.0f ms, ingest %.0f ms, check %.0f ms\n", what,
                      (double)(t1 - t0) / 1e3, (double)(t2 - t1) / 1e3,
                      (double)(util_mono_us() - t2) / 1e3);
}

static const char *dir_name(faultproxy_dir d)
{
    return d == FAULTPROXY_TO_SERVER ? "to server" : "to client";
}

/* The uninterrupted load, made once: its end state and its trace on pgpulse-ingest. */
static PGconn *ingconn;
static load_state ingref;
static faultproxy_event *ingev;
static size_t ningev;

static int ingest_setup(void)
{
    if (ingconn) return 1;
    ingdb = harness_db("faults_ingest", 1);
    if (!ingdb) return 0;
    ingproxy = xstrdup(harness_proxy_db("faults_ingest"));
    loadpath = xasprintf("%s/sweep.csv", harness_tmpdir());
    write_load(loadpath);
    ingconn = harness_connect(ingdb);
    /* Hundreds of loads: commits need not wait for the disk (visibility is the same). */
    harness_exec(ingconn, "ALTER DATABASE test_faults_ingest SET synchronous_commit = off");
    harness_exec(ingconn, "INSERT INTO robot (robot_id, name) SELECT g, 'r' || g FROM "
                          "generate_series(1, 5) g");
    reset_load(ingconn);
    ingev = harness_proxy_record((const char *[]){"ingest", "--db", ingproxy, "--batch",
                                                  LOAD_BATCH, "--source", "sweep.csv", loadpath,
                                                  NULL},
                                 "pgpulse-ingest", &ningev);
    ingref = load_state_read(ingconn);
    assert_int_equal(ingref.rows, 298);
    assert_int_equal(ingref.rejected, 2);
    int conns = 0, per_dir[2] = {0, 0};
    for (size_t i = 0; i < ningev; i++) {
        per_dir[ingev[i].dir]++;
        if (ingev[i].kind == FAULTPROXY_STARTUP) conns++;
    }
    print_message("uninterrupted load: %s; %lld batches; %d connections, %d messages to the "
                  "server, %d to the client\n",
                  ingref.reading,
                  (long long)harness_query_int(ingconn, "SELECT count(*) FROM ingest_batch"), conns,
                  per_dir[0], per_dir[1]);
    if (getenv("PGPULSE_FAULTS_TRACE"))
        for (size_t i = 0; i < ningev; i++)
            print_message("  conn %d %s %s\n", ingev[i].conn, dir_name(ingev[i].dir),
                          faultproxy_kind_name(ingev[i].kind));
    return 1;
}

static void ingest_teardown(void)
{
    if (ingconn) PQfinish(ingconn);
    ingconn = NULL;
    load_state_free(&ingref);
    free(ingev);
    free(ingproxy);
    free(loadpath);
}

/* The trace index of the first message to the server of kind `kind` after the nth (from 1)
 * message of kind `after` in either direction; fails the test if there is none. */
static size_t find_after(faultproxy_kind after, int nth, faultproxy_kind kind)
{
    size_t i = 0;
    for (int seen = 0; i < ningev && seen < nth; i++) seen += ingev[i].kind == after;
    for (; i < ningev; i++)
        if (ingev[i].dir == FAULTPROXY_TO_SERVER && ingev[i].kind == kind) return i;
    fail_msg("no %s after %s #%d in the trace", faultproxy_kind_name(kind),
             faultproxy_kind_name(after), nth);
    return 0;
}

/* Is the boundary before trace event i one the sweep may skip as the same as the boundary
 * before the previous event? Inside a run of ParameterStatus or of DataRow messages (one
 * burst from the server) the client is in the same place: mid-startup, mid-reply. */
static int same_as_previous(size_t i)
{
    return i > 0 && ingev[i - 1].conn == ingev[i].conn && ingev[i - 1].dir == ingev[i].dir &&
           ingev[i - 1].kind == ingev[i].kind &&
           (ingev[i].kind == FAULTPROXY_PARAMETER_STATUS || ingev[i].kind == FAULTPROXY_DATA_ROW);
}

static void test_ingest_cut_at_every_boundary(void **state)
{
    (void)state;
    if (!ingest_setup()) skip();
    /* Every boundary: before each message in each direction, and after each message to the
     * server that the server answers (after a COMMIT: committed, the reply lost). The
     * boundaries inside a burst of ParameterStatus or DataRow are the same as the one before
     * the burst and skipped, unless PGPULSE_FAULTS_SAMPLE=0 asks for all. */
    const char *all = getenv("PGPULSE_FAULTS_SAMPLE");
    int every = all && !strcmp(all, "0");
    int points = 0, skipped = 0;
    int64_t t0 = util_mono_us();
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < ningev; i++) {
            if ((int)ingev[i].dir != d) continue;
            if (!every && same_as_previous(i)) {
                skipped++;
                continue;
            }
            long k = faultproxy_ordinal(ingev, i);
            for (int when = 0; when < 2; when++) {
                if (when == FAULTPROXY_AFTER &&
                    !(d == FAULTPROXY_TO_SERVER && i + 1 < ningev &&
                      ingev[i + 1].conn == ingev[i].conn &&
                      ingev[i + 1].dir == FAULTPROXY_TO_CLIENT))
                    continue;
                char what[128];
                snprintf(what, sizeof what, "cut %s %s #%ld to the %s (conn %d)",
                         when ? "after" : "before", faultproxy_kind_name(ingev[i].kind), k,
                         d == FAULTPROXY_TO_SERVER ? "server" : "client", ingev[i].conn);
                faultproxy_rule rule = {.match_key = "application_name",
                                        .match_value = "pgpulse-ingest",
                                        .dir = (faultproxy_dir)d,
                                        .kind = FAULTPROXY_ANY,
                                        .n = k,
                                        .when = (faultproxy_when)when,
                                        .action = FAULTPROXY_CUT};
                ingest_point(ingconn, &rule, &ingref, what);
                points++;
            }
        }
    }
    print_message("%d cut points, each loaded exactly once, in %.1f s (%d inside bursts "
                  "skipped)\n",
                  points, (double)(util_mono_us() - t0) / 1e6, skipped);
}

/* The COMMIT of batch 2 reaches the server only after the loader has reconnected, found no
 * record of the batch and sent it again: the second attempt waits for the first's rows, and
 * must end up counting the batch once, as the first attempt committed it. */
static void test_ingest_commit_that_arrives_late(void **state)
{
    (void)state;
    if (!ingest_setup()) skip();
    faultproxy *p = harness_proxy();
    size_t commit = find_after(FAULTPROXY_COPY_DONE, 2, FAULTPROXY_QUERY);
    reset_load(ingconn);
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name",
                                         .match_value = "pgpulse-ingest",
                                         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_ANY,
                                         .n = faultproxy_ordinal(ingev, commit), .when = FAULTPROXY_AFTER,
                                         .action = FAULTPROXY_CUT_LATE,
                                         .stall_ms = FAULTPROXY_UNTIL_RELEASED});
    char *log = xasprintf("%s/late.log", harness_tmpdir());
    int pid = harness_spawn(NULL, log,
                            (const char *[]){"ingest", "--db", ingproxy, "--batch", LOAD_BATCH,
                                             "--source", "sweep.csv", loadpath, NULL});
    /* The resent batch blocks on the first attempt's rows, still uncommitted. */
    int waiting = 0;
    for (int i = 0; i < 3000 && !waiting; i++) {
        waiting = (int)harness_query_int(ingconn, "SELECT count(*) FROM pg_stat_activity WHERE "
                                                  "application_name = 'pgpulse-ingest' AND "
                                                  "wait_event_type = 'Lock'");
        if (!waiting) util_sleep_ms(10);
    }
    faultproxy_event at;
    assert_true(faultproxy_fired(p, &at));
    assert_int_equal(at.kind, FAULTPROXY_QUERY);
    if (!waiting) fail_msg("the resent batch never waited for the first attempt");
    faultproxy_release(p);
    int st = harness_wait(pid, NULL);
    faultproxy_arm(p, NULL);
    char *out = harness_read_file(log);
    if (st != 0) fail_msg("ingest failed: %s", out);
    assert_non_null(strstr(out, "lost the database connection at batch 2"));
    assert_non_null(strstr(out, "read 300, inserted 298, already present 0, rejected 2"));
    load_state s = load_state_read(ingconn);
    assert_string_equal(s.reading, ingref.reading);
    assert_string_equal(s.rejects, ingref.rejects);
    assert_string_equal(s.batches, ingref.batches);
    load_state_free(&s);
    free(out);
    free(log);
}

/* Stalls (either direction) delay a load and nothing else: no reconnect, no resend. */
static void test_ingest_stalls_only_delay(void **state)
{
    (void)state;
    if (!ingest_setup()) skip();
    faultproxy *p = harness_proxy();
    /* Batch 1's COMMIT reply held back; batch 2's end of COPY held back. */
    size_t commit = find_after(FAULTPROXY_COPY_DONE, 1, FAULTPROXY_QUERY);
    size_t copydone = find_after(FAULTPROXY_COPY_IN, 2, FAULTPROXY_COPY_DONE);
    long reply = 0;
    for (size_t i = 0; i <= commit; i++) reply += ingev[i].dir == FAULTPROXY_TO_CLIENT;
    const faultproxy_rule rules[] = {
        {.match_key = "application_name", .match_value = "pgpulse-ingest",
         .dir = FAULTPROXY_TO_CLIENT, .kind = FAULTPROXY_ANY, .n = reply + 1,
         .when = FAULTPROXY_BEFORE, .action = FAULTPROXY_STALL, .stall_ms = 1500},
        {.match_key = "application_name", .match_value = "pgpulse-ingest",
         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_ANY, .n = faultproxy_ordinal(ingev, copydone),
         .when = FAULTPROXY_BEFORE, .action = FAULTPROXY_STALL, .stall_ms = 1500},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(rules); i++) {
        reset_load(ingconn);
        faultproxy_arm(p, &rules[i]);
        int64_t t0 = util_mono_us();
        harness_out o = run_ingest();
        int64_t took = util_mono_us() - t0;
        faultproxy_event at;
        assert_true(faultproxy_fired(p, &at));
        faultproxy_arm(p, NULL);
        print_message("stalled 1.5 s before %s %s: the load took %.2f s\n",
                      faultproxy_kind_name(at.kind), dir_name(at.dir), (double)took / 1e6);
        if (o.status != 0) fail_msg("ingest failed: %s", o.err);
        assert_true(took >= 1500000);
        assert_null(strstr(o.err, "lost the database connection"));
        assert_non_null(strstr(o.out, "read 300, inserted 298, already present 0, rejected 2"));
        harness_out_free(&o);
        load_state st = load_state_read(ingconn);
        assert_string_equal(st.reading, ingref.reading);
        assert_string_equal(st.batches, ingref.batches);
        load_state_free(&st);
    }
}

/* A robot export: the first connection also checks (and here creates) the robot. Every
 * boundary of that connection after its startup is cut once. */
static void test_ingest_robot_export_first_connection(void **state)
{
    (void)state;
    if (!ingest_setup()) skip();
    faultproxy *p = harness_proxy();
    char *path = xasprintf("%s/export.csv", harness_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("\"Trait\",\"Axis #1\",\"Axis #2\",\"Axis #3\",\"Axis #4\",\"Axis #5\",\"Axis #6\","
          "\"Axis #7\",\"Axis #8\",\"Time\"\n", f);
    for (int i = 0; i < 30; i++)
        fprintf(f, "\"current\",%d.5,1,2,3,4,5,6,7,\"2023-01-02T03:04:%02d.000Z\"\n", i, i);
    fclose(f);
    const char *argv[] = {"ingest", "--db", ingproxy, "--robot", "7", "--create-robot", path, NULL};
    const char *reset = "BEGIN; DELETE FROM reading; DELETE FROM ingest_batch; DELETE FROM "
                        "ingest_reject; DELETE FROM robot WHERE robot_id = 7; COMMIT";
    harness_exec(ingconn, reset);
    size_t n;
    faultproxy_event *ev = harness_proxy_record(argv, "pgpulse-ingest", &n);
    size_t first = 0;
    while (first < n && ev[first].kind != FAULTPROXY_QUERY) first++;
    int points = 0;
    for (size_t i = first; i < n && ev[i].conn == ev[0].conn; i++) {
        int answered = ev[i].dir == FAULTPROXY_TO_SERVER && i + 1 < n &&
                       ev[i + 1].dir == FAULTPROXY_TO_CLIENT;
        for (int when = 0; when <= answered; when++, points++) {
            harness_exec(ingconn, reset);
            faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name",
                                                 .match_value = "pgpulse-ingest",
                                                 .dir = ev[i].dir, .kind = FAULTPROXY_ANY,
                                                 .n = faultproxy_ordinal(ev, i),
                                                 .when = (faultproxy_when)when,
                                                 .action = FAULTPROXY_CUT});
            harness_out o = harness_pgpulse_limit(RUN_LIMIT_S, NULL, argv);
            int fired = faultproxy_fired(p, NULL);
            faultproxy_arm(p, NULL);
            const char *what = faultproxy_kind_name(ev[i].kind);
            if (!fired) fail_msg("cut %s %s: never fired", when ? "after" : "before", what);
            if (o.status != 0 || !strstr(o.out, "read 30, inserted 30, already present 0"))
                fail_msg("cut %s %s to the %s: exit %d:\n%s%s", when ? "after" : "before", what,
                         dir_name(ev[i].dir), o.status, o.out, o.err);
            harness_out_free(&o);
            assert_int_equal(harness_query_int(ingconn, "SELECT count(*) FROM reading WHERE "
                                                        "robot_id = 7"),
                             30);
            char *name = harness_query_text(ingconn, "SELECT name FROM robot WHERE robot_id = 7");
            assert_string_equal(name, "export");
            free(name);
        }
    }
    print_message("robot export: %d cut points on the first connection, each loaded once\n",
                  points);
    harness_exec(ingconn, reset);
    free(ev);
    free(path);
}

/* A partition dropped under a load (retention), and the connection lost as the loader
 * recreates it: the batch is recreated, retried and stored once. The load is held before batch
 * 2's BEGIN while the test drops the day's partition, then released with a rule that cuts the
 * connection before the next Parse: the call that recreates the partition. */
static void test_ingest_partition_dropped_then_connection_lost(void **state)
{
    (void)state;
    if (!ingest_setup()) skip();
    faultproxy *p = harness_proxy();
    char *path = xasprintf("%s/oneday.csv", harness_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n", f);
    for (int i = 0; i < 200; i++) /* 2024-07-01 */
        fprintf(f, "%d,%d,1,2,3,4,5,6,7,%d\n", 1 + i % 5, 1719792000 + i, i);
    fclose(f);
    const char *argv[] = {"ingest", "--db", ingproxy, "--batch", "100", path, NULL};
    reset_load(ingconn);
    size_t n;
    faultproxy_event *ev = harness_proxy_record(argv, "pgpulse-ingest", &n);
    /* After batch 1's CopyDone: its COMMIT, then batch 2's BEGIN. */
    size_t i = 0;
    while (i < n && ev[i].kind != FAULTPROXY_COPY_DONE) i++;
    int queries = 0;
    while (++i < n && queries < 2) queries += ev[i].kind == FAULTPROXY_QUERY;
    assert_int_equal(queries, 2);
    long begin2 = faultproxy_ordinal(ev, i - 1);
    free(ev);

    reset_load(ingconn);
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name",
                                         .match_value = "pgpulse-ingest",
                                         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_ANY,
                                         .n = begin2, .when = FAULTPROXY_BEFORE,
                                         .action = FAULTPROXY_STALL,
                                         .stall_ms = FAULTPROXY_UNTIL_RELEASED});
    char *log = xasprintf("%s/dropped.log", harness_tmpdir());
    int pid = harness_spawn(NULL, log, argv);
    for (int k = 0; k < 3000 && !faultproxy_fired(p, NULL); k++) util_sleep_ms(10);
    assert_true(faultproxy_fired(p, NULL));
    assert_int_equal(harness_query_int(ingconn, "SELECT count(*) FROM reading"), 100);
    harness_exec(ingconn, "DROP TABLE reading_p20240701");
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name",
                                         .match_value = "pgpulse-ingest",
                                         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_PARSE,
                                         .n = 1, .when = FAULTPROXY_BEFORE,
                                         .action = FAULTPROXY_CUT});
    int st = harness_wait(pid, NULL);
    faultproxy_event at;
    int fired = faultproxy_fired(p, &at);
    faultproxy_arm(p, NULL);
    char *out = harness_read_file(log);
    if (st != 0) fail_msg("ingest failed: %s", out);
    assert_true(fired);
    assert_non_null(strstr(out, "lost the database connection at batch 2"));
    assert_non_null(strstr(out, "read 200, inserted 200, already present 0"));
    /* Batch 1 went with the partition; batch 2 is stored once. */
    assert_int_equal(harness_query_int(ingconn, "SELECT count(*) FROM reading"), 100);
    assert_int_equal(harness_query_int(ingconn, "SELECT min(axis8)::int FROM reading"), 100);
    assert_int_equal(harness_query_int(ingconn, "SELECT sum(rows_inserted) FROM ingest_batch"),
                     200);
    reset_load(ingconn);
    free(out);
    free(log);
    free(path);
}

/* `test_faults NAME...` runs only the tests whose names contain one of the NAMEs. */
int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_ingest_cut_at_every_boundary),
        cmocka_unit_test(test_ingest_commit_that_arrives_late),
        cmocka_unit_test(test_ingest_stalls_only_delay),
        cmocka_unit_test(test_ingest_robot_export_first_connection),
        cmocka_unit_test(test_ingest_partition_dropped_then_connection_lost),
    };
    struct CMUnitTest tests[UTIL_ARRAY_LEN(all)];
    size_t n = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(all); i++) {
        int keep = argc < 2;
        for (int a = 1; a < argc; a++) keep |= strstr(all[i].name, argv[a]) != NULL;
        if (keep) tests[n++] = all[i];
    }
    int rc = _cmocka_run_group_tests("test_faults", tests, n, NULL, NULL);
    ingest_teardown();
    return rc;
}
