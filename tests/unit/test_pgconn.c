/* Unit tests of pgconn without a server: the resolution order of the database to use, the
 * description of a conninfo, and errors when nothing is configured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pgconn.h"

static const char *const libpq_vars[] = {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE",
                                         "PGUSER", "PGSERVICE",  "PGSSLMODE"};

static int clear_env(void **state)
{
    (void)state;
    unsetenv("PGPULSE_DB");
    for (size_t i = 0; i < sizeof libpq_vars / sizeof libpq_vars[0]; i++) unsetenv(libpq_vars[i]);
    /* A home with no cluster in it. */
    setenv("PGPULSE_HOME", "/nonexistent/pgpulse-home", 1);
    return 0;
}

static void test_flag_wins(void **state)
{
    (void)state;
    setenv("PGPULSE_DB", "postgresql://env/db", 1);
    setenv("PGHOST", "elsewhere", 1);
    char err[256];
    char *c = pgconn_resolve("postgresql://flag/db", err, sizeof err);
    assert_string_equal(c, "postgresql://flag/db");
    free(c);
}

static void test_env_wins_over_libpq(void **state)
{
    (void)state;
    setenv("PGPULSE_DB", "postgresql://env/db", 1);
    setenv("PGHOST", "elsewhere", 1);
    char err[256];
    char *c = pgconn_resolve(NULL, err, sizeof err);
    assert_string_equal(c, "postgresql://env/db");
    free(c);
    /* An empty --db is no choice at all. */
    c = pgconn_resolve("", err, sizeof err);
    assert_string_equal(c, "postgresql://env/db");
    free(c);
}

static void test_libpq_environment(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof libpq_vars / sizeof libpq_vars[0]; i++) {
        setenv(libpq_vars[i], "x", 1);
        char err[256];
        char *c = pgconn_resolve(NULL, err, sizeof err);
        assert_non_null(c);
        assert_string_equal(c, ""); /* "" lets libpq read its own variables */
        free(c);
        unsetenv(libpq_vars[i]);
    }
}

static void test_nothing_configured(void **state)
{
    (void)state;
    char err[512];
    char *c = pgconn_resolve(NULL, err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "no database configured"));
    assert_non_null(strstr(err, "pgpulse db start"));
}

static void test_describe_hides_password(void **state)
{
    (void)state;
    char *d = pgconn_describe("postgresql://u:secret@db.example.com:6432/prod?sslmode=require");
    assert_string_equal(d, "db.example.com:6432/prod");
    free(d);
    d = pgconn_describe("host=10.0.0.1 dbname=x password=secret");
    assert_string_equal(d, "10.0.0.1:5432/x");
    assert_null(strstr(d, "secret"));
    free(d);
    d = pgconn_describe("this is not a conninfo");
    assert_string_equal(d, "(unparsable connection string)");
    free(d);
}

static void test_connect_failure_message(void **state)
{
    (void)state;
    char err[512];
    PGconn *c = pgconn_connect("host=127.0.0.1 port=1 connect_timeout=1", "test", err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_null(strchr(err, '\n'));
    /* With retries: gives up after the budget, not before. */
    c = pgconn_connect_retry("host=127.0.0.1 port=1 connect_timeout=1", "test", 1, err, sizeof err);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_flag_wins, clear_env),
        cmocka_unit_test_setup(test_env_wins_over_libpq, clear_env),
        cmocka_unit_test_setup(test_libpq_environment, clear_env),
        cmocka_unit_test_setup(test_nothing_configured, clear_env),
        cmocka_unit_test_setup(test_describe_hides_password, clear_env),
        cmocka_unit_test_setup(test_connect_failure_message, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
