/* Integration tests of the private cluster (pgcluster, `pgpulse db`): creation, idempotent
 * start, settings, URL, stop, a taken port, the logins of pgpulse's roles, the slot WAL bound,
 * group roles made by concurrent inits, and connection resolution. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "pgconn.h"
#include "util.h"

static char *home;

static harness_out db_cmd(const char *action)
{
    setenv("PGPULSE_HOME", home, 1);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"db", action, NULL});
    unsetenv("PGPULSE_HOME");
    return o;
}

static char *trim(char *s)
{
    s[strcspn(s, "\n")] = '\0';
    return s;
}

static int setup(void **state)
{
    (void)state;
    if (!getenv("PGPULSE_TEST_HOME")) return 0; /* no cluster for tests: skip all */
    home = xasprintf("%s/cluster", harness_tmpdir());
    chmod(harness_tmpdir(), 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (home) {
        harness_out o = db_cmd("stop");
        harness_out_free(&o);
    }
    free(home);
    return 0;
}

static void test_start_status_url_stop(void **state)
{
    (void)state;
    if (!home) skip();
    harness_out o = db_cmd("url");
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "no private cluster"));
    harness_out_free(&o);

    o = db_cmd("start");
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.err, "creating a private PostgreSQL cluster"));
    harness_out_free(&o);

    o = db_cmd("url");
    assert_int_equal(o.status, 0);
    char *url = xstrdup(trim(o.out));
    harness_out_free(&o);
    assert_non_null(strstr(url, "postgresql://pgpulse@127.0.0.1:"));
    assert_non_null(strstr(url, "passfile="));

    PGconn *conn = harness_connect(url);
    char *v = harness_query_text(conn, "SHOW wal_level");
    assert_string_equal(v, "logical");
    free(v);
    v = harness_query_text(conn, "SHOW listen_addresses");
    assert_string_equal(v, "127.0.0.1");
    free(v);
    v = harness_query_text(conn, "SELECT current_database()");
    assert_string_equal(v, "pgpulse");
    free(v);
    /* A slot may hold 4 GB of WAL unless told otherwise. */
    v = harness_query_text(conn, "SHOW max_slot_wal_keep_size");
    assert_string_equal(v, "4GB");
    free(v);
    PQfinish(conn);

    /* A login per role, each in its group; only the stage runner's may replicate. */
    static const char *const roles[][3] = {{"writer", "pgpulse_ingest", "pgpulse_writer"},
                                           {"stage", "pgpulse_stages", "pgpulse_stage"},
                                           {"reader", "pgpulse_web", "pgpulse_dashboard"}};
    for (size_t i = 0; i < 3; i++) {
        setenv("PGPULSE_HOME", home, 1);
        o = harness_pgpulse(NULL, (const char *[]){"db", "url", "--role", roles[i][0], NULL});
        unsetenv("PGPULSE_HOME");
        assert_int_equal(o.status, 0);
        PGconn *lc = harness_connect(trim(o.out));
        harness_out_free(&o);
        char *sql = xasprintf("SELECT current_user || ' ' || pg_has_role('%s', 'MEMBER') || ' ' "
                              "|| rolreplication || ' ' || rolsuper FROM pg_roles WHERE rolname "
                              "= current_user",
                              roles[i][2]);
        v = harness_query_text(lc, sql);
        char *want = xasprintf("%s true %s false", roles[i][1], i == 1 ? "true" : "false");
        assert_string_equal(v, want);
        free(want);
        free(v);
        free(sql);
        PQfinish(lc);
    }
    setenv("PGPULSE_HOME", home, 1);
    o = harness_pgpulse(NULL, (const char *[]){"db", "url", "--role", "admin", NULL});
    unsetenv("PGPULSE_HOME");
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--role: expected owner, writer, stage or reader"));
    harness_out_free(&o);

    /* The password file is private to its owner. */
    char *pass = xasprintf("%s/pgpass", home);
    struct stat st;
    assert_int_equal(stat(pass, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    free(pass);

    /* start is idempotent and keeps the URL. */
    o = db_cmd("start");
    assert_int_equal(o.status, 0);
    assert_null(strstr(o.err, "creating"));
    harness_out_free(&o);
    o = db_cmd("url");
    assert_string_equal(trim(o.out), url);
    harness_out_free(&o);

    o = db_cmd("stop");
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = db_cmd("status");
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.out, "stopped"));
    harness_out_free(&o);
    free(url);
}

