/* Integration tests of a lost slot (stream_setup, stream_catchup, the xid bookkeeping in
 * stream.c and stream_cdc.c) against a real PostgreSQL: a consumer (live and detect stages) is
 * stopped, writers go on past max_slot_wal_keep_size until the server invalidates its slot, and
 * the consumer, restarted while they still write, reads what it missed from the table and goes
 * back to logical replication; its tables must equal those of a consumer that was never
 * interrupted. On the way: a transaction left open for the whole run (it holds xmin back, and a
 * new slot waits for it), a kill while the new slot is being created, a kill between two chunks
 * of the catch-up, a transaction applied only in part when the slot is lost (its rows in
 * shuffled order), and a checkpoint that cannot say what it applied.
 *
 * The server's max_slot_wal_keep_size is lowered for these tests (ALTER SYSTEM, as the superuser
 * the harness connects as) and restored by each test's teardown, even when the test fails.
 * Faults are injected with PGPULSE_TEST_FAULT (stream_fault). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "harness.h"
#include "util.h"

#define REC_WAIT_S 120 /* a condition the test waits for fails after this long */

/* max_slot_wal_keep_size before a test lowered it: value, and whether ALTER SYSTEM set it. */
static char rec_saved_setting[64];
static int rec_saved_auto = -1;
static char rec_conninfo[4096];

/* Lowers the server's bound on the WAL a slot may hold (remembering the old one). */
static void rec_lower_bound(PGconn *conn, const char *conninfo)
{
    snprintf(rec_conninfo, sizeof rec_conninfo, "%s", conninfo);
    char *v = harness_query_text(conn, "SELECT setting || ' ' || (coalesce(sourcefile, '') LIKE "
                                       "'%postgresql.auto.conf') FROM pg_settings WHERE name = "
                                       "'max_slot_wal_keep_size'");
    char flag[8] = "";
    if (sscanf(v, "%63s %7s", rec_saved_setting, flag) != 2) fail_msg("pg_settings: %s", v);
    rec_saved_auto = flag[0] == 't';
    free(v);
    harness_exec(conn, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    harness_exec(conn, "SELECT pg_reload_conf()");
}

/* The bound as it was (a no-op if it was not lowered). */
static int rec_restore_bound(void **state)
{
    (void)state;
    if (rec_saved_auto < 0) return 0;
    PGconn *conn = PQconnectdb(rec_conninfo);
    char sql[160];
    if (rec_saved_auto)
        snprintf(sql, sizeof sql, "ALTER SYSTEM SET max_slot_wal_keep_size = %s",
                 rec_saved_setting);
    else
        snprintf(sql, sizeof sql, "ALTER SYSTEM RESET max_slot_wal_keep_size");
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQclear(PQexec(conn, "SELECT pg_reload_conf()"));
    PQfinish(conn);
    rec_saved_auto = -1;
    return ok ? 0 : -1;
}

/* Processes a test started and has not waited for yet, and its transaction left open: the
 * teardown ends them when the test fails half-way, so that they cannot hold up the next test
 * (an open transaction keeps every new slot of the cluster waiting). */
#define REC_MAX_PIDS 16
static int rec_pids[REC_MAX_PIDS];
static PGconn *rec_open_conn;

static int rec_track(int pid)
{
    for (int i = 0; i < REC_MAX_PIDS; i++)
        if (!rec_pids[i]) {
            rec_pids[i] = pid;
            return pid;
        }
    fail_msg("more than %d processes", REC_MAX_PIDS);
    return pid;
}

/* Waits for the process (failing after REC_WAIT_S, so that a fault that never fires cannot
 * hang the suite); returns its exit status, or 128+signal. */
static int rec_wait_pid(int pid)
{
    for (int i = 0; i < REC_WAIT_S * 10; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            for (int k = 0; k < REC_MAX_PIDS; k++)
                if (rec_pids[k] == pid) rec_pids[k] = 0;
            return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
        }
        util_sleep_ms(100);
    }
    fail_msg("process %d did not end in %d s", pid, REC_WAIT_S);
    return -1;
}

/* Teardown: what a test that failed half-way leaves behind is ended, the bound restored. */
static int rec_teardown(void **state)
{
    for (int i = 0; i < REC_MAX_PIDS; i++)
        if (rec_pids[i]) {
            kill(rec_pids[i], SIGKILL);
            harness_wait(rec_pids[i], NULL);
            rec_pids[i] = 0;
        }
    if (rec_open_conn) PQfinish(rec_open_conn);
    rec_open_conn = NULL;
    return rec_restore_bound(state);
}

