/* Deterministic connection faults: the fault proxy's own tests (framing across split reads, rule
 * matching, one-shot rules, cut before and after a COMMIT, stalls), then `pgpulse ingest` cut at
 * every message boundary of a small load, in both directions, each run checked for exactly
 * once against an uninterrupted run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "harness.h"
#include "rng.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* Framing, without a server: a stream of known messages, cut into pieces every way. */

static void put32(buf *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, p, 4);
}

/* Appends a typed message: type, length, payload. */
static void put_msg(buf *b, char type, const char *payload, size_t n)
{
    buf_append(b, &type, 1);
    put32(b, (uint32_t)n + 4);
    if (n) buf_append(b, payload, n);
}

/* Appends an untyped startup-phase packet: length, code, payload. */
static void put_untyped(buf *b, uint32_t code, const char *payload, size_t n)
{
    put32(b, (uint32_t)n + 8);
    put32(b, code);
    if (n) buf_append(b, payload, n);
}

typedef struct expected {
    faultproxy_kind kind;
    long len;
} expected;

/* Frames stream (one direction, starting from state st) fed in pieces whose sizes come from
 * the rng (1..max_piece bytes; 0: all at once), and checks the kinds and lengths framed. */
static void frame_in_pieces(faultproxy_framing st, faultproxy_dir dir, const buf *stream,
                            const expected *want, size_t nwant, rng *r, int max_piece)
{
    buf got = {0};
    size_t fed = 0, framed = 0, k = 0;
    while (framed < stream->len) {
        size_t piece = max_piece ? 1 + rng_below(r, (uint64_t)max_piece) : stream->len;
        if (piece > stream->len - fed) piece = stream->len - fed;
        buf_append(&got, stream->data + fed, piece);
        fed += piece;
        for (;;) {
            faultproxy_kind kind;
            long m = faultproxy_frame(&st, dir, got.data + framed, got.len - framed, &kind);
            assert_true(m >= 0);
            if (m == 0) break;
            if (k >= nwant) fail_msg("framed more messages than sent");
            if (kind != want[k].kind || m != want[k].len)
                fail_msg("message %zu: framed %s of %ld bytes, sent %s of %ld", k + 1,
                         faultproxy_kind_name(kind), m, faultproxy_kind_name(want[k].kind),
                         want[k].len);
            faultproxy_framing_note(&st, dir, kind, got.data + framed, (size_t)m);
            framed += (size_t)m;
            k++;
        }
        assert_true(fed <= stream->len);
        if (fed == stream->len && framed < stream->len) fail_msg("a message never completed");
    }
    assert_int_equal(k, nwant);
    buf_free(&got);
}