static void test_taken_port_moves_to_a_free_one(void **state)
{
    (void)state;
    if (!home) skip();
    char *portfile = xasprintf("%s/port", home);
    char *text = harness_read_file(portfile);
    int old = atoi(text);
    free(text);
    free(portfile);

    /* Someone else takes the port while the cluster is stopped. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    /* The stopped server's closed connections may leave the port in TIME_WAIT, which refuses
     * a plain bind (a suite saw it); SO_REUSEADDR binds past that and still holds the port
     * against the server's own listen socket. */
    int one = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)old)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("bind to port %d: %s", old, strerror(errno));
    assert_int_equal(listen(fd, 1), 0);

    harness_out o = db_cmd("start");
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = db_cmd("status");
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "running on 127.0.0.1:"));
    char oldport[32];
    snprintf(oldport, sizeof oldport, ":%d ", old);
    assert_null(strstr(o.out, oldport));
    harness_out_free(&o);
    close(fd);
}

static harness_out db_cmd2(const char *a1, const char *a2, const char *a3)
{
    setenv("PGPULSE_HOME", home, 1);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"db", a1, a2, a3, NULL});
    unsetenv("PGPULSE_HOME");
    return o;
}

static char *show_wal_limit(void)
{
    harness_out o = db_cmd("url");
    assert_int_equal(o.status, 0);
    PGconn *conn = harness_connect(trim(o.out));
    harness_out_free(&o);
    char *v = harness_query_text(conn, "SHOW max_slot_wal_keep_size");
    PQfinish(conn);
    return v;
}

/* Starts the cluster (with --slot-wal-limit value unless NULL) and checks what the server
 * uses. */
static void set_wal_limit(const char *value, const char *want)
{
    harness_out o = value ? db_cmd2("start", "--slot-wal-limit", value) : db_cmd("start");
    if (o.status != 0) fail_msg("db start failed: %s", o.err);
    harness_out_free(&o);
    char *v = show_wal_limit();
    assert_string_equal(v, want);
    free(v);
}

/* --slot-wal-limit reaches the server at once (a running cluster reloads) and is kept for
 * later starts; a value that is no size is refused with what was given. */
static void test_slot_wal_limit(void **state)
{
    (void)state;
    if (!home) skip();
    set_wal_limit("512MB", "512MB");
    /* Kept across a stop and a start without the flag. */
    harness_out o = db_cmd("stop");
    harness_out_free(&o);
    set_wal_limit(NULL, "512MB");
    set_wal_limit("-1", "-1");
    o = db_cmd2("start", "--slot-wal-limit", "lots");
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--slot-wal-limit: expected a size such as 4GB"));
    assert_non_null(strstr(o.err, "got 'lots'"));
    harness_out_free(&o);
    o = db_cmd2("start", "--slot-wal-limit", "99999TB");
    assert_int_equal(o.status, 2);
    harness_out_free(&o);
    set_wal_limit("4GB", "4GB");
}

/* Group roles are cluster-wide: inits in several databases at once create them once, and one
 * that finds a role being created by another session waits for it and goes on. Then `db
 * start` makes the logins again. */
