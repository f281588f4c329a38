/* Integration tests of the private Citus cluster (`pgpulse db start --citus N`,
 * pgcluster_citus) and of the harness's Citus databases: a coordinator and 2 workers made by
 * the binary in a temporary HOME, their metadata and change capture, a distributed table
 * written through the coordinator as pgpulse_ingest and read as pgpulse_web (the nodes log in
 * to each other as those logins), a replication connection to a worker as pgpulse_stages, one
 * worker restarted, stop and start again, the refusals. Skipped where Citus is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

static char *home;

/* Runs `pgpulse db ARGS... --home HOME` (up to 4 arguments, NULL-terminated). */
static harness_out db_cmd(const char *a, const char *b, const char *c, const char *d)
{
    const char *argv[8] = {"db"};
    size_t n = 1;
    for (const char *x[] = {a, b, c, d}, **p = x; p < x + 4 && *p; p++) argv[n++] = *p;
    argv[n++] = "--home";
    argv[n++] = home;
    argv[n] = NULL;
    return harness_pgpulse_limit(180, NULL, argv);
}

static char *db_url(const char *node, const char *role)
{
    const char *argv[] = {"db", "url", "--node", node, "--home", home, role ? "--role" : NULL,
                          role, NULL};
    harness_out o = harness_pgpulse(NULL, argv);
    if (o.status != 0) fail_msg("db url --node %s: %s", node, o.err);
    char *url = xstrdup(o.out);
    url[strcspn(url, "\n")] = '\0';
    harness_out_free(&o);
    return url;
}

