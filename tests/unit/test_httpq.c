/* Unit tests for httpq: query strings (decoding, limits, repeated and unknown names, typed
 * values and their messages) and paths (decoding and every traversal rule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "httpq.h"

static int parse(httpq *q, const char *s, char *err, size_t errlen)
{
    return httpq_parse(q, s, strlen(s), err, errlen);
}

static void test_decodes_names_and_values(void **st)
{
    (void)st;
    httpq q;
    char err[256];
    assert_int_equal(parse(&q, "from=2026-12-05T10%3A00%3A00Z&level=ALERT&x=a+b%20c&flag&&", err, sizeof err), 0);
    assert_int_equal(q.n, 4);
    assert_string_equal(httpq_get(&q, "from"), "2026-12-05T10:00:00Z");
    assert_string_equal(httpq_get(&q, "level"), "ALERT");
    assert_string_equal(httpq_get(&q, "x"), "a b c");
    assert_string_equal(httpq_get(&q, "flag"), "");
    assert_null(httpq_get(&q, "missing"));
    httpq_free(&q);
    assert_int_equal(parse(&q, "", err, sizeof err), 0);
    assert_int_equal(q.n, 0);
    httpq_free(&q);
    assert_int_equal(parse(&q, "a=%3d%26", err, sizeof err), 0); /* escaped '=' and '&' are data */
    assert_string_equal(httpq_get(&q, "a"), "=&");
    httpq_free(&q);
}

static void test_refuses_bad_query_strings(void **st)
{
    (void)st;
    httpq q;
    char err[256];
    static const struct {
        const char *s, *msg;
    } bad[] = {
        {"a=%", "a bad %-escape"},       {"a=%4", "a bad %-escape"},
        {"a=%zz", "a bad %-escape"},     {"a=%00", "a bad %-escape or a NUL"},
        {"%4=1", "in its name"},         {"=1", "has no name"},
        {"a=1&a=2", "'a' is given more than once"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&q, bad[i].s, err, sizeof err), -1);
        if (!strstr(err, bad[i].msg)) fail_msg("'%s': message '%s' lacks '%s'", bad[i].s, err, bad[i].msg);
        assert_int_equal(q.n, 0);
        httpq_free(&q);
    }
    /* A raw NUL inside the given length. */
    assert_int_equal(httpq_parse(&q, "a=b\0c", 5, err, sizeof err), -1);
    httpq_free(&q);
}

static void test_limits(void **st)
{
    (void)st;
    httpq q;
    char err[256], s[HTTPQ_MAX_BYTES + 16];
    size_t n = 0;
    for (int i = 0; i < HTTPQ_MAX_PARAMS; i++) n += (size_t)snprintf(s + n, sizeof s - n, "%sp%d=1", i ? "&" : "", i);
    assert_int_equal(parse(&q, s, err, sizeof err), 0);
    assert_int_equal(q.n, HTTPQ_MAX_PARAMS);
    httpq_free(&q);
    snprintf(s + n, sizeof s - n, "&one=more");
    assert_int_equal(parse(&q, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 32 query parameters"));
    httpq_free(&q);
    memset(s, 'a', HTTPQ_MAX_BYTES + 1);
    s[HTTPQ_MAX_BYTES + 1] = '\0';
    assert_int_equal(parse(&q, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 4096 bytes"));
    httpq_free(&q);
    s[HTTPQ_MAX_BYTES] = '\0'; /* exactly the limit: one long name */
    assert_int_equal(parse(&q, s, err, sizeof err), 0);
    assert_int_equal(q.n, 1);
    httpq_free(&q);
}

static void test_typed_values(void **st)
{
    (void)st;
    httpq q;
    char err[256];
    assert_int_equal(parse(&q, "points=500&robot=x7&from=1764928800&to=2026-12-05T10:00:00Z&bad=yesterday&level=ERROR", err, sizeof err), 0);
    int64_t v = -1;
    assert_int_equal(httpq_int(&q, "points", 1, 10000, &v, err, sizeof err), 0);
    assert_int_equal(v, 500);
    assert_int_equal(httpq_int(&q, "points", 1, 100, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "'points': '500' is not an integer from 1 to 100"));
    assert_int_equal(httpq_int(&q, "robot", 1, 1000, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "'robot': 'x7'"));
    assert_int_equal(httpq_int(&q, "absent", 1, 2, &v, err, sizeof err), 1);
    assert_int_equal(v, 500);
    assert_int_equal(httpq_time(&q, "from", &v, err, sizeof err), 0);
    assert_int_equal(v, INT64_C(1764928800) * 1000000);
    assert_int_equal(httpq_time(&q, "to", &v, err, sizeof err), 0);
    assert_int_equal(v, INT64_C(1796464800) * 1000000);
    assert_int_equal(httpq_time(&q, "bad", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "'bad': 'yesterday' is not a time"));
    static const char *const levels[] = {"ALERT", "ERROR"};
    int c = -1;
    assert_int_equal(httpq_choice(&q, "level", levels, 2, &c, err, sizeof err), 0);
    assert_int_equal(c, 1);
    assert_int_equal(httpq_choice(&q, "robot", levels, 2, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not one of ALERT, ERROR"));
    static const char *const known[] = {"points", "robot", "from", "to", "level"};
    assert_int_equal(httpq_only(&q, known, 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown query parameter 'bad'"));
    static const char *const all[] = {"points", "robot", "from", "to", "level", "bad"};
    assert_int_equal(httpq_only(&q, all, 6, err, sizeof err), 0);
    httpq_free(&q);
}

static void test_paths(void **st)
{
    (void)st;
    char out[64], err[256];
    assert_int_equal(httpq_path("/api/robots/7/readings", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/api/robots/7/readings");
    assert_int_equal(httpq_path("/", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(httpq_path("/a%20b/", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/a b/");
    assert_int_equal(httpq_path("/a+b", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/a+b"); /* '+' is a space only in query strings */
    assert_int_equal(httpq_path("/..a/b.c/...", out, sizeof out, err, sizeof err), 0);
    static const struct {
        const char *p, *msg;
    } bad[] = {
        {"/../etc/passwd", "'..'"},      {"/a/%2e%2e/b", "'..'"},    {"/a/%2E%2E", "'..'"},
        {"/a/./b", "'.'"},               {"/a/.", "'.'"},            {"/a//b", "'//'"},
        {"//etc", "'//'"},               {"/a%5c..%5cb", "backslash"}, {"/a\\b", "backslash"},
        {"/a%00b", "NUL"},               {"/a%2", "%-escape"},       {"a/b", "start with '/'"},
        {"", "start with '/'"},          {"%2f..", "'..'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(httpq_path(bad[i].p, out, sizeof out, err, sizeof err), -1);
        if (!strstr(err, bad[i].msg)) fail_msg("'%s': message '%s' lacks '%s'", bad[i].p, err, bad[i].msg);
    }
    char longp[80];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(httpq_path(longp, out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 63 bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_names_and_values), cmocka_unit_test(test_refuses_bad_query_strings),
        cmocka_unit_test(test_limits),                   cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
