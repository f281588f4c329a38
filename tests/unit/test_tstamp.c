/* Unit tests for tstamp: ISO 8601 and epoch-second parsing, range errors, formatting, round
 * trips, and the calendar arithmetic. Expected values were computed with `date -u -d ... +%s`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tstamp.h"

#define SEC TSTAMP_US_PER_SEC
#define UNSET INT64_C(-4242)
#define MIN_US TSTAMP_MIN_US
#define MAX_US TSTAMP_MAX_US

static uint64_t rng_state = UINT64_C(0x2545F4914F6CDD1D);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* Parses s; returns the code and stores the value (UNSET when not written) in *us. */
static int parse(const char *s, int flags, int64_t *us)
{
    *us = UNSET;
    return tstamp_parse(s, strlen(s), flags, us);
}

static void expect_us(const char *s, int flags, int64_t want)
{
    int64_t us;
    int rc = parse(s, flags, &us);
    if (rc != TSTAMP_OK) fail_msg("'%s': rc %d (%s)", s, rc, tstamp_strerror(rc));
    if (us != want) fail_msg("'%s': got %" PRId64 ", want %" PRId64, s, us, want);
}

static void expect_rc(const char *s, int flags, int want)
{
    int64_t us;
    int rc = parse(s, flags, &us);
    if (rc != want) fail_msg("'%s': rc %d, want %d", s, rc, want);
    if (us != UNSET) fail_msg("'%s': *us written on error", s);
}

static void test_iso_forms(void **state)
{
    (void)state;
    const int64_t t = INT64_C(1666009103) * SEC; /* 2022-10-17T12:18:23Z */
    expect_us("1970-01-01T00:00:00Z", 0, 0);
    expect_us("2022-10-17T12:18:23Z", 0, t);
    expect_us("2022-10-17t12:18:23z", 0, t);
    expect_us("2022-10-17 12:18:23Z", 0, t);
    expect_us("2022-10-17T12:18:23UTC", 0, t);
    expect_us("2022-10-17 12:18:23 UTC", 0, t);
    expect_us("2022-10-17T12:18:23 Z", 0, t);
    expect_us("2022-10-17T12:18:23+00:00", 0, t);
    expect_us("2022-10-17T12:18:23-00", 0, t);
    expect_us("2022-10-17T14:18:23+02", 0, t);
    expect_us("2022-10-17T17:48:23+05:30", 0, t);
    expect_us("2022-10-17T17:48:23+0530", 0, t);
    expect_us("2022-10-17 14:18:23 +02:00", 0, t); /* as PostgreSQL prints it, after a space */
    expect_us("2022-10-17T04:18:23-08:00", 0, t);
    expect_us("2022-10-16T20:48:23-15:30", 0, t);
    expect_us("2022-10-17T12:18Z", 0, t - 23 * SEC);
    expect_us("  2022-10-17T12:18:23Z\t ", 0, t);
    /* Fractions with '.' or ',', as long as needed. */
    expect_us("2022-10-17T12:18:23.66Z", 0, t + 660000);
    expect_us("2022-10-17T12:18:23,66Z", 0, t + 660000);
    expect_us("2022-10-17T12:18:23.000001Z", 0, t + 1);
    expect_us("2022-10-17T12:18:23.5+01:00", 0, t - 3600 * SEC + 500000);
    /* No zone: UTC unless a zone is required. */
    expect_us("2022-10-17T12:18:23", 0, t);
    expect_us("2022-10-17 12:18:23.25", 0, t + 250000);
    expect_rc("2022-10-17T12:18:23", TSTAMP_ZONE_REQUIRED, TSTAMP_NOZONE);
    expect_rc("2022-10-17", TSTAMP_ZONE_REQUIRED, TSTAMP_NOZONE);
    expect_us("2022-10-17", 0, INT64_C(19282) * 86400 * SEC);
    expect_us("2022-10-17T12:18:23Z", TSTAMP_ZONE_REQUIRED | TSTAMP_EPOCH_OK, t);
    /* Before 1970 and far ahead. */
    expect_us("1969-07-20T20:17:40Z", 0, INT64_C(-14182940) * SEC);
    expect_us("1969-12-31T23:59:59.999999Z", 0, -1);
    expect_us("0001-01-01T00:00:00Z", 0, MIN_US);
    expect_us("9999-12-31T23:59:59.999999Z", 0, MAX_US);
    expect_us("2024-02-29T23:59:59Z", 0, INT64_C(1709251199) * SEC);
    expect_us("2000-02-29T00:00:00Z", 0, INT64_C(951782400) * SEC);
}

