/* Unit tests of utf8: sequence lengths, validity, cleaning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static size_t seq(const char *s, size_t n)
{
    return utf8_seq_len((const unsigned char *)s, n);
}

static void test_seq_len(void **state)
{
    (void)state;
    assert_int_equal(seq("a", 1), 1);
    assert_int_equal(seq("\xC3\xA9", 2), 2);         /* é */
    assert_int_equal(seq("\xE2\x82\xAC", 3), 3);     /* € */
    assert_int_equal(seq("\xF0\x9F\x98\x80", 4), 4); /* U+1F600 */
    assert_int_equal(seq("", 0), 0);
    assert_int_equal(seq("\0", 1), 0);               /* NUL is refused (PostgreSQL text) */
    assert_int_equal(seq("\xC3", 1), 0);             /* truncated */
    assert_int_equal(seq("\xC0\xAF", 2), 0);         /* overlong '/' */
    assert_int_equal(seq("\xE0\x80\xAF", 3), 0);     /* overlong */
    assert_int_equal(seq("\xED\xA0\x80", 3), 0);     /* surrogate U+D800 */
    assert_int_equal(seq("\xF4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    assert_int_equal(seq("\x80", 1), 0);             /* lone continuation */
    assert_int_equal(seq("\xFF", 1), 0);
    assert_int_equal(seq("\xE2\x28\xA1", 3), 0);     /* bad continuation */
}

static void test_valid_and_clean(void **state)
{
    (void)state;
    assert_true(utf8_valid("plain ascii", 11));
    assert_true(utf8_valid("caf\xC3\xA9", 5));
    assert_false(utf8_valid("caf\xC3", 4));
    assert_false(utf8_valid("a\0b", 3));
    assert_true(utf8_valid("", 0));

    buf b = {0};
    utf8_append_clean(&b, "ok \xFF x \xC3\xA9 \xC3", 11);
    assert_int_equal(b.len, 3 + 3 + 3 + 2 + 1 + 3);
    assert_memory_equal(b.data, "ok \xEF\xBF\xBD x \xC3\xA9 \xEF\xBF\xBD", b.len);
    assert_true(utf8_valid((const char *)b.data, b.len));
    buf_reset(&b);
    utf8_append_clean(&b, "a\0b", 3);
    assert_memory_equal(b.data, "a\xEF\xBF\xBD" "b", 5);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_len),
        cmocka_unit_test(test_valid_and_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
