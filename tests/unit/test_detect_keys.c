/* Unit tests for detect_keys: a key's block is created once and found again, every key
 * survives the table's growth, and detect_key_step counts points, notes where a batch began
 * (batch_n on the first touch after the holder clears dirty) and reports episodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "detect_keys.h"

static void test_get_find_and_growth(void **state)
{
    (void)state;
    detect_cfg c;
    detect_cfg_default(&c);
    detect_keys m;
    detect_keys_init(&m, &c, 3);
    assert_null(detect_keys_find(&m, 7));
    detect_key *k = detect_keys_get(&m, 7);
    assert_int_equal(k->key, 7);
    assert_int_equal(k->st.nch, 3);
    assert_int_equal(k->n, 0);
    assert_ptr_equal(detect_keys_get(&m, 7), k);
    for (int64_t i = 0; i < 1000; i++) detect_keys_get(&m, i * 1000003 - 500000000);
    assert_int_equal(m.count, 1001);
    assert_ptr_equal(detect_keys_find(&m, 7), k); /* the block did not move */
    for (int64_t i = 0; i < 1000; i++) {
        detect_key *f = detect_keys_find(&m, i * 1000003 - 500000000);
        assert_non_null(f);
        assert_int_equal(f->key, i * 1000003 - 500000000);
    }
    assert_null(detect_keys_find(&m, 8));
    detect_keys_free(&m);
    assert_int_equal(m.count, 0);
    assert_null(detect_keys_find(&m, 7));
}

static int episodes_seen;

static void on_episode(void *arg, const detect_episode *e, detect_episode_event ev)
{
    (void)arg, (void)e, (void)ev;
    episodes_seen++;
}

static void test_step_counts_and_batches(void **state)
{
    (void)state;
    detect_cfg c;
    detect_cfg_default(&c);
    detect_keys m;
    detect_keys_init(&m, &c, 1);
    detect_key *k = detect_keys_get(&m, 1);
    detect_result r;
    for (int i = 0; i < 5; i++) detect_key_step(k, &c, 10, (int64_t)i * 1000000, &(double){1}, &r, on_episode, NULL);
    assert_int_equal(k->n, 5);
    assert_true(k->dirty);
    assert_int_equal(k->batch_n, 0);
    k->dirty = 0; /* the holder wrote the batch */
    detect_key_step(k, &c, 10, 5000000, &(double){1}, &r, on_episode, NULL);
    assert_int_equal(k->batch_n, 5);
    assert_int_equal(k->n, 6);
    assert_int_equal(k->st.n, 6); /* the detectors saw every point */
    detect_keys_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_find_and_growth),
        cmocka_unit_test(test_step_counts_and_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
