/* Unit tests of dw_agg: the bins at their edges, exact sums, merge-order independence (any
 * split of the readings in any order gives the same cells), and the binary encoding read back
 * (what the stage writes and reads). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "copybin.h"
#include "dw_agg.h"
#include "pgarray.h"
#include "rng.h"
#include "seed.h"

static void test_bin_edges(void **state)
{
    (void)state;
    assert_int_equal(dw_agg_bin(0.0), 0);
    assert_int_equal(dw_agg_bin(-0.0), 0);
    assert_int_equal(dw_agg_bin(1e-3), 1);
    assert_int_equal(dw_agg_bin(-1e-3), -1);
    assert_int_equal(dw_agg_bin(1e-9), 1);
    assert_int_equal(dw_agg_bin(-4.9e-324), -1);
    assert_int_equal(dw_agg_bin(0.99e-3), 1);
    /* 1e-3 * 1.02 starts bin 2 (within rounding of the logarithms). */
    assert_int_equal(dw_agg_bin(1e-3 * 1.0201), 2);
    assert_int_equal(dw_agg_bin(1e-3 * 1.0199), 1);
    assert_int_equal(dw_agg_bin(-1e-3 * 1.0201), -2);
    assert_int_equal(dw_agg_bin(1.0), 1 + (int)floor(log(1000.0) / log(1.02)));
    assert_int_equal(dw_agg_bin(1e300), DW_AGG_BIN_MAX);
    assert_int_equal(dw_agg_bin(-1e300), -DW_AGG_BIN_MAX);
    assert_int_equal(dw_agg_bin(1.7e308), DW_AGG_BIN_MAX);
    /* The last bin begins where 1 + floor(...) reaches 1000: 1e-3 * 1.02^999. */
    double edge = 1e-3 * pow(1.02, 999);
    assert_int_equal(dw_agg_bin(edge * 1.001), DW_AGG_BIN_MAX);
    assert_int_equal(dw_agg_bin(edge / 1.001), DW_AGG_BIN_MAX - 1);
    /* Monotone in |v|, symmetric. */
    int last = 0;
    for (double v = 1e-4; v < 1e6; v *= 1.003) {
        int b = dw_agg_bin(v);
        assert_true(b >= last);
        assert_int_equal(dw_agg_bin(-v), -b);
        last = b;
    }
}

static void test_scaled(void **state)
{
    (void)state;
    assert_int_equal(dw_agg_scaled(1.5e-6), 2);   /* half to even */
    assert_int_equal(dw_agg_scaled(2.5e-6), 2);
    assert_int_equal(dw_agg_scaled(-2.5e-6), -2);
    assert_int_equal(dw_agg_scaled(12.345678), 12345678);
    assert_int_equal(dw_agg_scaled(1e300), DW_AGG_SCALED_MAX);
    assert_int_equal(dw_agg_scaled(-1e300), -DW_AGG_SCALED_MAX);
    char t[48];
    dw_agg_i128_text(-((dw_agg_i128)1 << 100), t);
    assert_string_equal(t, "-1267650600228229401496703205376");
    dw_agg_i128_text(0, t);
    assert_string_equal(t, "0");
}

/* Exact sums, min, max and the histogram of a few readings worked by hand. */
/* A minute's running time: 60 s x active / rows in µs, half up, as sql/016's generated column
 * computes it in bigint arithmetic. */
static void test_run_us(void **state)
{
    (void)state;
    assert_int_equal(dw_agg_run_us(0, 0), 0);
    assert_int_equal(dw_agg_run_us(60, 60), 60000000);
    assert_int_equal(dw_agg_run_us(60, 0), 0);
    assert_int_equal(dw_agg_run_us(3, 1), 20000000);
    assert_int_equal(dw_agg_run_us(7, 1), 8571429);  /* 8571428.57 */
    assert_int_equal(dw_agg_run_us(7, 3), 25714286); /* 25714285.71 */
    assert_int_equal(dw_agg_run_us(16, 1), 3750000);
    assert_int_equal(dw_agg_run_us(120000000, 1), 1); /* 0.5 rounds up */
    assert_int_equal(dw_agg_run_us(120000001, 1), 0);
}