/* Waits until a scalar query (a count or a condition) is non-zero; fails after REC_WAIT_S. */
static void rec_wait_true(PGconn *conn, const char *sql)
{
    char *q = xasprintf("SELECT ((%s))::int", sql);
    for (int i = 0; i < REC_WAIT_S * 10; i++) {
        if (harness_query_int(conn, q)) {
            free(q);
            return;
        }
        util_sleep_ms(100);
    }
    fail_msg("waited %d s for: %s", REC_WAIT_S, sql);
}

/* Waits until the consumer has its slot and streams from it (harness_wait_slot also counts a
 * slot that is still being created). */
static void rec_wait_streaming(PGconn *conn, const char *consumer)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM stream_checkpoint k JOIN stream_consumer c USING (consumer) JOIN "
             "pg_replication_slots s ON s.slot_name = c.slot_name WHERE k.consumer = '%s' AND "
             "k.mode = 'stream' AND s.active",
             consumer);
    rec_wait_true(conn, sql);
}

/* Waits until the consumer's checkpoint counts `rows`, then checks it is exactly that. */
static void rec_wait_rows(PGconn *conn, const char *consumer, int64_t rows)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(rows), 0) >= %lld FROM stream_checkpoint WHERE consumer = '%s'",
             (long long)rows, consumer);
    rec_wait_true(conn, sql);
    snprintf(sql, sizeof sql, "SELECT rows FROM stream_checkpoint WHERE consumer = '%s'", consumer);
    assert_int_equal(harness_query_int(conn, sql), rows);
}

/* A consumer of the given stages; fault (or NULL) goes to PGPULSE_TEST_FAULT. */
static int rec_consumer(const char *db, const char *stages, const char *name, const char *batch_rows,
                        const char *fault, const char *log)
{
    const char *argv[16] = {"consume", "--stages", stages, "--db", db, "--name", name,
                            "--status-every", "0"};
    int n = 9;
    if (batch_rows) {
        argv[n++] = "--batch-rows";
        argv[n++] = batch_rows;
    }
    argv[n] = NULL;
    if (fault) setenv("PGPULSE_TEST_FAULT", fault, 1);
    int pid = harness_spawn(NULL, log, argv);
    unsetenv("PGPULSE_TEST_FAULT");
    return rec_track(pid);
}

/* The simulator into db: robots first..first+9, fixed seed and start; rate 0: unpaced. Many
 * small transactions (100 rows). */
static int rec_writer(const char *db, int first, int rows, int rate, const char *start)
{
    char f[16], n[16], r[16], seed[16];
    snprintf(f, sizeof f, "%d", first);
    snprintf(n, sizeof n, "%d", rows);
    snprintf(r, sizeof r, "%d", rate);
    snprintf(seed, sizeof seed, "%d", first);
    const char *argv[24] = {"gen",     "--db",  db,   "--robots", "10",     "--first-robot", f,
                            "--rows",  n,       "--seed", seed,   "--faults", "none",
                            "--start", start,   "--batch", "100"};
    int k = 17;
    if (rate) {
        argv[k++] = "--rate";
        argv[k++] = r;
    }
    argv[k] = NULL;
    return rec_track(harness_spawn(NULL, NULL, argv));
}

/* The slot a consumer registered (newly allocated). */
static char *rec_slot_of(PGconn *conn, const char *consumer)
{
    char *sql = xasprintf("SELECT slot_name FROM stream_consumer WHERE consumer = '%s'", consumer);
    char *slot = harness_query_text(conn, sql);
    free(sql);
    if (!slot) fail_msg("consumer %s has no slot name", consumer);
    return slot;
}

/* Runs SQL until the slot's wal_status is 'lost': WAL moves to new segments as writers write,
 * and a checkpoint invalidates a slot past the bound. */
static void rec_make_lost(PGconn *conn, const char *slot)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s' AND wal_status = "
             "'lost'",
             slot);
    for (int i = 0; i < REC_WAIT_S * 10; i++) {
        harness_exec(conn, "SELECT pg_switch_wal()");
        harness_exec(conn, "CHECKPOINT");
        if (harness_query_int(conn, sql)) return;
        util_sleep_ms(100);
    }
    fail_msg("slot %s was not invalidated", slot);
}

