/* Integration tests of `pgpulse import-assets` (cmd_import_assets, assets) against a real
 * PostgreSQL: the workshop's files with their defects, a second import that changes nothing,
 * a shop pointing at an undefined plant that a later import defines, rejected rows in
 * ingest_reject, and failures that leave nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "harness.h"
#include "util.h"

static harness_out import(const char *db, const char *dir)
{
    return harness_pgpulse(NULL, (const char *[]){"import-assets", "--db", db, dir, NULL});
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A digest of every asset table and ingest_reject, row versions included (xmin): equal
 * digests mean nothing was written. */
static char *snapshot(PGconn *conn)
{
    return harness_query_text(conn,
                              "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ("
                              " SELECT 'p' || t::text || t.xmin::text AS x FROM plant t UNION ALL"
                              " SELECT 's' || t::text || t.xmin::text FROM shop t UNION ALL"
                              " SELECT 'd' || t::text || t.xmin::text FROM asset_detail t UNION ALL"
                              " SELECT 'r' || t::text || t.xmin::text FROM robot t UNION ALL"
                              " SELECT 'c' || t::text || t.xmin::text FROM controller t UNION ALL"
                              " SELECT 'a' || t::text || t.xmin::text FROM part t UNION ALL"
                              " SELECT 'o' || t::text || t.xmin::text FROM data_source t UNION ALL"
                              " SELECT 'f' || t::text || t.xmin::text FROM feed t UNION ALL"
                              " SELECT 'j' || t::text || t.xmin::text FROM ingest_reject t) u");
}

static char *mkdir_in_tmp(const char *name)
{
    char *d = xasprintf("%s/%s", harness_tmpdir(), name);
    if (mkdir(d, 0700) != 0) fail_msg("mkdir %s failed", d);
    return d;
}

static void put(const char *dir, const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);
    harness_write_file(p, text);
    free(p);
}

