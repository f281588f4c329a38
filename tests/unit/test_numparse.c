/* Unit tests for numparse: hand-computed values, every error code, and numparse_double checked
 * bit for bit against strtod on generated decimal strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numparse.h"

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rng(void)
{
    /* xorshift64*: fixed seed, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(rng() % n);
}

static int dbl(const char *s, double *out)
{
    return numparse_double(s, strlen(s), out);
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Parses s with both numparse_double and strtod and requires identical bits. */
static void check_same_as_strtod(const char *s)
{
    char *end;
    double want = strtod(s, &end);
    if (*end != '\0') fail_msg("strtod did not consume '%s'", s);
    double got = -12345.0;
    int rc = dbl(s, &got);
    if (!isfinite(want)) {
        if (rc != NUMPARSE_NONFINITE) fail_msg("'%s': rc %d, want NONFINITE", s, rc);
        return;
    }
    if (rc != NUMPARSE_OK) fail_msg("'%s': rc %d", s, rc);
    if (bits(got) != bits(want))
        fail_msg("'%s': got %.17g (%016" PRIx64 "), strtod %.17g (%016" PRIx64 ")", s, got,
                 bits(got), want, bits(want));
}

static void test_double_hand_values(void **state)
{
    (void)state;
    double d;
    assert_int_equal(dbl("12", &d), NUMPARSE_OK);
    assert_true(d == 12.0);
    assert_int_equal(dbl("-0.5", &d), NUMPARSE_OK);
    assert_true(d == -0.5);
    assert_int_equal(dbl(".5", &d), NUMPARSE_OK);
    assert_true(d == 0.5);
    assert_int_equal(dbl("5.", &d), NUMPARSE_OK);
    assert_true(d == 5.0);
    assert_int_equal(dbl("1e-3", &d), NUMPARSE_OK);
    assert_true(d == 0.001);
    assert_int_equal(dbl("1E3", &d), NUMPARSE_OK);
    assert_true(d == 1000.0);
    assert_int_equal(dbl("+2.5e+2", &d), NUMPARSE_OK);
    assert_true(d == 250.0);
    assert_int_equal(dbl(" \t42 \t", &d), NUMPARSE_OK);
    assert_true(d == 42.0);
    assert_int_equal(dbl("0007.250", &d), NUMPARSE_OK);
    assert_true(d == 7.25);
    assert_int_equal(dbl("-0", &d), NUMPARSE_OK);
    assert_true(d == 0.0 && signbit(d));
    assert_int_equal(dbl("0.0", &d), NUMPARSE_OK);
    assert_true(d == 0.0 && !signbit(d));
    /* 2^53 + 1 is not representable: rounds to even, 2^53. */
    assert_int_equal(dbl("9007199254740993", &d), NUMPARSE_OK);
    assert_true(d == 9007199254740992.0);
    assert_int_equal(dbl("1.7976931348623157e308", &d), NUMPARSE_OK);
    assert_true(d == DBL_MAX);
    assert_int_equal(dbl("4.9406564584124654e-324", &d), NUMPARSE_OK);
    assert_true(d == 4.9406564584124654e-324 && d > 0);
    assert_int_equal(dbl("2.2250738585072014e-308", &d), NUMPARSE_OK);
    assert_true(d == DBL_MIN);
    /* Underflow to zero is a finite result, as with strtod. */
    assert_int_equal(dbl("1e-400", &d), NUMPARSE_OK);
    assert_true(d == 0.0);
    /* 2^53 + 1 is halfway between two doubles; a 1 in the 33rd digit tips it up to 2^53 + 2. */
    assert_int_equal(dbl("9007199254740993.0000000000000001", &d), NUMPARSE_OK);
    assert_true(d == 9007199254740994.0);
    assert_int_equal(dbl("9007199254740993.0000000000000000", &d), NUMPARSE_OK);
    assert_true(d == 9007199254740992.0);
}

