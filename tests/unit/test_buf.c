/* Unit tests for buf: growth, appends, printf, reset and free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_buf_empty_appends(void **state)
{
    (void)state;
    buf b = {0};
    buf_append(&b, "", 0);
    buf_puts(&b, "");
    assert_int_equal(b.len, 0);
    buf_puts(&b, "abc");
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    assert_true(b.cap >= 3);
    buf_append(&b, "", 0);
    assert_int_equal(b.len, 3);
    buf_free(&b);
}

static void test_buf_growth_keeps_content(void **state)
{
    (void)state;
    buf b = {0};
    for (int i = 0; i < 100000; i++) {
        uint8_t c = (uint8_t)(i * 7 + 3);
        buf_append(&b, &c, 1);
        assert_true(b.cap >= b.len);
    }
    assert_int_equal(b.len, 100000);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(b.data[i], (uint8_t)(i * 7 + 3));
    /* Growth doubles from 256: the capacity is 256 * 2^k. */
    assert_int_equal(b.cap, 131072);
    buf_free(&b);
}

static void test_buf_reserve_commit(void **state)
{
    (void)state;
    buf b = {0};
    buf_puts(&b, "head");
    uint8_t *p = buf_reserve(&b, 1000000);
    assert_ptr_equal(p, b.data + 4);
    assert_true(b.cap - b.len >= 1000000);
    assert_int_equal(b.len, 4); /* reserving does not commit */
    memset(p, 'z', 1000000);
    buf_commit(&b, 1000000);
    assert_int_equal(b.len, 1000004);
    assert_memory_equal(b.data, "head", 4);
    assert_int_equal(b.data[1000003], 'z');
    /* A reservation that fits does not move the storage. */
    size_t cap = b.cap;
    uint8_t *data = b.data;
    buf_reserve(&b, cap - b.len);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    buf_free(&b);
}

static void test_buf_printf(void **state)
{
    (void)state;
    buf b = {0};
    buf_printf(&b, "%d-%s", 42, "x");
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "42-x", 4);
    buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 4);
    /* Longer than the first allocation: appended after what is there, no terminator counted. */
    buf_printf(&b, "[%0600d]", 7);
    assert_int_equal(b.len, 4 + 602);
    assert_memory_equal(b.data, "42-x[000", 8);
    assert_memory_equal(b.data + b.len - 3, "07]", 3);
    buf_puts(&b, "!");
    assert_int_equal(b.data[b.len - 1], '!');
    assert_int_equal(b.data[b.len - 2], ']');
    buf_free(&b);
}

static void test_buf_reset_and_free(void **state)
{
    (void)state;
    buf b = {0};
    buf_puts(&b, "hello world");
    uint8_t *data = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    buf_puts(&b, "bye");
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "bye", 3);

    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    buf_free(&b); /* twice is fine */
    buf_free(NULL);
    /* Reusable after free. */
    buf_printf(&b, "%u", 123u);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "123", 3);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_empty_appends),  cmocka_unit_test(test_buf_growth_keeps_content),
        cmocka_unit_test(test_buf_reserve_commit), cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_reset_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