static void test_groups_from_concurrent_inits(void **state)
{
    (void)state;
    if (!home) skip();
    harness_out o = db_cmd("url");
    assert_int_equal(o.status, 0);
    PGconn *conn = harness_connect(trim(o.out));
    harness_out_free(&o);
    harness_exec(conn, "DROP ROLE pgpulse_ingest, pgpulse_stages, pgpulse_web, pgpulse_writer, "
                       "pgpulse_stage, pgpulse_reader, pgpulse_dashboard");
    char *portfile = xasprintf("%s/port", home);
    char *port = harness_read_file(portfile);
    free(portfile);
    char *infos[4];
    for (int i = 0; i < 4; i++) {
        char *sql = xasprintf("CREATE DATABASE roles%d", i);
        harness_exec(conn, sql);
        free(sql);
        infos[i] = xasprintf("host=127.0.0.1 port=%d user=pgpulse dbname=roles%d passfile=%s/pgpass",
                             atoi(port), i, home);
    }
    /* Another session creates pgpulse_reader and holds it uncommitted: the init that gets
     * there waits on it, then finds it created (unique_violation) and must go on. */
    PGconn *other = harness_connect(infos[0]);
    harness_exec(other, "BEGIN");
    harness_exec(other, "CREATE ROLE pgpulse_reader NOLOGIN");
    char *log = xasprintf("%s/init_blocked.log", harness_tmpdir());
    int blocked = harness_spawn(NULL, log, (const char *[]){"init", "--db", infos[0], NULL});
    int64_t waiting = 0;
    for (int i = 0; i < 200 && !waiting; i++) {
        waiting = harness_query_int(conn, "SELECT count(*) FROM pg_stat_activity WHERE "
                                          "application_name = 'pgpulse-init' AND "
                                          "wait_event_type = 'Lock'");
        if (!waiting) util_sleep_ms(50);
    }
    assert_int_equal(waiting, 1);
    harness_exec(other, "COMMIT");
    PQfinish(other);
    int st = harness_wait(blocked, NULL);
    if (st != 0) fail_msg("init that waited on the role failed: %s", harness_read_file(log));

    /* The other three at once, on a cluster without the groups. */
    harness_exec(conn, "DROP DATABASE roles0");
    harness_exec(conn, "DROP ROLE pgpulse_writer, pgpulse_stage, pgpulse_reader, "
                       "pgpulse_dashboard");
    int pids[3];
    char *logs[3];
    for (int i = 0; i < 3; i++) {
        logs[i] = xasprintf("%s/init_roles%d.log", harness_tmpdir(), i);
        pids[i] = harness_spawn(NULL, logs[i], (const char *[]){"init", "--db", infos[i + 1], NULL});
    }
    for (int i = 0; i < 3; i++) {
        st = harness_wait(pids[i], NULL);
        if (st != 0) fail_msg("concurrent init %d failed: %s", i, harness_read_file(logs[i]));
        free(logs[i]);
    }
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_roles WHERE rolname IN "
                                             "('pgpulse_writer', 'pgpulse_stage', "
                                             "'pgpulse_reader', 'pgpulse_dashboard') AND NOT "
                                             "rolcanlogin"),
                     4);
    assert_int_equal(harness_query_int(conn, "SELECT pg_has_role('pgpulse_dashboard', "
                                             "'pgpulse_reader', 'MEMBER')::int"),
                     1);
    o = db_cmd("start");
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_roles WHERE rolname IN "
                                             "('pgpulse_ingest', 'pgpulse_stages', "
                                             "'pgpulse_web') AND rolcanlogin"),
                     3);
    for (int i = 0; i < 4; i++) {
        char *sql = xasprintf("DROP DATABASE IF EXISTS roles%d", i);
        harness_exec(conn, sql);
        free(sql);
        free(infos[i]);
    }
    PQfinish(conn);
    free(port);
    free(log);
}

/* As root, the server runs as postgres; a HOME it cannot reach (a 0700 directory) moves the
 * server's files to /var/lib/pgpulse and still works. */
