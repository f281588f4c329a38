/* Integration tests of least privilege (roles, sql/grants.sql, the private cluster's logins):
 * each login of the test cluster (made by `pgpulse db start` in tests/run.sh, passwords in its
 * HOME/pgpass) does its job and nothing more. The writer loads (ingest into a day without a
 * partition, gen --db, import-assets) and cannot change the schema or read the stages'
 * outputs; the stage runner runs consumers by polling and by logical replication and cannot
 * load; a reader (a login the test makes in pgpulse_reader) reads what the dashboard shows and
 * cannot write anything or call the SECURITY DEFINER functions; a login in pgpulse_dashboard,
 * like the cluster's pgpulse_web, reads the same and acknowledges episodes, its one write. A
 * pgpulse_web made by an earlier pgpulse (in pgpulse_reader) is moved into pgpulse_dashboard by
 * `pgpulse db start`. Every refusal is SQLSTATE 42501 (insufficient_privilege). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

#define WRITER "pgpulse_ingest"
#define STAGE "pgpulse_stages"
#define READER "pgpulse_web" /* PGCLUSTER_READER: in pgpulse_dashboard */

/* The conninfo of database test_<name> for a login of the test cluster (static storage). */
static const char *as_login(const char *name, const char *login)
{
    static char info[1024];
    const char *home = getenv("PGPULSE_TEST_HOME");
    char *portfile = xasprintf("%s/port", home);
    char *port = harness_read_file(portfile);
    snprintf(info, sizeof info,
             "host=127.0.0.1 port=%d user=%s dbname=test_%s passfile=%s/pgpass", atoi(port),
             login, name, home);
    free(port);
    free(portfile);
    return info;
}

/* Runs sql and checks that it is refused for lack of privilege. */
static void expect_denied(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!state || strcmp(state, "42501") != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_IN) PQputCopyEnd(conn, "test"), PQclear(PQgetResult(conn));
        fail_msg("expected 42501 (insufficient_privilege) for: %s\ngot %s %s", sql,
                 state ? state : "success", msg);
    }
    PQclear(r);
}

/* Runs each statement that the owner's query `list` returns (one per row), expecting 42501. */
static void expect_all_denied(PGconn *owner, PGconn *conn, const char *list)
{
    PGresult *r = PQexec(owner, list);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) > 0);
    for (int i = 0; i < PQntuples(r); i++) expect_denied(conn, PQgetvalue(r, i, 0));
    PQclear(r);
}

/* Waits (up to 30 s) until the owner's query returns at least want. */
static int64_t wait_at_least(PGconn *conn, const char *sql, int64_t want)
{
    int64_t got = 0;
    for (int i = 0; i < 300 && (got = harness_query_int(conn, sql)) < want; i++)
        util_sleep_ms(100);
    return got;
}

/* The consumer a test runs, killed by the teardown if the test fails while it runs. */
static int running;

static int kill_running(void **state)
{
    (void)state;
    if (running > 0) {
        kill(running, SIGKILL);
        harness_wait(running, NULL);
    }
    running = 0;
    return 0;
}

/* Stops a consumer cleanly; fails the test if it did not exit 0. */
static void stop(int pid, const char *log)
{
    running = 0;
    kill(pid, SIGTERM);
    int st = harness_wait(pid, NULL);
    if (st != 0) {
        char *out = harness_read_file(log);
        fail_msg("consumer exited with %d: %s", st, out);
    }
}

/* Every table and view of the schema is granted to at least one role, so a migration's new
 * table cannot be forgotten in grants.sql; and every SECURITY DEFINER function has a pinned
 * search_path and no EXECUTE for PUBLIC. */