/* What the live and detect stages wrote, without surrogate ids and wall-clock columns. */
static const char *const rec_tables[] = {
    "SELECT coalesce(string_agg((robot_id, last_ts, axis1, axis2, axis3, axis4, axis5, axis6, "
    "axis7, axis8, state, day, rows_today, rows_total)::text, ';' ORDER BY robot_id), '') FROM "
    "live_robot",
    "SELECT coalesce(string_agg((second, rows, active_robots)::text, ';' ORDER BY second), '') "
    "FROM live_fleet_second",
    "SELECT coalesce(string_agg((consumer, robot_id, axis_key, level, ts_first, ts_start, ts_end, "
    "peak_score, peak_z, detector, reason, readings, open)::text, ';' ORDER BY robot_id, "
    "axis_key, ts_first), '') FROM anomaly",
    "SELECT coalesce(string_agg((consumer, robot_id, md5(state))::text, ';' ORDER BY robot_id), "
    "'') FROM detect_robot_state",
};

/* md5 of each table's content, joined with '/'. */
static char *rec_fingerprint(PGconn *conn, size_t ntables)
{
    buf b = {0};
    for (size_t i = 0; i < ntables; i++) {
        char *sql = xasprintf("SELECT md5((%s))", rec_tables[i]);
        char *v = harness_query_text(conn, sql);
        buf_printf(&b, "%s%s", i ? "/" : "", v);
        free(v);
        free(sql);
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* The reference: every row of `from` (in time order) loaded into a fresh database, where one
 * consumer that nobody interrupts reads them. Per robot that is the order the writers wrote.
 * Returns its fingerprint. */
static char *rec_reference(PGconn *from, const char *name, const char *stages, const char *consumer,
                           size_t ntables)
{
    const char *db = harness_db(name, 1);
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id, name) SELECT g, 'sim-' || g FROM "
                       "generate_series(1, 400) g");
    harness_exec(conn, "SELECT reading_ensure_partitions('2026-02-28', '2026-03-03')");
    char *log = xasprintf("%s/%s.log", harness_tmpdir(), name);
    int c = rec_consumer(db, stages, consumer, NULL, NULL, log);
    rec_wait_streaming(conn, consumer);
    PGresult *r = PQexec(from, "COPY (SELECT robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                               "axis6, axis7, axis8 FROM reading ORDER BY ts, robot_id) TO STDOUT "
                               "(FORMAT binary)");
    assert_int_equal(PQresultStatus(r), PGRES_COPY_OUT);
    PQclear(r);
    r = PQexec(conn, "COPY reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, "
                     "axis7, axis8) FROM STDIN (FORMAT binary)");
    assert_int_equal(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    char *data;
    int n;
    while ((n = PQgetCopyData(from, &data, 0)) > 0) {
        assert_int_equal(PQputCopyData(conn, data, n), 1);
        PQfreemem(data);
    }
    assert_int_equal(n, -1);
    PQclear(PQgetResult(from));
    assert_int_equal(PQputCopyEnd(conn, NULL), 1);
    r = PQgetResult(conn);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    int64_t rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    rec_wait_rows(conn, consumer, rows);
    kill(c, SIGINT);
    assert_int_equal(rec_wait_pid(c), 0);
    char *fp = rec_fingerprint(conn, ntables);
    PQfinish(conn);
    free(log);
    return fp;
}

/* The rows of a transaction left open: 200 of robot 201, in time order. */
#define REC_OPEN_ROWS 200
#define REC_OPEN_INSERT                                                                            \
    "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8) "  \
    "SELECT 201, timestamptz '2026-03-01 00:00:00+00' + g * interval '250 ms', sin(g), cos(g), "   \
    "sin(g / 3.0), cos(g / 3.0), g % 7, g % 5, 1, 0 FROM generate_series(0, 199) g"

