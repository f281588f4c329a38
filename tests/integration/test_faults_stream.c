/* Deterministic connection faults in a stream consumer, through the fault proxy (faultproxy.h):
 * `pgpulse consume --stages live,detect` reads through the proxy on its normal connection
 * (application_name pgpulse-sweep: setup, the stages' opens, every commit) and on its
 * replication connections (StartupMessage parameter replication = database: the one that
 * creates its slot, and the one it streams from), while the test writes four small transactions
 * of readings directly, each once the consumer has committed the one before (a stuck sensor and
 * a late row among them, so that the detect stage writes anomalies). One undisturbed run gives
 * the reference tables and the trace; then each run cuts the connection at one boundary of that
 * trace:
 *   - every statement of one stage commit (the one that opens an anomaly): before it reaches the
 *     server, after it did (executed, reply lost), before its ReadyForQuery; its COMMIT also
 *     delivered late, while the consumer has already reconnected;
 *   - a sample of the other commits' statements, and of the setup's (connection, registration,
 *     publication, slot creation and the snapshot it exports, checkpoint, stage opens);
 *   - the replication connections: StartupMessage, CREATE_REPLICATION_SLOT, START_REPLICATION,
 *     CopyBothResponse, a sample of XLogData, standby status updates, a keepalive and the reply
 *     to one (the test database's wal_sender_timeout is 2 s, so the server asks for replies).
 * After each cut the consumer must recover by itself (the same process reconnects) and end with
 * every row written counted once and live_robot, live_fleet_second, anomaly (without surrogate
 * ids and wall-clock columns) and detect_robot_state equal, by md5, to the undisturbed run's.
 * Samples are drawn from the printed seed; PGPULSE_FAULTS_SAMPLE=N draws N in each sampled
 * group instead, and 0 runs every boundary of both connections. `test_faults_stream NAME...`
 * runs only the tests whose names contain a NAME. */
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

#include "buf.h"
#include "harness.h"
#include "rng.h"
#include "util.h"

#define SW_NAME "sweep"
#define SW_APP "pgpulse-" SW_NAME
#define SW_TXNS 4                  /* transactions of input */
#define SW_ROWS (SW_TXNS * 30 + 1) /* 10 instants of 3 robots each, and a late row */
#define SW_WAIT_S 30               /* a condition waited for fails after this */
#define SW_LATE_MS 3000            /* a late COMMIT is released after this at most */
#define SW_SAMPLE_OTHER_COMMITS 6  /* default draws in each sampled group */
#define SW_SAMPLE_SETUP 8
#define SW_SAMPLE_XLOGDATA 3
#define SW_SAMPLE_STATUS 1

/* A cut point. */
typedef struct sw_point {
    char what[160];         /* for messages */
    faultproxy_rule rule;   /* its match strings are static */
    faultproxy_kind expect; /* the kind it should fire at (ANY: not checked) */
    int at_rest;            /* armed once the input is consumed (a keepalive's reply) */
    int late;               /* CUT_LATE held until the consumer's new connection waits for a
                               lock, or SW_LATE_MS */
    int may_go_unnoticed;   /* a cut the consumer need not notice (it is done with that
                               connection, and which wins a race decides): both are correct */
} sw_point;

typedef struct sw_points {
    sw_point *p;
    size_t n;
} sw_points;

static void sw_add(sw_points *ps, const sw_point *pt)
{
    ps->p = xrealloc(ps->p, (ps->n + 1) * sizeof *ps->p);
    ps->p[ps->n++] = *pt;
}

/* ------------------------------------------------------------------------------------------ */
/* The database, the input, the end state. */

static const char *swdb;       /* test_faults_stream, direct */
static char *swproxy;          /* the same through the proxy */
static PGconn *swconn;         /* direct, for the input and the checks */
static char *swref;            /* the undisturbed run's end state */
static faultproxy_event *swev; /* its trace (every connection) up to its stop */
static size_t nswev;
static int *swkind; /* per event of swev: 1 normal connection, 2 replication, 0 other */

/* Transaction k of the input: instants i = 10k .. 10k+9 (two seconds apart) of robots 1..3, in
 * time order; robot 2's axis3 stuck at 3.25 for i = 15..22; in the last one, a late row of
 * robot 3 (between i = 15 and 16). */
