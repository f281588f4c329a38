/* detect_cores: the detectors' speed on one core, without I/O — the microbenchmark of
 * bench/detect/run.
 *
 *     detect_cores [--points N]
 *
 * Two inputs, built in memory before any clock starts: the simulator's default fleet (20
 * robots, default faults, 8 channels) and a one-channel series (a noisy random walk with
 * occasional steps). For each detector's core alone (its step function on contexts computed
 * beforehand), for the pipeline without detectors (context, merge, combiner) and for the whole
 * pipeline (detect_step: every detector and the combiner), it times N points per input and
 * prints one line each:
 *
 *     detect_cores input=fleet8 core=robust points=2000000 channels=8 seconds=0.123 \
 *         points_per_s=16260162 channel_points_per_s=130081300
 *     detect_cores input=fleet8 pipeline=all points=2000000 ...
 *
 * Keys are stepped in input order with a state per robot, as the live stage does. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"
#include "gen.h"
#include "genprof.h"
#include "rng.h"
#include "util.h"

#define FLEET 20

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct input {
    const char *name;
    int nch;
    size_t n;
    int32_t *key;      /* 0..FLEET-1 */
    int64_t *ts;
    double *x;         /* n * nch */
} input;

static void input_fleet(input *in, size_t n)
{
    genprof p;
    genprof_default(&p);
    gen_opts o = {.robots = FLEET, .first_robot = 1, .seed = 1, .start_us = INT64_C(1767225600000000),
                  .interval_scale = 1, .faults = GEN_FAULTS_DEFAULT};
    gen *g = gen_new(&p, &o);
    in->name = "fleet8";
    in->nch = READING_AXES;
    in->n = n;
    in->key = xmalloc(n * sizeof *in->key);
    in->ts = xmalloc(n * sizeof *in->ts);
    in->x = xmalloc(n * READING_AXES * sizeof *in->x);
    for (size_t i = 0; i < n; i++) {
        reading r;
        gen_next(g, &r);
        in->key[i] = r.robot_id - 1;
        in->ts[i] = r.ts_us;
        memcpy(&in->x[i * READING_AXES], r.axis, sizeof r.axis);
    }
    gen_free(g);
}

static void input_series(input *in, size_t n)
{
    rng r;
    rng_seed(&r, 7, 0);
    in->name = "series1";
    in->nch = 1;
    in->n = n;
    in->key = xcalloc(n, sizeof *in->key);
    in->ts = xmalloc(n * sizeof *in->ts);
    in->x = xmalloc(n * sizeof *in->x);
    double level = 100;
    for (size_t i = 0; i < n; i++) {
        if (rng_uniform(&r) < 1e-4) level += 20 * rng_normal(&r);
        level += 0.05 * rng_normal(&r);
        in->ts[i] = INT64_C(1400000000000000) + (int64_t)i * 300000000;
        in->x[i] = level + rng_normal(&r);
    }
}

static void report(const input *in, const char *what, const char *label, double s, double sink)
{
    printf("detect_cores input=%s %s=%s points=%zu channels=%d seconds=%.4f "
           "points_per_s=%.0f channel_points_per_s=%.0f sink=%g\n",
           in->name, what, label, in->n, in->nch, s, (double)in->n / s,
           (double)in->n * in->nch / s, sink);
}

/* The whole pipeline (detect_step) with the detectors of `enabled`. */
static void run_pipeline(const input *in, const char *label, unsigned enabled)
{
    detect_cfg c;
    detect_cfg_default(&c);
    c.enabled = enabled;
    int keys = in->nch == 1 ? 1 : FLEET;
    detect_state *st = xmalloc((size_t)keys * sizeof *st);
    for (int k = 0; k < keys; k++) detect_state_init(&st[k], &c, in->nch);
    detect_result res;
    double sink = 0;
    double t0 = now_s();
    for (size_t i = 0; i < in->n; i++) {
        detect_step(&st[in->key[i]], &c, in->ts[i], &in->x[i * (size_t)in->nch], &res);
        sink += res.score;
    }
    report(in, "pipeline", label, now_s() - t0, sink);
    free(st);
}

/* One detector's core alone, on contexts computed beforehand (as detect_step would). */
static void run_core(const input *in, detect_kind k, const detect_ctx *ctx)
{
    detect_cfg c;
    detect_cfg_default(&c);
    int keys = in->nch == 1 ? 1 : FLEET;
    detect_state *st = xmalloc((size_t)keys * sizeof *st);
    for (int j = 0; j < keys; j++) detect_state_init(&st[j], &c, in->nch);
    detect_out o;
    double sink = 0;
    double t0 = now_s();
    for (size_t i = 0; i < in->n; i++) {
        detect_state *s = &st[in->key[i]];
        const double *x = &in->x[i * (size_t)in->nch];
        switch (k) {
        case DETECT_REGRESS: detect_regress_step(&s->regress, &c.regress, &ctx[i], x, &o); break;
        case DETECT_ROBUST: detect_robust_step(&s->robust, &c.robust, &ctx[i], x, &o); break;
        case DETECT_CUSUM: detect_cusum_step(&s->cusum, &c.cusum, &ctx[i], x, &o); break;
        case DETECT_HST: detect_hst_step(&s->hst, &c.hst, &ctx[i], x, &o); break;
        default: detect_quality_step(&s->quality, &c.quality, &ctx[i], x, &o); break;
        }
        sink += o.z[0] + o.multi_z;
    }
    report(in, "core", detect_kind_name(k), now_s() - t0, sink);
    free(st);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"points", required_argument, NULL, 'n'}, {0}};
    size_t n = 2000000;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'n')
            n = strtoull(optarg, NULL, 10);
        else
            return 2;
    }
    input ins[2];
    input_fleet(&ins[0], n);
    input_series(&ins[1], n);
    detect_cfg c;
    detect_cfg_default(&c);
    for (int i = 0; i < 2; i++) {
        /* The contexts, as detect_step computes them. */
        detect_ctx *ctx = xmalloc(n * sizeof *ctx);
        int keys = ins[i].nch == 1 ? 1 : FLEET;
        detect_state *st = xmalloc((size_t)keys * sizeof *st);
        for (int k = 0; k < keys; k++) detect_state_init(&st[k], &c, ins[i].nch);
        for (size_t j = 0; j < n; j++)
            detect_context(&st[ins[i].key[j]], ins[i].ts[j], &ins[i].x[j * (size_t)ins[i].nch], &ctx[j]);
        free(st);
        for (int k = 0; k < DETECT_NKINDS; k++) run_core(&ins[i], (detect_kind)k, ctx);
        free(ctx);
        run_pipeline(&ins[i], "none", 0);
        run_pipeline(&ins[i], "all", (1u << DETECT_NKINDS) - 1);
        free(ins[i].key);
        free(ins[i].ts);
        free(ins[i].x);
    }
    return 0;
}