static void test_exact(void **state)
{
    (void)state;
    dw_agg a;
    dw_agg_init(&a, DW_AGG_MINUTE_US);
    int64_t t0 = INT64_C(1767225600) * 1000000; /* 2026-01-01 */
    reading r[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) {
        r[i].robot_id = 7;
        r[i].ts_us = t0 + i * 1000000;
    }
    r[0].axis[0] = 0.1;
    r[1].axis[0] = 0.1;
    r[2].axis[0] = -3.000001;
    /* r[3]: every axis 0 (idle). A huge value on axis 2. */
    r[1].axis[1] = 4e11;
    dw_agg_add(&a, r, 4);
    assert_int_equal(a.n, 1);
    dw_agg_cell *c = dw_agg_find(&a, 7, t0);
    assert_non_null(c);
    assert_int_equal(c->rows, 4);
    assert_int_equal(c->active, 3);
    assert_int_equal(c->ax[0].n, 3);
    assert_true(c->ax[0].s == 100000 + 100000 - 3000001);
    assert_true(c->ax[0].q == (dw_agg_u128)2 * 100000 * 100000 + (dw_agg_u128)3000001 * 3000001);
    assert_true(c->ax[0].mn == -3.000001 && c->ax[0].mx == 0.1);
    assert_int_equal(c->ax[0].hlen, 3); /* bins -k, 0 (twice), +j (twice) */
    assert_int_equal(c->ax[0].h[0], dw_agg_bin(-3.000001));
    assert_int_equal(c->ax[0].h[1], 1);
    assert_int_equal(c->ax[0].h[2], 0);
    assert_int_equal(c->ax[0].h[3], 1);
    assert_int_equal(c->ax[0].h[4], dw_agg_bin(0.1));
    assert_int_equal(c->ax[0].h[5], 2);
    /* 4e11 A scaled: 4e17, beyond the clamp. */
    assert_true(c->ax[1].s == DW_AGG_SCALED_MAX);
    assert_true(c->ax[1].q == (dw_agg_u128)DW_AGG_SCALED_MAX * DW_AGG_SCALED_MAX);
    assert_true(c->ax[1].mx == 4e11 && c->ax[1].mn == 0);
    assert_int_equal(c->ax[2].n, 0);
    assert_int_equal(c->ax[2].hlen, 1);
    assert_int_equal(c->ax[2].h[1], 4);
    /* A reading of the next minute and one before 1970 fall into their own cells. */
    r[0].ts_us = t0 + 60 * 1000000;
    r[1].ts_us = -1;
    dw_agg_add(&a, r, 2);
    assert_int_equal(a.n, 3);
    assert_non_null(dw_agg_find(&a, 7, t0 + 60 * 1000000));
    assert_non_null(dw_agg_find(&a, 7, -DW_AGG_MINUTE_US));
    dw_agg_free(&a);
}

static reading random_reading(rng *g, int64_t t0)
{
    reading r;
    r.robot_id = 1 + (int32_t)rng_below(g, 5);
    r.ts_us = t0 + (int64_t)rng_below(g, (uint64_t)3 * DW_AGG_DAY_US / 2);
    for (int a = 0; a < READING_AXES; a++) {
        uint64_t k = rng_below(g, 10);
        r.axis[a] = k < 3 ? 0 : k < 8 ? rng_range(g, -20, 20) : (k == 8 ? rng_range(g, -1e-3, 1e-3) : rng_range(g, -1e7, 1e7));
    }
    return r;
}

static int agg_equal(const dw_agg *x, const dw_agg *y)
{
    if (x->n != y->n) return 0;
    for (size_t i = 0; i < x->cap; i++) {
        const dw_agg_cell *c = &x->cells[i];
        if (!c->used) continue;
        const dw_agg_cell *d = dw_agg_find(y, c->robot, c->t);
        if (!d || !dw_agg_cell_equal(c, d)) return 0;
    }
    return 1;
}

/* Readings split into random parts, each aggregated on its own (after a reset, as the stage
 * does per commit) and merged in a random order, give the cells of one pass; so do hours and
 * days merged from minutes against hours and days aggregated directly. */
