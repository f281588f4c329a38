/* Integration tests of the private cluster (pgcluster, `pgpulse db`): creation, idempotent
 * start, settings, URL, stop, a taken port, and connection resolution. */
#include <netinet/in.h>
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
    PQfinish(conn);

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
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)old)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_status_url_stop),
        cmocka_unit_test(test_taken_port_moves_to_a_free_one),
        cmocka_unit_test(test_unreachable_home_as_root),
        cmocka_unit_test(test_connection_resolution),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