static void test_double_errors(void **state)
{
    (void)state;
    double d = 99.0;
    assert_int_equal(dbl("", &d), NUMPARSE_EMPTY);
    assert_int_equal(dbl("  \t ", &d), NUMPARSE_EMPTY);
    assert_int_equal(numparse_double(NULL, 0, &d), NUMPARSE_EMPTY);
    const char *syntax[] = {"abc",  "0x10", "1,5",   "12abc",  "1e",    "1e+",   "1e-", "--1",
                            "+",    "-",    ".",     "e5",     "1 2",   "1.2.3", "+-1", "1e5.0",
                            "1e 5", "١",    "1_000", "nan(1)", "0x1p3", "inf1",  "1d",  "1f"};
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
        int rc = dbl(syntax[i], &d);
        if (rc != NUMPARSE_SYNTAX) fail_msg("'%s': rc %d, want SYNTAX", syntax[i], rc);
    }
    const char *nonfinite[] = {"nan",
                               "NaN",
                               "-nan",
                               "inf",
                               "-INF",
                               "+Infinity",
                               "infinity",
                               "1e999",
                               "-1e400",
                               "1.8e308",
                               "1797693134862315808e290",
                               " nan "};
    for (size_t i = 0; i < sizeof nonfinite / sizeof nonfinite[0]; i++) {
        int rc = dbl(nonfinite[i], &d);
        if (rc != NUMPARSE_NONFINITE) fail_msg("'%s': rc %d, want NONFINITE", nonfinite[i], rc);
    }
    assert_true(d == 99.0); /* untouched by every failure */
    assert_string_equal(numparse_strerror(NUMPARSE_SYNTAX), "not a number");
    assert_string_equal(numparse_strerror(NUMPARSE_NONFINITE), "not a finite number");
    assert_string_equal(numparse_strerror(NUMPARSE_EMPTY), "empty");
    assert_string_equal(numparse_strerror(NUMPARSE_RANGE), "out of range");
    assert_string_equal(numparse_strerror(NUMPARSE_OK), "ok");
    assert_string_equal(numparse_strerror(-99), "invalid");
}

static void test_double_respects_len(void **state)
{
    (void)state;
    double d;
    /* Only the first len bytes count; what follows must not be looked at. */
    assert_int_equal(numparse_double("123456", 3, &d), NUMPARSE_OK);
    assert_true(d == 123.0);
    assert_int_equal(numparse_double("1e5x", 3, &d), NUMPARSE_OK);
    assert_true(d == 100000.0);
    assert_int_equal(numparse_double("1e", 2, &d), NUMPARSE_SYNTAX);
    assert_int_equal(numparse_double("2.5e-1,junk", 6, &d), NUMPARSE_OK);
    assert_true(d == 0.25);
    /* Exactly len bytes on the heap, so ASan catches any overread. */
    const char *texts[] = {"1", "-", "1e", "1e+", "1.", ".", "12345678901234567890123", "nan"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i]);
        char *p = malloc(n);
        memcpy(p, texts[i], n);
        (void)numparse_double(p, n, &d);
        int64_t v;
        (void)numparse_int64(p, n, INT64_MIN, INT64_MAX, &v);
        free(p);
    }
    /* Longer than the fallback's stack copy. */
    char big[2000];
    memset(big, '0', sizeof big);
    big[0] = '1';
    big[1] = '.';
    assert_int_equal(numparse_double(big, sizeof big, &d), NUMPARSE_OK);
    assert_true(d == 1.0);
    big[sizeof big - 1] = '3';
    assert_int_equal(numparse_double(big, sizeof big, &d), NUMPARSE_OK);
    assert_true(d == 1.0);
}