static void test_merge_order(void **state)
{
    (void)state;
    rng g;
    rng_seed(&g, test_seed(), 1);
    int64_t t0 = INT64_C(1767225600) * 1000000 - DW_AGG_DAY_US / 3;
    for (int round = 0; round < 20; round++) {
        size_t n = 1 + rng_below(&g, 20000);
        reading *rows = malloc(n * sizeof *rows);
        for (size_t i = 0; i < n; i++) rows[i] = random_reading(&g, t0);
        dw_agg whole, merged, part, hours, days, hours2, days2;
        dw_agg_init(&whole, DW_AGG_MINUTE_US);
        dw_agg_init(&merged, DW_AGG_MINUTE_US);
        dw_agg_init(&part, DW_AGG_MINUTE_US);
        dw_agg_init(&hours, DW_AGG_HOUR_US);
        dw_agg_init(&days, DW_AGG_DAY_US);
        dw_agg_init(&hours2, DW_AGG_HOUR_US);
        dw_agg_init(&days2, DW_AGG_DAY_US);
        dw_agg_add(&whole, rows, n);
        dw_agg_add(&hours2, rows, n);
        dw_agg_add(&days2, rows, n);
        /* Random cuts, parts taken in a random order. */
        size_t parts = 1 + rng_below(&g, 12);
        size_t *cut = malloc((parts + 1) * sizeof *cut);
        cut[0] = 0;
        cut[parts] = n;
        for (size_t k = 1; k < parts; k++) cut[k] = rng_below(&g, n + 1);
        for (size_t k = 1; k < parts; k++)
            for (size_t j = k; j > 1 && cut[j - 1] > cut[j]; j--) {
                size_t x = cut[j];
                cut[j] = cut[j - 1];
                cut[j - 1] = x;
            }
        size_t *order = malloc(parts * sizeof *order);
        for (size_t k = 0; k < parts; k++) order[k] = k;
        for (size_t k = parts; k > 1; k--) {
            size_t j = rng_below(&g, k), x = order[k - 1];
            order[k - 1] = order[j];
            order[j] = x;
        }
        for (size_t k = 0; k < parts; k++) {
            size_t p = order[k];
            dw_agg_reset(&part);
            dw_agg_add(&part, rows + cut[p], cut[p + 1] - cut[p]);
            dw_agg_merge_into(&merged, &part);
            dw_agg_merge_into(&hours, &part);
        }
        dw_agg_merge_into(&days, &hours);
        assert_true(agg_equal(&whole, &merged));
        assert_true(agg_equal(&hours, &hours2));
        assert_true(agg_equal(&days, &days2));
        /* Counts add up. */
        int64_t total = 0;
        for (size_t i = 0; i < days.cap; i++)
            if (days.cells[i].used) {
                int64_t hs = 0;
                for (uint32_t j = 0; j < days.cells[i].ax[3].hlen; j++) hs += days.cells[i].ax[3].h[2 * j + 1];
                assert_int_equal(hs, days.cells[i].rows);
                total += days.cells[i].rows;
            }
        assert_int_equal(total, (int64_t)n);
        free(cut);
        free(order);
        free(rows);
        dw_agg_free(&whole);
        dw_agg_free(&merged);
        dw_agg_free(&part);
        dw_agg_free(&hours);
        dw_agg_free(&days);
        dw_agg_free(&hours2);
        dw_agg_free(&days2);
    }
}

/* Splits a binary array parameter into its elements (vals, lens), as a result row would give
 * them. */
static size_t split_array(const char *v, int len, const char **vals, int *lens, size_t max)
{
    const uint8_t *p = (const uint8_t *)v;
    assert_true(len >= 12);
    if (copybin_get32(p) == 0) return 0;
    size_t n = copybin_get32(p + 12);
    assert_true(n <= max);
    const uint8_t *e = p + 20;
    for (size_t i = 0; i < n; i++) {
        lens[i] = (int)copybin_get32(e);
        vals[i] = (const char *)e + 4;
        e += 4 + lens[i];
    }
    assert_ptr_equal(e, p + len);
    return n;
}

