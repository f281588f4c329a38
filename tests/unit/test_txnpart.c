/* Unit tests of txnpart: the applied part of a transaction, per robot — rows in time order
 * (nothing to skip), in reverse order, and shuffled into random parts (checked row by row
 * against the prefix applied). The shuffles print their seed; PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rng.h"
#include "unit/seed.h"
#include "txnpart.h"
#include "util.h"

/* The transaction's rows in the table that the lookup of `ranges` returns. */
static txnpart_key *lookup(const reading *all, size_t n, const txnpart_range *ranges, size_t nr,
                           size_t *nfound)
{
    txnpart_key *f = xmalloc((n ? n : 1) * sizeof *f);
    *nfound = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nr; j++)
            if (ranges[j].robot == all[i].robot_id && all[i].ts_us <= ranges[j].hi &&
                (!ranges[j].has_lo || all[i].ts_us > ranges[j].lo))
                f[(*nfound)++] = (txnpart_key){all[i].robot_id, all[i].ts_us};
    return f;
}

/* Applies all[from..to) as one part. */
static void apply_part(txnpart *p, const reading *all, size_t n, size_t from, size_t to)
{
    txnpart_range *ranges = NULL;
    size_t nr = txnpart_ranges(p, all + from, to - from, &ranges), nfound;
    txnpart_key *found = lookup(all, n, ranges, nr, &nfound);
    txnpart_advance(p, all + from, to - from, found, nfound);
    free(found);
    free(ranges);
}

static void check_prefix(const txnpart *p, const reading *all, size_t n, size_t applied)
{
    for (size_t i = 0; i < n; i++)
        if (txnpart_applied(p, all[i].robot_id, all[i].ts_us) != (i < applied))
            fail_msg("row %zu (robot %d, ts %lld): applied %d, expected %d", i, all[i].robot_id,
                     (long long)all[i].ts_us, txnpart_applied(p, all[i].robot_id, all[i].ts_us),
                     i < applied);
}

static void test_in_time_order(void **state)
{
    (void)state;
    /* Three robots interleaved, each in time order: what the simulator writes. */
    reading all[300];
    for (int i = 0; i < 300; i++)
        all[i] = (reading){.robot_id = 1 + i % 3, .ts_us = 1000 * (i / 3)};
    txnpart p = {0};
    apply_part(&p, all, 300, 0, 100);
    assert_int_equal(p.nrobots, 3);
    assert_int_equal(p.nskip, 0);
    check_prefix(&p, all, 300, 100);
    /* The second part: its ranges start after each robot's last. */
    txnpart_range *ranges = NULL;
    size_t nr = txnpart_ranges(&p, all + 100, 100, &ranges);
    assert_int_equal(nr, 3);
    assert_true(ranges[0].has_lo && ranges[0].lo == p.robots[0].last);
    free(ranges);
    apply_part(&p, all, 300, 100, 200);
    assert_int_equal(p.nskip, 0);
    check_prefix(&p, all, 300, 200);
    txnpart_free(&p);
}

static void test_reverse_order(void **state)
{
    (void)state;
    reading all[50];
    for (int i = 0; i < 50; i++)
        all[i] = (reading){.robot_id = 7, .ts_us = 1000 * (50 - i)};
    txnpart p = {0};
    apply_part(&p, all, 50, 0, 10);
    /* The newest row came first: the 40 older ones not yet applied are listed. */
    assert_int_equal(p.nskip, 40);
    check_prefix(&p, all, 50, 10);
    apply_part(&p, all, 50, 10, 45);
    assert_int_equal(p.nskip, 5);
    check_prefix(&p, all, 50, 45);
    /* Read back from a checkpoint (any order), the same answers. */
    txnpart q = {0};
    for (size_t i = p.nskip; i-- > 0;)
        txnpart_put_skip(&q, p.skip[i].robot, p.skip[i].ts);
    txnpart_put_robot(&q, 7, p.robots[0].last);
    txnpart_sort(&q);
    check_prefix(&q, all, 50, 45);
    txnpart c = {0};
    txnpart_copy(&c, &q);
    check_prefix(&c, all, 50, 45);
    txnpart_clear(&c);
    check_prefix(&c, all, 50, 0);
    txnpart_free(&p);
    txnpart_free(&q);
    txnpart_free(&c);
}

static void test_shuffled_parts(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, test_seed(), 0);
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)rng_below(&r, 400);
        int robots = 1 + (int)rng_below(&r, 6);
        reading *all = xmalloc(n * sizeof *all);
        for (size_t i = 0; i < n; i++)
            all[i] = (reading){.robot_id = 1 + (int32_t)(i % (size_t)robots),
                               .ts_us = (int64_t)(i / (size_t)robots) * 10};
        /* Mostly shuffled, sometimes only locally (late rows). */
        int local = rng_below(&r, 2) == 0;
        for (size_t i = n; i-- > 1;) {
            size_t j =
                local ? (i >= 3 ? i - (size_t)rng_below(&r, 4) : i) : (size_t)rng_below(&r, i + 1);
            reading t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        txnpart p = {0};
        size_t done = 0;
        while (done < n) {
            size_t part = 1 + (size_t)rng_below(&r, 60);
            if (part > n - done) part = n - done;
            apply_part(&p, all, n, done, done + part);
            done += part;
            check_prefix(&p, all, n, done);
        }
        assert_int_equal(p.nskip, 0); /* complete: nothing waits */
        txnpart_free(&p);
        free(all);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_time_order),
        cmocka_unit_test(test_reverse_order),
        cmocka_unit_test(test_shuffled_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
