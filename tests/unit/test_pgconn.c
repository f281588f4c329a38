/* Unit tests of pgconn without a server: the resolution order of the database to use, the
 * description of a conninfo, errors when nothing is configured, and the masking of passwords
 * in URLs, conninfo strings, messages and the command line. */
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

static void assert_masked(const char *in, const char *want)
{
    char *m = pgconn_mask(in);
    assert_string_equal(m, want);
    free(m);
}

static void test_mask_uri(void **state)
{
    (void)state;
    assert_masked("postgresql://u:secret@h/db", "postgresql://u:***@h/db");
    assert_masked("postgres://u:secret@h:5432/db?sslmode=require",
                  "postgres://u:***@h:5432/db?sslmode=require");
    /* Percent-encoded characters, and '@' encoded in the password. */
    assert_masked("postgresql://u:p%40ss%2Fw@h/db", "postgresql://u:***@h/db");
    /* No password, an empty one, no user info: unchanged. */
    assert_masked("postgresql://u@h/db", "postgresql://u@h/db");
    assert_masked("postgresql://u:@h/db", "postgresql://u:@h/db");
    assert_masked("postgresql://h:5432/db", "postgresql://h:5432/db");
    assert_masked("postgresql:///db?host=/tmp", "postgresql:///db?host=/tmp");
    /* As a query parameter, before and after others; passfile is no secret. */
    assert_masked("postgresql://h/db?password=secret&sslmode=require",
                  "postgresql://h/db?password=***&sslmode=require");
    assert_masked("postgresql://h/db?sslmode=require&password=s%26cret",
                  "postgresql://h/db?sslmode=require&password=***");
    assert_masked("postgresql://u@h/db?passfile=%2Fx%2Fpgpass",
                  "postgresql://u@h/db?passfile=%2Fx%2Fpgpass");
    assert_masked("postgresql://h/db?sslpassword=keypass", "postgresql://h/db?sslpassword=***");
    /* Inside a longer argument. */
    assert_masked("--db=postgresql://u:secret@h/db", "--db=postgresql://u:***@h/db");
}

static void test_mask_keyword_value(void **state)
{
    (void)state;
    assert_masked("host=h password=secret dbname=x", "host=h password=*** dbname=x");
    assert_masked("password = secret", "password = ***");
    assert_masked("host=h password='se cret\\' quoted' user=u", "host=h password=*** user=u");
    assert_masked("password='' host=h", "password=*** host=h");
    assert_masked("sslpassword=k password=p", "sslpassword=*** password=***");
    /* A password containing '&' is one value outside a URI. */
    assert_masked("host=h password=a&b", "host=h password=***");
    /* Not keywords: other words ending or starting alike, a passfile. */
    assert_masked("passfile=/x/pgpass mypassword=1", "passfile=/x/pgpass mypassword=1");
    assert_masked("host=h dbname=password", "host=h dbname=password");
    assert_masked("", "");
    assert_masked("no secret here", "no secret here");
    /* However many there are. */
    char many[2048] = "", want[2048] = "";
    for (int i = 0; i < 40; i++) {
        strcat(many, "password=secret ");
        strcat(want, "password=*** ");
    }
    assert_masked(many, want);
}

static void test_redact_message(void **state)
{
    (void)state;
    char *m = pgconn_redact("missing \"=\" after \"Secret99\" in connection info string",
                            "host=h password=Secret99 x");
    assert_string_equal(m, "missing \"=\" after \"***\" in connection info string");
    free(m);
    /* The decoded form of a URI password is found too. */
    m = pgconn_redact("bad p@ss/word here", "postgresql://u:p%40ss%2Fword@h/db");
    assert_string_equal(m, "bad *** here");
    free(m);
    /* Short secrets are left alone; no conninfo, no change. */
    m = pgconn_redact("an abc", "password=abc");
    assert_string_equal(m, "an abc");
    free(m);
    m = pgconn_redact("text", NULL);
    assert_string_equal(m, "text");
    free(m);
}

static void test_hide_argv(void **state)
{
    (void)state;
    char a0[] = "pgpulse", a1[] = "ingest", a2[] = "--db", a3[] = "postgresql://u:verysecret@h/db";
    char a4[] = "--db=password=ab", a5[] = "file.csv";
    char *argv[] = {a0, a1, a2, a3, a4, a5, NULL};
    assert_int_equal(pgconn_hide_argv(6, argv), 2);
    /* The program still sees the real values... */
    assert_string_equal(argv[3], "postgresql://u:verysecret@h/db");
    assert_string_equal(argv[4], "--db=password=ab");
    assert_ptr_equal(argv[5], a5);
    /* ... while the original bytes (what /proc/PID/cmdline shows) are masked: shorter text is
     * padded with NULs, a secret shorter than the mask is starred out in place. */
    assert_string_equal(a3, "postgresql://u:***@h/db");
    assert_int_equal(a3[sizeof a3 - 2], '\0');
    assert_string_equal(a4, "--db=password=**");
    assert_string_equal(a5, "file.csv");
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
        cmocka_unit_test(test_mask_uri),
        cmocka_unit_test(test_mask_keyword_value),
        cmocka_unit_test(test_redact_message),
        cmocka_unit_test(test_hide_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