static void test_unreachable_home_as_root(void **state)
{
    (void)state;
    if (!home || geteuid() != 0) skip();
    char *locked = xasprintf("%s/locked", harness_tmpdir());
    assert_int_equal(mkdir(locked, 0700), 0);
    char *inner = xasprintf("%s/home", locked);
    setenv("PGPULSE_HOME", inner, 1);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"db", "start", NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.err, "the server's files go to /var/lib/pgpulse/"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"init", NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"db", "status", NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "data in /var/lib/pgpulse/"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"db", "stop", NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    char *pointer = xasprintf("%s/serverdir", inner);
    char *dir = harness_read_file(pointer);
    dir[strcspn(dir, "\n")] = '\0';
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("PGPULSE_HOME");
    free(cmd);
    free(dir);
    free(pointer);
    free(inner);
    free(locked);
}

static void test_connection_resolution(void **state)
{
    (void)state;
    if (!home) skip();
    /* Nothing configured and no cluster: a message that says what to do. */
    char *empty = xasprintf("%s/none", harness_tmpdir());
    setenv("PGPULSE_HOME", empty, 1);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"init", NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "no database configured"));
    harness_out_free(&o);

    /* The private cluster is used when nothing else is configured. */
    setenv("PGPULSE_HOME", home, 1);
    o = harness_pgpulse(NULL, (const char *[]){"init", NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);

    /* PGPULSE_DB wins over the private cluster, --db wins over PGPULSE_DB. */
    setenv("PGPULSE_DB", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", 1);
    o = harness_pgpulse(NULL, (const char *[]){"init", NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "cannot connect to 127.0.0.1:1/none"));
    harness_out_free(&o);
    const char *test_db = harness_db("resolution", 0);
    o = harness_pgpulse(NULL, (const char *[]){"init", "--db", test_db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    unsetenv("PGPULSE_DB");
    unsetenv("PGPULSE_HOME");
    free(empty);
}

/* pgpulse's connections probe an idle server (TCP keepalives), so a server that vanished
 * without closing the connection is noticed; a conninfo's own settings win. */
static void test_connections_keep_alive(void **state)
{
    (void)state;
    const char *db = harness_db("keepalive", 0);
    if (!db) skip();
    char err[512];
    PGconn *c = pgconn_connect(db, "test", err, sizeof err);
    if (!c) fail_msg("connect: %s", err);
    int on = 0, idle = 0, intvl = 0, cnt = 0;
    socklen_t len = sizeof on;
    assert_int_equal(getsockopt(PQsocket(c), SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
    len = sizeof idle;
    assert_int_equal(getsockopt(PQsocket(c), IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len), 0);
    len = sizeof intvl;
    assert_int_equal(getsockopt(PQsocket(c), IPPROTO_TCP, TCP_KEEPINTVL, &intvl, &len), 0);
    len = sizeof cnt;
    assert_int_equal(getsockopt(PQsocket(c), IPPROTO_TCP, TCP_KEEPCNT, &cnt, &len), 0);
    assert_int_equal(on, 1);
    assert_int_equal(idle, 60);
    assert_int_equal(intvl, 10);
    assert_int_equal(cnt, 6);
    PQfinish(c);
    char *own = xasprintf("%s keepalives_idle=7", db);
    c = pgconn_connect(own, "test", err, sizeof err);
    if (!c) fail_msg("connect: %s", err);
    len = sizeof idle;
    assert_int_equal(getsockopt(PQsocket(c), IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len), 0);
    assert_int_equal(idle, 7);
    PQfinish(c);
    free(own);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_status_url_stop),
        cmocka_unit_test(test_taken_port_moves_to_a_free_one),
        cmocka_unit_test(test_slot_wal_limit),
        cmocka_unit_test(test_groups_from_concurrent_inits),
        cmocka_unit_test(test_unreachable_home_as_root),
        cmocka_unit_test(test_connection_resolution),
        cmocka_unit_test(test_connections_keep_alive),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