static void test_double_fixed_cases_vs_strtod(void **state)
{
    (void)state;
    const char *cases[] = {
        "0",
        "1",
        "-1",
        "0.1",
        "0.2",
        "0.3",
        "1.1",
        "3.14159265358979323846",
        "123456789012345678",
        "1234567890123456789",
        "12345678901234567890",
        "9007199254740992",
        "9007199254740993",
        "9007199254740994",
        "9007199254740995",
        "18014398509481985",
        "1e22",
        "1e23",
        "9e22",
        "123456789e-22",
        "1e-22",
        "1e-23",
        "4503599627370497.5",
        "2.2250738585072011e-308",
        "2.2250738585072012e-308",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "0.000000000000000000000000000001",
        "100000000000000000000000",
        "7.038531e-26",
        "89255.0e-22",
        "1.00000005960464477539062499",
        "8.98846567431158e307",
        "5e-324",
        "1e-324",
        "0.99999999999999999",
        ".1e1",
        "1.e1",
        "00000000000000000000000000000000000001",
        "0.0000000000000000000000000000000000001e37",
        "1"
        "00000000000000000000"
        "e-20",
        "179769313486231580793728971405303415079934132710037826"
        "93",
        "-0e999",
        "0e-999999",
        "1e-99999999999",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_same_as_strtod(cases[i]);
}

/* Random decimal strings: sign, leading zeros, integer and fraction digits of many lengths,
 * and exponents across the whole double range and beyond. */
static void test_double_random_vs_strtod(void **state)
{
    (void)state;
    char s[200];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0;
        unsigned sign = rnd(3);
        if (sign == 1) s[n++] = '-';
        if (sign == 2) s[n++] = '+';
        if (rnd(8) == 0)
            for (unsigned k = rnd(5); k > 0; k--)
                s[n++] = '0';
        unsigned ni = rnd(4) == 0 ? rnd(40) : rnd(20);
        unsigned nf = rnd(3) == 0 ? 0 : (rnd(4) == 0 ? rnd(40) : rnd(20));
        if (ni + nf == 0) ni = 1;
        for (unsigned k = 0; k < ni; k++)
            s[n++] = (char)('0' + rnd(10));
        if (nf > 0 || rnd(10) == 0) {
            s[n++] = '.';
            for (unsigned k = 0; k < nf; k++)
                s[n++] = (char)('0' + rnd(10));
            if (ni == 0 && nf == 0) s[n++] = '0';
        }
        if (rnd(2)) {
            s[n++] = rnd(2) ? 'e' : 'E';
            int e;
            switch (rnd(4)) {
            case 0:
                e = (int)rnd(45) - 22;
                break; /* Clinger's fast-path range and edges */
            case 1:
                e = (int)rnd(700) - 350;
                break;
            case 2:
                e = (int)rnd(80) - 40;
                break;
            default:
                e = (int)rnd(2000) - 1000;
                break;
            }
            n += (size_t)snprintf(s + n, sizeof s - n, rnd(3) == 0 && e >= 0 ? "+%d" : "%d", e);
        }
        s[n] = '\0';
        check_same_as_strtod(s);
    }
}

/* Doubles printed at every precision parse back exactly as strtod does. */
static void test_double_printed_values(void **state)
{
    (void)state;
    char s[64];
    for (int iter = 0; iter < 50000; iter++) {
        uint64_t u = rng();
        double v;
        memcpy(&v, &u, sizeof v);
        if (!isfinite(v)) continue;
        int prec = 1 + (int)rnd(17);
        snprintf(s, sizeof s, rnd(2) ? "%.*e" : "%.*g", prec, v);
        check_same_as_strtod(s);
        snprintf(s, sizeof s, "%.17g", v);
        double got;
        assert_int_equal(dbl(s, &got), NUMPARSE_OK);
        assert_true(bits(got) == bits(v)); /* 17 digits identify every double */
        /* Values in a sensor's range, printed as %f. */
        double w = ((double)(int64_t)(rng() % 2000000) - 1000000.0) / (double)(1 + rnd(100000));
        snprintf(s, sizeof s, "%.*f", (int)rnd(10), w);
        check_same_as_strtod(s);
    }
}

static int64_t i64(const char *s, int64_t min, int64_t max, int *rc)
{
    int64_t v = -777;
    *rc = numparse_int64(s, strlen(s), min, max, &v);
    return v;
}

