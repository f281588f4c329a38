/* Unit tests for detect (the pipeline): the context each detector is given (intervals and
 * their median, idle state, run start, lateness), the detector list parser, the merge of the
 * detectors' levels into the point's, HST left out of one-channel keys, the state's save
 * and load (byte for byte; another layout, a truncated or corrupt block refused with a
 * message), and the whole pipeline's event F1 on simulated faults of a seed the defaults were
 * not chosen on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "detect.h"
#include "detect_keys.h"
#include "gen.h"
#include "genprof.h"
#include "util.h"

#define S INT64_C(1000000)

static void test_context(void **state)
{
    (void)state;
    detect_cfg c;
    detect_cfg_default(&c);
    detect_state s;
    detect_state_init(&s, &c, 2);
    detect_ctx ctx;
    double idle[2] = {0, 0}, run[2] = {1.5, 0};
    detect_context(&s, 100 * S, idle, &ctx);
    assert_int_equal(ctx.n, 0);
    assert_true(ctx.dt_s == 0);
    assert_true(ctx.idle);
    assert_int_equal(ctx.run_start_us, 0);
    detect_context(&s, 102 * S, run, &ctx);
    assert_true(ctx.dt_s == 2);
    assert_true(!ctx.idle);
    assert_int_equal(ctx.run_start_us, 102 * S);
    assert_true(ctx.median_dt_s == 2);
    detect_context(&s, 106 * S, run, &ctx); /* intervals 2, 4: median 3 */
    assert_int_equal(ctx.run_start_us, 102 * S);
    assert_true(ctx.median_dt_s == 3);
    detect_context(&s, 105 * S, run, &ctx); /* late by 1 s */
    assert_true(ctx.late);
    assert_true(ctx.dt_s == -1);
    assert_true(ctx.median_dt_s == 3); /* a late point is no interval */
    detect_context(&s, 107 * S, idle, &ctx);
    assert_int_equal(ctx.run_start_us, 0); /* at rest: the run ended */
    assert_int_equal(ctx.n, 4);
    assert_int_equal(s.newest_us, 107 * S);
    /* The median of the last 32 intervals: 40 of 1 s, then 20 of 5 s -> still 1 s; 20 more
     * of 5 s -> 5 s (recomputed every 32 intervals once the window is full). */
    for (int i = 0; i < 40; i++) detect_context(&s, s.newest_us + 1 * S, run, &ctx);
    assert_true(ctx.median_dt_s == 1);
    for (int i = 0; i < 40; i++) detect_context(&s, s.newest_us + 5 * S, run, &ctx);
    assert_true(s.median_dt_s == 5);
}