static void test_lost_slot_two_writers(void **state)
{
    (void)state;
    const char *db = harness_db("rec_lost", 1);
    if (!db) skip();
    int64_t t0 = util_mono_us();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id, name) VALUES (201, 'open')");
    harness_exec(conn, "SELECT reading_ensure_partitions('2026-02-28', '2026-03-03')");
    const char *tmp = harness_tmpdir();
    char *log1 = xasprintf("%s/lost1.log", tmp), *log2 = xasprintf("%s/lost2.log", tmp),
         *log3 = xasprintf("%s/lost3.log", tmp), *log4 = xasprintf("%s/lost4.log", tmp);
    int c = rec_consumer(db, "live,detect", "rec", NULL, NULL, log1);
    rec_wait_streaming(conn, "rec");

    /* A transaction that stays open: it holds xmin back for the whole run. */
    PGconn *open = rec_open_conn = harness_connect(db);
    harness_exec(open, "BEGIN");
    int64_t open_xid = harness_query_int(open, "SELECT txid_current()");
    harness_exec(open, REC_OPEN_INSERT);

    /* Phase 1: two writers, many small transactions, the consumer keeps up. */
    int w1 = rec_writer(db, 1, 20000, 0, "2026-03-01T00:00:00Z");
    int w2 = rec_writer(db, 101, 20000, 0, "2026-03-01T00:00:00Z");
    int64_t most = 0;
    for (int i = 0; i < REC_WAIT_S * 20; i++) {
        if (harness_query_int(conn, "SELECT rows FROM stream_checkpoint") >= 40000) break;
        int64_t n = harness_query_int(conn, "SELECT count(*) FROM stream_applied_xid");
        if (n > most) most = n;
        util_sleep_ms(50);
    }
    assert_int_equal(rec_wait_pid(w1), 0);
    assert_int_equal(rec_wait_pid(w2), 0);
    rec_wait_rows(conn, "rec", 40000);
    /* The covered snapshot's xmin is held at the open transaction, yet the listed ids come
     * down to none once the stream is idle: they do not pile up behind it. */
    int64_t txns = harness_query_int(conn, "SELECT count(DISTINCT txid) FROM reading");
    rec_wait_true(conn, "SELECT count(*) = 0 FROM stream_applied_xid");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (pg_snapshot_xmin(covered)::text::bigint <= %lld AND "
             "NOT pg_visible_in_snapshot('%lld'::xid8, covered))::int FROM stream_checkpoint",
             (long long)open_xid, (long long)open_xid);
    assert_int_equal(harness_query_int(conn, sql), 1);
    print_message("phase 1: %lld transactions; at most %lld ids listed beyond the covered "
                  "snapshot, none once idle\n",
                  (long long)txns, (long long)most);
    assert_true(txns >= 400);

    /* Phase 2: the consumer stops; writers go on past the bound; the slot is lost. */
    kill(c, SIGINT);
    assert_int_equal(rec_wait_pid(c), 0);
    w1 = rec_writer(db, 21, 20000, 4000, "2026-03-01T00:00:00Z");
    w2 = rec_writer(db, 121, 20000, 4000, "2026-03-01T00:00:00Z");
    /* Enough rows in the gap for more than two chunks of the catch-up below. */
    rec_wait_true(conn, "SELECT count(*) >= 2000 FROM reading WHERE robot_id BETWEEN 21 AND 130");
    /* The bound holds for every slot of the cluster: lowered only while this one is to be
     * lost, and restored at once. */
    char *slot = rec_slot_of(conn, "rec");
    rec_lower_bound(conn, db);
    rec_make_lost(conn, slot);
    assert_int_equal(rec_restore_bound(NULL), 0);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"status", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "warning: rec: its replication slot was invalidated"));
    harness_out_free(&o);

    /* Restarted while they write: the new slot waits for the open transaction. Killed then,
     * and started again: it waits for the old walsender to let go of the slot. */
    print_message("restarting with %lld of 40000 rows written\n",
                  (long long)harness_query_int(conn, "SELECT count(*) FROM reading WHERE "
                                                     "robot_id BETWEEN 21 AND 130"));
    c = rec_consumer(db, "live,detect", "rec", NULL, NULL, log2);
    rec_wait_true(conn, "SELECT count(*) FROM stream_checkpoint WHERE mode = 'recovering'");
    char *sql_active = xasprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
                                 "'%s' AND active",
                                 slot);
    rec_wait_true(conn, sql_active);
    free(sql_active);
    kill(c, SIGKILL);
    assert_int_equal(rec_wait_pid(c), 128 + SIGKILL);
    c = rec_consumer(db, "live,detect", "rec", "500", "catchup-commit:2", log3);
    char *holds = xasprintf("waiting for the process that holds slot %s", slot);
    char *creating = xasprintf("creating replication slot %s", slot);
    for (int i = 0;; i++) {
        char *s = access(log3, R_OK) == 0 ? harness_read_file(log3) : xstrdup("");
        int waiting = strstr(s, holds) || strstr(s, creating);
        free(s);
        if (waiting) break;
        if (i == REC_WAIT_S * 10) fail_msg("the restarted consumer did not reach the slot");
        util_sleep_ms(100);
    }
    free(holds);
    free(creating);
    harness_exec(open, "COMMIT");
    PQfinish(open);
    rec_open_conn = NULL;
    /* It catches up in chunks of 500 rows and is killed after the second commit. */
    assert_int_equal(rec_wait_pid(c), 128 + SIGKILL);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_checkpoint WHERE mode "
                                             "= 'catchup' AND catchup_ts IS NOT NULL AND rows = "
                                             "41000"),
                     1);
    c = rec_consumer(db, "live,detect", "rec", NULL, NULL, log4);
    assert_int_equal(rec_wait_pid(w1), 0);
    assert_int_equal(rec_wait_pid(w2), 0);
    rec_wait_rows(conn, "rec", 80000 + REC_OPEN_ROWS);
    kill(c, SIGINT);
    assert_int_equal(rec_wait_pid(c), 0);
    assert_int_equal(harness_query_int(conn, "SELECT recoveries FROM stream_checkpoint WHERE mode "
                                             "= 'stream'"),
                     1);
    char *out = harness_read_file(log2);
    char *want = xasprintf("the replication slot %s was invalidated", slot);
    assert_non_null(strstr(out, want));
    free(want);
    free(slot);
    free(out);
    out = harness_read_file(log4);
    assert_non_null(strstr(out, "resuming the catch-up from the table"));
    assert_non_null(strstr(out, "caught up: "));
    free(out);
    print_message("recovered run: %.1f s\n", (double)(util_mono_us() - t0) / 1e6);

    /* The same as a consumer that was never interrupted. */
    char *fp = rec_fingerprint(conn, UTIL_ARRAY_LEN(rec_tables));
    char *ref = rec_reference(conn, "rec_lost_ref", "live,detect", "rec", UTIL_ARRAY_LEN(rec_tables));
    print_message("fingerprints %s\n", fp);
    assert_string_equal(fp, ref);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM anomaly") > 0);
    free(fp);
    free(ref);
    free(log1);
    free(log2);
    free(log3);
    free(log4);
    PQfinish(conn);
}