static char *sw_txn_sql(int k)
{
    buf b = {0};
    buf_puts(&b, "BEGIN; INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                 "axis6, axis7, axis8) SELECT r, timestamptz '2026-03-01 00:00:00+00' + i * "
                 "interval '2 s'");
    for (int a = 1; a <= 8; a++)
        buf_printf(&b,
                   ", %sround((1 + 0.5 * sin(i * 0.7 + r + %d) + 0.01 * ((i * 7 + %d + r) %% "
                   "11))::numeric, 4)%s",
                   a == 3 ? "CASE WHEN r = 2 AND i BETWEEN 15 AND 22 THEN 3.25 ELSE " : "", a,
                   3 * a, a == 3 ? " END" : "");
    buf_printf(&b, " FROM generate_series(%d, %d) i, generate_series(1, 3) r ORDER BY i, r;",
               10 * k, 10 * k + 9);
    if (k == SW_TXNS - 1)
        buf_puts(&b, " INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                     "axis6, axis7, axis8) VALUES (3, '2026-03-01 00:00:31+00', 1.1, 1.1, 1.1, "
                     "1.1, 1.1, 1.1, 1.1, 1.1);");
    buf_puts(&b, " COMMIT");
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* What the consumer leaves: its row count, the stages' counts, and md5s of their tables. */
static const char sw_state_sql[] =
    "SELECT concat_ws(' ', (SELECT rows FROM stream_checkpoint WHERE consumer = '" SW_NAME "'), "
    "(SELECT sum(rows_total) FROM live_robot), (SELECT sum(rows) FROM live_fleet_second), "
    "(SELECT count(*) FROM anomaly), "
    "md5((SELECT string_agg((robot_id, last_ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, "
    "axis8, state, day, rows_today, rows_total)::text, ';' ORDER BY robot_id) FROM live_robot)), "
    "md5((SELECT string_agg((second, rows, active_robots)::text, ';' ORDER BY second) FROM "
    "live_fleet_second)), "
    "md5((SELECT string_agg((consumer, robot_id, axis_key, level, ts_first, ts_start, ts_end, "
    "peak_score, peak_z, detector, reason, readings, open)::text, ';' ORDER BY robot_id, "
    "axis_key, ts_first) FROM anomaly)), "
    "md5((SELECT string_agg((consumer, robot_id, md5(state))::text, ';' ORDER BY robot_id) FROM "
    "detect_robot_state)))";

/* Empties what a run writes: the consumer (its slot, checkpoint, stage state), the stages'
 * tables and the readings. */