static void test_parse_enabled(void **state)
{
    (void)state;
    unsigned m;
    char err[256];
    assert_int_equal(detect_parse_enabled("all", &m, err, sizeof err), 0);
    assert_int_equal(m, (1u << DETECT_NKINDS) - 1);
    assert_int_equal(detect_parse_enabled("robust,quality", &m, err, sizeof err), 0);
    assert_int_equal(m, (1u << DETECT_ROBUST) | (1u << DETECT_QUALITY));
    assert_int_equal(detect_parse_enabled("robust,nope", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown detector 'nope'"));
    assert_int_equal(detect_parse_enabled("", &m, err, sizeof err), -1);
    assert_string_equal(detect_kind_name(DETECT_HST), "hst");
    assert_string_equal(detect_level_name(DETECT_ERROR), "ERROR");
    assert_string_equal(detect_level_name(DETECT_NONE), "");
}

/* A steady two-channel series, then one channel far out: robust flags it, the point's level
 * and the channel's detector say so, and the score rises. */
static void test_levels_merge_into_the_point(void **state)
{
    (void)state;
    detect_cfg c;
    detect_cfg_default(&c);
    detect_state s;
    detect_state_init(&s, &c, 2);
    detect_result r;
    uint64_t z = 12345;
    for (int i = 0; i < 3000; i++) {
        z = z * 6364136223846793005u + 1442695040888963407u;
        double x[2] = {10 + (double)(z >> 40) / (double)(1u << 24), 5 + (double)(z >> 52) / 4096.0};
        detect_step(&s, &c, (int64_t)i * 2 * S, x, &r);
    }
    double base = r.score;
    double x[2] = {60, 5.5};
    detect_step(&s, &c, INT64_C(3000) * 2 * S, x, &r);
    assert_int_equal(r.level, DETECT_ERROR);
    assert_int_equal(r.ch_level[0], DETECT_ERROR);
    assert_int_equal(r.out[DETECT_ROBUST].level[0], DETECT_ERROR);
    assert_true(r.ch_z[0] >= r.out[DETECT_ROBUST].z[0] || r.ch_detector[0] != DETECT_ROBUST);
    assert_true(r.score > 0.5 && r.score > base);
    /* With robust disabled, its output is all zero and cannot set a level. */
    c.enabled &= ~(1u << DETECT_ROBUST);
    detect_step(&s, &c, INT64_C(3001) * 2 * S, x, &r);
    assert_int_equal(r.out[DETECT_ROBUST].level[0], 0);
    assert_true(r.out[DETECT_ROBUST].z[0] == 0);
}

static void test_hst_needs_two_channels(void **state)
{
    (void)state;
    detect_cfg c;
    detect_cfg_default(&c);
    detect_state s;
    detect_state_init(&s, &c, 1);
    detect_result r;
    for (int i = 0; i < 2000; i++) {
        double x = (i % 7) + 1;
        detect_step(&s, &c, (int64_t)i * S, &x, &r);
        assert_int_equal(r.out[DETECT_HST].multi_level, 0);
        assert_true(r.out[DETECT_HST].multi_z == 0);
    }
}

static void test_state_save_and_load(void **state)
{
    (void)state;
    detect_cfg c;
    detect_cfg_default(&c);
    detect_state s, t;
    detect_state_init(&s, &c, 8);
    detect_result r;
    for (int i = 0; i < 500; i++) {
        double x[8] = {i % 3, 1, 2, 3, 0.5 * (i % 5), 0, 0, 1};
        detect_step(&s, &c, (int64_t)i * S, x, &r);
    }
    buf b = {0};
    buf_append(&b, "x", 1); /* saved after other bytes: the load is given its own part */
    detect_state_save(&s, &b);
    char err[256];
    assert_int_equal(detect_state_load(&t, b.data + 1, b.len - 1, err, sizeof err), (long)(b.len - 1));
    assert_memory_equal(&s, &t, sizeof s);
    /* The restored state continues exactly as the original. */
    double x[8] = {9, 1, 2, 3, 0, 0, 0, 1};
    detect_result r1, r2;
    detect_step(&s, &c, 600 * S, x, &r1);
    detect_step(&t, &c, 600 * S, x, &r2);
    assert_true(r1.score == r2.score && r1.level == r2.level);
    /* Refused: truncated, another layout, corrupt. */
    assert_int_equal(detect_state_load(&t, b.data + 1, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "shorter than its header"));
    assert_int_equal(detect_state_load(&t, b.data + 1, b.len - 100, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    b.data[1 + 4] ^= 0x7f; /* the version: a later one */
    assert_int_equal(detect_state_load(&t, b.data + 1, b.len - 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "saved by another build"));
    b.data[1 + 4] ^= 0x7f;
    uint32_t version, earlier = 1;
    memcpy(&version, b.data + 1 + 4, sizeof version);
    assert_true(version > earlier);
    memcpy(b.data + 1 + 4, &earlier, sizeof earlier); /* an earlier one: the caller starts afresh */
    assert_int_equal(detect_state_load(&t, b.data + 1, b.len - 1, err, sizeof err), -2);
    assert_non_null(strstr(err, "earlier version"));
    memcpy(b.data + 1 + 4, &version, sizeof version);
    size_t nch_at = 1 + 16 + offsetof(detect_state, nch);
    b.data[nch_at] = 99;
    assert_int_equal(detect_state_load(&t, b.data + 1, b.len - 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt"));
    b.data[nch_at] = 8;
    int32_t bad = 32; /* one past the interval ring */
    memcpy(b.data + 1 + 16 + offsetof(detect_state, dt_pos), &bad, sizeof bad);
    assert_int_equal(detect_state_load(&t, b.data + 1, b.len - 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "interval ring 32/"));
    buf_free(&b);
}

/* ---- the pipeline against the simulator's ground truth ---- */

#define SIM_ROBOTS 20
#define SIM_HOURS 12
#define SIM_WARMUP_H 2 /* the detectors judge nothing in a robot's first ~1,000 readings */
#define SIM_SLACK_US (INT64_C(30) * 1000000)

typedef struct sim_ep {
    int32_t robot;
    int axis; /* 1..8, 0: the whole robot */
    int64_t t0, t1;
} sim_ep;

typedef struct sim_run {
    sim_ep *eps;
    size_t n, cap;
    detect_key *cur;
} sim_run;

static void sim_on_episode(void *arg, const detect_episode *e, detect_episode_event ev)
{
    sim_run *r = arg;
    if (ev != DETECT_EPISODE_CLOSE) return;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->eps = xrealloc(r->eps, r->cap * sizeof *r->eps);
    }
    r->eps[r->n++] = (sim_ep){(int32_t)r->cur->key,
                              e->channel == DETECT_EPISODE_MULTI ? 0 : e->channel + 1,
                              e->ts_start, e->ts_end};
}

static int sim_matches(const sim_ep *e, const gen_fault *f)
{
    return e->robot == f->robot_id && (e->axis == 0 || f->axis == 0 || e->axis == f->axis) &&
           e->t0 <= f->ts_end + SIM_SLACK_US && e->t1 >= f->ts_start;
}

/* The bench's scoring (bench/detect/simscore.py) on a smaller fleet with five times the
 * faults (so that each kind has enough of them in 12 hours): every episode that
 * matches no fault of any kind is a false alarm; recall per kind over the faults that start
 * after the warm-up; F1 with the one precision. The defaults were chosen on seeds 7 and 11. */
static void test_simulated_faults_found(void **state)
{
    (void)state;
    genprof p;
    genprof_default(&p);
    const int64_t start = INT64_C(1767225600000000);
    gen_opts o = {.robots = SIM_ROBOTS, .first_robot = 1, .seed = 23, .start_us = start,
                  .interval_scale = 1, .faults = GEN_FAULTS_HEAVY};
    gen *g = gen_new(&p, &o);
    detect_cfg c;
    detect_cfg_default(&c);
    detect_keys keys;
    detect_keys_init(&keys, &c, READING_AXES);
    sim_run run = {0};
    detect_result res;
    reading r;
    int64_t rows = 0;
    const int64_t end = start + INT64_C(3600000000) * SIM_HOURS;
    for (;;) {
        int more = gen_now(g) < end;
        if (more)
            gen_next(g, &r);
        else if (!gen_next_queued(g, &r))
            break;
        run.cur = detect_keys_get(&keys, r.robot_id);
        detect_key_step(run.cur, &c, DETECT_EPISODE_DEFAULT_BRIDGE, r.ts_us, r.axis, &res,
                        sim_on_episode, &run);
        rows++;
        if (!more) continue;
        if (gen_now(g) >= end) gen_close(g);
    }
    for (size_t i = 0; i < keys.cap; i++)
        if (keys.slots[i]) {
            run.cur = keys.slots[i];
            detect_episodes_flush(&run.cur->ep, READING_AXES, sim_on_episode, &run);
        }
    gen_fault *faults = NULL;
    size_t nf = 0, fcap = 0;
    gen_fault f;
    while (gen_pop_fault(g, &f)) {
        if (nf == fcap) {
            fcap = fcap ? 2 * fcap : 256;
            faults = xrealloc(faults, fcap * sizeof *faults);
        }
        faults[nf++] = f;
    }
    size_t matched = 0;
    for (size_t i = 0; i < run.n; i++)
        for (size_t j = 0; j < nf; j++)
            if (sim_matches(&run.eps[i], &faults[j])) {
                matched++;
                break;
            }
    double precision = (double)matched / (double)run.n;
    print_message("%lld rows, %zu episodes, precision %.3f\n", (long long)rows, run.n, precision);
    const gen_kind kinds[] = {GEN_PLATEAU, GEN_SPIKE, GEN_STUCK, GEN_NOISE};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(kinds); k++) {
        size_t total = 0, found = 0;
        for (size_t j = 0; j < nf; j++) {
            if (faults[j].kind != kinds[k]) continue;
            if (faults[j].ts_start < start + INT64_C(3600000000) * SIM_WARMUP_H) continue;
            total++;
            for (size_t i = 0; i < run.n; i++)
                if (sim_matches(&run.eps[i], &faults[j])) {
                    found++;
                    break;
                }
        }
        double recall = (double)found / (double)total;
        double f1 = 2 * precision * recall / (precision + recall);
        print_message("%-8s %zu of %zu found, F1 %.3f\n", gen_kind_name(kinds[k]), found, total, f1);
        assert_true(total >= 8);
        if (!(f1 >= 0.9)) fail_msg("%s: F1 %.3f below 0.9", gen_kind_name(kinds[k]), f1);
    }
    free(faults);
    free(run.eps);
    detect_keys_free(&keys);
    gen_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_parse_enabled),
        cmocka_unit_test(test_levels_merge_into_the_point),
        cmocka_unit_test(test_hst_needs_two_channels),
        cmocka_unit_test(test_state_save_and_load),
        cmocka_unit_test(test_simulated_faults_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