static void test_framing_across_split_reads(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, harness_seed(), 1);

    /* Frontend: SSLRequest (refused), StartupMessage, a query, an extended-protocol round, a
     * COPY whose data starts with bytes that look like a replication subtype, then, in a
     * CopyBoth stream, a standby status update. */
    static const char startup[] = "user\0pgpulse\0application_name\0pgpulse-ingest\0";
    buf f = {0};
    put_untyped(&f, 80877103, NULL, 0);
    put_untyped(&f, 196608, startup, sizeof startup);
    put_msg(&f, 'Q', "SELECT 1", 9);
    put_msg(&f, 'P', "\0SELECT $1\0\0\0", 13);
    put_msg(&f, 'B', "\0\0\0\0\0\0\0\0\0\0", 10);
    put_msg(&f, 'E', "\0\0\0\0\0", 5);
    put_msg(&f, 'S', NULL, 0);
    put_msg(&f, 'd', "rPGCOPY\n\377\r\n", 11);
    put_msg(&f, 'c', NULL, 0);
    put_msg(&f, 'p', "secret", 7);
    put_msg(&f, 'X', NULL, 0);
    const expected fw[] = {
        {FAULTPROXY_SSL_REQUEST, 8},  {FAULTPROXY_STARTUP, 8 + (long)sizeof startup},
        {FAULTPROXY_QUERY, 14},       {FAULTPROXY_PARSE, 18},
        {FAULTPROXY_BIND, 15},        {FAULTPROXY_EXECUTE, 10},
        {FAULTPROXY_SYNC, 5},         {FAULTPROXY_COPY_DATA, 16},
        {FAULTPROXY_COPY_DONE, 5},    {FAULTPROXY_PASSWORD, 12},
        {FAULTPROXY_TERMINATE, 5},
    };
    /* Backend: the refusal 'N', authentication, a query's reply, then CopyBoth with XLogData
     * and a keepalive, its end, and CopyData again outside CopyBoth. */
    buf b = {0};
    buf_append(&b, "N", 1);
    put_msg(&b, 'R', "\0\0\0\0", 4);
    put_msg(&b, 'S', "DateStyle\0ISO\0", 14);
    put_msg(&b, 'K', "\0\0\0\1\0\0\0\2", 8);
    put_msg(&b, 'Z', "I", 1);
    put_msg(&b, 'T', "\0\0", 2);
    put_msg(&b, 'D', "\0\1\0\0\0\1x", 7);
    put_msg(&b, 'C', "SELECT 1", 9);
    put_msg(&b, 'Z', "I", 1);
    put_msg(&b, 'W', "\0\0\0", 3);
    put_msg(&b, 'd', "w01234567890123456789012345", 27);
    put_msg(&b, 'd', "k0123456789012345678", 18);
    put_msg(&b, 'c', NULL, 0);
    put_msg(&b, 'C', "START_REPLICATION", 18);
    put_msg(&b, 'Z', "I", 1);
    put_msg(&b, 'E', "SFATAL\0\0", 8);
    const expected bw[] = {
        {FAULTPROXY_SSL_ANSWER, 1},        {FAULTPROXY_AUTH, 9},
        {FAULTPROXY_PARAMETER_STATUS, 19}, {FAULTPROXY_BACKEND_KEY, 13},
        {FAULTPROXY_READY, 6},             {FAULTPROXY_ROW_DESCRIPTION, 7},
        {FAULTPROXY_DATA_ROW, 12},         {FAULTPROXY_COMMAND_COMPLETE, 14},
        {FAULTPROXY_READY, 6},             {FAULTPROXY_COPY_BOTH, 8},
        {FAULTPROXY_XLOG_DATA, 32},        {FAULTPROXY_KEEPALIVE, 23},
        {FAULTPROXY_COPY_DONE, 5},         {FAULTPROXY_COMMAND_COMPLETE, 23},
        {FAULTPROXY_READY, 6},             {FAULTPROXY_ERROR, 13},
    };
    /* The frontend side of a CopyBoth stream. */
    buf fr = {0};
    put_msg(&fr, 'd', "r012345678901234567890123456789012", 34);
    put_msg(&fr, 'd', "h0123456789012345678", 18);
    put_msg(&fr, 'c', NULL, 0);
    const expected frw[] = {
        {FAULTPROXY_STANDBY_STATUS, 39},
        {FAULTPROXY_HOT_STANDBY_FEEDBACK, 23},
        {FAULTPROXY_COPY_DONE, 5},
    };

    faultproxy_framing start = {0}, after_request = {.answer_pending = 1},
                       in_copy_both = {.typed = 1, .copy_both = 1};
    for (int max_piece = 0; max_piece <= 9; max_piece++) {
        int rounds = max_piece <= 1 ? 1 : 50;
        for (int i = 0; i < rounds; i++) {
            frame_in_pieces(start, FAULTPROXY_TO_SERVER, &f, fw, UTIL_ARRAY_LEN(fw), &r,
                            max_piece);
            frame_in_pieces(after_request, FAULTPROXY_TO_CLIENT, &b, bw, UTIL_ARRAY_LEN(bw), &r,
                            max_piece);
            frame_in_pieces(in_copy_both, FAULTPROXY_TO_SERVER, &fr, frw, UTIL_ARRAY_LEN(frw), &r,
                            max_piece);
        }
    }

    /* An accepted SSL request makes the rest opaque; a length that cannot be is refused. */
    faultproxy_framing st = after_request;
    faultproxy_kind kind;
    assert_int_equal(faultproxy_frame(&st, FAULTPROXY_TO_CLIENT, (const uint8_t *)"S", 1, &kind),
                     1);
    faultproxy_framing_note(&st, FAULTPROXY_TO_CLIENT, kind, (const uint8_t *)"S", 1);
    assert_true(st.opaque);
    assert_int_equal(faultproxy_frame(&st, FAULTPROXY_TO_CLIENT, b.data, b.len, &kind), -1);
    static const uint8_t bad_len[] = {'Q', 0, 0, 0, 2};
    faultproxy_framing typed = {.typed = 1};
    assert_int_equal(faultproxy_frame(&typed, FAULTPROXY_TO_SERVER, bad_len, 5, &kind), -1);
    static const uint8_t bad_code[] = {0, 0, 0, 8, 0, 9, 9, 9};
    assert_int_equal(faultproxy_frame(&start, FAULTPROXY_TO_SERVER, bad_code, 8, &kind), -1);
    buf_free(&f);
    buf_free(&b);
    buf_free(&fr);
}