static void test_every_relation_has_a_role(void **state)
{
    (void)state;
    const char *db = harness_db("roles_catalog", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    const char *ungranted =
        "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND NOT EXISTS "
        "(SELECT 1 FROM unnest(ARRAY['pgpulse_writer', 'pgpulse_stage', 'pgpulse_reader', "
        "'pgpulse_dashboard']) g "
        "WHERE has_table_privilege(g, c.oid, 'SELECT, INSERT, UPDATE, DELETE'))";
    char *v = harness_query_text(conn, ungranted);
    if (v) fail_msg("no role may use: %s (add them to sql/grants.sql)", v);
    /* The check sees a table that grants.sql does not name. */
    harness_exec(conn, "CREATE TABLE forgotten (i int)");
    v = harness_query_text(conn, ungranted);
    assert_string_equal(v, "forgotten");
    free(v);

    v = harness_query_text(conn,
                           "SELECT string_agg(p.proname, ', ' ORDER BY p.proname) FROM pg_proc p "
                           "WHERE p.pronamespace = current_schema()::regnamespace AND p.prosecdef");
    assert_non_null(v);
    assert_non_null(strstr(v, "reading_ensure_partition, reading_ensure_partitions"));
    free(v);
    assert_int_equal(harness_query_int(conn,
                                       "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = "
                                       "current_schema()::regnamespace AND p.prosecdef AND "
                                       "(NOT coalesce(p.proconfig::text LIKE '%search_path=%', "
                                       "false) OR has_function_privilege('pgpulse_reader', p.oid, "
                                       "'EXECUTE'))"),
                     0);
    /* init is idempotent about grants: a second run leaves the same privileges. */
#define ACLS                                                                                   \
    "SELECT md5(string_agg(c.relname || ':' || a.grantee::regrole || ':' || a.privilege_type, " \
    "';' ORDER BY c.relname, a.grantee::regrole::text, a.privilege_type)) FROM pg_class c, "    \
    "aclexplode(c.relacl) a WHERE c.relnamespace = current_schema()::regnamespace AND "        \
    "a.grantee <> c.relowner"
    char *before = harness_query_text(conn, ACLS);
    harness_exec(conn, "DROP TABLE forgotten");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_string_equal(o.err, "");
    harness_out_free(&o);
    char *after = harness_query_text(conn, ACLS);
    assert_string_equal(before, after);
    free(before);
    free(after);
    PQfinish(conn);
}

/* The writer loads through every loading command, a load into a day without a partition
 * included, and cannot change the schema or read what the stages write. */
static void test_writer_loads_and_nothing_more(void **state)
{
    (void)state;
    const char *db = harness_db("roles_writer", 1);
    if (!db) skip();
    const char *w = as_login("roles_writer", WRITER);
    char *dir = xasprintf("%s/roles_assets", harness_tmpdir());
    char *cmd = xasprintf("mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *p = xasprintf("%s/plants.csv", dir);
    harness_write_file(p, "PLANT_ID,KEY,VALUE\n1,NAME,North\n");
    free(p);
    p = xasprintf("%s/shops.csv", dir);
    harness_write_file(p, "SHOP_ID,KEY,VALUE,PLANT_ID\n1,NAME,Body,1\n");
    free(p);
    p = xasprintf("%s/equipment.csv", dir);
    harness_write_file(p, "TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID\n"
                          "7,Robot,10.0.0.7,R7,,1\n");
    free(p);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"import-assets", "--db", w, dir, NULL});
    if (o.status != 0) fail_msg("import-assets as the writer failed: %s", o.err);
    harness_out_free(&o);
    /* Again: the asset rows are updated in place (UPDATE). */
    o = harness_pgpulse(NULL, (const char *[]){"import-assets", "--db", w, dir, NULL});
    if (o.status != 0) fail_msg("import-assets again as the writer failed: %s", o.err);
    harness_out_free(&o);

    /* 2001-05-06 has no partition: the writer's load creates it through the SECURITY DEFINER
     * helper; one bad line goes to ingest_reject. */
    char *csv = xasprintf("%s/roles.csv", harness_tmpdir());
    harness_write_file(csv, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n"
                            "7,2001-05-06T10:00:00Z,1,2,3,4,5,6,7,8\n"
                            "7,2001-05-06T10:00:01Z,1,2,3,4,5,6,7,8\n"
                            "7,not a time,1,2,3,4,5,6,7,8\n"
                            "7,2001-05-07T10:00:00Z,1,2,3,4,5,6,7,8\n");
    o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", w, csv, NULL});
    if (o.status != 0) fail_msg("ingest as the writer failed: %s", o.err);
    harness_out_free(&o);
    /* Loaded twice: stored once (ON CONFLICT needs the writer's SELECT). */
    o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", w, csv, NULL});
    if (o.status != 0) fail_msg("ingest again as the writer failed: %s", o.err);
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"gen", "--db", w, "--robots", "2", "--first-robot",
                                               "50", "--rows", "300", "--seed", "3",
                                               "--faults", "none", NULL});
    if (o.status != 0) fail_msg("gen --db as the writer failed: %s", o.err);
    harness_out_free(&o);

    PGconn *owner = harness_connect(db);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM reading WHERE robot_id = 7"), 3);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM ingest_reject"), 1);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM plant WHERE name = 'North'"), 1);
    assert_true(harness_query_int(owner, "SELECT count(*) FROM reading WHERE robot_id IN (50, 51)")
                >= 300);
    /* The new partitions belong to the schema's owner, not to the writer. */
    char *v = harness_query_text(owner, "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') "
                                        "FROM pg_class WHERE relname IN ('reading_p20010506', "
                                        "'reading_p20010507')");
    assert_string_equal(v, "pgpulse");
    free(v);

    PGconn *conn = harness_connect(w);
    expect_denied(conn, "ALTER TABLE reading ADD COLUMN x integer");
    expect_denied(conn, "CREATE TABLE mine (i integer)");
    expect_denied(conn, "CREATE INDEX ON reading (axis1)");
    expect_denied(conn, "DROP TABLE ingest_reject");
    expect_denied(conn, "TRUNCATE reading");
    expect_denied(conn, "DELETE FROM reading");
    expect_denied(conn, "CREATE TABLE reading_p20010508 PARTITION OF reading FOR VALUES FROM "
                        "('2001-05-08') TO ('2001-05-09')");
    expect_denied(conn, "SELECT count(*) FROM anomaly");
    expect_denied(conn, "SELECT count(*) FROM live_robot");
    expect_denied(conn, "SELECT count(*) FROM live_robot_status");
    expect_denied(conn, "SELECT count(*) FROM stream_checkpoint");
    expect_denied(conn, "SELECT count(*) FROM detect_robot_state");
    expect_denied(conn, "INSERT INTO anomaly (consumer, robot_id, level, ts_first, ts_start, "
                        "ts_end, peak_score, peak_z, detector, readings, open) VALUES ('x', 7, "
                        "'ALERT', now(), now(), now(), 1, 1, 'x', 1, true)");
    PQfinish(conn);
    PQfinish(owner);
    free(csv);
    free(dir);
}

