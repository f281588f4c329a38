/* Unit tests of migrate's embedded scripts (no database): versions, names, ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.h"

static void test_scripts_are_numbered_in_order(void **state)
{
    (void)state;
    assert_true(migrate_nscripts >= 1);
    for (int i = 0; i < migrate_nscripts; i++) {
        const migrate_script *s = &migrate_scripts[i];
        /* Versions are 1, 2, 3, ... with no gap, and the file name carries the version. */
        assert_int_equal(s->version, i + 1);
        char prefix[8];
        snprintf(prefix, sizeof prefix, "%03d_", s->version);
        assert_memory_equal(s->name, prefix, 4);
        assert_non_null(strstr(s->name, ".sql"));
        assert_true(strlen(s->sql) > 0);
    }
    assert_int_equal(migrate_latest_version(), migrate_scripts[migrate_nscripts - 1].version);
}

static void test_first_script_defines_the_data_model(void **state)
{
    (void)state;
    const char *sql = migrate_scripts[0].sql;
    const char *tables[] = {"CREATE TABLE plant", "CREATE TABLE shop", "CREATE TABLE robot",
                            "CREATE TABLE part", "CREATE TABLE reading",
                            "CREATE TABLE ingest_batch", "CREATE TABLE ingest_reject",
                            "CREATE TABLE maintenance_event"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        assert_non_null(strstr(sql, tables[i]));
    assert_non_null(strstr(sql, "PARTITION BY RANGE (ts)"));
    /* Embedding kept quotes, backslashes and tabs intact. */
    assert_non_null(strstr(sql, "'reading_p%s'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripts_are_numbered_in_order),
        cmocka_unit_test(test_first_script_defines_the_data_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
