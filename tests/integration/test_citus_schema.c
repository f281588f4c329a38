/* Integration tests of the schema on Citus (sql/017_distributable.sql, sql/citus.sql): each
 * table's placement, init run twice, ingest through the coordinator (duplicates, a robot that
 * does not exist), a robot with readings that cannot be deleted, a new day's partition that
 * comes out distributed, and the change-capture publication on every worker. Skipped where
 * there is no Citus cluster (harness_citus_db returns NULL). */
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

/* A table's placement as citus_tables gives it: 'reference', 'distributed:robot_id' or
 * 'local' (not in Citus' metadata). */
static char *placement(PGconn *conn, const char *table)
{
    char *sql = xasprintf("SELECT coalesce((SELECT CASE WHEN citus_table_type = 'distributed' "
                          "THEN 'distributed:' || distribution_column ELSE citus_table_type END "
                          "FROM citus_tables WHERE table_name = '%s'::regclass), 'local')",
                          table);
    char *v = harness_query_text(conn, sql);
    free(sql);
    return v;
}

static void expect_placement(PGconn *conn, const char *table, const char *want)
{
    char *got = placement(conn, table);
    if (strcmp(got, want) != 0) fail_msg("%s: placed %s, expected %s", table, got, want);
    free(got);
}

/* Every table's placement, as docs/scaling.md gives it; the distributed tables colocated with
 * reading; the triggers Citus refuses replaced by foreign keys to robot. */
static void test_placement(void **state)
{
    (void)state;
    const char *db = harness_citus_db_or_skip("citus_placement", 1);
    PGconn *conn = harness_connect(db);
    static const char *const reference[] = {"plant", "shop", "asset_detail", "robot",
                                            "controller", "part", "data_source", "feed"};
    for (size_t i = 0; i < sizeof reference / sizeof *reference; i++)
        expect_placement(conn, reference[i], "reference");
    static const char *const distributed[] = {"reading", "fault", "maintenance_event"};
    for (size_t i = 0; i < sizeof distributed / sizeof *distributed; i++)
        expect_placement(conn, distributed[i], "distributed:robot_id");
    /* Nothing else is in Citus' metadata: every other table stays on the coordinator. */
    harness_assert_query(conn,
                         "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text NOT LIKE "
                         "'reading_p%' AND logicalrelid::text NOT IN ('plant', 'shop', "
                         "'asset_detail', 'robot', 'controller', 'part', 'data_source', 'feed', "
                         "'reading', 'fault', 'maintenance_event')",
                         "0");
    static const char *const local[] = {"stream_consumer", "stream_checkpoint", "live_robot",
                                        "anomaly", "anomaly_ack", "prediction", "model_version",
                                        "ingest_batch", "ingest_reject", "dw.fact_reading_minute",
                                        "dw.dim_robot", "dw.fact_maintenance"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        expect_placement(conn, local[i], "local");
    harness_assert_query(conn,
                         "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE "
                         "logicalrelid IN ('reading'::regclass, 'fault'::regclass, "
                         "'maintenance_event'::regclass)",
                         "1");
    /* The day partitions made by init are distributed too. */
    harness_assert_query(conn,
                         "SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'reading'::regclass "
                         "AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = "
                         "i.inhrelid)",
                         "0");
    harness_assert_query(conn,
                         "SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT "
                         "tgisinternal AND tgrelid IN ('reading'::regclass, 'robot'::regclass, "
                         "'maintenance_event'::regclass, 'fault'::regclass)",
                         NULL);
    harness_assert_query(conn,
                         "SELECT string_agg(conrelid::regclass::text, ',' ORDER BY conrelid::regclass::text) "
                         "FROM pg_constraint WHERE contype = 'f' AND confrelid = 'robot'::regclass "
                         "AND conparentid = 0",
                         "fault,maintenance_event,reading");
    PQfinish(conn);
}

/* A second init changes nothing; the placement survives it. */
static void test_init_twice(void **state)
{
    (void)state;
    const char *db = harness_citus_db_or_skip("citus_init", 1);
    PGconn *conn = harness_connect(db);
    int64_t placed = harness_query_int(conn, "SELECT count(*) FROM pg_dist_partition");
    int64_t shards = harness_query_int(conn, "SELECT count(*) FROM pg_dist_shard");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", db, NULL});
    if (o.status != 0) fail_msg("second init: %s", o.err);
    char want[64];
    snprintf(want, sizeof want, "schema is up to date (version %d)", migrate_latest_version());
    harness_assert_contains(o.out, want);
    assert_null(strstr(o.out, "distributed"));
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_dist_partition"), placed);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_dist_shard"), shards);
    expect_placement(conn, "reading", "distributed:robot_id");
    expect_placement(conn, "robot", "reference");
    PQfinish(conn);
}