/* A transaction larger than a batch, applied in part when the slot is lost: its rows came in
 * shuffled time order, so what was applied is not "every row up to a time"; the rest is read
 * from the table exactly. Before it, a small transaction that is applied and still listed (no
 * snapshot taken after it has been passed yet): the catch-up must not read it again. */
static void test_lost_slot_partial_transaction(void **state)
{
    (void)state;
    const char *db = harness_db("rec_part", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id, name) SELECT g, 'shuffled' FROM "
                       "generate_series(301, 306) g");
    harness_exec(conn, "SELECT reading_ensure_partitions('2026-02-28', '2026-03-03')");
    char *log1 = xasprintf("%s/part1.log", harness_tmpdir());
    char *log2 = xasprintf("%s/part2.log", harness_tmpdir());
    int c = rec_consumer(db, "live", "part", NULL, NULL, NULL);
    rec_wait_streaming(conn, "part");
    kill(c, SIGINT);
    assert_int_equal(rec_wait_pid(c), 0);
    /* Committed while it is stopped, so that the snapshot it takes when it starts again shows
     * both as ended: that snapshot covers them only once the stream has passed them both. */
    harness_exec(conn, "BEGIN");
    int64_t small = harness_query_int(conn, "SELECT txid_current()");
    harness_exec(conn, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                       "axis6, axis7, axis8) SELECT 306, timestamptz '2026-03-01 01:00:00+00' + g "
                       "* interval '1 s', g, 0, 0, 0, 0, 0, 0, 1 FROM generate_series(0, 9) g");
    harness_exec(conn, "COMMIT");
    harness_exec(conn, "BEGIN");
    int64_t xid = harness_query_int(conn, "SELECT txid_current()");
    harness_exec(conn, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                       "axis6, axis7, axis8) SELECT 301 + g % 5, timestamptz '2026-03-01 "
                       "01:00:00+00' + (g / 5) * interval '1 s', g, 0, 0, 0, 0, 0, 0, 1 FROM "
                       "generate_series(0, 4999) g ORDER BY md5(g::text)");
    harness_exec(conn, "COMMIT");
    /* Killed right after committing the small one and the first part of the large one: 990
     * rows with the small one in the same batch, 1000 if the stream paused between them. */
    c = rec_consumer(db, "live", "part", "1000", "partial-commit:1", log1);
    assert_int_equal(rec_wait_pid(c), 128 + SIGKILL);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM stream_checkpoint WHERE partial_xid = %lld AND partial_rows IN "
             "(990, 1000) AND rows = 10 + partial_rows AND cardinality(partial_robots) = 5 AND "
             "cardinality(partial_skip_ts) > 0",
             (long long)xid);
    assert_int_equal(harness_query_int(conn, sql), 1);
    int64_t part = harness_query_int(conn, "SELECT partial_rows FROM stream_checkpoint");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM stream_applied_xid WHERE xid = %lld",
             (long long)small);
    assert_int_equal(harness_query_int(conn, sql), 1);
    int64_t skipped = harness_query_int(conn, "SELECT cardinality(partial_skip_ts) FROM "
                                              "stream_checkpoint");
    int w = rec_writer(db, 1, 5000, 0, "2026-03-01T00:00:00Z");
    assert_int_equal(rec_wait_pid(w), 0);
    char *slot = rec_slot_of(conn, "part");
    rec_lower_bound(conn, db);
    rec_make_lost(conn, slot);
    free(slot);
    assert_int_equal(rec_restore_bound(NULL), 0);
    c = rec_consumer(db, "live", "part", "1000", NULL, log2);
    rec_wait_rows(conn, "part", 10010);
    kill(c, SIGINT);
    assert_int_equal(rec_wait_pid(c), 0);
    print_message("partial: %lld of 5000 rows applied, %lld listed as waiting below their "
                  "robot's last\n",
                  (long long)part, (long long)skipped);
    /* Each robot's rows counted once, and the same live_robot as an uninterrupted consumer
     * (its columns do not depend on the order of a robot's rows within one day). */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot l WHERE rows_total <> "
                                             "(SELECT count(*) FROM reading r WHERE r.robot_id = "
                                             "l.robot_id)"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), 10010);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows) FROM live_fleet_second"), 10010);
    char *fp = rec_fingerprint(conn, 1);
    char *ref = rec_reference(conn, "rec_part_ref", "live", "part", 1);
    assert_string_equal(fp, ref);
    free(fp);
    free(ref);
    char *out = harness_read_file(log2);
    char *want = xasprintf("caught up: %lld rows read from the table", (long long)(10000 - part));
    assert_non_null(strstr(out, want));
    free(want);
    free(out);
    free(log1);
    free(log2);
    PQfinish(conn);
}

