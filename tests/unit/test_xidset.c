/* Unit tests of xidset: pg_snapshot text, ended ids, widening 32-bit ids across epochs, the
 * sorted id lists, and a simulation of the consumer's bookkeeping (snapshots promoted once the
 * stream passes them) checking that the accounted set is exactly the applied one. The
 * simulation prints its seed; PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rng.h"
#include "unit/seed.h"
#include "util.h"
#include "xidset.h"

static char *snap_text(const xidset_snap *s)
{
    buf b = {0};
    xidset_snap_format(s, &b);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

static void test_snap_parse_format(void **state)
{
    (void)state;
    xidset_snap s;
    char err[256];
    assert_int_equal(xidset_snap_parse("10:20:12,15", &s, err, sizeof err), 0);
    assert_int_equal(s.xmin, 10);
    assert_int_equal(s.xmax, 20);
    assert_int_equal(s.nxip, 2);
    char *t = snap_text(&s);
    assert_string_equal(t, "10:20:12,15");
    free(t);
    xidset_snap_free(&s);
    /* Unsorted and repeated ids are put in order once. */
    assert_int_equal(xidset_snap_parse("10:20:15,12,15", &s, err, sizeof err), 0);
    t = snap_text(&s);
    assert_string_equal(t, "10:20:12,15");
    free(t);
    buf b = {0};
    xidset_snap_format_xip(&s, &b);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "{12,15}");
    buf_free(&b);
    xidset_snap_free(&s);
    assert_int_equal(xidset_snap_parse("10:10:", &s, err, sizeof err), 0);
    assert_int_equal(s.nxip, 0);
    xidset_snap_format_xip(&s, &b);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "{}");
    buf_free(&b);
    xidset_snap_free(&s);
    /* xmin above xmax, as a slot's exported snapshot can be: every id below xmin ended, no
     * other (PostgreSQL tests xid < xmin first), kept as xmin:xmin:. */
    assert_int_equal(xidset_snap_parse("3294:3293:", &s, err, sizeof err), 0);
    assert_true(s.xmin == 3294 && s.xmax == 3294 && s.nxip == 0);
    assert_true(xidset_snap_ended(&s, 3293) && !xidset_snap_ended(&s, 3294));
    xidset_snap_free(&s);
    assert_int_equal(xidset_snap_parse("20:10:5", &s, err, sizeof err), 0);
    assert_true(s.xmin == 20 && s.xmax == 20 && s.nxip == 0 && xidset_snap_ended(&s, 15));
    xidset_snap_free(&s);
    /* 64-bit ids (epoch above 0). */
    assert_int_equal(xidset_snap_parse("4294967300:4294967310:4294967301", &s, err, sizeof err), 0);
    assert_true(s.xmin == UINT64_C(4294967300) && s.xip[0] == UINT64_C(4294967301));
    xidset_snap_free(&s);

    static const char *const bad[] = {"",
                                      "10",
                                      "10:20",
                                      "10:20:25",
                                      "10:20:5",
                                      "10:20:12,",
                                      "10:20:,12",
                                      "a:b:",
                                      "10:20:12x",
                                      "-1:2:",
                                      "10:20:12,,13",
                                      "99999999999999999999:1:"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        if (xidset_snap_parse(bad[i], &s, err, sizeof err) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(err, "snapshot"));
        assert_null(s.xip);
    }
}

static void test_snap_ended(void **state)
{
    (void)state;
    xidset_snap s;
    assert_int_equal(xidset_snap_parse("10:20:12,15", &s, NULL, 0), 0);
    assert_true(xidset_snap_ended(&s, 3));
    assert_true(xidset_snap_ended(&s, 9));
    assert_true(xidset_snap_ended(&s, 10));
    assert_true(xidset_snap_ended(&s, 11));
    assert_false(xidset_snap_ended(&s, 12));
    assert_true(xidset_snap_ended(&s, 13));
    assert_false(xidset_snap_ended(&s, 15));
    assert_true(xidset_snap_ended(&s, 19));
    assert_false(xidset_snap_ended(&s, 20));
    assert_false(xidset_snap_ended(&s, 1000));
    xidset_snap c = {0};
    xidset_snap_copy(&c, &s);
    xidset_snap_free(&s);
    assert_false(xidset_snap_ended(&c, 12));
    assert_true(xidset_snap_ended(&c, 13));
    xidset_snap_free(&c);
}

