/* Unit tests of status_json: a consumer's figures as JSON from a stream_status result (built
 * here with libpq's result constructors, no server), its warning and WAL left — on one server
 * from its slot, on Citus gathered from every node's (the worst, the least, each node named). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "status_json.h"

#define NCOLS 19
#define GB "1073741824"

/* A stream_status result of one row: the given columns set (col -> value), the rest NULL. */
static PGresult *status_row(const char *const vals[NCOLS])
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc att[NCOLS];
    char names[NCOLS][16];
    for (int c = 0; c < NCOLS; c++) {
        snprintf(names[c], sizeof names[c], "c%d", c);
        att[c] = (PGresAttDesc){.name = names[c], .typid = 25, .typlen = -1, .atttypmod = -1};
    }
    assert_true(PQsetResultAttrs(r, NCOLS, att));
    for (int c = 0; c < NCOLS; c++)
        assert_true(PQsetvalue(r, 0, c, (char *)vals[c], vals[c] ? (int)strlen(vals[c]) : -1));
    return r;
}

static json_t *first_stage(json_t *root)
{
    return json_array_get(json_object_get(root, "stages"), 0);
}

static void test_one_server(void **state)
{
    (void)state;
    /* A slot with a quarter of the 4 GB bound left. */
    const char *v[NCOLS] = {"pipeline", "cdc", "0", "1", "100", "0/16B3748", "4096", "1.5", "2",
                            "t", "pgpulse_pipeline_1", "reserved", "live,detect", "stream", GB,
                            "4294967296", "0", "0", NULL};
    PGresult *r = status_row(v);
    assert_null(status_nodes(r, 0));
    json_t *root = status_json(r);
    json_t *st = first_stage(root);
    assert_string_equal(json_string_value(json_object_get(st, "lsn")), "0/16B3748");
    assert_true(json_real_value(json_object_get(st, "slot_wal_left")) == 0.25);
    assert_true(json_is_null(json_object_get(st, "warning")));
    assert_true(json_is_null(json_object_get(st, "nodes")));
    json_decref(root);
    PQclear(r);
    /* Its slot gone: the table recovery is named. */
    v[11] = "missing";
    v[14] = NULL;
    r = status_row(v);
    double left;
    char msg[512];
    assert_int_equal(status_assess(r, 0, NULL, &left, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "its replication slot is missing"));
    PQclear(r);
    /* A poller has no slot to assess. */
    v[1] = "poll";
    v[10] = v[11] = NULL;
    r = status_row(v);
    assert_int_equal(status_assess(r, 0, NULL, &left, msg, sizeof msg), 0);
    assert_string_equal(msg, "");
    assert_true(left < 0);
    PQclear(r);
}

static void test_citus_nodes(void **state)
{
    (void)state;
    /* Four nodes: one well, one near the bound (1/8 of it left), one whose slot is gone, one
     * that did not answer. */
    const char *nodes =
        "[{\"node\":\"w1:5432\",\"lsn\":\"0/10\",\"lag_bytes\":10,\"slot_status\":\"reserved\","
        "\"slot_safe_wal_bytes\":3221225472},"
        "{\"node\":\"w2:5432\",\"lsn\":\"0/20\",\"lag_bytes\":20,\"slot_status\":\"reserved\","
        "\"slot_safe_wal_bytes\":536870912},"
        "{\"node\":\"w3:5432\",\"lsn\":\"0/30\",\"lag_bytes\":null,\"slot_status\":\"missing\","
        "\"slot_safe_wal_bytes\":null},"
        "{\"node\":\"w4:5432\",\"lsn\":\"0/40\",\"lag_bytes\":null,\"slot_status\":\"unreachable\","
        "\"slot_safe_wal_bytes\":null}]";
    const char *v[NCOLS] = {"all", "cdc", "0", "1", "100", NULL, NULL, "3", "2", "f",
                            "pgpulse_all_1", "missing", "live", "stream", "536870912",
                            "4294967296", "0", "0", nodes};
    PGresult *r = status_row(v);
    json_t *root = status_json(r);
    json_t *st = first_stage(root);
    assert_true(json_is_null(json_object_get(st, "lsn")));
    /* The least left is the node near the bound's. */
    assert_true(json_real_value(json_object_get(st, "slot_wal_left")) == 0.125);
    const char *w = json_string_value(json_object_get(st, "warning"));
    assert_non_null(w);
    assert_null(strstr(w, "w1:5432"));
    assert_non_null(strstr(w, "node w2:5432: its replication slot is near max_slot_wal_keep_size"));
    assert_non_null(strstr(w, "; node w3:5432: the consumer's replication slot there is missing"));
    assert_non_null(strstr(w, "`pgpulse slots drop all` starts it afresh"));
    assert_non_null(strstr(w, "; node w4:5432 did not answer"));
    json_t *n = json_object_get(st, "nodes");
    assert_int_equal(json_array_size(n), 4);
    assert_true(json_real_value(json_object_get(json_array_get(n, 0), "slot_wal_left")) == 0.75);
    assert_true(json_is_null(json_object_get(json_array_get(n, 0), "warning")));
    assert_true(json_is_null(json_object_get(json_array_get(n, 3), "slot_wal_left")));
    assert_non_null(json_string_value(json_object_get(json_array_get(n, 3), "warning")));
    json_decref(root);
    PQclear(r);
}

/* Many nodes at fault: the warning is cut at the buffer, never past it. */
static void test_many_nodes_fit(void **state)
{
    (void)state;
    char nodes[64 * 120] = "[";
    for (int k = 0; k < 60; k++)
        snprintf(nodes + strlen(nodes), sizeof nodes - strlen(nodes),
                 "%s{\"node\":\"worker-%02d.example:5432\",\"lsn\":\"0/0\",\"lag_bytes\":null,"
                 "\"slot_status\":\"unreachable\",\"slot_safe_wal_bytes\":null}",
                 k ? "," : "", k);
    strcat(nodes, "]");
    const char *v[NCOLS] = {"all", "cdc", "0", "1", "0", NULL, NULL, "0", "0", "f", "s",
                            "unreachable", "live", "stream", NULL, NULL, "0", "0", nodes};
    PGresult *r = status_row(v);
    json_t *n = status_nodes(r, 0);
    assert_int_equal(json_array_size(n), 60);
    double left;
    char msg[300];
    assert_int_equal(status_assess(r, 0, n, &left, msg, sizeof msg), 1);
    assert_true(strlen(msg) < sizeof msg);
    assert_non_null(strstr(msg, "node worker-00.example:5432 did not answer"));
    assert_true(left < 0);
    json_decref(n);
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_server),
        cmocka_unit_test(test_citus_nodes),
        cmocka_unit_test(test_many_nodes_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