static void test_iso_fraction_rounding(void **state)
{
    (void)state;
    const int64_t t = INT64_C(1666009103) * SEC;
    expect_us("2022-10-17T12:18:23.1234565Z", 0, t + 123457);
    expect_us("2022-10-17T12:18:23.1234564999Z", 0, t + 123456);
    expect_us("2022-10-17T12:18:23.0000004Z", 0, t);
    expect_us("2022-10-17T12:18:23.0000005Z", 0, t + 1);
    expect_us("2022-10-17T12:18:23.123456789012345678901234567890Z", 0, t + 123457);
    /* Rounding carries into the next second, minute, day. */
    expect_us("2022-10-17T12:18:23.9999995Z", 0, t + SEC);
    expect_us("1969-12-31T23:59:59.99999951Z", 0, 0);
}

static void test_iso_range_errors(void **state)
{
    (void)state;
    const char *range[] = {
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2100-02-29",
        "2022-02-30T00:00:00Z",
        "2022-04-31T00:00:00Z",
        "2022-13-01T00:00:00Z",
        "2022-00-10T00:00:00Z",
        "2022-01-00T00:00:00Z",
        "2022-01-32T00:00:00Z",
        "2022-10-17T24:00:00Z",
        "2022-10-17T23:60:00Z",
        "2022-10-17T23:59:60Z",
        "2022-10-17T99:00Z",
        "2022-10-17T12:00:00+16:00",
        "2022-10-17T12:00:00-16",
        "2022-10-17T12:00:00+05:60",
        "2022-10-17T12:00:00+99",
        "0000-01-01T00:00:00Z",
        /* Valid fields, but the instant is outside years 1..9999, which tstamp_format could
         * not print in a form tstamp_parse reads back. */
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "9999-12-31T23:59:59.9999995Z",
    };
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++)
        expect_rc(range[i], 0, TSTAMP_RANGE);
    expect_us("2022-10-17T12:00:00+15:59", 0,
              INT64_C(1666008000) * SEC - (15 * 3600 + 59 * 60) * SEC);
    expect_us("2400-02-29", 0, INT64_C(13574563200) * SEC);
}

static void test_iso_syntax_errors(void **state)
{
    (void)state;
    const char *syntax[] = {
        "2022-10-17T",
        "2022-10-17T12",
        "2022-10-17T12:",
        "2022-10-17T1:00Z",
        "2022-10-17T12:0Z",
        "2022-10-17T12:00:0Z",
        "2022-10-17T12:00:00.Z",
        "2022-10-17T12:00.5Z",
        "2022/10/17T12:00Z",
        "2022-1-17T12:00:00Z",
        "2022-10-7T12:00:00Z",
        "22022-10-17",
        "2022-10-17X",
        "2022-10-17T12:00:00ZZ",
        "2022-10-17T12:00:00Zx",
        "2022-10-17T12:00:00+5",
        "2022-10-17T12:00:00+05:3",
        "2022-10-17T12:00:00+05:",
        "2022-10-17T12:00:00+05:00:00",
        "2022-10-17T12:00:00 utc",
        "2022-10-17T12:00:00GMT",
        "2022-10-17 +05:00",
        "2022-10-17Z",
        "2022-10-17T12:00:00  Z",
        "2022-10-17T12:00:00-",
        "abcd-10-17",
        "2022-ab-17T00:00Z",
        "2022-10-17T12:00:00+0a",
    };
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++)
        expect_rc(syntax[i], 0, TSTAMP_SYNTAX);
    expect_rc("", 0, TSTAMP_EMPTY);
    expect_rc(" \t ", TSTAMP_EPOCH_OK, TSTAMP_EMPTY);
    /* Only len bytes count: the zone past len is not seen. */
    int64_t us = UNSET;
    assert_int_equal(tstamp_parse("2022-10-17T12:18:23Z", 19, TSTAMP_ZONE_REQUIRED, &us),
                     TSTAMP_NOZONE);
    assert_int_equal(tstamp_parse("2022-10-17T12:18:23Zjunk", 20, 0, &us), TSTAMP_OK);
    assert_true(us == INT64_C(1666009103) * SEC);
    assert_string_equal(tstamp_strerror(TSTAMP_NOZONE),
                        "no time zone (add Z or an offset such as +00:00)");
    assert_string_equal(tstamp_strerror(TSTAMP_RANGE), "a field is out of range");
    assert_string_equal(tstamp_strerror(TSTAMP_SYNTAX),
                        "not an ISO 8601 timestamp or epoch seconds");
    assert_string_equal(tstamp_strerror(TSTAMP_EMPTY), "empty");
}