static void test_widen(void **state)
{
    (void)state;
    const uint64_t E = UINT64_C(1) << 32;
    assert_int_equal(xidset_widen(100, 90), 100);
    assert_int_equal(xidset_widen(80, 90), 80);
    /* The nearer epoch, either way across a wraparound of the 32-bit counter. */
    assert_int_equal(xidset_widen(0xFFFFFFF0u, E + 5), E - 16);
    assert_int_equal(xidset_widen(10, E - 5), E + 10);
    assert_int_equal(xidset_widen(3, 5 * E + 0xFFFFFFF0u), 6 * E + 3);
    /* Never below 0: near the start of epoch 0 the id must be ahead. */
    assert_int_equal(xidset_widen(0xFFFFFFF0u, 10), 0xFFFFFFF0u);
    /* Half a counter away is the limit on each side. */
    assert_int_equal(xidset_widen((uint32_t)(E / 2 - 1), E), E + E / 2 - 1);
    assert_int_equal(xidset_widen((uint32_t)(E / 2), E), E - E / 2);
    /* Every id within 2^31 of ref comes back. */
    rng r;
    rng_seed(&r, 3, 0);
    for (int i = 0; i < 100000; i++) {
        uint64_t ref = (E / 2) + (rng_next(&r) % (1000 * E));
        int64_t d = (int64_t)(rng_next(&r) % E) - (int64_t)(E / 2);
        uint64_t x = (uint64_t)((int64_t)ref + d);
        assert_int_equal(xidset_widen((uint32_t)x, ref), x);
    }
}

static void test_list(void **state)
{
    (void)state;
    xidset_list l = {0}, m = {0};
    for (uint64_t x = 20; x > 0; x -= 2)
        xidset_list_add(&l, x);
    xidset_list_add(&l, 8);
    assert_int_equal(l.n, 10);
    for (size_t i = 1; i < l.n; i++)
        assert_true(l.v[i - 1] < l.v[i]);
    assert_true(xidset_list_has(&l, 2));
    assert_false(xidset_list_has(&l, 3));
    xidset_list_add(&m, 3);
    xidset_list_add(&m, 4);
    xidset_list_merge(&l, &m);
    assert_int_equal(l.n, 11);
    assert_true(xidset_list_has(&l, 3));
    xidset_snap s;
    assert_int_equal(xidset_snap_parse("10:16:12,14", &s, NULL, 0), 0);
    xidset_list_drop_ended(&l, &s);
    buf b = {0};
    xidset_list_format(&l, &b);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "{12,14,16,18,20}");
    xidset_list r;
    char err[256];
    assert_int_equal(xidset_list_parse((char *)b.data, &r, err, sizeof err), 0);
    assert_int_equal(r.n, 5);
    assert_true(xidset_accounted(&s, &r, 9));
    assert_false(xidset_accounted(&s, &r, 17));
    assert_true(xidset_accounted(&s, &r, 18));
    assert_true(xidset_accounted(&s, &r, 12));
    assert_false(xidset_accounted(&s, &(xidset_list){0}, 12));
    xidset_list_copy(&m, &r);
    assert_int_equal(m.n, 5);
    xidset_list_clear(&m);
    assert_int_equal(m.n, 0);
    xidset_list_free(&r);
    assert_int_equal(xidset_list_parse("{}", &r, err, sizeof err), 0);
    assert_int_equal(r.n, 0);
    static const char *const bad[] = {"", "{", "{1,}", "{,1}", "{a}", "{1}x", "1,2", "{1 2}"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        if (xidset_list_parse(bad[i], &r, err, sizeof err) != -1) fail_msg("accepted '%s'", bad[i]);
    buf_free(&b);
    xidset_snap_free(&s);
    xidset_list_free(&l);
    xidset_list_free(&m);
    xidset_list_free(&r);
}

/* The consumer's bookkeeping against a model of a server: transactions begin and end in random
 * order (some abort, some run long); the stream delivers the committed ones in commit order;
 * the consumer records the ids it applies and takes snapshots (with the position of the last
 * commit then), promoting the newest one the stream has passed. At every step, for every id:
 * accounted == applied or committed before the consumer began. */
#define SIM_TX 4000

typedef struct sim {
    int state[SIM_TX];      /* 0 not begun, 1 running, 2 committed, 3 aborted */
    int commit_pos[SIM_TX]; /* position of its commit in the stream */
    int applied[SIM_TX];
    uint64_t base; /* id of transaction 0 (near an epoch boundary) */
} sim;

static void sim_snapshot(const sim *m, int next, xidset_snap *s)
{
    memset(s, 0, sizeof *s);
    s->xmax = m->base + (uint64_t)next;
    s->xmin = s->xmax;
    size_t cap = 0;
    for (int i = 0; i < next; i++) {
        if (m->state[i] != 1) continue;
        if (m->base + (uint64_t)i < s->xmin) s->xmin = m->base + (uint64_t)i;
        if (s->nxip == cap) {
            cap = cap ? cap * 2 : 16;
            s->xip = xrealloc(s->xip, cap * sizeof *s->xip);
        }
        s->xip[s->nxip++] = m->base + (uint64_t)i;
    }
}