/* The stage runner runs consumers by polling and by logical replication (its login has
 * REPLICATION), and cannot load. */
static void test_stage_runs_consumers_and_cannot_load(void **state)
{
    (void)state;
    const char *db = harness_db("roles_stage", 1);
    if (!db) skip();
    const char *s = as_login("roles_stage", STAGE);
    PGconn *owner = harness_connect(db);
    harness_exec(owner, "INSERT INTO robot (robot_id) VALUES (1), (2)");

    /* Polling: the detect stage. */
    char *log = xasprintf("%s/roles_poll.log", harness_tmpdir());
    int pid = harness_spawn(NULL, log, (const char *[]){"detect", "--db", s, "--source", "poll",
                                                        "--name", "det_poll", "--poll-ms", "50",
                                                        "--status-every", "0", NULL});
    running = pid;
    if (wait_at_least(owner, "SELECT count(*) FROM stream_checkpoint WHERE consumer = 'det_poll'",
                      1) < 1)
        fail_msg("the polling consumer did not start: %s", harness_read_file(log));
    harness_exec(owner, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                        "axis6, axis7, axis8) SELECT 1, date_trunc('day', now()) + interval '12 h' - g * "
                        "interval '1 s', 1, 2, 3, 4, "
                        "5, 6, 7, 8 FROM generate_series(1, 20) g");
    assert_int_equal(wait_at_least(owner, "SELECT rows FROM stream_checkpoint WHERE consumer = "
                                          "'det_poll'", 20),
                     20);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM detect_robot_state WHERE "
                                              "consumer = 'det_poll' AND robot_id = 1"),
                     1);
    stop(pid, log);

    /* Logical replication: the live and detect stages in one consumer. Its publication comes
     * from reading_publication() (SECURITY DEFINER): the stage login may not create one. */
    char *log2 = xasprintf("%s/roles_cdc.log", harness_tmpdir());
    pid = harness_spawn(NULL, log2, (const char *[]){"consume", "--stages", "live,detect", "--db", s,
                                                     "--name", "ld_cdc", "--status-every", "0",
                                                     NULL});
    running = pid;
    /* It streams as the stage login, over a replication connection (a slot being created is
     * active too: wait until it is recorded, mode 'stream', so the rows below reach it). */
    assert_int_equal(wait_at_least(owner,
                                   "SELECT count(*) FROM pg_replication_slots s JOIN "
                                   "pg_stat_activity a ON a.pid = s.active_pid JOIN "
                                   "stream_consumer c ON c.slot_name = s.slot_name JOIN "
                                   "stream_checkpoint k ON k.consumer = c.consumer AND k.mode = "
                                   "'stream' WHERE c.consumer = 'ld_cdc' AND a.backend_type = "
                                   "'walsender' AND a.usename = 'pgpulse_stages'",
                                   1),
                     1);
    harness_exec(owner, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                        "axis6, axis7, axis8) SELECT 2, date_trunc('day', now()) + interval '12 h' - g * "
                        "interval '1 s', 1, 2, 3, 4, "
                        "5, 6, 7, 8 FROM generate_series(1, 30) g");
    assert_int_equal(wait_at_least(owner, "SELECT coalesce(max(rows_total), 0) FROM live_robot "
                                          "WHERE robot_id = 2", 30),
                     30);
    assert_int_equal(wait_at_least(owner, "SELECT count(*) FROM detect_robot_state WHERE "
                                          "consumer = 'ld_cdc' AND robot_id = 2", 1),
                     1);
    stop(pid, log2);
    /* Its slot must not pin WAL for the rest of the suite. */
    for (int i = 0; i < 50; i++) {
        PGresult *r = PQexec(owner, "SELECT pg_drop_replication_slot('pgpulse_ld_cdc')");
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (ok) break;
        util_sleep_ms(100);
    }

    /* Loading is not its job. */
    char *csv = xasprintf("%s/roles_stage.csv", harness_tmpdir());
    harness_write_file(csv, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n"
                            "1,2026-01-01T00:00:00Z,1,2,3,4,5,6,7,8\n");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", s, csv, NULL});
    assert_int_not_equal(o.status, 0);
    assert_non_null(strstr(o.err, "permission denied"));
    harness_out_free(&o);
    PGconn *conn = harness_connect(s);
    expect_denied(conn, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                        "axis6, axis7, axis8) VALUES (1, now(), 1, 2, 3, 4, 5, 6, 7, 8)");
    expect_denied(conn, "COPY reading FROM STDIN");
    expect_denied(conn, "SELECT reading_ensure_partition('2001-01-01')");
    expect_denied(conn, "INSERT INTO robot (robot_id) VALUES (99)");
    expect_denied(conn, "INSERT INTO ingest_batch (load_id, seq, source, rows_read, "
                        "rows_inserted, rows_present, rows_rejected) VALUES "
                        "(gen_random_uuid(), 1, 'x', 0, 0, 0, 0)");
    expect_denied(conn, "SELECT count(*) FROM ingest_reject");
    expect_denied(conn, "ALTER TABLE anomaly ADD COLUMN x integer");
    expect_denied(conn, "CREATE TABLE mine (i integer)");
    expect_denied(conn, "DELETE FROM reading");
    PQfinish(conn);
    PQfinish(owner);
    free(csv);
    free(log);
    free(log2);
}

