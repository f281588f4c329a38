/* Unit tests of the stream module's pure parts: consumer names and the slot names made from
 * them, and when a batch is due (the consumer itself is tested against PostgreSQL in tests/integration/test_stream*.c and
 * test_faults_stream.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stream.h"
#include "stream_int.h"

/* A batch lasts batch_ms, or 3x the last commit when that is longer; an empty one is never due. */
static void test_batch_due(void **state)
{
    (void)state;
    stream_opts o = {.batch_ms = 100};
    consumer c;
    memset(&c, 0, sizeof c);
    c.o = &o;
    assert_false(stream_batch_due(&c, 1000000)); /* empty */
    c.batch_start_us = 1000000;
    c.commit_us = 10000; /* a fast commit: batch_ms rules */
    assert_false(stream_batch_due(&c, 1099999));
    assert_true(stream_batch_due(&c, 1100000));
    c.commit_us = 50000; /* a slow one: 150 ms */
    assert_false(stream_batch_due(&c, 1100000));
    assert_false(stream_batch_due(&c, 1149999));
    assert_true(stream_batch_due(&c, 1150000));
}

static void test_check_name(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(stream_check_name("live", err, sizeof err), 0);
    assert_int_equal(stream_check_name("live+detect.s0of2", err, sizeof err), 0);
    assert_int_equal(stream_check_name("a_1", err, sizeof err), 0);
    assert_int_equal(stream_check_name("", err, sizeof err), -1);
    assert_int_equal(stream_check_name("Live", err, sizeof err), -1);
    assert_non_null(strstr(err, "only lower-case letters"));
    assert_int_equal(stream_check_name("a b", err, sizeof err), -1);
    assert_int_equal(stream_check_name("a\"b", err, sizeof err), -1);
    char n[50];
    memset(n, 'x', 48);
    n[48] = '\0';
    assert_int_equal(stream_check_name(n, err, sizeof err), 0);
    n[48] = 'x';
    n[49] = '\0';
    assert_int_equal(stream_check_name(n, err, sizeof err), -1);
    assert_non_null(strstr(err, "1 to 48 characters"));
}

static int identifier(const char *s)
{
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static void test_slot_name(void **state)
{
    (void)state;
    char a[STREAM_SLOT_NAME_MAX + 1], b[STREAM_SLOT_NAME_MAX + 1];
    /* Pinned (FNV-1a of "pgpulse\0live", computed apart): what operators see in
     * pg_replication_slots should not change from one release to the next. */
    stream_slot_name("pgpulse", "live", a, sizeof a);
    assert_string_equal(a, "pgpulse_live_7a941389");
    /* The same consumer in two databases of one cluster: two slots. */
    stream_slot_name("other", "live", b, sizeof b);
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(b, "pgpulse_live_", 13), 0);
    /* The same again: the same name. */
    stream_slot_name("other", "live", a, sizeof a);
    assert_string_equal(a, b);
    /* '+' and '.' become '_', and "a+b" stays apart from "a_b". */
    stream_slot_name("db", "live+detect.s0of2", a, sizeof a);
    assert_int_equal(strncmp(a, "pgpulse_live_detect_s0of2_", 26), 0);
    assert_true(identifier(a));
    stream_slot_name("db", "live_detect_s0of2", b, sizeof b);
    assert_string_not_equal(a, b);
    /* The database name and the consumer's are not simply joined: ("ab", "c") is not ("a",
     * "bc"). */
    stream_slot_name("ab", "c", a, sizeof a);
    stream_slot_name("a", "bc", b, sizeof b);
    assert_string_not_equal(a + strlen(a) - 8, b + strlen(b) - 8);
    /* The longest consumer name: within 63 bytes, its hash still tells apart names that differ
     * only past what is kept. */
    char n[49];
    memset(n, 'x', 48);
    n[48] = '\0';
    stream_slot_name("db", n, a, sizeof a);
    assert_true(strlen(a) <= STREAM_SLOT_NAME_MAX);
    assert_int_equal(strlen(a), 8 + STREAM_SLOT_CONSUMER_MAX + 9);
    assert_true(identifier(a));
    n[47] = 'y';
    stream_slot_name("db", n, b, sizeof b);
    assert_string_not_equal(a, b);
    /* A short buffer truncates. */
    char tiny[10];
    stream_slot_name("db", "live", tiny, sizeof tiny);
    assert_string_equal(tiny, "pgpulse_l");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_name),
        cmocka_unit_test(test_batch_due),
        cmocka_unit_test(test_slot_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