static void test_int64_values_and_errors(void **state)
{
    (void)state;
    int rc;
    assert_int_equal(i64("0", INT64_MIN, INT64_MAX, &rc), 0);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_int_equal(i64("-0", INT64_MIN, INT64_MAX, &rc), 0);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_int_equal(i64(" +17\t", INT64_MIN, INT64_MAX, &rc), 17);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_int_equal(i64("000000000000000000000000042", INT64_MIN, INT64_MAX, &rc), 42);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_true(i64("9223372036854775807", INT64_MIN, INT64_MAX, &rc) == INT64_MAX);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_true(i64("-9223372036854775808", INT64_MIN, INT64_MAX, &rc) == INT64_MIN);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_true(i64("-9223372036854775807", INT64_MIN, INT64_MAX, &rc) == -INT64_MAX);
    assert_int_equal(rc, NUMPARSE_OK);

    /* Out of int64, or out of [min, max]: *out untouched. */
    const char *range[] = {"9223372036854775808",  "-9223372036854775809",
                           "9223372036854775810",  "18446744073709551616",
                           "99999999999999999999", "100000000000000000000000000000"};
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        assert_int_equal(i64(range[i], INT64_MIN, INT64_MAX, &rc), -777);
        assert_int_equal(rc, NUMPARSE_RANGE);
    }
    assert_int_equal(i64("2147483647", 1, INT32_MAX, &rc), INT32_MAX);
    assert_int_equal(rc, NUMPARSE_OK);
    assert_int_equal(i64("1", 1, INT32_MAX, &rc), 1);
    assert_int_equal(rc, NUMPARSE_OK);
    i64("2147483648", 1, INT32_MAX, &rc);
    assert_int_equal(rc, NUMPARSE_RANGE);
    i64("0", 1, INT32_MAX, &rc);
    assert_int_equal(rc, NUMPARSE_RANGE);
    i64("-5", 1, INT32_MAX, &rc);
    assert_int_equal(rc, NUMPARSE_RANGE);
    i64("-5", -5, -5, &rc);
    assert_int_equal(rc, NUMPARSE_OK);
    /* Junk is a syntax error even where the digits before it overflow. */
    i64("99999999999999999999x", INT64_MIN, INT64_MAX, &rc);
    assert_int_equal(rc, NUMPARSE_SYNTAX);

    i64("", 0, 10, &rc);
    assert_int_equal(rc, NUMPARSE_EMPTY);
    i64("   ", 0, 10, &rc);
    assert_int_equal(rc, NUMPARSE_EMPTY);
    const char *syntax[] = {"-", "+", "1.0", "1e3", "0x1", "1 2", "--1", "+-1", "a", "1,000", "½"};
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
        assert_int_equal(i64(syntax[i], INT64_MIN, INT64_MAX, &rc), -777);
        if (rc != NUMPARSE_SYNTAX) fail_msg("'%s': rc %d, want SYNTAX", syntax[i], rc);
    }
    /* len is respected. */
    int64_t v;
    assert_int_equal(numparse_int64("12345", 2, 0, 100, &v), NUMPARSE_OK);
    assert_int_equal(v, 12);
}

/* Random int64 values printed and parsed back; random ranges checked against the value. */
static void test_int64_random(void **state)
{
    (void)state;
    char s[64];
    for (int iter = 0; iter < 100000; iter++) {
        int64_t x = (int64_t)rng();
        if (rnd(2)) x >>= rnd(63);
        snprintf(s, sizeof s, "%s%" PRId64, rnd(4) == 0 && x >= 0 ? "+" : "", x);
        int64_t lo = (int64_t)rng() >> rnd(63), hi = (int64_t)rng() >> rnd(63);
        if (lo > hi) {
            int64_t t = lo;
            lo = hi;
            hi = t;
        }
        int64_t v = 0;
        assert_int_equal(numparse_int64(s, strlen(s), INT64_MIN, INT64_MAX, &v), NUMPARSE_OK);
        assert_true(v == x);
        int rc = numparse_int64(s, strlen(s), lo, hi, &v);
        assert_int_equal(rc, x >= lo && x <= hi ? NUMPARSE_OK : NUMPARSE_RANGE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_hand_values),
        cmocka_unit_test(test_double_errors),
        cmocka_unit_test(test_double_respects_len),
        cmocka_unit_test(test_double_fixed_cases_vs_strtod),
        cmocka_unit_test(test_double_random_vs_strtod),
        cmocka_unit_test(test_double_printed_values),
        cmocka_unit_test(test_int64_values_and_errors),
        cmocka_unit_test(test_int64_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