/* A login of the test's own, name, in the group role group, with a password of its own: the
 * conninfo of database test_<db> for it (newly allocated). Made again on every run. */
static char *test_login(PGconn *owner, const char *db, const char *name, const char *group)
{
    char *sql = xasprintf("DO $$ BEGIN IF to_regrole('%s') IS NULL THEN CREATE ROLE %s LOGIN; "
                          "END IF; END $$",
                          name, name);
    harness_exec(owner, sql);
    free(sql);
    sql = xasprintf("ALTER ROLE %s LOGIN PASSWORD 'pw-%s'", name, name);
    harness_exec(owner, sql);
    free(sql);
    sql = xasprintf("GRANT %s TO %s", group, name);
    harness_exec(owner, sql);
    free(sql);
    /* as_login's conninfo, with this login's password instead of the cluster's pgpass. */
    const char *info = as_login(db, name);
    return xasprintf("%s password=pw-%s", info, name);
}

/* A robot, a reading, an ingest reject and an anomaly episode, written by the owner. */
static void seed(PGconn *owner)
{
    harness_exec(owner, "INSERT INTO robot (robot_id) VALUES (1)");
    harness_exec(owner, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, "
                        "axis6, axis7, axis8) VALUES (1, now(), 1, 2, 3, 4, 5, 6, 7, 8)");
    harness_exec(owner, "INSERT INTO ingest_reject (source, line_no, raw, reason) VALUES "
                        "('f.csv', 3, 'junk', 'ts: not a time')");
    harness_exec(owner, "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, "
                        "ts_start, ts_end, peak_score, peak_z, detector, readings, open) VALUES "
                        "('c', 1, 1, 'ALERT', now(), now(), now(), 0.5, 4, 'robust', 1, true)");
}