/* The parameters, decoded as a row of the table would be, give back the cells. */
static void test_binary_round_trip(void **state)
{
    (void)state;
    rng g;
    rng_seed(&g, 42, 2);
    int64_t t0 = INT64_C(1767225600) * 1000000;
    reading rows[3000];
    for (size_t i = 0; i < 3000; i++) rows[i] = random_reading(&g, t0);
    rows[0].axis[0] = -1e300; /* s and q at their clamp, negative */
    for (int per = 0; per < 3; per++) {
        int64_t period = per == 0 ? DW_AGG_MINUTE_US : per == 1 ? DW_AGG_HOUR_US : DW_AGG_DAY_US;
        int as_date = per == 2;
        dw_agg a, back;
        dw_agg_init(&a, period);
        dw_agg_init(&back, period);
        dw_agg_add(&a, rows, 3000);
        for (size_t i = 0; i < a.cap; i++) /* run_us travels too (any non-negative value) */
            if (a.cells[i].used) a.cells[i].run_us = (int64_t)rng_below(&g, UINT64_C(1) << 40);
        dw_agg_params p;
        memset(&p, 0, sizeof p);
        dw_agg_params_reset(&p, as_date);
        for (size_t i = 0; i < a.cap; i++)
            if (a.cells[i].used) dw_agg_params_add(&p, &a.cells[i]);
        const char *values[DW_AGG_NPARAMS];
        int lengths[DW_AGG_NPARAMS];
        dw_agg_params_end(&p, values, lengths);
        size_t ncell = a.n;
        /* Element k of each array: the columns of cell k. */
        const char **ev[DW_AGG_NPARAMS];
        int *el[DW_AGG_NPARAMS];
        for (int i = 0; i < DW_AGG_NPARAMS; i++) {
            size_t max = (size_t)lengths[i] / 8 + 1; /* elements take 8 bytes at least */
            ev[i] = malloc(max * sizeof *ev[i]);
            el[i] = malloc(max * sizeof *el[i]);
            size_t got = split_array(values[i], lengths[i], ev[i], el[i], max);
            int axis_part = i >= 4 && i < DW_AGG_NPARAMS - 1 ? (i - 4) % 7 : -1;
            if (axis_part == 6) assert_int_equal(got, ncell + 1);
            else if (axis_part != 5) assert_int_equal(got, ncell);
        }
        for (size_t k = 0; k < ncell; k++) {
            const char *f[DW_AGG_NFIELDS];
            int fl[DW_AGG_NFIELDS];
            buf h[READING_AXES];
            memset(h, 0, sizeof h);
            for (int i = 0; i < 4; i++) {
                f[i] = ev[i][k];
                fl[i] = el[i][k];
            }
            for (int x = 0; x < READING_AXES; x++) {
                for (int j = 0; j < 5; j++) {
                    f[4 + 6 * x + j] = ev[4 + 7 * x + j][k];
                    fl[4 + 6 * x + j] = el[4 + 7 * x + j][k];
                }
                /* The histogram slice h[ho[k]+1 : ho[k+1]] as an int8[] of its own. */
                int32_t lo = (int32_t)copybin_get32((const uint8_t *)ev[4 + 7 * x + 6][k]);
                int32_t hi = (int32_t)copybin_get32((const uint8_t *)ev[4 + 7 * x + 6][k + 1]);
                pgarray_bin_header(&h[x], 20, (size_t)(hi - lo));
                for (int32_t j = lo; j < hi; j++)
                    buf_append(&h[x], ev[4 + 7 * x + 5][j] - 4, 12);
                f[4 + 6 * x + 5] = (const char *)h[x].data;
                fl[4 + 6 * x + 5] = (int)h[x].len;
            }
            f[DW_AGG_NFIELDS - 1] = ev[DW_AGG_NPARAMS - 1][k];
            fl[DW_AGG_NFIELDS - 1] = el[DW_AGG_NPARAMS - 1][k];
            assert_int_equal(dw_agg_read_row(&back, as_date, f, fl), 0);
            for (int x = 0; x < READING_AXES; x++) buf_free(&h[x]);
        }
        assert_true(agg_equal(&a, &back));
        for (int i = 0; i < DW_AGG_NPARAMS; i++) {
            free(ev[i]);
            free(el[i]);
        }
        /* A malformed field is refused. */
        const char *f[DW_AGG_NFIELDS] = {0};
        int fl[DW_AGG_NFIELDS] = {0};
        fl[0] = -1;
        assert_int_equal(dw_agg_read_row(&back, as_date, f, fl), -1);
        dw_agg_params_free(&p);
        dw_agg_free(&a);
        dw_agg_free(&back);
    }
}

/* A warm dw_agg keeps its buffers across resets. */
static void test_reset_keeps_memory(void **state)
{
    (void)state;
    rng g;
    rng_seed(&g, 7, 3);
    dw_agg a;
    dw_agg_init(&a, DW_AGG_MINUTE_US);
    reading rows[2000];
    int64_t t0 = INT64_C(1767225600) * 1000000;
    for (size_t i = 0; i < 2000; i++) rows[i] = random_reading(&g, t0);
    dw_agg_add(&a, rows, 2000);
    size_t cap = a.cap;
    dw_agg_reset(&a);
    assert_int_equal(a.n, 0);
    dw_agg_add(&a, rows, 2000);
    assert_int_equal(a.cap, cap);
    dw_agg_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bin_edges),
        cmocka_unit_test(test_scaled),
        cmocka_unit_test(test_run_us),
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_merge_order),
        cmocka_unit_test(test_binary_round_trip),
        cmocka_unit_test(test_reset_keeps_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