/* COPY through the coordinator: a duplicate inside the file and one already stored are stored
 * once and counted as present; a robot that does not exist is rejected; a second load of the
 * same file inserts nothing. A robot with readings cannot be deleted; one without can. */
static void test_ingest_through_the_coordinator(void **state)
{
    (void)state;
    const char *db = harness_citus_db_or_skip("citus_ingest", 1);
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id) SELECT generate_series(1, 4)");
    char *path = xasprintf("%s/citus_ingest.csv", harness_tmpdir());
    /* 8 lines: 6 distinct rows of robots 1-4 on two days, 1 duplicate, 1 of robot 99. */
    harness_write_file(path, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n"
                             "1,2026-03-01T00:00:00Z,1,2,3,4,5,6,7,8\n"
                             "1,2026-03-01T00:00:01Z,1,2,3,4,5,6,7,8\n"
                             "1,2026-03-01T00:00:01Z,1,2,3,4,5,6,7,8\n"
                             "2,2026-03-01T00:00:00Z,0,0,0,0,0,0,0,0\n"
                             "3,2026-03-01T00:00:00Z,0,0,0,0,0,0,0,0\n"
                             "99,2026-03-01T00:00:00Z,0,0,0,0,0,0,0,0\n"
                             "4,2026-03-02T00:00:00Z,0,0,0,0,0,0,0,0\n"
                             "1,2026-03-02T00:00:00Z,0,0,0,0,0,0,0,0\n");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", db, path, NULL});
    assert_int_equal(o.status, 0);
    harness_assert_contains(o.out, "read 8, inserted 6, already present 1, rejected 1");
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", db, path, NULL});
    assert_int_equal(o.status, 0);
    harness_assert_contains(o.out, "read 8, inserted 0, already present 7, rejected 1");
    harness_out_free(&o);
    harness_assert_query(conn, "SELECT count(*) FROM reading", "6");
    harness_assert_query(conn, "SELECT sum(rows_inserted) || '/' || sum(rows_present) FROM "
                               "ingest_batch", "6/8");
    harness_assert_query(conn, "SELECT reason FROM ingest_reject",
                         "robot_id: robot 99 does not exist");
    /* The rows are on the workers: shards of both days' partitions hold them. */
    harness_assert_query(conn, "SELECT count(DISTINCT nodeport) > 0 FROM citus_shards WHERE "
                               "table_name::text LIKE 'reading_p2026030%'",
                         "t");

    /* The foreign key reading -> robot does what robot_keep_referenced did. */
    PGresult *r = PQexec(conn, "DELETE FROM robot WHERE robot_id = 1");
    assert_int_not_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    harness_assert_contains(PQresultErrorMessage(r), "foreign key");
    PQclear(r);
    r = PQexec(conn, "UPDATE robot SET robot_id = 100 WHERE robot_id = 2");
    assert_int_not_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (5)");
    harness_exec(conn, "DELETE FROM robot WHERE robot_id = 5");
    harness_assert_query(conn, "SELECT count(*) FROM robot", "4");
    /* And what reading_robot_exists did, for a writer that is not the loader. */
    r = PQexec(conn, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, "
                     "axis7, axis8) VALUES (77, '2026-03-01T00:00:05Z', 0, 0, 0, 0, 0, 0, 0, 0)");
    assert_int_not_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    harness_assert_contains(PQresultErrorMessage(r), "foreign key");
    PQclear(r);
    free(path);
    PQfinish(conn);
}