/* A lost slot under a checkpoint that does not say which transactions it applied (as one
 * written before pgpulse kept them) is reported, not guessed at. */
static void test_lost_slot_without_record_is_reported(void **state)
{
    (void)state;
    const char *db = harness_db("rec_legacy", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    int c = rec_consumer(db, "live", "legacy", NULL, NULL, NULL);
    rec_wait_streaming(conn, "legacy");
    int w = rec_writer(db, 1, 1000, 0, "2026-03-01T00:00:00Z");
    assert_int_equal(rec_wait_pid(w), 0);
    rec_wait_rows(conn, "legacy", 1000);
    kill(c, SIGINT);
    assert_int_equal(rec_wait_pid(c), 0);
    harness_exec(conn, "UPDATE stream_checkpoint SET covered = NULL");
    rec_wait_true(conn, "SELECT count(*) FROM pg_replication_slots s JOIN stream_consumer c ON "
                        "c.slot_name = s.slot_name WHERE c.consumer = 'legacy' AND NOT s.active");
    harness_exec(conn, "SELECT pg_drop_replication_slot(slot_name) FROM stream_consumer WHERE "
                       "consumer = 'legacy'");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"consume", "--stages", "live", "--db",
                                                           db, "--name", "legacy", NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "was dropped, and its checkpoint"));
    assert_non_null(strstr(o.err, "pgpulse slots drop legacy"));
    harness_out_free(&o);
    /* Nothing was changed: the consumer is where it was. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_checkpoint WHERE mode = "
                                             "'stream' AND rows = 1000 AND recoveries = 0"),
                     1);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_lost_slot_two_writers, rec_teardown),
        cmocka_unit_test_teardown(test_lost_slot_partial_transaction, rec_teardown),
        cmocka_unit_test_teardown(test_lost_slot_without_record_is_reported, rec_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