/* conn (whose conninfo is info) reads what the dashboard shows, ingest rejects included, and
 * runs `pgpulse status`; it does not read the stages' internal state. */
static void expect_reads_what_is_shown(PGconn *conn, const char *info)
{
    static const char *const shown[] = {
        "plant", "shop", "asset_detail", "controller", "part", "data_source", "feed",
        "ingest_batch", "fault", "maintenance_event", "stream_consumer", "stream_checkpoint",
        "live_robot", "live_fleet_second_part", "live_fleet_second", "live_robot_status",
        "anomaly_ack", "detect_band"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(shown); i++) {
        char *sql = xasprintf("SELECT count(*) FROM %s", shown[i]);
        assert_int_equal(harness_query_int(conn, sql), 0);
        free(sql);
    }
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM robot"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM anomaly"), 1);
    char *v = harness_query_text(conn, "SELECT reason FROM ingest_reject WHERE line_no = 3");
    assert_string_equal(v, "ts: not a time");
    free(v);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"status", "--db", info, NULL});
    if (o.status != 0) fail_msg("status failed: %s", o.err);
    assert_non_null(strstr(o.out, "no stream consumers yet"));
    harness_out_free(&o);
    expect_denied(conn, "SELECT count(*) FROM stream_stage_state");
    expect_denied(conn, "SELECT count(*) FROM detect_robot_state");
}

/* conn writes no table (partitions included) but `except` (NULL: none), which it may INSERT
 * into and UPDATE only; it deletes and truncates nothing, changes no schema and calls no
 * SECURITY DEFINER function. */