static void test_workshop_files(void **state)
{
    (void)state;
    const char *db = harness_db("import_assets", 1);
    if (!db) skip();
    const char *shared = harness_shared("data/workshop/assets");
    if (!shared) {
        printf("../shared/data/workshop/assets is absent: the workshop's files are not loaded\n");
        skip();
    }
    char *dir = xstrdup(shared);

    harness_out o = import(db, dir);
    if (o.status != 0) fail_msg("import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "  plant              3 loaded (3 new, 0 updated, 0 unchanged)\n");
    harness_assert_contains(o.out, "  shop               4 loaded (4 new, 0 updated, 0 unchanged)\n");
    harness_assert_contains(o.out, "  asset_detail       3 loaded (3 new, 0 updated, 0 unchanged), "
                           "5 placeholders (5 new)\n");
    harness_assert_contains(o.out, "  robot              6 loaded (6 new");
    harness_assert_contains(o.out, "  controller         2 loaded (2 new");
    harness_assert_contains(o.out, "  part              15 loaded (15 new");
    harness_assert_contains(o.out, "  data_source        3 loaded (3 new");
    harness_assert_contains(o.out, "  feed               2 loaded (2 new");
    harness_assert_contains(o.out, "  ingest_reject      2 recorded (2 new)\n");

    /* Each defect of the files, with file:line, and nothing else. */
    const char *want[] = {
        "equipment.csv:5: robot 4 refers to asset detail 4, which part_details.csv does not "
        "define: reference kept",
        "equipment.csv:6: robot 5 refers to asset detail 6,",
        "equipment.csv:7: robot 6 refers to asset detail 5,",
        "equipment.csv:8: controller 7 refers to asset detail 7,",
        "equipment.csv:9: controller 8 refers to asset detail 8,",
        "part.csv:9: part 8 refers to asset detail 4,",
        "shop_info.csv:10: shop 1 is in plant 3 (line 2) but this row names plant 2: "
        "conflicting parent, the first row wins, row not applied",
        "shop_info.csv:11: shop 1 is in plant 3 (line 2) but this row names plant 2:",
        "shop_info.csv:13: shop 4 has no NAME row: loaded with name NULL",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(want); i++) {
        char *line = xasprintf("%s/%s", dir, want[i]);
        harness_assert_contains(o.err, line);
        free(line);
    }
    assert_int_equal(count_lines(o.err), UTIL_ARRAY_LEN(want));
    char *first_err = xstrdup(o.err);
    harness_out_free(&o);

    PGconn *conn = harness_connect(db);
    harness_assert_query(conn,
                 "SELECT string_agg(plant_id || ':' || name || '@' || location, ',' "
                 "ORDER BY plant_id) FROM plant WHERE NOT placeholder",
                 "1:North Plant@Cambridge,2:South Plant@Cambridge,3:West Plant@Woodstock");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM plant"), 3);
    /* Shop 1: the first row's plant; the conflicting rows' processes are not applied. */
    harness_assert_query(conn,
                 "SELECT plant_id || ' ' || name || ' ' || processes::text FROM shop "
                 "WHERE shop_id = 1",
                 "3 West Weld {UNDERBODY,\"SIDE MEMBER R\",HATCH}");
    harness_assert_query(conn, "SELECT name FROM shop WHERE shop_id = 4", NULL);
    harness_assert_query(conn,
                 "SELECT plant_id || ' ' || processes::text || ' ' || placeholder FROM shop "
                 "WHERE shop_id = 4",
                 "2 {\"RH DOOR OUTER\"} false");
    harness_assert_query(conn,
                 "SELECT string_agg(robot_id || ':' || name || ':' || shop_id || ':' || "
                 "detail_id || ':' || host(ip_address), ',' ORDER BY robot_id) FROM robot",
                 "1:Spot:1:1:10.34.22.183,2:Matehan:1:2:10.34.22.183,3:Sealer:1:3:10.34.22.183,"
                 "4:HEM:1:4:10.34.22.183,5:Bond:1:6:10.34.22.183,6:Grommet:1:5:10.34.22.183");
    harness_assert_query(conn,
                 "SELECT string_agg(controller_id || ':' || name || ':' || detail_id, ',' "
                 "ORDER BY controller_id) FROM controller",
                 "7:Spot:7,8:Sealer:8");
    harness_assert_query(conn,
                 "SELECT string_agg(part_id || ':' || coalesce(axis::text, '-'), ',' "
                 "ORDER BY part_id) FROM part",
                 "1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:1,9:-,10:-,11:-,12:-,13:-,14:-,15:-");
    harness_assert_query(conn,
                 "SELECT kind || '/' || comment || '/' || detail_id FROM part "
                 "WHERE part_id = 8",
                 "Joint/Joint 1 FANUC/4");
    harness_assert_query(conn,
                 "SELECT string_agg(detail_id::text, ',' ORDER BY detail_id) "
                 "FROM asset_detail WHERE placeholder AND provider IS NULL",
                 "4,5,6,7,8");
    harness_assert_query(conn,
                 "SELECT string_agg(detail_id || ':' || provider, ',' ORDER BY detail_id) "
                 "FROM asset_detail WHERE NOT placeholder",
                 "1:Kawasaki,2:Kawasaki,3:Nachi");
    harness_assert_query(conn,
                 "SELECT purchase_date || ' ' || serial_number || ' ' || "
                 "coalesce(part_number, '-') FROM asset_detail WHERE detail_id = 2",
                 "2007-12-15 48048-E010-21 -");
    harness_assert_query(conn,
                 "SELECT name || '|' || unit || '|' || lower_limit || '|' || upper_limit "
                 "FROM feed WHERE feed_id = 2",
                 "Temperature|Degrees Celsius|5|40");
    harness_assert_query(conn,
                 "SELECT (lower_limit IS NULL AND upper_limit IS NULL)::text FROM feed "
                 "WHERE feed_id = 1",
                 "true");
    harness_assert_query(conn,
                 "SELECT string_agg(source_id || ':' || name || ':' || plant_id || ':' || "
                 "shop_id, ',' ORDER BY source_id) FROM data_source",
                 "1:North:1:2,2:North:1:2,3:South:2:3");
    char *src = xasprintf("SELECT string_agg(line_no || '=' || raw, ',' ORDER BY line_no) "
                          "FROM ingest_reject WHERE source = '%s/shop_info.csv' "
                          "AND reason LIKE '%%conflicting parent%%'",
                          dir);
    harness_assert_query(conn, src, "10=1,PROCESS,LH DOOR INNER,2,11=1,PROCESS,LH DOOR OUTER,2");
    free(src);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM ingest_reject"), 2);

    /* A second import changes nothing: same rows, same row versions, same report. */
    char *before = snapshot(conn);
    o = import(db, dir);
    assert_int_equal(o.status, 0);
    harness_assert_contains(o.out, "  plant              3 loaded (0 new, 0 updated, 3 unchanged)\n");
    harness_assert_contains(o.out, "  asset_detail       3 loaded (0 new, 0 updated, 3 unchanged), "
                           "5 placeholders (0 new)\n");
    harness_assert_contains(o.out, "  part              15 loaded (0 new, 0 updated, 15 unchanged)\n");
    harness_assert_contains(o.out, "  ingest_reject      2 recorded (0 new)\n");
    assert_string_equal(o.err, first_err);
    harness_out_free(&o);
    char *after = snapshot(conn);
    assert_string_equal(before, after);

    free(before);
    free(after);
    free(first_err);
    free(dir);
    PQfinish(conn);
}

static void test_undefined_plant_gets_a_placeholder_until_defined(void **state)
{
    (void)state;
    const char *db = harness_db("import_assets_hand", 1);
    if (!db) skip();
    char *d1 = mkdir_in_tmp("assets1");
    put(d1, "plants.csv", "\xEF\xBB\xBFPLANT_ID,KEY,VALUE\r\n1,NAME,North\r\n1,Region,EU\r\n");
    put(d1, "shops.csv",
        "SHOP_ID,KEY,VALUE,PLANT_ID\n"
        "1,NAME,Body,1\n"     /* 2 */
        "2,NAME,Paint,9\n"    /* 3: plant 9 is defined nowhere */
        "2,PROCESS,Prime,9\n" /* 4 */
        "x,NAME,Bad,1\n"      /* 5: non-integer id */
        "3,NAME\n"            /* 6: wrong number of fields */
        "1,NAME,Other,1\n");  /* 7: same id and KEY, other value */
    put(d1, "equipment.csv",
        "TYPE_ID,TYPE_CLASS,IP_ADDRESS,TYPE_INSTANCE,DETAIL_ID,SHOP_ID\n"
        "1,Robot,10.0.0.1,R1,,2\n"
        "2,Conveyor,10.0.0.2,C1,,2\n"); /* 3: unknown class */
    harness_out o = import(db, d1);
    if (o.status != 0) fail_msg("import failed (%d): %s", o.status, o.err);
    char *want = xasprintf("%s/shops.csv:3: shop 2 refers to plant 9, which plants.csv does not "
                           "define: reference kept, plant 9 stored as a placeholder",
                           d1);
    harness_assert_contains(o.err, want);
    free(want);
    const char *more[] = {
        "shops.csv:5: SHOP_ID 'x' is not an id",
        "shops.csv:6: 2 fields where the header has 4: row rejected",
        "shops.csv:7: shop 1: NAME is 'Body' on line 2 but 'Other' here: duplicate key, the "
        "first value is kept, row not applied",
        "equipment.csv:3: TYPE_ID 2: unknown TYPE_CLASS 'Conveyor' (expected Robot or "
        "Controller): row rejected",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(more); i++) {
        char *line = xasprintf("%s/%s", d1, more[i]);
        harness_assert_contains(o.err, line);
        free(line);
    }
    harness_assert_contains(o.out, "  plant              1 loaded (1 new, 0 updated, 0 unchanged), "
                           "1 placeholder (1 new)\n");
    harness_assert_contains(o.out, "  ingest_reject      4 recorded (4 new)\n");
    harness_out_free(&o);

    PGconn *conn = harness_connect(db);
    harness_assert_query(conn,
                 "SELECT placeholder::text || coalesce(name, '(null)') FROM plant "
                 "WHERE plant_id = 9",
                 "true(null)");
    harness_assert_query(conn, "SELECT attrs->>'Region' FROM plant WHERE plant_id = 1", "EU");
    harness_assert_query(conn,
                 "SELECT plant_id || ' ' || name || ' ' || processes::text FROM shop "
                 "WHERE shop_id = 2",
                 "9 Paint {Prime}");
    harness_assert_query(conn, "SELECT name FROM shop WHERE shop_id = 1", "Body");
    harness_assert_query(conn, "SELECT shop_id::text FROM robot WHERE robot_id = 1", "2");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM robot"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM controller"), 0);
    char *sql = xasprintf("SELECT string_agg(line_no::text, ',' ORDER BY line_no) FROM "
                          "ingest_reject WHERE source = '%s/shops.csv'",
                          d1);
    harness_assert_query(conn, sql, "5,6,7");
    free(sql);
    sql = xasprintf("SELECT raw || ' / ' || reason FROM ingest_reject WHERE source = "
                    "'%s/equipment.csv' AND line_no = 3",
                    d1);
    harness_assert_query(conn, sql,
                 "2,Conveyor,10.0.0.2,C1,,2 / TYPE_ID 2: unknown TYPE_CLASS 'Conveyor' "
                 "(expected Robot or Controller): row rejected");
    free(sql);

    /* A later import defines plant 9: the placeholder becomes a real plant. */
    char *d2 = mkdir_in_tmp("assets2");
    put(d2, "plant_info.csv", "PLANT_ID,KEY,VALUE\n9,NAME,Nine\n9,LOCATION,Guelph\n");
    o = import(db, d2);
    if (o.status != 0) fail_msg("import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "  plant              1 loaded (0 new, 1 updated, 0 unchanged)\n");
    harness_out_free(&o);
    harness_assert_query(conn,
                 "SELECT placeholder::text || ' ' || name || ' ' || location FROM plant "
                 "WHERE plant_id = 9",
                 "false Nine Guelph");

    /* Importing the first directory again does not turn it back into a placeholder. */
    o = import(db, d1);
    assert_int_equal(o.status, 0);
    harness_assert_contains(o.out, "1 placeholder (0 new)");
    harness_assert_contains(o.out, "  ingest_reject      4 recorded (0 new)\n");
    harness_out_free(&o);
    harness_assert_query(conn, "SELECT placeholder::text || ' ' || name FROM plant WHERE plant_id = 9",
                 "false Nine");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM ingest_reject"), 4);
    PQfinish(conn);
    free(d1);
    free(d2);
}

