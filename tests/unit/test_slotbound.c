/* Unit tests of slotbound: how close a slot is to max_slot_wal_keep_size, and the warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slotbound.h"

#define MB (INT64_C(1024) * 1024)

static void test_levels(void **state)
{
    (void)state;
    char msg[512];
    double left;
    /* Unbounded: nothing to say. */
    slotbound_slot s = {"reserved", 0, 0, -1};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_OK);
    assert_true(left < 0);
    assert_string_equal(msg, "");
    /* Plenty left. */
    s = (slotbound_slot){"reserved", 1, 600 * MB, 1024 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_OK);
    assert_true(left > 0.58 && left < 0.59);
    assert_string_equal(msg, "");
    /* Just at 20 % is still fine; below it is near. */
    s = (slotbound_slot){"reserved", 1, 200 * MB, 1000 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_OK);
    s.safe_wal_bytes--;
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_NEAR);
    s = (slotbound_slot){"extended", 1, 100 * MB, 1024 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_NEAR);
    assert_non_null(strstr(msg, "near max_slot_wal_keep_size: 100.0 MB of 1024.0 MB (10 %)"));
    /* More than the bound (segment rounding) counts as all of it. */
    s = (slotbound_slot){"reserved", 1, 30 * MB, 16 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_OK);
    assert_true(left == 1);
    /* Past the bound: negative safe size, or unreserved. */
    s = (slotbound_slot){"extended", 1, -5 * MB, 1024 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_UNRESERVED);
    assert_true(left == 0);
    assert_non_null(strstr(msg, "the next checkpoint invalidates it"));
    s = (slotbound_slot){"unreserved", 1, 3 * MB, 1024 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_UNRESERVED);
    /* Lost (safe_wal_size is NULL then) and missing. */
    s = (slotbound_slot){"lost", 0, 0, 1024 * MB};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_LOST);
    assert_non_null(strstr(msg, "invalidated (wal_status lost"));
    s = (slotbound_slot){NULL, 0, 0, -1};
    assert_int_equal(slotbound_assess(&s, &left, msg, sizeof msg), SLOTBOUND_MISSING);
    assert_non_null(strstr(msg, "missing"));
    /* A short buffer truncates. */
    char tiny[8];
    s = (slotbound_slot){"lost", 0, 0, 1024 * MB};
    assert_int_equal(slotbound_assess(&s, &left, tiny, sizeof tiny), SLOTBOUND_LOST);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