static void sw_reset(void)
{
    for (int i = 0; harness_query_int(swconn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                              "database = current_database() AND active");
         i++) {
        if (i == SW_WAIT_S * 100) fail_msg("a slot of the last run is still in use");
        util_sleep_ms(10);
    }
    harness_exec(swconn, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE database = current_database()");
    harness_exec(swconn, "BEGIN; DELETE FROM stream_consumer; DELETE FROM anomaly; DELETE FROM "
                         "live_robot; DELETE FROM live_fleet_second_part; DELETE FROM reading; "
                         "COMMIT");
}

/* ------------------------------------------------------------------------------------------ */
/* One run of the consumer over the input. */

typedef struct sw_run {
    int pid;
    char *log;
    const sw_point *pt; /* the rule armed, or NULL */
    int released;       /* a late COMMIT was let through */
    int64_t fired_us;   /* when the rule was first seen fired */
    int fired_at_stop;  /* the rule had not fired when the consumer was told to stop */
    int fired_by_done;  /* the rule had fired when every row was committed */
} sw_run;

static void sw_fail(sw_run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sw_fail(sw_run *x, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (x->pid > 0) {
        kill(x->pid, SIGKILL);
        waitpid(x->pid, NULL, 0);
    }
    faultproxy_arm(harness_proxy(), NULL);
    char *log = harness_read_file(x->log);
    fail_msg("%s: %s\nthe consumer's log:\n%s", x->pt ? x->pt->what : "undisturbed run", msg, log);
}

/* Between polls: the consumer must still run; a late COMMIT is let through once the consumer's
 * new connection waits for a lock (the old transaction's), or after SW_LATE_MS. */
static void sw_tend(sw_run *x)
{
    int st;
    if (waitpid(x->pid, &st, WNOHANG) == x->pid) {
        x->pid = 0;
        sw_fail(x, "the consumer exited (status %d)",
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    if (!x->pt || !x->pt->late || x->released) return;
    faultproxy *p = harness_proxy();
    if (!faultproxy_fired(p, NULL)) return;
    int64_t now = util_mono_us();
    if (!x->fired_us) x->fired_us = now;
    char *waiting = harness_query_text(swconn, "SELECT coalesce(min(left(query, 60)), '') FROM "
                                               "pg_stat_activity WHERE application_name = '" SW_APP
                                               "' AND wait_event_type = 'Lock'");
    if (*waiting || now - x->fired_us > SW_LATE_MS * 1000) {
        if (getenv("PGPULSE_FAULTS_TRACE"))
            print_message("  the late COMMIT goes through after %.2f s; the new connection %s%s\n",
                          (double)(now - x->fired_us) / 1e6,
                          *waiting ? "waits in: " : "waits for no lock", waiting);
        faultproxy_release(p);
        x->released = 1;
    }
    free(waiting);
}

/* Waits until sql (one integer) is non-zero. */
static void sw_wait(sw_run *x, const char *sql, const char *what)
{
    int64_t deadline = util_mono_us() + SW_WAIT_S * INT64_C(1000000);
    while (!harness_query_int(swconn, sql)) {
        sw_tend(x);
        if (util_mono_us() > deadline) sw_fail(x, "waited %d s for %s", SW_WAIT_S, what);
        util_sleep_ms(3);
    }
}

static void sw_wait_streaming(sw_run *x)
{
    sw_wait(x,
            "SELECT count(*) FROM stream_checkpoint k JOIN stream_consumer c USING (consumer) "
            "JOIN pg_replication_slots s ON s.slot_name = c.slot_name WHERE k.consumer = "
            "'" SW_NAME "' AND k.mode = 'stream' AND s.active",
            "the consumer to stream");
}

/* Waits until the consumer has committed `rows` and has nothing more to commit (its applied
 * ids promoted into its covered snapshot), so that every run commits in the same steps. */
static void sw_wait_rows(sw_run *x, int rows)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM stream_checkpoint WHERE consumer = '" SW_NAME "' AND rows >= "
             "%d AND NOT EXISTS (SELECT 1 FROM stream_applied_xid)",
             rows);
    char what[64];
    snprintf(what, sizeof what, "%d rows committed", rows);
    sw_wait(x, sql, what);
}

/* Runs the consumer over the input with pt armed (NULL: undisturbed, recording the trace up to
 * the stop). Leaves the run's log in x->log (caller frees) and its exit status in *status. */
static void sw_once(sw_run *x, const sw_point *pt, int record, int *status)
{
    faultproxy *p = harness_proxy();
    memset(x, 0, sizeof *x);
    x->pt = pt;
    x->log = xasprintf("%s/consumer.log", harness_tmpdir());
    unlink(x->log);
    sw_reset();
    harness_proxy_wait_idle();
    if (record) faultproxy_trace_reset(p);
    if (pt && !pt->at_rest) faultproxy_arm(p, &pt->rule);
    x->pid = harness_spawn(NULL, x->log,
                           (const char *[]){"consume", "--stages", "live,detect", "--db", swproxy,
                                            "--name", SW_NAME, "--batch-ms", "5", "--status-every",
                                            "0", NULL});
    sw_wait_streaming(x);
    for (int k = 0; k < SW_TXNS; k++) {
        char *sql = sw_txn_sql(k);
        harness_exec(swconn, sql);
        free(sql);
        sw_wait_rows(x, k + 1 < SW_TXNS ? 30 * (k + 1) : SW_ROWS);
    }
    x->fired_by_done = pt && faultproxy_fired(p, NULL);
    if (pt && pt->at_rest) {
        /* Recovered: streaming again, from a walsender of its new connection. */
        int64_t old = harness_query_int(swconn, "SELECT active_pid FROM pg_replication_slots WHERE "
                                                "database = current_database()");
        char again[256];
        snprintf(again, sizeof again,
                 "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() "
                 "AND active_pid <> %lld",
                 (long long)old);
        faultproxy_arm(p, &pt->rule);
        int64_t deadline = util_mono_us() + SW_WAIT_S * INT64_C(1000000);
        while (!faultproxy_fired(p, NULL)) {
            sw_tend(x);
            if (util_mono_us() > deadline) sw_fail(x, "the rule armed at rest never fired");
            util_sleep_ms(10);
        }
        sw_wait(x, again, "the consumer to stream again");
        sw_wait_rows(x, SW_ROWS);
    }
    if (record) {
        free(swev);
        swev = faultproxy_trace(p, NULL, NULL, &nswev);
    }
    /* A point counted in the undisturbed run (a status update, say) may come later in this
     * one, after every row was committed or as the consumer stops: then there is nothing left
     * to reconnect for, and the stop may come before the consumer reads the cut socket again
     * (a suite saw a cut after the last status update, the stop 0 ms later). */
    x->fired_at_stop = pt && (!faultproxy_fired(p, NULL) || (!pt->at_rest && !x->fired_by_done));
    kill(x->pid, SIGINT);
    int st;
    for (int i = 0; waitpid(x->pid, &st, WNOHANG) != x->pid; i++) {
        if (i == SW_WAIT_S * 100) sw_fail(x, "the consumer did not stop on SIGINT");
        util_sleep_ms(10);
    }
    x->pid = 0;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One cut point: a run with its rule, and the checks. */
static void sw_point_run(const sw_point *pt)
{
    faultproxy *p = harness_proxy();
    int64_t t0 = util_mono_us();
    sw_run x;
    int status;
    sw_once(&x, pt, 0, &status);
    faultproxy_event at;
    int fired = faultproxy_fired(p, &at);
    faultproxy_arm(p, NULL);
    if (!fired) sw_fail(&x, "the rule never fired");
    if (pt->expect != FAULTPROXY_ANY && at.kind != pt->expect)
        sw_fail(&x, "the rule fired at %s, not at %s: the consumer's messages changed",
                faultproxy_kind_name(at.kind), faultproxy_kind_name(pt->expect));
    if (status != 0) sw_fail(&x, "the consumer exited with %d", status);
    char *log = harness_read_file(x.log);
    if (!strstr(log, "reconnecting")) {
        if (!pt->may_go_unnoticed && !x.fired_at_stop)
            sw_fail(&x, "the consumer did not reconnect");
        print_message("  %s: %s, the consumer did not need to reconnect\n", pt->what,
                      x.fired_at_stop ? "cut when it was done or as it stopped"
                                      : "cut after it was done with it");
    }
    free(log);
    char *got = harness_query_text(swconn, sw_state_sql);
    if (strcmp(got, swref)) sw_fail(&x, "not exactly once:\n  got  %s\n  want %s", got, swref);
    free(got);
    free(x.log);
    if (getenv("PGPULSE_FAULTS_TRACE"))
        print_message("  %s: %.2f s\n", pt->what, (double)(util_mono_us() - t0) / 1e6);
}

/* ------------------------------------------------------------------------------------------ */
/* The undisturbed run and the cut points in its trace. */

/* A statement on one connection: from the first message it sends to its ReadyForQuery (or, on
 * the streaming connection, CopyBothResponse). Indexes into swev. */
typedef struct sw_stmt {
    size_t first, last_sent, ready;
} sw_stmt;

/* The n of a rule over connections of one kind (swkind) that acts at event i: with any_kind,
 * its place among that kind's events in its direction; else among those of its kind too. */
static long sw_ordinal(size_t i, int any_kind)
{
    long n = 0;
    for (size_t j = 0; j <= i; j++)
        n += swkind[j] == swkind[i] && swev[j].dir == swev[i].dir &&
             (any_kind || swev[j].kind == swev[i].kind);
    return n;
}

static const char *sw_dir(faultproxy_dir d)
{
    return d == FAULTPROXY_TO_SERVER ? "to the server" : "to the client";
}

/* The point that cuts before (or after) event i, counted among the events of its connection
 * kind in its direction (any_kind) or among those of its kind. */
static sw_point sw_at(size_t i, faultproxy_when when, int any_kind, const char *label)
{
    sw_point pt;
    memset(&pt, 0, sizeof pt);
    int db = swkind[i] == 1;
    pt.rule = (faultproxy_rule){.match_key = db ? "application_name" : "replication",
                                .match_value = db ? SW_APP : "database",
                                .dir = swev[i].dir,
                                .kind = any_kind ? FAULTPROXY_ANY : swev[i].kind,
                                .n = sw_ordinal(i, any_kind),
                                .when = when,
                                .action = FAULTPROXY_CUT};
    pt.expect = swev[i].kind;
    snprintf(pt.what, sizeof pt.what, "%s: cut %s %s #%ld %s", label,
             when == FAULTPROXY_BEFORE ? "before" : "after", faultproxy_kind_name(swev[i].kind),
             pt.rule.n, sw_dir(swev[i].dir));
    return pt;
}

/* The statements of connection conn (an id in swev), in order. */
static size_t sw_statements(int conn, sw_stmt **out)
{
    size_t n = 0;
    sw_stmt cur = {0};
    int open = 0;
    *out = NULL;
    for (size_t i = 0; i < nswev; i++) {
        if (swev[i].conn != conn) continue;
        faultproxy_kind k = swev[i].kind;
        if (swev[i].dir == FAULTPROXY_TO_SERVER) {
            if (k == FAULTPROXY_TERMINATE || k == FAULTPROXY_STANDBY_STATUS) continue;
            if (!open) cur.first = i, open = 1;
            cur.last_sent = i;
        } else if (open && (k == FAULTPROXY_READY || k == FAULTPROXY_COPY_BOTH)) {
            cur.ready = i;
            *out = xrealloc(*out, (n + 1) * sizeof **out);
            (*out)[n++] = cur;
            open = 0;
        }
    }
    return n;
}

/* Adds a statement's three points: before it reaches the server, after (executed, the reply
 * lost), before its ReadyForQuery. */
static void sw_add_stmt(sw_points *ps, const sw_stmt *s, const char *label)
{
    sw_point a = sw_at(s->first, FAULTPROXY_BEFORE, 1, label);
    sw_point b = sw_at(s->last_sent, FAULTPROXY_AFTER, 1, label);
    sw_point c = sw_at(s->ready, FAULTPROXY_BEFORE, 1, label);
    sw_add(ps, &a);
    sw_add(ps, &b);
    sw_add(ps, &c);
}

/* Every boundary of connection conn among events [from, to): before each message in each
 * direction, and after each message to the server that the server answers (PGPULSE_FAULTS_SAMPLE
 * =0). The connection's Terminate is left out: nothing follows it that could notice a cut. */
static void sw_add_every(sw_points *ps, int conn, size_t from, size_t to, const char *label)
{
    for (size_t i = from; i < to && i < nswev; i++) {
        if (swev[i].conn != conn || swev[i].kind == FAULTPROXY_TERMINATE) continue;
        sw_point a = sw_at(i, FAULTPROXY_BEFORE, 1, label);
        sw_add(ps, &a);
        size_t j = i + 1;
        while (j < nswev && swev[j].conn != conn)
            j++;
        if (swev[i].dir == FAULTPROXY_TO_SERVER && j < nswev &&
            swev[j].dir == FAULTPROXY_TO_CLIENT) {
            sw_point b = sw_at(i, FAULTPROXY_AFTER, 1, label);
            sw_add(ps, &b);
        }
    }
}

/* Draws up to `take` of ps (0 or more than there are: all) into out, in their order. */
static void sw_draw(sw_points *out, const sw_points *ps, size_t take, rng *r)
{
    if (take == 0 || take > ps->n) take = ps->n;
    size_t *idx = xcalloc(ps->n ? ps->n : 1, sizeof *idx);
    for (size_t i = 0; i < ps->n; i++)
        idx[i] = i;
    for (size_t i = 0; i < take; i++) {
        size_t j = i + (size_t)rng_below(r, ps->n - i);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    /* In trace order, so that a replay reads top to bottom. */
    for (size_t i = 1; i < take; i++)
        for (size_t j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (size_t i = 0; i < take; i++)
        sw_add(out, &ps->p[idx[i]]);
    free(idx);
}

/* The sample size of a group: PGPULSE_FAULTS_SAMPLE, else the default. */
static size_t sw_sample(size_t dflt)
{
    const char *s = getenv("PGPULSE_FAULTS_SAMPLE");
    return s && *s ? (size_t)strtoul(s, NULL, 10) : dflt;
}

static int sw_every(void)
{
    const char *s = getenv("PGPULSE_FAULTS_SAMPLE");
    return s && !strcmp(s, "0");
}

/* The connections of the undisturbed run, by kind, in order of their first message. */
typedef struct sw_conns {
    int db;         /* the normal connection */
    int slot, repl; /* the replication connections: slot creation, streaming */
    size_t start;   /* index in swev of START_REPLICATION: the db's setup ends there */
} sw_conns;

static sw_conns swc;

static int sw_setup(void)
{
    if (swconn) return 1;
    swdb = harness_db("faults_stream", 1);
    if (!swdb) return 0;
    swproxy = xstrdup(harness_proxy_db("faults_stream"));
    swconn = harness_connect(swdb);
    harness_exec(swconn, "INSERT INTO robot (robot_id, name) VALUES (1, 'r1'), (2, 'r2'), "
                         "(3, 'r3')");
    harness_exec(swconn, "SELECT reading_ensure_partitions('2026-02-28', '2026-03-03')");
    /* The server asks for a reply after 1 s without one (half the timeout). */
    harness_exec(swconn, "ALTER DATABASE test_faults_stream SET wal_sender_timeout = '2s'");
    int64_t t0 = util_mono_us();
    sw_run x;
    int status;
    sw_once(&x, NULL, 1, &status);
    if (status != 0) sw_fail(&x, "the undisturbed run exited with %d", status);
    free(x.log);
    swref = harness_query_text(swconn, sw_state_sql);
    char want[64];
    snprintf(want, sizeof want, "%d %d %d ", SW_ROWS, SW_ROWS, SW_ROWS);
    if (strncmp(swref, want, strlen(want)))
        fail_msg("the undisturbed run did not count every row once: %s", swref);
    int64_t anomalies = harness_query_int(swconn, "SELECT count(*) FROM anomaly");
    assert_true(anomalies >= 2);
    /* Which connection is which. */
    size_t n;
    faultproxy_event *db = faultproxy_trace(harness_proxy(), "application_name", SW_APP, &n);
    if (!n) fail_msg("no connection named " SW_APP " in the trace");
    swc.db = db[0].conn;
    free(db);
    faultproxy_event *rp = faultproxy_trace(harness_proxy(), "replication", "database", &n);
    swkind = xcalloc(nswev, sizeof *swkind);
    swc.slot = n ? rp[0].conn : 0;
    for (size_t i = 0; i < n; i++)
        if (rp[i].conn != swc.slot) {
            swc.repl = rp[i].conn;
            break;
        }
    for (size_t i = 0; i < nswev; i++)
        for (size_t j = 0; j < n; j++)
            if (swev[i].conn == rp[j].conn) {
                swkind[i] = 2;
                break;
            }
    free(rp);
    if (!swc.slot || !swc.repl)
        fail_msg("expected two replication connections (slot creation, streaming)");
    for (size_t i = 0; i < nswev; i++) {
        if (swev[i].conn == swc.db) swkind[i] = 1;
        if (!swc.start && swev[i].conn == swc.repl && swev[i].kind == FAULTPROXY_QUERY)
            swc.start = i;
    }
    size_t per[3][2] = {{0}};
    for (size_t i = 0; i < nswev; i++)
        per[swkind[i]][swev[i].dir]++;
    print_message("undisturbed run in %.1f s: %lld anomalies; messages to the server / client: "
                  "%zu / %zu on the normal connection, %zu / %zu on the replication ones\n",
                  (double)(util_mono_us() - t0) / 1e6, (long long)anomalies, per[1][0], per[1][1],
                  per[2][0], per[2][1]);
    if (getenv("PGPULSE_FAULTS_TRACE"))
        for (size_t i = 0; i < nswev; i++)
            if (swkind[i])
                print_message("  %s conn %d %s %s\n", swkind[i] == 1 ? "db  " : "repl",
                              swev[i].conn, sw_dir(swev[i].dir),
                              faultproxy_kind_name(swev[i].kind));
    return 1;
}

static void sw_teardown(void)
{
    if (swconn) PQfinish(swconn);
    swconn = NULL;
    free(swref);
    free(swev);
    free(swkind);
    free(swproxy);
}

/* Runs the points, says how many and which. */
static void sw_run_points(const char *group, const sw_points *ps, size_t of)
{
    int64_t t0 = util_mono_us();
    for (size_t i = 0; i < ps->n; i++) {
        if (getenv("PGPULSE_FAULTS_TRACE") == NULL) print_message("  %s\n", ps->p[i].what);
        sw_point_run(&ps->p[i]);
    }
    print_message("%s: %zu of %zu cut points, each recovered exactly once, in %.1f s\n", group,
                  ps->n, of, (double)(util_mono_us() - t0) / 1e6);
}

/* The commits of the streaming phase: runs of statements from a BEGIN to a COMMIT (the only
 * simple queries there); returns how many, with the statements' ranges in *starts. */
static size_t sw_commits(const sw_stmt *st, size_t nst, size_t **starts)
{
    size_t n = 0;
    *starts = NULL;
    for (size_t i = 0; i < nst; i++) {
        if (st[i].first < swc.start || swev[st[i].first].kind != FAULTPROXY_QUERY) continue;
        /* A BEGIN: the commit runs to the next simple query (its COMMIT). */
        size_t j = i + 1;
        while (j < nst && swev[st[j].first].kind != FAULTPROXY_QUERY)
            j++;
        if (j == nst) break;
        *starts = xrealloc(*starts, (n + 1) * 2 * sizeof **starts);
        (*starts)[2 * n] = i;
        (*starts)[2 * n + 1] = j;
        n++;
        i = j;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */

/* Every statement of the commit that opens an anomaly (the commit with the most statements),
 * its COMMIT also delivered late; then a sample of the other commits' statements. */
static void test_commit_cut_at_every_statement(void **state)
{
    (void)state;
    if (!sw_setup()) skip();
    sw_stmt *st;
    size_t nst = sw_statements(swc.db, &st);
    size_t *cm;
    size_t ncm = sw_commits(st, nst, &cm);
    if (ncm < 2 * SW_TXNS)
        fail_msg("%zu commits in the undisturbed run, expected %d or more", ncm, 2 * SW_TXNS);
    size_t best = 0;
    for (size_t c = 1; c < ncm; c++)
        if (cm[2 * c + 1] - cm[2 * c] > cm[2 * best + 1] - cm[2 * best]) best = c;
    sw_points full = {0}, other = {0};
    for (size_t c = 0; c < ncm; c++) {
        size_t from = cm[2 * c], to = cm[2 * c + 1];
        char label[128];
        snprintf(label, sizeof label, "commit %zu of %zu", c + 1, ncm);
        if (sw_every()) {
            sw_add_every(&full, swc.db, st[from].first, st[to].ready + 1, label);
        } else {
            for (size_t s = from; s <= to; s++) {
                snprintf(label, sizeof label, "commit %zu of %zu, statement %zu of %zu", c + 1, ncm,
                         s - from + 1, to - from + 1);
                sw_add_stmt(c == best ? &full : &other, &st[s], label);
            }
        }
        if (c == best) {
            /* COMMIT sent; the server gets it only after the consumer has reconnected. */
            sw_point late = sw_at(st[to].last_sent, FAULTPROXY_AFTER, 1, label);
            late.rule.action = FAULTPROXY_CUT_LATE;
            late.rule.stall_ms = FAULTPROXY_UNTIL_RELEASED;
            late.late = 1;
            snprintf(late.what, sizeof late.what,
                     "commit %zu of %zu: its COMMIT (Query #%ld) "
                     "delivered late",
                     c + 1, ncm, late.rule.n);
            sw_add(&full, &late);
        }
    }
    print_message("commit %zu of %zu has the most statements: %zu\n", best + 1, ncm,
                  cm[2 * best + 1] - cm[2 * best] + 1);
    sw_run_points(sw_every() ? "every commit" : "a stage commit", &full, full.n);
    if (!sw_every()) {
        rng r;
        rng_seed(&r, harness_seed(), 21);
        sw_points drawn = {0};
        sw_draw(&drawn, &other, sw_sample(SW_SAMPLE_OTHER_COMMITS), &r);
        sw_run_points("the other commits", &drawn, other.n);
        free(drawn.p);
    }
    free(full.p);
    free(other.p);
    free(cm);
    free(st);
}

/* The setup: the normal connection's statements before streaming starts (a sample), and the
 * connection that creates the slot (its startup, CREATE_REPLICATION_SLOT before, after, and
 * before its ReadyForQuery). */
static void test_setup_cut_at_sampled_statements(void **state)
{
    (void)state;
    if (!sw_setup()) skip();
    sw_stmt *st;
    size_t nst = sw_statements(swc.db, &st);
    sw_points setup = {0}, slot = {0};
    if (sw_every()) {
        sw_add_every(&setup, swc.db, 0, swc.start, "setup");
        sw_add_every(&slot, swc.slot, 0, nswev, "slot connection");
    } else {
        for (size_t s = 0; s < nst && st[s].first < swc.start; s++) {
            char label[128];
            snprintf(label, sizeof label, "setup, statement %zu", s + 1);
            sw_add_stmt(&setup, &st[s], label);
        }
        free(st);
        nst = sw_statements(swc.slot, &st);
        for (size_t s = 0; s < nst; s++)
            sw_add_stmt(&slot, &st[s],
                        s == 0 ? "slot connection, startup"
                               : "slot connection, CREATE_REPLICATION_SLOT");
    }
    /* The slot's reply delivered whole, then the connection cut: the exported snapshot ends
     * with its walsender, before or while the normal connection imports it. */
    free(st);
    nst = sw_statements(swc.slot, &st);
    if (nst) {
        sw_point x = sw_at(st[nst - 1].ready, FAULTPROXY_AFTER, 1,
                           "slot connection, CREATE_REPLICATION_SLOT answered");
        /* The snapshot's import races the walsender's exit: a consumer that imported it first
         * goes on (its snapshot is the slot's), one that lost reconnects. */
        x.may_go_unnoticed = 1;
        sw_add(&slot, &x);
    }
    free(st);
    rng r;
    rng_seed(&r, harness_seed(), 22);
    sw_points drawn = {0};
    sw_draw(&drawn, &setup, sw_sample(SW_SAMPLE_SETUP), &r);
    sw_run_points("setup", &drawn, setup.n);
    sw_run_points("the slot's creation", &slot, slot.n);
    free(drawn.p);
    free(setup.p);
    free(slot.p);
}

/* The streaming connection: its startup, START_REPLICATION, CopyBothResponse; XLogData (the
 * first, the last and a sample), standby status updates (a sample), the first keepalive, and a
 * status update that answers a keepalive at rest. */
static void test_replication_cut(void **state)
{
    (void)state;
    if (!sw_setup()) skip();
    sw_stmt *st;
    size_t nst = sw_statements(swc.repl, &st);
    sw_points fixed = {0}, xlog = {0}, status = {0};
    for (size_t s = 0; s < nst; s++) {
        const char *label =
            s == 0 ? "streaming connection, startup" : "streaming connection, START_REPLICATION";
        if (sw_every()) {
            sw_add_every(&fixed, swc.repl, st[s].first, st[s].ready + 1, label);
        } else {
            sw_add_stmt(&fixed, &st[s], label);
        }
        if (swev[st[s].ready].kind == FAULTPROXY_COPY_BOTH) {
            sw_point a = sw_at(st[s].ready, FAULTPROXY_AFTER, 1, label);
            sw_add(&fixed, &a);
        }
    }
    free(st);
    /* Past CopyBothResponse keepalives come when they come: count by kind from here. */
    size_t first_x = 0, last_x = 0, first_k = 0;
    int nx = 0, nk = 0;
    for (size_t i = 0; i < nswev; i++) {
        if (swev[i].conn != swc.repl) continue;
        if (swev[i].kind == FAULTPROXY_XLOG_DATA) {
            if (!nx++) first_x = i;
            last_x = i;
            for (int w = 0; w < 2; w++) {
                sw_point pt = sw_at(i, (faultproxy_when)w, 0, "streaming");
                sw_add(&xlog, &pt);
            }
        } else if (swev[i].kind == FAULTPROXY_STANDBY_STATUS) {
            for (int w = 0; w < 2; w++) {
                sw_point pt = sw_at(i, (faultproxy_when)w, 0, "streaming");
                sw_add(&status, &pt);
            }
        } else if (swev[i].kind == FAULTPROXY_KEEPALIVE && !nk++) {
            first_k = i;
        }
    }
    if (nx < SW_ROWS || !status.n || !nk)
        fail_msg("the stream had %d XLogData, %zu status updates, %d keepalives", nx, status.n / 2,
                 nk);
    for (int w = 0; w < 2; w++) {
        sw_point c = sw_at(first_k, (faultproxy_when)w, 0, "streaming, the first");
        sw_add(&fixed, &c);
        if (!sw_every()) {
            sw_point a = sw_at(first_x, (faultproxy_when)w, 0, "streaming, the first");
            sw_point b = sw_at(last_x, (faultproxy_when)w, 0, "streaming, the last");
            sw_add(&fixed, &a);
            sw_add(&fixed, &b);
        }
        /* The next status update once the input is consumed: the reply to a keepalive. */
        sw_point d;
        memset(&d, 0, sizeof d);
        d.rule = (faultproxy_rule){.match_key = "replication",
                                   .match_value = "database",
                                   .dir = FAULTPROXY_TO_SERVER,
                                   .kind = FAULTPROXY_STANDBY_STATUS,
                                   .n = 1,
                                   .when = (faultproxy_when)w,
                                   .action = FAULTPROXY_CUT};
        d.expect = FAULTPROXY_STANDBY_STATUS;
        d.at_rest = 1;
        snprintf(d.what, sizeof d.what, "at rest: cut %s the reply to a keepalive",
                 w ? "after" : "before");
        sw_add(&fixed, &d);
    }
    rng r;
    rng_seed(&r, harness_seed(), 23);
    sw_points drawn = {0};
    sw_draw(&drawn, &xlog, sw_sample(SW_SAMPLE_XLOGDATA), &r);
    sw_draw(&drawn, &status, sw_sample(SW_SAMPLE_STATUS), &r);
    sw_run_points("the replication connection", &fixed, fixed.n);
    sw_run_points("XLogData and status updates", &drawn, xlog.n + status.n);
    free(fixed.p);
    free(drawn.p);
    free(xlog.p);
    free(status.p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_commit_cut_at_every_statement),
        cmocka_unit_test(test_setup_cut_at_sampled_statements),
        cmocka_unit_test(test_replication_cut),
    };
    struct CMUnitTest tests[UTIL_ARRAY_LEN(all)];
    size_t n = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(all); i++) {
        int keep = argc < 2;
        for (int a = 1; a < argc; a++)
            keep |= strstr(all[i].name, argv[a]) != NULL;
        if (keep) tests[n++] = all[i];
    }
    int rc = _cmocka_run_group_tests("test_faults_stream", tests, n, NULL, NULL);
    sw_teardown();
    return rc;
}
