/* Unit tests of util: formatting helpers, error buffers, clocks, randomness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_fmt_count(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(util_fmt_count(b, sizeof b, 0), "0");
    assert_string_equal(util_fmt_count(b, sizeof b, 999), "999");
    assert_string_equal(util_fmt_count(b, sizeof b, 1000), "1,000");
    assert_string_equal(util_fmt_count(b, sizeof b, 39672), "39,672");
    assert_string_equal(util_fmt_count(b, sizeof b, 1234567), "1,234,567");
    assert_string_equal(util_fmt_count(b, sizeof b, UINT64_MAX), "18,446,744,073,709,551,615");
    /* A short buffer truncates rather than overflows. */
    char tiny[4];
    assert_string_equal(util_fmt_count(tiny, sizeof tiny, 1234567), "1,2");
}

static void test_err_and_asprintf(void **state)
{
    (void)state;
    char err[16];
    assert_int_equal(util_err(err, sizeof err, "line %d: %s", 12, "a long message"), -1);
    assert_string_equal(err, "line 12: a long");
    assert_int_equal(util_err(NULL, 0, "ignored %d", 1), -1);
    char *s = xasprintf("%s-%03d", "p", 7);
    assert_string_equal(s, "p-007");
    free(s);
    s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

static void test_clocks_and_random(void **state)
{
    (void)state;
    int64_t a = util_mono_us();
    util_sleep_ms(20);
    int64_t b = util_mono_us();
    assert_true(b - a >= 19000);
    assert_true(b - a < 2000000);
    /* Wall clock: after 2020 and before 2100. */
    assert_true(util_now_us() > INT64_C(1577836800000000));
    assert_true(util_now_us() < INT64_C(4102444800000000));
    uint8_t x[32] = {0}, y[32] = {0};
    util_random_bytes(x, sizeof x);
    util_random_bytes(y, sizeof y);
    assert_memory_not_equal(x, y, sizeof x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_count),
        cmocka_unit_test(test_err_and_asprintf),
        cmocka_unit_test(test_clocks_and_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
