/* The fault proxy's own tests (faultproxy.h): framing across split reads, without a server;
 * then against the real server: the trace, rule matching, one-shot rules, a COMMIT cut before
 * and after it reaches the server, a COMMIT that arrives late, stalls, and the kinds of a
 * logical replication stream. */
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

/* Waits until no backend has application_name app; fails the test after 30 s. */
static void wait_backends_gone(PGconn *direct, const char *app)
{
    char *sql = xasprintf("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'",
                          app);
    int64_t left = 1;
    for (int i = 0; i < 3000 && (left = harness_query_int(direct, sql)); i++) util_sleep_ms(10);
    free(sql);
    if (left) fail_msg("the backends of %s did not end", app);
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
        /* The server notices the lost client at once; let its backend finish before looking. */
        wait_backends_gone(direct, "fp-a");
        assert_int_equal(harness_query_int(direct, "SELECT coalesce(sum(v), 0) FROM t"),
                         after ? 20 : 0);
        a = connect_as("fp-a");
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
    wait_backends_gone(direct, "fp-a");
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
    for (int i = 0; i < 3000 && !faultproxy_fired(p, NULL); i++) util_sleep_ms(10);
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

/* A logical replication connection through the proxy: CopyBoth, then XLogData from the server
 * and standby status updates from the client, each a kind of its own; a cut before the first
 * XLogData ends the stream. */
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Starts streaming a temporary test_decoding slot on a new replication connection. */
static PGconn *start_stream(const char *app)
{
    char *ci = xasprintf("%s replication=database application_name=%s",
                         harness_proxy_db("faults_repl"), app);
    PGconn *c = PQconnectdb(ci);
    free(ci);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("replication connection: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "CREATE_REPLICATION_SLOT fp_slot TEMPORARY LOGICAL test_decoding");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("slot: %s", PQerrorMessage(c));
    PQclear(r);
    r = PQexec(c, "START_REPLICATION SLOT fp_slot LOGICAL 0/0");
    if (PQresultStatus(r) != PGRES_COPY_BOTH) fail_msg("stream: %s", PQerrorMessage(c));
    PQclear(r);
    return c;
}

/* Reads the stream until an XLogData message; returns 1, or 0 if the stream ended first. */
static int read_xlogdata(PGconn *c)
{
    for (int i = 0; i < 1000; i++) {
        char *msg = NULL;
        int n = PQgetCopyData(c, &msg, 0);
        if (n < 0) return 0;
        int w = n > 0 && msg[0] == 'w';
        PQfreemem(msg);
        if (w) return 1;
    }
    fail_msg("no XLogData in 1000 messages");
    return 0;
}

static void test_replication_stream_kinds(void **state)
{
    (void)state;
    const char *db = harness_db("faults_repl", 0);
    if (!db) skip();
    faultproxy *p = harness_proxy();
    PGconn *direct = harness_connect(db);
    harness_exec(direct, "CREATE TABLE t (v int)");

    harness_proxy_wait_idle();
    faultproxy_trace_reset(p);
    PGconn *c = start_stream("fp-repl");
    harness_exec(direct, "INSERT INTO t VALUES (7)");
    assert_true(read_xlogdata(c));
    uint8_t status[34] = {'r'};
    put64(status + 1, 0); /* written, flushed, applied: nothing yet, a valid update all the same */
    put64(status + 9, 0);
    put64(status + 17, 0);
    put64(status + 25, 0);
    assert_int_equal(PQputCopyData(c, (const char *)status, sizeof status), 1);
    assert_int_equal(PQflush(c), 0);
    PQfinish(c);
    harness_proxy_wait_idle();
    size_t n;
    faultproxy_event *ev = faultproxy_trace(p, "replication", "database", &n);
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_CLIENT, FAULTPROXY_COPY_BOTH), 1);
    assert_true(count_kind(ev, n, FAULTPROXY_TO_CLIENT, FAULTPROXY_XLOG_DATA) >= 1);
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_SERVER, FAULTPROXY_STANDBY_STATUS), 1);
    assert_int_equal(count_kind(ev, n, FAULTPROXY_TO_SERVER, FAULTPROXY_COPY_DATA), 0);
    free(ev);

    /* Cut before the first XLogData: the client never sees it. */
    faultproxy_arm(p, &(faultproxy_rule){.match_key = "replication", .match_value = "database",
                                         .dir = FAULTPROXY_TO_CLIENT,
                                         .kind = FAULTPROXY_XLOG_DATA, .n = 1,
                                         .when = FAULTPROXY_BEFORE, .action = FAULTPROXY_CUT});
    c = start_stream("fp-repl");
    harness_exec(direct, "INSERT INTO t VALUES (8)");
    assert_false(read_xlogdata(c));
    assert_true(faultproxy_fired(p, NULL));
    faultproxy_arm(p, NULL);
    PQfinish(c);
    PQfinish(direct);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_across_split_reads),
        cmocka_unit_test(test_proxy_trace_rules_and_one_shot),
        cmocka_unit_test(test_replication_stream_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
