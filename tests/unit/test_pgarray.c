/* Unit tests of pgarray: the text-form array literals PostgreSQL's array_in reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgarray.h"

static void test_empty_and_scalars(void **state)
{
    (void)state;
    pgarray a = {0};
    assert_string_equal(pgarray_end(&a), "{}");
    pgarray_free(&a);

    pgarray_int(&a, 1);
    pgarray_int(&a, -9223372036854775807LL - 1);
    pgarray_null(&a);
    pgarray_float(&a, 0.1);
    pgarray_float(&a, -2.5);
    assert_string_equal(pgarray_end(&a), "{1,-9223372036854775808,NULL,0.10000000000000001,-2.5}");
    pgarray_free(&a);
}

static void test_text_is_quoted_escaped_and_clean(void **state)
{
    (void)state;
    pgarray a = {0};
    pgarray_str(&a, "plain");
    pgarray_str(&a, NULL);
    pgarray_str(&a, "say \"hi\"\\now");
    pgarray_str(&a, "");
    pgarray_str(&a, "NULL");       /* the word, quoted: not a NULL */
    pgarray_text(&a, "a,b}\xFF", 5); /* separators are safe inside quotes; bad byte cleaned */
    assert_string_equal(pgarray_end(&a), "{\"plain\",NULL,\"say \\\"hi\\\"\\\\now\",\"\","
                                         "\"NULL\",\"a,b}\xEF\xBF\xBD\"}");
    pgarray_free(&a);
    /* Reusable after free. */
    pgarray_str(&a, "x");
    assert_string_equal(pgarray_end(&a), "{\"x\"}");
    pgarray_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_scalars),
        cmocka_unit_test(test_text_is_quoted_escaped_and_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