static int setup(void **state)
{
    (void)state;
    /* The cluster here is the test's own; PGPULSE_TEST_CITUS_HOME says Citus is installed. */
    if (!getenv("PGPULSE_TEST_CITUS_HOME")) return 0;
    home = xasprintf("%s/citus", harness_tmpdir());
    chmod(harness_tmpdir(), 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (home) {
        harness_out o = db_cmd("stop", NULL, NULL, NULL);
        harness_out_free(&o);
    }
    free(home);
    return 0;
}

static void test_cluster(void **state)
{
    (void)state;
    if (!home) {
        print_message("%s\n", HARNESS_NO_CITUS);
        skip();
    }
    int64_t t0 = util_mono_us();
    harness_out o = db_cmd("start", "--citus", "2", NULL);
    if (o.status != 0) fail_msg("db start --citus 2: %s", o.err);
    harness_assert_contains(o.err, "Citus worker 2 on 127.0.0.1:");
    harness_out_free(&o);
    print_message("db start --citus 2 (3 new nodes): %.1f s\n", (util_mono_us() - t0) / 1e6);

    /* The metadata: the coordinator in group 0, two workers, every port a node's. */
    char *url = db_url("0", NULL);
    PGconn *conn = harness_connect(url);
    harness_assert_query(conn, "SELECT count(*) FILTER (WHERE groupid = 0) || ' ' || "
                               "count(*) FILTER (WHERE groupid > 0) FROM pg_dist_node WHERE "
                               "isactive AND noderole = 'primary'",
                         "1 2");
    for (int k = 1; k <= 2; k++) {
        char node[4];
        snprintf(node, sizeof node, "%d", k);
        char *wurl = db_url(node, NULL);
        char *port = strrchr(wurl, ':') + 1;
        char *sql = xasprintf("SELECT count(*) FROM pg_dist_node WHERE nodeport = %d AND "
                              "groupid > 0",
                              atoi(port));
        harness_assert_query(conn, sql, "1");
        free(sql);
        /* Change capture on every node, and Citus in its pgpulse database. */
        PGconn *w = harness_connect(wurl);
        harness_assert_query(w, "SHOW citus.enable_change_data_capture", "on");
        harness_assert_query(w, "SHOW wal_level", "logical");
        harness_assert_query(w, "SELECT extname FROM pg_extension WHERE extname = 'citus'",
                             "citus");
        PQfinish(w);
        free(wurl);
    }
    harness_assert_query(conn, "SHOW citus.enable_change_data_capture", "on");

    /* A distributed table written through the coordinator by the writer's login and read by
     * the dashboard's: the coordinator logs in to the workers as each. */
    harness_exec(conn, "CREATE TABLE t (robot_id int, v text)");
    harness_exec(conn, "SELECT create_distributed_table('t', 'robot_id')");
    harness_exec(conn, "GRANT SELECT, INSERT ON t TO pgpulse_ingest, pgpulse_web");
    harness_assert_query(conn, "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE "
                               "table_name = 't'::regclass",
                         "2");
    char *wurl = db_url("0", "writer");
    PGconn *writer = harness_connect(wurl);
    harness_exec(writer, "INSERT INTO t SELECT g, 'r' || g FROM generate_series(1, 200) g");
    harness_assert_query(writer, "SELECT current_user", "pgpulse_ingest");
    PQfinish(writer);
    free(wurl);
    char *rurl = db_url("0", "reader");
    PGconn *reader = harness_connect(rurl);
    harness_assert_query(reader, "SELECT count(*) || ' ' || sum(robot_id) FROM t", "200 20100");
    PQfinish(reader);
    free(rurl);
    /* A worker routes a query to the other worker's shards as the connected login too. */
    rurl = db_url("1", "reader");
    reader = harness_connect(rurl);
    harness_assert_query(reader, "SELECT count(*) FROM t", "200");
    PQfinish(reader);
    free(rurl);

    /* The stage runner's replication connection to a worker, with the same password file. */
    char *surl = db_url("2", "stage");
    char *repl = xasprintf("%s&replication=database", surl);
    PGconn *rc = harness_connect(repl);
    PGresult *r = PQexec(rc, "IDENTIFY_SYSTEM");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 3), "pgpulse");
    PQclear(r);
    PQfinish(rc);
    free(repl);
    free(surl);

    /* Again: nothing to do; fewer workers: refused; a node that does not exist: refused. */
    t0 = util_mono_us();
    o = db_cmd("start", "--citus", "2", NULL);
    assert_int_equal(o.status, 0);
    assert_null(strstr(o.err, "creating"));
    harness_out_free(&o);
    print_message("db start --citus 2 again (running): %.2f s\n", (util_mono_us() - t0) / 1e6);
    o = db_cmd("start", "--citus", "1", NULL);
    assert_int_equal(o.status, 2);
    harness_assert_contains(o.err, "has 2 workers");
    harness_out_free(&o);
    o = db_cmd("url", "--node", "3", NULL);
    assert_int_equal(o.status, 2);
    harness_assert_contains(o.err, "no node 3");
    harness_out_free(&o);

    /* Worker 1 restarted: a session on it ends, the cluster serves again on the same port. */
    char *w1 = db_url("1", NULL);
    PGconn *on1 = harness_connect(w1);
    t0 = util_mono_us();
    o = db_cmd("restart", "--node", "1", NULL);
    if (o.status != 0) fail_msg("db restart --node 1: %s", o.err);
    harness_out_free(&o);
    print_message("db restart --node 1: %.1f s\n", (util_mono_us() - t0) / 1e6);
    r = PQexec(on1, "SELECT 1");
    assert_int_not_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(on1);
    char *w1again = db_url("1", NULL);
    assert_string_equal(w1again, w1);
    free(w1again);
    free(w1);
    PQfinish(conn);
    conn = harness_connect(url);
    harness_assert_query(conn, "SELECT count(*) FROM t", "200");

    /* status names every node; stop stops every node; start brings back the same cluster. */
    o = db_cmd("status", NULL, NULL, NULL);
    assert_int_equal(o.status, 0);
    harness_assert_contains(o.out, "coordinator: running");
    harness_assert_contains(o.out, "worker 2: running");
    harness_out_free(&o);
    PQfinish(conn);
    o = db_cmd("stop", NULL, NULL, NULL);
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = db_cmd("status", NULL, NULL, NULL);
    assert_int_equal(o.status, 1);
    harness_assert_contains(o.out, "worker 1: stopped");
    harness_assert_contains(o.out, "worker 2: stopped");
    harness_out_free(&o);
    t0 = util_mono_us();
    o = db_cmd("start", NULL, NULL, NULL);
    if (o.status != 0) fail_msg("db start (stopped Citus cluster): %s", o.err);
    harness_out_free(&o);
    print_message("db start (3 stopped nodes): %.1f s\n", (util_mono_us() - t0) / 1e6);
    conn = harness_connect(url);
    harness_assert_query(conn, "SELECT count(*) FROM t", "200");
    PQfinish(conn);
    free(url);
}

/* The harness's Citus databases: Citus set up in each, made again from scratch. */
static void test_harness_db(void **state)
{
    (void)state;
    const char *coord = harness_citus_db_or_skip("db_citus", 0);
    PGconn *conn = harness_connect(coord);
    harness_assert_query(conn, "SELECT count(*) FROM pg_dist_node", "3");
    harness_exec(conn, "CREATE TABLE t (robot_id int)");
    harness_exec(conn, "SELECT create_distributed_table('t', 'robot_id')");
    harness_exec(conn, "INSERT INTO t SELECT generate_series(1, 50)");
    PQfinish(conn);
    for (int k = 1; k <= harness_citus_workers(); k++) {
        PGconn *w = harness_connect(harness_citus_node_db("db_citus", k));
        harness_assert_query(w, "SELECT current_database()", "test_db_citus");
        harness_assert_query(w, "SELECT count(*) > 0 FROM pg_dist_local_group WHERE groupid > 0",
                             "t");
        PQfinish(w);
    }
    /* A second call starts over on every node. */
    coord = harness_citus_db("db_citus", 0);
    conn = harness_connect(coord);
    harness_assert_query(conn, "SELECT to_regclass('t') IS NULL", "t");
    harness_assert_query(conn, "SELECT count(*) FROM pg_dist_node", "3");
    PQfinish(conn);
    harness_citus_node_do("restart", 2);
    conn = harness_connect(harness_citus_node_db("db_citus", 2));
    harness_assert_query(conn, "SELECT 1", "1");
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_harness_db),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
