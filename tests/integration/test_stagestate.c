/* Integration test of stagestate: blocks of any size (empty, binary with NULs, large) are
 * upserted by robot id in one statement — a second write replaces the first, other consumers'
 * rows stay — and a statement that fails is reported with the server's message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "stagestate.h"
#include "util.h"

static void save_text(const void *robot, buf *out)
{
    const char *s = robot;
    buf_append(out, s, strlen(s) + 1); /* the NUL too: blocks are binary */
}

static void test_upsert(void **state)
{
    (void)state;
    const char *db = harness_db("stagestate", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES "
                       "('a', '{detect}', 'poll'), ('b', '{detect}', 'poll')");
    char *big = xcalloc(300001, 1);
    memset(big, 'x', 300000);
    int32_t ids[] = {1, 2, 3};
    const void *blocks[] = {"", "one", big};
    char err[512];
    assert_int_equal(stagestate_write(conn, "detect_robot_state", "a", ids, blocks, 3, save_text, err,
                                      sizeof err), 0);
    assert_int_equal(stagestate_write(conn, "detect_robot_state", "b", ids, blocks, 1, save_text, err,
                                      sizeof err), 0);
    const void *again[] = {"two"};
    assert_int_equal(stagestate_write(conn, "detect_robot_state", "a", ids + 1, again, 1, save_text, err,
                                      sizeof err), 0);
    assert_int_equal(stagestate_write(conn, "detect_robot_state", "a", ids, again, 0, save_text, err,
                                      sizeof err), 0);
    char *got = harness_query_text(conn, "SELECT string_agg(consumer || robot_id || ':' || length(state) || ':' || "
                                         "encode(substr(state, 1, 3), 'escape'), ',' ORDER BY consumer, robot_id) "
                                         "FROM detect_robot_state");
    assert_string_equal(got, "a1:1:\\000,a2:4:two,a3:300001:xxx,b1:1:\\000");
    free(got);
    assert_int_equal(stagestate_write(conn, "detect_robot_state", "nobody", ids, blocks, 1, save_text, err,
                                      sizeof err), -1);
    assert_non_null(strstr(err, "foreign key"));
    free(big);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
