/* Integration tests of `pgpulse init` (migrate): first application, idempotence, refusal of a
 * newer or different schema, concurrent callers, partitions created ahead, and the constraints
 * the schema promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "migrate.h"
#include "util.h"

static harness_out init(const char *db)
{
    return harness_pgpulse(NULL, (const char *[]){"init", "--db", db, NULL});
}

static void test_init_is_idempotent(void **state)
{
    (void)state;
    const char *db = harness_db("init", 0);
    if (!db) skip();
    harness_out o = init(db);
    assert_int_equal(o.status, 0);
    char want[96];
    int latest = migrate_latest_version();
    snprintf(want, sizeof want, "schema migrated from version 0 to %d (%d migrations applied)",
             latest, latest);
    assert_non_null(strstr(o.out, want));
    harness_out_free(&o);
    o = init(db);
    assert_int_equal(o.status, 0);
    snprintf(want, sizeof want, "schema is up to date (version %d)", latest);
    assert_non_null(strstr(o.out, want));
    assert_string_equal(o.err, "");
    harness_out_free(&o);

    PGconn *conn = harness_connect(db);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM schema_migration"), latest);
    /* Partitions exist for today and the next 7 days. */
    assert_int_equal(harness_query_int(conn,
                                       "SELECT count(*) FROM pg_inherits WHERE inhparent = "
                                       "'reading'::regclass"),
                     8);
    assert_int_equal(harness_query_int(conn,
                                       "SELECT count(*) FROM generate_series(0, 7) d WHERE "
                                       "to_regclass('reading_p' || to_char((now() AT TIME ZONE "
                                       "'UTC')::date + d, 'YYYYMMDD')) IS NOT NULL"),
                     8);
    PQfinish(conn);
}

static void test_newer_schema_is_refused(void **state)
{
    (void)state;
    const char *db = harness_db("init_newer", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO schema_migration VALUES (999, '999_future.sql', 'x', now())");
    harness_out o = init(db);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "newer than this pgpulse"));
    assert_non_null(strstr(o.err, "upgrade pgpulse"));
    harness_out_free(&o);
    /* Other commands refuse too, before touching anything. */
    o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", db, "/dev/null", NULL});
    assert_int_not_equal(o.status, 0);
    harness_out_free(&o);
    harness_exec(conn, "DELETE FROM schema_migration WHERE version = 999");

    /* An applied migration whose text differs from the binary's is refused as well. */
    harness_exec(conn, "UPDATE schema_migration SET checksum = 'changed' WHERE version = 1");
    o = init(db);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "differs from the one in this pgpulse"));
    harness_out_free(&o);
    PQfinish(conn);
}

static void test_concurrent_inits(void **state)
{
    (void)state;
    const char *db = harness_db("init_concurrent", 0);
    if (!db) skip();
    int pids[4];
    char *logs[4];
    for (int i = 0; i < 4; i++) {
        logs[i] = xasprintf("%s/init%d.log", harness_tmpdir(), i);
        pids[i] = harness_spawn(NULL, logs[i], (const char *[]){"init", "--db", db, NULL});
    }
    int applied = 0;
    for (int i = 0; i < 4; i++) {
        int st = harness_wait(pids[i], NULL);
        char *out = harness_read_file(logs[i]);
        if (st != 0) fail_msg("init %d failed: %s", i, out);
        applied += strstr(out, "schema migrated") != NULL;
        free(out);
        free(logs[i]);
    }
    assert_int_equal(applied, 1);
}

static void test_schema_constraints(void **state)
{
    (void)state;
    const char *db = harness_db("init_constraints", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (1)");
    harness_exec(conn, "INSERT INTO reading VALUES (1, now(), 1, 2, 3, 4, 5, 6, 7, 8)");
    /* A reading of a robot that does not exist. */
    PGresult *r = PQexec(conn, "INSERT INTO reading VALUES (2, now(), 1, 2, 3, 4, 5, 6, 7, 8)");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23503");
    PQclear(r);
    /* The same reading twice. */
    r = PQexec(conn, "INSERT INTO reading SELECT * FROM reading");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
    PQclear(r);
    /* A robot with readings cannot go. */
    r = PQexec(conn, "DELETE FROM robot WHERE robot_id = 1");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23503");
    PQclear(r);
    /* Non-finite values are refused (at noon today, whose partition init made: a missing
     * partition fails with the same SQLSTATE, so the constraint is named too). */
    r = PQexec(conn, "INSERT INTO reading VALUES (1, date_trunc('day', now()) + interval '12 h',"
                     " 'NaN', 2, 3, 4, 5, 6, 7, 8)");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME), "reading_finite");
    PQclear(r);
    r = PQexec(conn, "INSERT INTO reading VALUES (1, date_trunc('day', now()) + interval '12 h',"
                     " 1, 2, 3, 4, 5, 6, 7, '-Infinity')");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23514");
    assert_string_equal(PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME), "reading_finite");
    PQclear(r);
    /* Partition helper: creates once, then reports it exists. */
    char *v = harness_query_text(conn, "SELECT reading_ensure_partition('2001-02-03')");
    assert_string_equal(v, "t");
    free(v);
    v = harness_query_text(conn, "SELECT reading_ensure_partition('2001-02-03')");
    assert_string_equal(v, "f");
    free(v);
    harness_exec(conn, "INSERT INTO reading VALUES (1, '2001-02-03T23:59:59.999999Z', 1, 2, 3, 4,"
                       " 5, 6, 7, 8)");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading_p20010203"), 1);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_idempotent),
        cmocka_unit_test(test_newer_schema_is_refused),
        cmocka_unit_test(test_concurrent_inits),
        cmocka_unit_test(test_schema_constraints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