/* ------------------------------------------------------------------------------------------ */
/* The proxy against the real server: the trace, rule matching, one-shot, before and after. */

static const char *selfdb;

/* A connection through the proxy with the given application_name (fails the test if none). */
static PGconn *connect_as(const char *app)
{
    char *ci = xasprintf("%s application_name=%s", harness_proxy_db("faults_self"), app);
    PGconn *c = harness_connect(ci);
    free(ci);
    return c;
}

/* Runs sql; returns 1 if it worked, 0 if it failed (and the connection was lost, as the cut
 * tests expect: any other failure fails the test). */
static int try_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok && PQstatus(c) != CONNECTION_BAD)
        fail_msg("%s failed without losing the connection: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static int count_kind(const faultproxy_event *ev, size_t n, faultproxy_dir dir,
                      faultproxy_kind kind)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += ev[i].dir == dir && ev[i].kind == kind;
    return k;
}

static void test_proxy_trace_rules_and_one_shot(void **state)
{
    (void)state;
    selfdb = harness_db("faults_self", 0);
    if (!selfdb) skip();
    faultproxy *p = harness_proxy();
    PGconn *direct = harness_connect(selfdb);
    harness_exec(direct, "CREATE TABLE t (v int)");

    /* The trace of one uninterrupted session. */
    faultproxy_trace_reset(p);
    PGconn *a = connect_as("fp-a");
    assert_true(try_exec(a, "SELECT 1"));
    PQfinish(a);
    size_t n = 0;
    faultproxy_event *ev = NULL;
    for (int i = 0; i < 100; i++) { /* the Terminate reaches the proxy after PQfinish returns */
        free(ev);
        ev = faultproxy_trace(p, "application_name", "fp-a", &n);
        if (n && ev[n - 1].kind == FAULTPROXY_TERMINATE) break;
        util_sleep_ms(10);
    }
    assert_true(n > 6);
    assert_int_equal(ev[0].dir, FAULTPROXY_TO_SERVER);
    assert_int_equal(ev[0].kind, FAULTPROXY_STARTUP);
    assert_int_equal(ev[n - 1].kind, FAULTPROXY_TERMINATE);
    /* harness_connect's SET, then SELECT 1. */
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_SERVER, FAULTPROXY_QUERY), 2);
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_CLIENT, FAULTPROXY_DATA_ROW), 1);
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_CLIENT, FAULTPROXY_BACKEND_KEY), 1);
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_CLIENT, FAULTPROXY_READY), 3);
    /* After the last query: RowDescription, DataRow, CommandComplete, ReadyForQuery. */
    size_t q = n - 1;
    while (ev[q].kind != FAULTPROXY_QUERY) q--;
    const faultproxy_kind reply[] = {FAULTPROXY_ROW_DESCRIPTION, FAULTPROXY_DATA_ROW,
                                     FAULTPROXY_COMMAND_COMPLETE, FAULTPROXY_READY};
    for (size_t i = 0; i < 4; i++) assert_int_equal(ev[q + 1 + i].kind, reply[i]);
    free(ev);
    ev = faultproxy_trace(p, "application_name", "fp-nobody", &n);
    assert_int_equal(n, 0);
    free(ev);

    /* Cut before the 2nd query of fp-a connections: fp-b's queries do not count, and once fired
     * the rule lets everything through. */
    PGconn *b = connect_as("fp-b");
    a = connect_as("fp-a");
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name", .match_value = "fp-a",
                                         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_QUERY,
                                         .n = 2, .when = FAULTPROXY_BEFORE,
                                         .action = FAULTPROXY_CUT});
    for (int i = 0; i < 3; i++) assert_true(try_exec(b, "SELECT 1"));
    assert_true(try_exec(a, "INSERT INTO t VALUES (1)"));
    assert_false(faultproxy_fired(p, NULL));
    assert_false(try_exec(a, "INSERT INTO t VALUES (2)"));
    faultproxy_event at;
    assert_true(faultproxy_fired(p, &at));
    assert_int_equal(at.dir, FAULTPROXY_TO_SERVER);
    assert_int_equal(at.kind, FAULTPROXY_QUERY);
    assert_true(try_exec(b, "SELECT 1")); /* the other connection lives on */
    PQfinish(a);
    a = connect_as("fp-a");
    for (int i = 3; i <= 4; i++) assert_true(try_exec(a, "INSERT INTO t VALUES (3)"));
    assert_int_equal(harness_query_int(direct, "SELECT count(*) FROM t"), 3);
    assert_int_equal(harness_query_int(direct, "SELECT count(*) FROM t WHERE v = 2"), 0);

    /* COMMIT cut before it reaches the server: rolled back. Cut after it: committed, the reply
     * lost. */
    harness_exec(direct, "TRUNCATE t");
    for (int after = 0; after <= 1; after++) {
        assert_true(try_exec(a, "BEGIN"));
        assert_true(try_exec(a, after ? "INSERT INTO t VALUES (20)" : "INSERT INTO t VALUES (10)"));
        faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name", .match_value = "fp-a",
                                             .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_ANY,
                                             .n = 1,
                                             .when = after ? FAULTPROXY_AFTER : FAULTPROXY_BEFORE,
                                             .action = FAULTPROXY_CUT});
        assert_false(try_exec(a, "COMMIT"));
        PQfinish(a);
        a = connect_as("fp-a");
        /* The server notices the lost client at once, but let it finish before looking. */
        for (int i = 0; i < 200 && harness_query_int(direct, "SELECT count(*) FROM pg_stat_activity"
                                                             " WHERE state = 'idle in transaction'");
             i++)
            util_sleep_ms(10);
        assert_int_equal(harness_query_int(direct, "SELECT coalesce(sum(v), 0) FROM t"),
                         after ? 20 : 0);
    }

    /* Cut late: the client loses the connection at once, its COMMIT reaches the server only
     * when released, and commits then. */
    assert_true(try_exec(a, "BEGIN"));
    assert_true(try_exec(a, "INSERT INTO t VALUES (300)"));
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name", .match_value = "fp-a",
                                         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_QUERY,
                                         .n = 1, .when = FAULTPROXY_AFTER,
                                         .action = FAULTPROXY_CUT_LATE,
                                         .stall_ms = FAULTPROXY_UNTIL_RELEASED});
    assert_false(try_exec(a, "COMMIT"));
    PQfinish(a);
    assert_int_equal(harness_query_int(direct, "SELECT count(*) FROM pg_stat_activity "
                                               "WHERE state = 'idle in transaction'"),
                     1);
    assert_int_equal(harness_query_int(direct, "SELECT sum(v) FROM t"), 20);
    faultproxy_release(p);
    for (int i = 0; i < 500 && harness_query_int(direct, "SELECT sum(v) FROM t") == 20; i++)
        util_sleep_ms(10);
    assert_int_equal(harness_query_int(direct, "SELECT sum(v) FROM t"), 320);
    a = connect_as("fp-a");

    /* Stall: a query waits for the stall; a stall held until released keeps the reply until
     * then, and the connection works afterwards. */
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name", .match_value = "fp-a",
                                         .dir = FAULTPROXY_TO_CLIENT, .kind = FAULTPROXY_READY,
                                         .n = 1, .when = FAULTPROXY_BEFORE,
                                         .action = FAULTPROXY_STALL, .stall_ms = 300});
    int64_t t0 = util_mono_us();
    assert_true(try_exec(a, "SELECT 1"));
    assert_true(util_mono_us() - t0 >= 300000);
    assert_true(faultproxy_fired(p, NULL));
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "application_name", .match_value = "fp-a",
                                         .dir = FAULTPROXY_TO_CLIENT,
                                         .kind = FAULTPROXY_COMMAND_COMPLETE, .n = 1,
                                         .when = FAULTPROXY_BEFORE, .action = FAULTPROXY_STALL,
                                         .stall_ms = FAULTPROXY_UNTIL_RELEASED});
    assert_int_equal(PQsendQuery(a, "SELECT 42"), 1);
    for (int i = 0; i < 500 && !faultproxy_fired(p, NULL); i++) util_sleep_ms(10);
    assert_true(faultproxy_fired(p, NULL));
    util_sleep_ms(100);
    assert_int_equal(PQconsumeInput(a), 1);
    assert_int_equal(PQisBusy(a), 1); /* the CommandComplete is held */
    faultproxy_release(p);
    PGresult *r = PQgetResult(a);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "42");
    PQclear(r);
    assert_null(PQgetResult(a));
    assert_true(try_exec(a, "SELECT 1"));
    faultproxy_arm(p, NULL);
    PQfinish(a);
    PQfinish(b);
    PQfinish(direct);
}

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
    faultproxy *p = harness_proxy();
    ingproxy = xstrdup(harness_proxy_db("faults_ingest"));
    loadpath = xasprintf("%s/sweep.csv", harness_tmpdir());
    write_load(loadpath);
    ingconn = harness_connect(ingdb);
    /* Hundreds of loads: commits need not wait for the disk (visibility is the same). */
    harness_exec(ingconn, "ALTER DATABASE test_faults_ingest SET synchronous_commit = off");
    harness_exec(ingconn, "INSERT INTO robot (robot_id, name) SELECT g, 'r' || g FROM "
                          "generate_series(1, 5) g");
    reset_load(ingconn);
    harness_proxy_wait_idle();
    faultproxy_trace_reset(p);
    harness_out o = run_ingest();
    if (o.status != 0) fail_msg("the uninterrupted load failed: %s", o.err);
    harness_out_free(&o);
    harness_proxy_wait_idle();
    ingev = faultproxy_trace(p, "application_name", "pgpulse-ingest", &ningev);
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