static void test_epoch_seconds(void **state)
{
    (void)state;
    const int f = TSTAMP_EPOCH_OK | TSTAMP_ZONE_REQUIRED; /* a zone is not needed for epochs */
    expect_rc("1666009103", 0, TSTAMP_SYNTAX);            /* not without the flag */
    expect_rc("1666009103", TSTAMP_ZONE_REQUIRED, TSTAMP_SYNTAX);
    expect_us("1666009103", f, INT64_C(1666009103) * SEC);
    expect_us("1666009103.66", TSTAMP_EPOCH_OK, INT64_C(1666009103660000));
    expect_us("0", f, 0);
    expect_us("-1.5", f, -1500000);
    expect_us("+12", f, 12 * SEC);
    expect_us(".5", f, 500000);
    expect_us("5.", f, 5 * SEC);
    expect_us("0.0000005", f, 1);
    expect_us("0.0000004999", f, 0);
    expect_us("-0.0000005", f, -1);
    expect_us("  1666009103.123456  ", f, INT64_C(1666009103123456));
    expect_us("-14182940", f, INT64_C(-14182940) * SEC);
    /* The same range as ISO text: years 1..9999. */
    expect_us("253402300799.999999", f, MAX_US);
    expect_us("-62135596800", f, MIN_US);
    const char *range[] = {"253402300800",
                           "-62135596801",
                           "90000000000000",
                           "9223372036854775807",
                           "99999999999999999999999999",
                           "-9223372036854775808",
                           "253402300799.9999995"};
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++)
        expect_rc(range[i], f, TSTAMP_RANGE);
    const char *syntax[] = {"-",     "+",   ".",    "-.",  "1e5",           "12a",
                            "1.2.3", "1 2", "0x10", "1,5", "1666009103,66", "++1",
                            "--1",   "nan"};
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++)
        expect_rc(syntax[i], f, TSTAMP_SYNTAX);
}