/* reading_ensure_partition's new day is a distributed partition colocated with reading, and
 * takes rows. */
static void test_new_partition_is_distributed(void **state)
{
    (void)state;
    const char *db = harness_citus_db_or_skip("citus_partition", 1);
    PGconn *conn = harness_connect(db);
    harness_assert_query(conn, "SELECT reading_ensure_partition('2031-05-04')", "t");
    harness_assert_query(conn, "SELECT reading_ensure_partition('2031-05-04')", "f");
    harness_assert_query(conn,
                         "SELECT p.colocationid = r.colocationid FROM pg_dist_partition p, "
                         "pg_dist_partition r WHERE p.logicalrelid = 'reading_p20310504'::regclass "
                         "AND r.logicalrelid = 'reading'::regclass",
                         "t");
    harness_assert_query(conn, "SELECT count(*) > 1 FROM pg_dist_shard WHERE logicalrelid = "
                               "'reading_p20310504'::regclass",
                         "t");
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (8)");
    harness_exec(conn, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, "
                       "axis7, axis8) VALUES (8, '2031-05-04T12:00:00Z', 1, 0, 0, 0, 0, 0, 0, 0)");
    harness_assert_query(conn, "SELECT count(*) FROM reading_p20310504", "1");
    PQfinish(conn);
}

/* The publication consumers read is on every worker, on the distributed table, published via
 * the partition root; one a consumer asks for later (reading_publication) too. */
static void test_publication_on_every_worker(void **state)
{
    (void)state;
    const char *db = harness_citus_db_or_skip("citus_publication", 1);
    PGconn *conn = harness_connect(db);
    harness_assert_query(conn, "SELECT reading_publication(1, 2)", "pgpulse_reading_1of2");
    PGresult *nodes = PQexec(conn, "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 "
                                   "AND noderole = 'primary' ORDER BY nodeport");
    assert_int_equal(PQresultStatus(nodes), PGRES_TUPLES_OK);
    assert_true(PQntuples(nodes) >= 1);
    PQconninfoOption *opts = PQconninfoParse(db, NULL);
    assert_non_null(opts);
    for (int i = 0; i < PQntuples(nodes); i++) {
        const char *kw[64], *val[64];
        int n = 0;
        for (PQconninfoOption *o = opts; o->keyword && n < 60; o++) {
            if (!o->val || !strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr") ||
                !strcmp(o->keyword, "port"))
                continue;
            kw[n] = o->keyword;
            val[n++] = o->val;
        }
        kw[n] = "host";
        val[n++] = PQgetvalue(nodes, i, 0);
        kw[n] = "port";
        val[n++] = PQgetvalue(nodes, i, 1);
        kw[n] = NULL;
        val[n] = NULL;
        PGconn *w = PQconnectdbParams(kw, val, 0);
        if (PQstatus(w) != CONNECTION_OK)
            fail_msg("worker %s:%s: %s", val[n - 2], val[n - 1], PQerrorMessage(w));
        harness_assert_query(w,
                             "SELECT string_agg(p.pubname || ':' || p.pubviaroot || ':' || "
                             "c.relname, ',' ORDER BY p.pubname) FROM pg_publication p JOIN "
                             "pg_publication_rel r ON r.prpubid = p.oid JOIN pg_class c ON c.oid = "
                             "r.prrelid",
                             "pgpulse_reading:true:reading,pgpulse_reading_1of2:true:reading");
        PQfinish(w);
    }
    PQconninfoFree(opts);
    PQclear(nodes);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement),
        cmocka_unit_test(test_init_twice),
        cmocka_unit_test(test_ingest_through_the_coordinator),
        cmocka_unit_test(test_new_partition_is_distributed),
        cmocka_unit_test(test_publication_on_every_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