/* The position (from 1, counted in its direction) of trace event i. */
static long ordinal(const faultproxy_event *ev, size_t i)
{
    long k = 0;
    for (size_t j = 0; j <= i; j++) k += ev[j].dir == ev[i].dir;
    return k;
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

static void test_ingest_cut_at_every_boundary(void **state)
{
    (void)state;
    if (!ingest_setup()) skip();
    /* Every boundary: before each message in each direction, and after each message to the
     * server that the server answers (after a COMMIT: committed, the reply lost). */
    int points = 0;
    int64_t t0 = util_mono_us();
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < ningev; i++) {
            if ((int)ingev[i].dir != d) continue;
            long k = ordinal(ingev, i);
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
    print_message("%d cut points, each loaded exactly once, in %.1f s\n", points,
                  (double)(util_mono_us() - t0) / 1e6);
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
                                         .n = ordinal(ingev, commit), .when = FAULTPROXY_AFTER,
                                         .action = FAULTPROXY_CUT_LATE,
                                         .stall_ms = FAULTPROXY_UNTIL_RELEASED});
    char *log = xasprintf("%s/late.log", harness_tmpdir());
    int pid = harness_spawn(NULL, log,
                            (const char *[]){"ingest", "--db", ingproxy, "--batch", LOAD_BATCH,
                                             "--source", "sweep.csv", loadpath, NULL});
    /* The resent batch blocks on the first attempt's rows, still uncommitted. */
    int waiting = 0;
    for (int i = 0; i < 1000 && !waiting; i++) {
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
         .dir = FAULTPROXY_TO_SERVER, .kind = FAULTPROXY_ANY, .n = ordinal(ingev, copydone),
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
    harness_proxy_wait_idle();
    faultproxy_trace_reset(p);
    harness_out o = harness_pgpulse_limit(RUN_LIMIT_S, NULL, argv);
    if (o.status != 0) fail_msg("the uninterrupted load failed: %s", o.err);
    harness_out_free(&o);
    harness_proxy_wait_idle();
    size_t n;
    faultproxy_event *ev = faultproxy_trace(p, "application_name", "pgpulse-ingest", &n);
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
                                                 .n = ordinal(ev, i),
                                                 .when = (faultproxy_when)when,
                                                 .action = FAULTPROXY_CUT});
            o = harness_pgpulse_limit(RUN_LIMIT_S, NULL, argv);
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

/* `test_faults NAME...` runs only the tests whose names contain one of the NAMEs. */
int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_framing_across_split_reads),
        cmocka_unit_test(test_proxy_trace_rules_and_one_shot),
        cmocka_unit_test(test_ingest_cut_at_every_boundary),
        cmocka_unit_test(test_ingest_commit_that_arrives_late),
        cmocka_unit_test(test_ingest_stalls_only_delay),
        cmocka_unit_test(test_ingest_robot_export_first_connection),
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