static void expect_no_writes(PGconn *owner, PGconn *conn, const char *except)
{
    const char *ex = except ? except : "";
    char *sql = xasprintf("SELECT format('INSERT INTO %%I DEFAULT VALUES', relname) FROM pg_class "
                          "WHERE relnamespace = current_schema()::regnamespace AND relkind IN "
                          "('r', 'p') AND relname <> '%s' ORDER BY relname",
                          ex);
    expect_all_denied(owner, conn, sql);
    free(sql);
    sql = xasprintf("SELECT format('UPDATE %%I SET %%I = %%I', c.relname, a.attname, a.attname) "
                    "FROM pg_class c JOIN LATERAL (SELECT attname FROM pg_attribute WHERE "
                    "attrelid = c.oid AND attnum > 0 AND NOT attisdropped AND attidentity = '' "
                    "AND attgenerated = '' ORDER BY attnum LIMIT 1) a ON true WHERE "
                    "c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', "
                    "'p') AND c.relname <> '%s' ORDER BY c.relname",
                    ex);
    expect_all_denied(owner, conn, sql);
    free(sql);
    expect_all_denied(owner, conn,
                      "SELECT format('DELETE FROM %I', relname) FROM pg_class WHERE relnamespace "
                      "= current_schema()::regnamespace AND relkind IN ('r', 'p') ORDER BY "
                      "relname");
    expect_all_denied(owner, conn,
                      "SELECT format('TRUNCATE %I', relname) FROM pg_class WHERE relnamespace = "
                      "current_schema()::regnamespace AND relkind IN ('r', 'p') ORDER BY relname");
    expect_denied(conn, "CREATE TABLE mine (i integer)");
    expect_denied(conn, "SELECT reading_ensure_partition('2001-01-01')");
    expect_denied(conn, "SELECT reading_ensure_partitions('2001-01-01', '2001-01-02')");
    if (harness_query_int(owner, "SELECT count(*) FROM pg_proc WHERE proname = "
                                 "'reading_publication'") == 1)
        expect_denied(conn, "SELECT reading_publication(0, 1)");
}

/* Acknowledges every episode with note, as the server does (api_ack): INSERT ... ON CONFLICT
 * DO UPDATE ... RETURNING. */
static void ack(PGconn *conn, const char *note)
{
    char *sql = xasprintf("INSERT INTO anomaly_ack (robot_id, anomaly_id, acked_by, note) SELECT "
                          "robot_id, id, '127.0.0.1', '%s' FROM anomaly ON CONFLICT (robot_id, "
                          "anomaly_id) DO UPDATE "
                          "SET note = excluded.note RETURNING anomaly_id",
                          note);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    free(sql);
}

/* A login in pgpulse_reader reads what the dashboard shows, runs `pgpulse status`, and cannot
 * write to any table — acknowledgements included — or call the SECURITY DEFINER functions. */
static void test_reader_reads_and_nothing_more(void **state)
{
    (void)state;
    const char *db = harness_db("roles_reader", 1);
    if (!db) skip();
    PGconn *owner = harness_connect(db);
    seed(owner);
    char *info = test_login(owner, "roles_reader", "roles_test_reader", "pgpulse_reader");
    PGconn *conn = harness_connect(info);
    expect_reads_what_is_shown(conn, info);
    expect_no_writes(owner, conn, NULL);
    assert_int_equal(harness_query_int(owner, "SELECT has_table_privilege('pgpulse_reader', "
                                              "'anomaly_ack', 'INSERT, UPDATE')::int"),
                     0);
    PQfinish(conn);
    free(info);
    PQfinish(owner);
}

/* A login in pgpulse_dashboard reads what the reader reads and acknowledges episodes (INSERT
 * ... ON CONFLICT DO UPDATE on anomaly_ack), and writes nothing else: not the episodes, not
 * another table, no DELETE or TRUNCATE of the acknowledgements. The private cluster's web
 * login (pgpulse_web, which `pgpulse serve` uses) is in pgpulse_dashboard, directly, and no
 * longer in pgpulse_reader. */