static void check_format(int64_t us, const char *want)
{
    char buf[32];
    size_t n = tstamp_format(us, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_format(void **state)
{
    (void)state;
    check_format(0, "1970-01-01T00:00:00Z");
    check_format(INT64_C(1666009103660000), "2022-10-17T12:18:23.66Z");
    check_format(INT64_C(1666009103000001), "2022-10-17T12:18:23.000001Z");
    check_format(INT64_C(1666009103100000), "2022-10-17T12:18:23.1Z");
    check_format(-1, "1969-12-31T23:59:59.999999Z");
    check_format(INT64_C(-14182940) * SEC, "1969-07-20T20:17:40Z");
    check_format(MIN_US, "0001-01-01T00:00:00Z");
    check_format(MAX_US, "9999-12-31T23:59:59.999999Z");
    check_format(INT64_C(951782400) * SEC, "2000-02-29T00:00:00Z");

    /* Truncation: the result says what was written, always NUL-terminated. */
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(tstamp_format(0, small, sizeof small), 7);
    assert_string_equal(small, "1970-01");
    char none = 'x';
    assert_int_equal(tstamp_format(0, &none, 0), 0);
    assert_int_equal(none, 'x');

    /* Extreme values (copybin gives INT64_MIN/MAX for -infinity/infinity) stay within 31
     * characters and are well defined. */
    char buf[32];
    size_t n = tstamp_format(INT64_MIN, buf, sizeof buf);
    assert_true(n <= 31 && n == strlen(buf));
    assert_string_equal(buf, "-290308-12-21T19:59:05.224192Z");
    n = tstamp_format(INT64_MAX, buf, sizeof buf);
    assert_true(n <= 31 && n == strlen(buf));
    assert_string_equal(buf, "294247-01-10T04:00:54.775807Z");
}

/* Random instants in years 1..9999, before and after 1970, survive format then parse. */
static void test_round_trip(void **state)
{
    (void)state;
    char buf[32];
    for (int iter = 0; iter < 300000; iter++) {
        int64_t us;
        switch (iter % 4) {
        case 0:
            us = MIN_US + (int64_t)(rng() % (uint64_t)(MAX_US - MIN_US + 1));
            break;
        case 1:
            us = (int64_t)(rng() % (INT64_C(200) * 365 * 86400 * SEC)) -
                 INT64_C(100) * 365 * 86400 * SEC;
            break;
        case 2:
            us = (int64_t)(rng() % INT64_C(2000000)) - 1000000;
            break; /* around the epoch */
        default:
            us = ((int64_t)(rng() % INT64_C(500000000000)) - 250000000000) * SEC;
            break;
        }
        if (us < MIN_US || us > MAX_US) continue;
        size_t n = tstamp_format(us, buf, sizeof buf);
        assert_true(n >= 20 && n <= 27);
        int64_t back = UNSET;
        int rc = tstamp_parse(buf, n, TSTAMP_ZONE_REQUIRED, &back);
        if (rc != TSTAMP_OK || back != us)
            fail_msg("%" PRId64 " -> '%s' -> rc %d, %" PRId64, us, buf, rc, back);
        /* Epoch seconds for the same instant. */
        char ep[48];
        int64_t s = us / SEC, f = us % SEC;
        if (f < 0) {
            f += SEC;
            s -= 1;
        }
        /* s + f/1e6 written as a signed decimal: negative values need the complement. */
        if (s < 0 && f > 0)
            snprintf(ep, sizeof ep, "-%" PRId64 ".%06" PRId64, -(s + 1), SEC - f);
        else
            snprintf(ep, sizeof ep, "%" PRId64 ".%06" PRId64, s, f);
        back = UNSET;
        rc = tstamp_parse(ep, strlen(ep), TSTAMP_EPOCH_OK, &back);
        if (rc != TSTAMP_OK || back != us)
            fail_msg("%" PRId64 " -> '%s' -> rc %d, %" PRId64, us, ep, rc, back);
    }
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(tstamp_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tstamp_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(tstamp_days_from_civil(1970, 3, 1), 59);
    assert_int_equal(tstamp_days_from_civil(2000, 1, 1), 10957);
    assert_int_equal(tstamp_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tstamp_days_from_civil(2022, 10, 17), 19282);
    assert_int_equal(tstamp_days_from_civil(1900, 3, 1), -25508);
    assert_int_equal(tstamp_days_from_civil(1600, 1, 1), -135140);
    assert_int_equal(tstamp_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(tstamp_days_from_civil(2400, 2, 29), 157113);
    assert_int_equal(tstamp_days_from_civil(9999, 12, 31), 2932896);
    /* The proleptic calendar continues below year 1; year 0 is a leap year (divisible by 400),
     * so the year from -1-03-01 to 0000-03-01 has 366 days. */
    assert_int_equal(tstamp_days_from_civil(0, 3, 1), -719468);
    assert_int_equal(tstamp_days_from_civil(0, 2, 29), -719469);
    assert_int_equal(tstamp_days_from_civil(-1, 3, 1), -719468 - 366);

    /* Walking every day of years 1..9999 in order: consecutive day numbers. */
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t want = -719162;
    for (int64_t y = 1; y <= 9999; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (unsigned m = 1; m <= 12; m++) {
            unsigned nd = mdays[m - 1] + (m == 2 && leap);
            for (unsigned d = 1; d <= nd; d++) {
                if (tstamp_days_from_civil(y, m, d) != want)
                    fail_msg("%" PRId64 "-%02u-%02u: %" PRId64 ", want %" PRId64, y, m, d,
                             tstamp_days_from_civil(y, m, d), want);
                want++;
            }
        }
    }
    assert_int_equal(want, 2932897);
}

static void test_day_of(void **state)
{
    (void)state;
    const int64_t D = TSTAMP_US_PER_DAY;
    assert_int_equal(tstamp_day_of(0), 0);
    assert_int_equal(tstamp_day_of(1), 0);
    assert_int_equal(tstamp_day_of(D - 1), 0);
    assert_int_equal(tstamp_day_of(D), 1);
    assert_int_equal(tstamp_day_of(-1), -1);
    assert_int_equal(tstamp_day_of(-D), -1);
    assert_int_equal(tstamp_day_of(-D - 1), -2);
    assert_int_equal(tstamp_day_of(-2 * D), -2);
    assert_int_equal(tstamp_day_of(INT64_C(1666009103660000)), 19282);
    assert_int_equal(tstamp_day_of(INT64_C(-14182940) * SEC), -165);
    assert_int_equal(tstamp_day_of(INT64_MIN), -106751992);
    assert_int_equal(tstamp_day_of(INT64_MAX), 106751991);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_forms),        cmocka_unit_test(test_iso_fraction_rounding),
        cmocka_unit_test(test_iso_range_errors), cmocka_unit_test(test_iso_syntax_errors),
        cmocka_unit_test(test_epoch_seconds),    cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_day_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