static void test_failures_leave_nothing_behind(void **state)
{
    (void)state;
    const char *db = harness_db("import_assets_fail", 1);
    if (!db) skip();

    harness_out o = import(db, "/nonexistent/assets");
    assert_int_equal(o.status, 1);
    harness_assert_contains(o.err, "/nonexistent/assets: No such file or directory; nothing was imported");
    harness_out_free(&o);

    o = harness_pgpulse(NULL, (const char *[]){"import-assets", "--db", db, NULL});
    assert_int_equal(o.status, 2);
    harness_assert_contains(o.err, "usage: pgpulse import-assets");
    harness_out_free(&o);

    /* Files that hold nothing usable: reported, never a crash. */
    char *d = mkdir_in_tmp("assets_junk");
    put(d, "empty.csv", "");
    put(d, "other.csv", "A,B,C\n1,2,3\n");
    o = import(db, d);
    assert_int_equal(o.status, 0);
    char *line = xasprintf("%s/empty.csv: empty file (no header line): skipped", d);
    harness_assert_contains(o.err, line);
    free(line);
    line = xasprintf("%s/other.csv:1: unrecognised header 'A,B,C'", d);
    harness_assert_contains(o.err, line);
    free(line);
    line = xasprintf("%s: no plant file (header PLANT_ID,KEY,VALUE) in this directory", d);
    harness_assert_contains(o.err, line);
    free(line);
    harness_out_free(&o);

    /* A failure inside the transaction rolls everything back. */
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "DELETE FROM ingest_reject");
    harness_exec(conn, "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$BEGIN RAISE EXCEPTION 'feed refused by the test'; END$$");
    harness_exec(conn, "CREATE TRIGGER test_refuse BEFORE INSERT ON feed FOR EACH ROW "
                       "EXECUTE FUNCTION test_refuse()");
    char *d2 = mkdir_in_tmp("assets_rollback");
    put(d2, "plants.csv", "PLANT_ID,KEY,VALUE\n1,NAME,North\nbad,NAME,x\n");
    put(d2, "feeds.csv", "FEED_ID,KEY,VALUE\n1,NAME,Temperature\n");
    o = import(db, d2);
    assert_int_equal(o.status, 1);
    harness_assert_contains(o.err, "feed refused by the test");
    harness_assert_contains(o.err, "nothing was imported (the transaction was rolled back)");
    assert_string_equal(o.out, "");
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM plant"), 0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM ingest_reject"), 0);
    PQfinish(conn);

    /* A database without the schema is refused before anything is written. */
    const char *bare = harness_db("import_assets_bare", 0);
    o = import(bare, d2);
    assert_int_equal(o.status, 1);
    harness_assert_contains(o.err, "the database has no pgpulse schema: run `pgpulse init`");
    harness_out_free(&o);
    free(d);
    free(d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workshop_files),
        cmocka_unit_test(test_undefined_plant_gets_a_placeholder_until_defined),
        cmocka_unit_test(test_failures_leave_nothing_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