static void test_dashboard_reads_and_acknowledges(void **state)
{
    (void)state;
    const char *db = harness_db("roles_dashboard", 1);
    if (!db) skip();
    PGconn *owner = harness_connect(db);
    seed(owner);
    char *info = test_login(owner, "roles_dashboard", "roles_test_dashboard",
                            "pgpulse_dashboard");
    PGconn *conn = harness_connect(info);
    expect_reads_what_is_shown(conn, info);
    ack(conn, "seen");
    ack(conn, "seen twice");
    char *v = harness_query_text(owner, "SELECT acked_by || ' ' || note FROM anomaly_ack");
    assert_string_equal(v, "127.0.0.1 seen twice");
    free(v);
    expect_no_writes(owner, conn, "anomaly_ack");
    expect_denied(conn, "UPDATE anomaly SET open = false");
    expect_denied(conn, "DELETE FROM anomaly_ack");
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM anomaly_ack"), 1);
    PQfinish(conn);
    free(info);

    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM pg_auth_members WHERE "
                                              "member = 'pgpulse_web'::regrole AND roleid = "
                                              "'pgpulse_dashboard'::regrole"),
                     1);
    assert_int_equal(harness_query_int(owner, "SELECT count(*) FROM pg_auth_members WHERE "
                                              "member = 'pgpulse_web'::regrole AND roleid = "
                                              "'pgpulse_reader'::regrole"),
                     0);
    conn = harness_connect(as_login("roles_dashboard", READER));
    ack(conn, "seen by the web login");
    expect_denied(conn, "UPDATE anomaly SET open = false");
    PQfinish(conn);
    PQfinish(owner);
}

/* A cluster made by an earlier pgpulse has pgpulse_web in pgpulse_reader only: it cannot
 * acknowledge until the next `pgpulse db start`, which moves it into pgpulse_dashboard. */
static void test_db_start_moves_an_earlier_web_login(void **state)
{
    (void)state;
    const char *db = harness_db("roles_move", 1);
    if (!db) skip();
    PGconn *owner = harness_connect(db);
    seed(owner);
    harness_exec(owner, "REVOKE pgpulse_dashboard FROM pgpulse_web");
    harness_exec(owner, "GRANT pgpulse_reader TO pgpulse_web");
    PGconn *conn = harness_connect(as_login("roles_move", READER));
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM anomaly"), 1);
    expect_denied(conn, "INSERT INTO anomaly_ack (anomaly_id, acked_by) SELECT id, 'x' FROM "
                        "anomaly");
    PQfinish(conn);

    setenv("PGPULSE_HOME", getenv("PGPULSE_TEST_HOME"), 1);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"db", "start", NULL});
    unsetenv("PGPULSE_HOME");
    if (o.status != 0) fail_msg("db start failed: %s", o.err);
    harness_out_free(&o);
    char *v = harness_query_text(owner, "SELECT string_agg(roleid::regrole::text, ',') FROM "
                                        "pg_auth_members WHERE member = 'pgpulse_web'::regrole");
    assert_string_equal(v, "pgpulse_dashboard");
    free(v);
    conn = harness_connect(as_login("roles_move", READER));
    ack(conn, "seen");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), 1);
    PQfinish(conn);
    PQfinish(owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_relation_has_a_role),
        cmocka_unit_test(test_writer_loads_and_nothing_more),
        cmocka_unit_test_teardown(test_stage_runs_consumers_and_cannot_load, kill_running),
        cmocka_unit_test(test_reader_reads_and_nothing_more),
        cmocka_unit_test(test_dashboard_reads_and_acknowledges),
        cmocka_unit_test(test_db_start_moves_an_earlier_web_login),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
