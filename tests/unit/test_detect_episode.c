/* Unit tests for detect_episode: flagged points merge into one episode per channel and
 * stretch, lulls shorter than the bridge do not split it, longer ones do, the level rises but
 * never falls, the whole-point slot is separate, and flush closes what is open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "detect_episode.h"

#define MAXEV 64

typedef struct seen {
    detect_episode e[MAXEV];
    detect_episode_event ev[MAXEV];
    int n;
} seen;

static void on_episode(void *arg, const detect_episode *e, detect_episode_event ev)
{
    seen *s = arg;
    assert_true(s->n < MAXEV);
    s->e[s->n] = *e;
    s->ev[s->n] = ev;
    s->n++;
}

/* Steps point n at n seconds with channel ch at level (ch -1: multi). */
static void step(detect_episodes *e, int bridge, int64_t n, int ch, int level, double score, seen *s)
{
    detect_result r;
    memset(&r, 0, sizeof r);
    r.score = score;
    if (ch >= 0) {
        r.ch_level[ch] = (int8_t)level;
        r.ch_detector[ch] = DETECT_ROBUST;
        r.ch_z[ch] = 3 * level;
    } else {
        r.multi_level = (int8_t)level;
        r.multi_detector = DETECT_QUALITY;
        r.out[DETECT_QUALITY].quality = DETECT_Q_GAP;
    }
    r.level = level;
    detect_episodes_step(e, 8, bridge, n, n * 1000000, &r, on_episode, s);
}

static int closes(const seen *s)
{
    int c = 0;
    for (int i = 0; i < s->n; i++) c += s->ev[i] == DETECT_EPISODE_CLOSE;
    return c;
}

static const detect_episode *last_close(const seen *s)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (s->ev[i] == DETECT_EPISODE_CLOSE) return &s->e[i];
    return NULL;
}

static void test_points_merge_and_close_after_bridge(void **state)
{
    (void)state;
    detect_episodes e;
    detect_episodes_init(&e);
    seen s = {0};
    step(&e, 3, 0, 2, DETECT_ALERT, 0.5, &s);
    assert_int_equal(s.ev[0], DETECT_EPISODE_OPEN);
    step(&e, 3, 1, 2, DETECT_ERROR, 0.9, &s);
    assert_int_equal(s.e[0].rose_n, -1);
    assert_int_equal(s.e[1].rose_n, 1); /* ALERT to ERROR at point 1 */
    step(&e, 3, 2, 2, DETECT_ALERT, 0.6, &s);
    assert_int_equal(s.ev[2], DETECT_EPISODE_EXTEND);
    assert_int_equal(s.e[2].rose_n, 1);
    step(&e, 3, 3, 2, 0, 0.1, &s);
    step(&e, 3, 4, 2, 0, 0.1, &s);
    assert_int_equal(closes(&s), 0); /* 2 quiet points < bridge 3 */
    step(&e, 3, 5, 2, 0, 0.1, &s);
    assert_int_equal(closes(&s), 1);
    const detect_episode *c = last_close(&s);
    assert_int_equal(c->channel, 2);
    assert_int_equal(c->level, DETECT_ERROR); /* the highest, kept after it fell back */
    assert_int_equal(c->points, 3);
    assert_int_equal(c->ts_first, 0);
    assert_int_equal(c->ts_start, 0);
    assert_int_equal(c->ts_end, 2000000);
    assert_true(c->peak_score == 0.9);
    assert_true(c->peak_z == 6);
    assert_int_equal(c->first_n, 0);
    assert_int_equal(c->last_n, 2);
}

static void test_lull_shorter_than_bridge_does_not_split(void **state)
{
    (void)state;
    detect_episodes e;
    detect_episodes_init(&e);
    seen s = {0};
    step(&e, 3, 0, 0, DETECT_ALERT, 0.5, &s);
    step(&e, 3, 1, 0, 0, 0, &s);
    step(&e, 3, 2, 0, 0, 0, &s);
    step(&e, 3, 3, 0, DETECT_ALERT, 0.5, &s); /* 2 quiet points: same episode */
    for (int n = 4; n < 7; n++) step(&e, 3, n, 0, 0, 0, &s);
    assert_int_equal(closes(&s), 1);
    assert_int_equal(last_close(&s)->points, 2);
    step(&e, 3, 7, 0, DETECT_ALERT, 0.5, &s); /* after 3 quiet points: a new one */
    detect_episodes_flush(&e, 8, on_episode, &s);
    assert_int_equal(closes(&s), 2);
    assert_int_equal(last_close(&s)->ts_first, 7000000);
    assert_int_equal(last_close(&s)->points, 1);
}

static void test_channels_and_multi_are_separate(void **state)
{
    (void)state;
    detect_episodes e;
    detect_episodes_init(&e);
    seen s = {0};
    step(&e, 2, 0, 1, DETECT_ALERT, 0.5, &s);
    step(&e, 2, 1, 5, DETECT_ALERT, 0.5, &s);
    step(&e, 2, 2, -1, DETECT_ERROR, 0.7, &s);
    int opens = 0;
    for (int i = 0; i < s.n; i++) opens += s.ev[i] == DETECT_EPISODE_OPEN;
    assert_int_equal(opens, 3);
    detect_episodes_flush(&e, 8, on_episode, &s);
    assert_int_equal(closes(&s), 3);
    const detect_episode *m = last_close(&s);
    assert_int_equal(m->channel, DETECT_EPISODE_MULTI);
    assert_int_equal(m->detector, DETECT_QUALITY);
    assert_int_equal(m->reason, DETECT_Q_GAP);
    /* Flushed slots are empty: a second flush closes nothing. */
    int before = s.n;
    detect_episodes_flush(&e, 8, on_episode, &s);
    assert_int_equal(s.n, before);
}

static void test_late_point_widens_the_range(void **state)
{
    (void)state;
    detect_episodes e;
    detect_episodes_init(&e);
    seen s = {0};
    detect_result r;
    memset(&r, 0, sizeof r);
    r.ch_level[3] = DETECT_ALERT;
    r.level = DETECT_ALERT;
    detect_episodes_step(&e, 8, 5, 0, 10000000, &r, on_episode, &s);
    detect_episodes_step(&e, 8, 5, 1, 4000000, &r, on_episode, &s); /* late */
    detect_episodes_flush(&e, 8, on_episode, &s);
    const detect_episode *c = last_close(&s);
    assert_int_equal(c->ts_first, 10000000);
    assert_int_equal(c->ts_start, 4000000);
    assert_int_equal(c->ts_end, 10000000);
}

static void test_reason_names(void **state)
{
    (void)state;
    char out[128];
    detect_reason_format(DETECT_Q_STUCK | DETECT_Q_LATE | DETECT_Q_IDLE_BREAK, out, sizeof out);
    assert_string_equal(out, "stuck,late,idle_break");
    detect_reason_format(0, out, sizeof out);
    assert_string_equal(out, "");
    detect_reason_format(0xffu, out, 12); /* truncated at a name, never mid-way */
    assert_string_equal(out, "stuck,gap");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points_merge_and_close_after_bridge),
        cmocka_unit_test(test_lull_shorter_than_bridge_does_not_split),
        cmocka_unit_test(test_channels_and_multi_are_separate),
        cmocka_unit_test(test_late_point_widens_the_range),
        cmocka_unit_test(test_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