static void test_accounting_simulation(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, test_seed(), 0);
    sim *m = xcalloc(1, sizeof *m);
    m->base = (UINT64_C(1) << 32) * 7 - 1500; /* ids cross an epoch boundary */
    int next = 0;                             /* next transaction to begin */
    int commits = 0;                          /* commits so far (stream positions) */
    int delivered = 0;                        /* stream position the consumer has handled */
    int order[SIM_TX];                        /* transactions in commit order */
    /* Before the consumer begins: some transactions, a snapshot that covers them. */
    for (; next < 50; next++)
        m->state[next] = 1;
    for (int i = 0; i < 40; i++) {
        m->state[i] = 2;
        m->commit_pos[i] = -1;
        m->applied[i] = 1; /* before the start */
    }
    xidset_snap covered;
    sim_snapshot(m, next, &covered);
    xidset_list applied = {0};
    xidset_snap pend[8];
    int pend_pos[8], npend = 0;
    size_t max_applied = 0;
    int long_runner = 45; /* stays open for most of the run: holds xmin back */
    while (next < SIM_TX || commits > delivered) {
        /* Begin 30 %, end 25 %, deliver 35 % (the consumer keeps up with the writers; one
         * working through a backlog holds the backlog's ids until it passes a snapshot, which
         * is why stream_applied_xid is a table), consumer commit 10 %. */
        unsigned op = (unsigned)(rng_next(&r) % 20);
        if (op < 6 && next < SIM_TX) {
            m->state[next++] = 1;
        } else if (op < 11) {
            int running[SIM_TX], nr = 0;
            for (int i = 0; i < next; i++)
                if (m->state[i] == 1 && (i != long_runner || next == SIM_TX)) running[nr++] = i;
            if (!nr) continue;
            int t = running[rng_next(&r) % (uint64_t)nr];
            if (rng_next(&r) % 8 == 0) {
                m->state[t] = 3;
            } else {
                m->state[t] = 2;
                m->commit_pos[t] = commits;
                order[commits++] = t;
            }
        } else if (op < 18 && delivered < commits) {
            /* The stream delivers the next commit; the consumer applies it. */
            int t = order[delivered++];
            m->applied[t] = 1;
            uint64_t x = xidset_widen((uint32_t)(m->base + (uint64_t)t), covered.xmax);
            assert_int_equal(x, m->base + (uint64_t)t);
            if (!xidset_snap_ended(&covered, x)) xidset_list_add(&applied, x);
        } else if (op >= 18) {
            /* A commit of the consumer: promote, then take a snapshot (position: the commits
             * so far, which is where the WAL insert position is). */
            int promote = -1;
            for (int i = 0; i < npend; i++)
                if (pend_pos[i] <= delivered) promote = i;
            if (promote >= 0) {
                xidset_snap_copy(&covered, &pend[promote]);
                xidset_list_drop_ended(&applied, &covered);
                for (int i = 0; i <= promote; i++)
                    xidset_snap_free(&pend[i]);
                memmove(pend, pend + promote + 1, (size_t)(npend - promote - 1) * sizeof *pend);
                memmove(pend_pos, pend_pos + promote + 1,
                        (size_t)(npend - promote - 1) * sizeof *pend_pos);
                npend -= promote + 1;
            }
            if (npend == 8) xidset_snap_free(&pend[--npend]);
            sim_snapshot(m, next, &pend[npend]);
            pend_pos[npend++] = commits;
        }
        if (applied.n > max_applied) max_applied = applied.n;
        for (int i = 0; i < next; i++) {
            int acc = xidset_accounted(&covered, &applied, m->base + (uint64_t)i);
            if (m->state[i] == 2 && acc != m->applied[i])
                fail_msg("transaction %d: accounted %d, applied %d", i, acc, m->applied[i]);
            if (acc && m->state[i] == 1) fail_msg("running transaction %d is accounted", i);
        }
    }
    /* The long-running transaction held xmin back, yet the list stayed short. */
    print_message("applied list: at most %zu ids over %d commits\n", max_applied, commits);
    assert_true(max_applied < 200);
    assert_true(commits > 2000);
    for (int i = 0; i < npend; i++)
        xidset_snap_free(&pend[i]);
    xidset_snap_free(&covered);
    xidset_list_free(&applied);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snap_parse_format),
        cmocka_unit_test(test_snap_ended),
        cmocka_unit_test(test_widen),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_accounting_simulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
