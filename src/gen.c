/* gen: fleet simulator (see gen.h). Robots wait in a min-heap keyed by their next sample
 * time; each pop produces one sample, which then passes the data faults (dropout, clock jump,
 * duplicate, late) on its way to a FIFO of rows to emit. Nothing is allocated per row. */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

#define GEN_BIN_S 0.05       /* waveform resolution (s) */
#define GEN_MODELS 8         /* distinct motion programs in a fleet */
#define GEN_MOVE_S 4.0       /* mean duration of a move within a program (s) */
#define GEN_VARIANTS 12       /* program variants per model, run in turn (the parts worked on) */
#define GEN_MAX_ACTIVE 4     /* value faults active at once on one robot */
#define GEN_US 1000000.0
#define GEN_HOUR_US (3600.0 * GEN_US)

/* Per robot and simulated hour, at --faults default. */
static const double gen_rate_default[GEN_NKINDS] = {
    [GEN_PLATEAU] = 0.4,  [GEN_SPIKE] = 0.5,  [GEN_STUCK] = 0.1,
    [GEN_NOISE] = 0.2,    [GEN_DROPOUT] = 0.05, [GEN_WEAR] = 1.0 / (7 * 24),
    [GEN_DUPLICATE] = 0.5, [GEN_LATE] = 0.5,  [GEN_CLOCK_JUMP] = 0.03,
};

static const char *const gen_kind_names[GEN_NKINDS] = {
    "plateau", "spike", "stuck", "noise", "dropout", "wear", "duplicate", "late", "clock_jump",
};

const char *gen_kind_name(gen_kind k)
{
    return (unsigned)k < GEN_NKINDS ? gen_kind_names[k] : "unknown";
}

const char *gen_level_name(int level)
{
    return level == GEN_ERROR ? "ERROR" : "ALERT";
}

/* A robot model's motion program: GEN_VARIANTS variants of one duration (the parts it works
 * on differ), nbins levels per axis each. */
typedef struct gen_model {
    int nbins;          /* bins per variant */
    int64_t duration_us;
    float *wave;        /* GEN_VARIANTS x nbins x READING_AXES */
} gen_model;

/* A value fault in progress on one robot. */
typedef struct gen_active {
    gen_kind kind;
    int axis;          /* 0-based */
    int rows_left;
    double amount;     /* plateau offset, noise sigma, stuck value, spike height (A) */
    gen_fault rec;     /* what is reported */
    int started;       /* rec.ts_start is set */
} gen_active;

typedef struct gen_robot {
    int32_t id;
    rng base;                 /* timing and signal */
    rng frng;                 /* faults */
    int model;
    double scale;             /* payload: current scale */
    double idle_scale;
    int64_t next_t;           /* next sample (true time, µs, whole ms) */
    int64_t last_t;           /* the previous sample */
    double phase_u;           /* phase of the last run's first sample (see gen_advance_state) */
    int running;
    int64_t state_end;        /* end of the current running (end ramp included) or idle stretch */
    int64_t run_start;        /* start of the motion program (after the start ramp) */
    int64_t prog_end;         /* its end (then the end ramp until state_end) */
    int variant;              /* program variant of the current run (they take turns) */
    int ramp_rows;            /* samples taken in the current start ramp */
    double idle_u;            /* quantile level of the last idle stretch (see gen_idle_s) */
    int64_t next_fault[GEN_NKINDS];
    gen_active active[GEN_MAX_ACTIVE];
    int nactive;
    double last[READING_AXES]; /* last values emitted (stuck) */
    /* Data faults. */
    int64_t dropout_until;
    gen_fault dropout;         /* in progress when dropout_until > 0 */
    int64_t clock_offset;      /* added to emitted timestamps */
    int64_t clock_until;
    gen_fault clock;
    /* Wear: current and noise of one axis rising until the failure, then repair. */
    int wear_axis;             /* -1: healthy */
    int64_t wear_start, wear_fail;
    double wear_rise;
    gen_fault wear;
    int64_t repair_until;      /* > 0: under repair, no rows */
    int pending_dup;           /* send the next row twice */
    int pending_late;          /* hold the next row back */
} gen_robot;

/* A FIFO of fixed-size elements that grows by doubling (storage kept between uses; the
 * capacity is a power of two, so positions wrap with a mask). */
typedef struct gen_ring {
    uint8_t *data;
    size_t size;            /* bytes per element */
    size_t cap, head, len;  /* in elements */
} gen_ring;

/* Returns the slot for a new element at the back. */
static void *gen_ring_push(gen_ring *q)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        uint8_t *n = xmalloc(q->size * cap);
        for (size_t i = 0; i < q->len; i++)
            memcpy(n + i * q->size, q->data + ((q->head + i) & (q->cap - 1)) * q->size, q->size);
        free(q->data);
        q->data = n;
        q->cap = cap;
        q->head = 0;
    }
    return q->data + ((q->head + q->len++) & (q->cap - 1)) * q->size;
}

/* Copies the front element to out and removes it; returns 0 when empty. */
static int gen_ring_pop(gen_ring *q, void *out)
{
    if (!q->len) return 0;
    memcpy(out, q->data + q->head * q->size, q->size);
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
    return 1;
}

/* Rows held back (late). */
typedef struct gen_held {
    reading r;
    int64_t release; /* emit once the fleet's time passes this */
} gen_held;

struct gen {
    genprof p;
    gen_opts o;
    double rate_mult;                   /* fault rate multiplier (0: no faults) */
    gen_model models[GEN_MODELS];
    int nmodels;
    gen_robot *robots;
    int *heap;                          /* robot indexes, min-heap on next_t */
    int nheap;
    int64_t now;                        /* newest sample time */
    double median_iv_us;                /* median sampling interval (µs) */
    double mean_iv_us;                  /* mean sampling interval, gaps excluded (µs) */
    double edge_cdf[2][2][GENPROF_MASKS]; /* cumulative mask_p of the profile's edges */
    gen_ring out;                       /* rows to emit (reading) */
    gen_held *held;                     /* late rows, min-heap on release */
    size_t nheld, held_cap;
    gen_ring faults;                    /* finished faults (gen_fault) */
    gen_ring events;                    /* maintenance events (gen_event) */
};

/* ---------------------------------------------------------------------------------------- */
/* Small queues. */

static void gen_out_push(gen *g, const reading *r)
{
    memcpy(gen_ring_push(&g->out), r, sizeof *r);
}

static void gen_fault_push(gen *g, const gen_fault *f)
{
    memcpy(gen_ring_push(&g->faults), f, sizeof *f);
}

static void gen_event_push(gen *g, int32_t robot, int axis, gen_event_kind kind, int64_t ts)
{
    gen_event e = {robot, axis, kind, ts};
    memcpy(gen_ring_push(&g->events), &e, sizeof e);
}

int gen_pop_fault(gen *g, gen_fault *out)
{
    return gen_ring_pop(&g->faults, out);
}

int gen_pop_event(gen *g, gen_event *out)
{
    return gen_ring_pop(&g->events, out);
}

static void gen_held_push(gen *g, const reading *r, int64_t release)
{
    if (g->nheld == g->held_cap) {
        g->held_cap = g->held_cap ? g->held_cap * 2 : 16;
        g->held = xrealloc(g->held, sizeof *g->held * g->held_cap);
    }
    size_t i = g->nheld++;
    while (i > 0 && g->held[(i - 1) / 2].release > release) {
        g->held[i] = g->held[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->held[i] = (gen_held){*r, release};
}

static void gen_held_pop(gen *g)
{
    gen_held last = g->held[--g->nheld];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->nheld) break;
        if (c + 1 < g->nheld && g->held[c + 1].release < g->held[c].release) c++;
        if (g->held[c].release >= last.release) break;
        g->held[i] = g->held[c];
        i = c;
    }
    if (g->nheld) g->held[i] = last;
}

/* Robot heap on next_t (ties: lower index first, so the order is deterministic). */
static int gen_before(const gen *g, int a, int b)
{
    int64_t ta = g->robots[a].next_t, tb = g->robots[b].next_t;
    return ta < tb || (ta == tb && a < b);
}

static void gen_sift_down(gen *g, int i)
{
    int n = g->nheap;
    int x = g->heap[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && gen_before(g, g->heap[c + 1], g->heap[c])) c++;
        if (!gen_before(g, g->heap[c], x)) break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    g->heap[i] = x;
}

/* ---------------------------------------------------------------------------------------- */
/* Programs and robots. */

/* Cholesky factor of the profile's correlation (falls back to independence if it is not
 * positive definite). */
static void gen_cholesky(const double c[READING_AXES][READING_AXES], double l[READING_AXES][READING_AXES])
{
    memset(l, 0, sizeof(double) * READING_AXES * READING_AXES);
    for (int i = 0; i < READING_AXES; i++)
        for (int j = 0; j <= i; j++) {
            double s = c[i][j] + (i == j ? 1e-9 : 0);
            for (int k = 0; k < j; k++) s -= l[i][k] * l[j][k];
            if (i == j) {
                if (s <= 0) {
                    memset(l, 0, sizeof(double) * READING_AXES * READING_AXES);
                    for (int d = 0; d < READING_AXES; d++) l[d][d] = 1;
                    return;
                }
                l[i][i] = sqrt(s);
            } else {
                l[i][j] = s / l[j][j];
            }
        }
}

typedef struct gen_sortkey {
    double z;
    int bin;
} gen_sortkey;

static int gen_sortkey_cmp(const void *a, const void *b)
{
    const gen_sortkey *x = a, *y = b;
    if (x->z != y->z) return x->z < y->z ? -1 : 1;
    return x->bin - y->bin;
}

/* Builds program m. A program is a sequence of moves (exponential durations, mean
 * GEN_MOVE_S); each move has one latent level per axis, correlated across axes, and each bin
 * mixes its move's level (weight persist) with a bin-level variation (correlated the same
 * way). The latent values are then mapped rank by rank onto evenly spaced quantiles of the
 * axis's running values, so that sampling the program at random phases reproduces the
 * profile's distribution, and persist sets how much consecutive samples resemble each other. */
static void gen_build_model(gen *g, int m, rng *r)
{
    gen_model *md = &g->models[m];
    double dur = g->p.program_s * (m == 0 ? 1.0 : rng_range(r, 0.8, 1.25));
    md->nbins = (int)(dur / GEN_BIN_S);
    if (md->nbins < 8) md->nbins = 8;
    md->duration_us = (int64_t)((double)md->nbins * GEN_BIN_S * GEN_US);
    size_t total = (size_t)md->nbins * GEN_VARIANTS;
    md->wave = xmalloc(sizeof *md->wave * total * READING_AXES);
    double l[READING_AXES][READING_AXES];
    gen_cholesky(g->p.corr, l);
    double wm[READING_AXES], wb[READING_AXES];
    for (int a = 0; a < READING_AXES; a++) {
        wm[a] = sqrt(g->p.persist[a]);
        wb[a] = sqrt(1 - g->p.persist[a]);
    }

    double *z = xmalloc(sizeof *z * total * READING_AXES);
    double move[READING_AXES];
    size_t move_end = 0;
    for (size_t b = 0; b < total; b++) {
        double e[READING_AXES], ce[READING_AXES];
        if (b == move_end || b % (size_t)md->nbins == 0) {
            for (int a = 0; a < READING_AXES; a++) e[a] = rng_normal(r);
            for (int a = 0; a < READING_AXES; a++) {
                move[a] = 0;
                for (int k = 0; k <= a; k++) move[a] += l[a][k] * e[k];
            }
            move_end = b + 1 + (size_t)(rng_exponential(r, GEN_MOVE_S) / GEN_BIN_S);
        }
        for (int a = 0; a < READING_AXES; a++) e[a] = rng_normal(r);
        for (int a = 0; a < READING_AXES; a++) {
            ce[a] = 0;
            for (int k = 0; k <= a; k++) ce[a] += l[a][k] * e[k];
            z[b * READING_AXES + a] = wm[a] * move[a] + wb[a] * ce[a];
        }
    }
    gen_sortkey *keys = xmalloc(sizeof *keys * total);
    for (int a = 0; a < READING_AXES; a++) {
        for (size_t b = 0; b < total; b++) keys[b] = (gen_sortkey){z[b * READING_AXES + a], (int)b};
        qsort(keys, total, sizeof *keys, gen_sortkey_cmp);
        /* With the axis's share of zeros known, exactly that share of bins reads 0 and the
         * others the table's non-zero values (the table alone puts up to a level too few). */
        double zero = g->p.zero[a], low = 0;
        for (int i = 0; i < GENPROF_QN && low <= 0; i++) low = g->p.axis_q[a][i];
        for (size_t k = 0; k < total; k++) {
            double u = ((double)k + 0.5) / (double)total;
            double v = genprof_table(g->p.axis_q[a], GENPROF_QN, u);
            if (zero >= 0) v = u < zero ? 0 : v > low ? v : low;
            md->wave[(size_t)keys[k].bin * READING_AXES + a] = (float)v;
        }
    }
    /* A running robot never reads 0 on every axis at once (that is what idle means): where
     * the mapping put zeros on all axes, the axis with the highest latent value gets the
     * smallest positive current instead. */
    for (size_t b = 0; b < total; b++) {
        float *w = &md->wave[b * READING_AXES];
        int zero = 1;
        for (int a = 0; a < READING_AXES; a++) zero &= w[a] == 0;
        if (!zero) continue;
        int best = 0;
        for (int a = 1; a < READING_AXES; a++)
            if (z[b * READING_AXES + a] > z[b * READING_AXES + best]) best = a;
        double v = 0;
        for (int i = 0; i < GENPROF_QN && v <= 0; i++) v = g->p.axis_q[best][i];
        w[best] = (float)(v > 0 ? v : 0.001);
    }
    free(keys);
    free(z);
}

/* The next idle duration. Idle stretches have a long tail (a few last many minutes), so
 * independent draws make the idle share of a run wander by several points; the quantile
 * levels follow a golden-ratio (Weyl) sequence with a little jitter instead, which visits the
 * tail at its true frequency in every stretch of a run. */
static double gen_idle_s(gen *g, gen_robot *rb)
{
    double u = rb->idle_u + 0.6180339887498949;
    rb->idle_u = u - floor(u);
    return genprof_table(g->p.idle_q, GENPROF_QN, rb->idle_u) * rb->idle_scale;
}

/* The next sampling interval (s). Gaps scale with the intervals, so a faster sampler is the
 * same process on a shorter time scale. */
static double gen_draw_interval(gen *g, gen_robot *rb)
{
    if (g->p.gap_prob > 0 && rng_uniform(&rb->base) < g->p.gap_prob)
        return genprof_table(g->p.gap_q, GENPROF_SN, rng_uniform(&rb->base)) * g->o.interval_scale;
    return genprof_table(g->p.interval_q, GENPROF_QN, rng_uniform(&rb->base)) * g->o.interval_scale;
}

static int64_t gen_ms(double us)
{
    return (int64_t)llround(us / 1000.0) * 1000;
}

static void gen_schedule_fault(gen *g, gen_robot *rb, gen_kind k, int64_t from)
{
    double rate = gen_rate_default[k] * g->rate_mult * (k == GEN_WEAR && g->rate_mult > 1 ? 0.6 : 1);
    rb->next_fault[k] = rate > 0 ? from + (int64_t)rng_exponential(&rb->frng, GEN_HOUR_US / rate)
                                 : INT64_MAX;
}

static int64_t gen_ramp_us(gen *g, gen_robot *rb, int e);

gen *gen_new(const genprof *p, const gen_opts *o)
{
    gen *g = xcalloc(1, sizeof *g);
    g->p = *p;
    g->o = *o;
    if (g->o.robots < 1) g->o.robots = 1;
    if (!(g->o.interval_scale > 0)) g->o.interval_scale = 1;
    g->rate_mult = o->faults == GEN_FAULTS_HEAVY ? 5 : o->faults == GEN_FAULTS_DEFAULT ? 1 : 0;
    g->out.size = sizeof(reading);
    g->faults.size = sizeof(gen_fault);
    g->events.size = sizeof(gen_event);
    g->median_iv_us = g->p.interval_q[GENPROF_QN / 2] * g->o.interval_scale * GEN_US;
    for (int i = 0; i < GENPROF_QN; i++)
        g->mean_iv_us += g->p.interval_q[i] / GENPROF_QN * g->o.interval_scale * GEN_US;
    for (int e = 0; e < 2; e++)
        for (int in = 0; in < 2; in++) {
            double c = 0;
            for (int m = 0; m < GENPROF_MASKS; m++)
                g->edge_cdf[e][in][m] = c += g->p.edge[e].mask_p[in][m];
        }

    rng mr;
    rng_seed(&mr, o->seed, UINT64_C(0xA0DE1));
    g->nmodels = g->o.robots < GEN_MODELS ? g->o.robots : GEN_MODELS;
    for (int m = 0; m < g->nmodels; m++) gen_build_model(g, m, &mr);

    g->robots = xcalloc((size_t)g->o.robots, sizeof *g->robots);
    g->heap = xmalloc(sizeof *g->heap * (size_t)g->o.robots);
    double idle_mean = 0;
    for (int i = 0; i < GENPROF_QN; i++) idle_mean += g->p.idle_q[i] / GENPROF_QN;
    for (int i = 0; i < g->o.robots; i++) {
        gen_robot *rb = &g->robots[i];
        rb->id = o->first_robot + i;
        rng_seed(&rb->base, o->seed, (uint64_t)rb->id * 2 + 1);
        rng_seed(&rb->frng, o->seed, (uint64_t)rb->id * 2 + 2);
        rb->model = i == 0 ? 0 : (int)rng_below(&rb->base, (uint64_t)g->nmodels);
        rb->scale = i == 0 ? 1.0 : rng_range(&rb->base, 0.85, 1.15);
        rb->idle_scale = i == 0 ? 1.0 : rng_range(&rb->base, 0.8, 1.25);
        rb->wear_axis = -1;
        /* Start somewhere in the duty cycle. */
        const gen_model *md = &g->models[rb->model];
        double run_s = (double)md->duration_us / GEN_US;
        double p_run = run_s / (run_s + idle_mean * rb->idle_scale);
        rb->idle_u = rng_uniform(&rb->base);
        rb->phase_u = rng_uniform(&rb->base);
        rb->last_t = INT64_MIN;
        if (rng_uniform(&rb->base) < p_run) {
            rb->running = 1;
            rb->variant = (int)rng_below(&rb->base, GEN_VARIANTS);
            rb->run_start = o->start_us - (int64_t)(rng_uniform(&rb->base) * (double)md->duration_us);
            rb->prog_end = rb->state_end = rb->run_start + md->duration_us;
            rb->state_end += gen_ramp_us(g, rb, GENPROF_EDGE_END); /* the start ramp is past */
        } else {
            rb->running = 0;
            double idle = gen_idle_s(g, rb);
            rb->state_end = o->start_us + (int64_t)(rng_uniform(&rb->base) * idle * GEN_US);
        }
        rb->next_t = gen_ms((double)o->start_us + rng_uniform(&rb->base) * gen_draw_interval(g, rb) * GEN_US);
        for (int k = 0; k < GEN_NKINDS; k++) gen_schedule_fault(g, rb, (gen_kind)k, o->start_us);
        g->heap[i] = i;
    }
    g->nheap = g->o.robots;
    for (int i = g->nheap / 2 - 1; i >= 0; i--) gen_sift_down(g, i);
    g->now = o->start_us;
    return g;
}

void gen_free(gen *g)
{
    if (!g) return;
    for (int m = 0; m < g->nmodels; m++) free(g->models[m].wave);
    free(g->robots);
    free(g->heap);
    free(g->out.data);
    free(g->held);
    free(g->faults.data);
    free(g->events.data);
    free(g);
}

int64_t gen_now(const gen *g)
{
    return g->now;
}

/* ---------------------------------------------------------------------------------------- */
/* Sampling. */

/* The duration of a ramp (e: a run's start or end) in which the axes switch on or off one
 * after another: samples that fall in it are edge rows. With a sampler at a random phase and a
 * fixed interval iv, a ramp of x * iv holds floor(x) or floor(x) + 1 samples, the latter with
 * probability frac(x); x is 3 with probability P(3 rows), 2 with P(2 rows), else
 * P(1 row) / (1 - P(2 or 3 rows)), which reproduces the profile's counts. The unit iv is the
 * mean interval (gaps excluded): a ramp shorter than any interval holds a sample with
 * probability length / mean interval. 0 without edges. */
static int64_t gen_ramp_us(gen *g, gen_robot *rb, int e)
{
    if (!g->p.has_edges) return 0;
    const double *p = g->p.edge[e].rows_p;
    double s2 = p[2] + p[3], u = rng_uniform(&rb->base), x;
    if (u < p[3])
        x = 3;
    else if (u < s2)
        x = 2;
    else
        x = s2 < 1 ? p[1] / (1 - s2) : 0;
    return (int64_t)(x * g->mean_iv_us);
}

/* Draws the set of non-zero axes of an edge row (e: start or end; inner: not the row nearest
 * the rest) from the profile. */
static unsigned gen_edge_mask(gen *g, gen_robot *rb, int e, int inner)
{
    if (g->edge_cdf[e][inner][GENPROF_MASKS - 1] <= 0) inner = !inner; /* a table is empty */
    const double *cdf = g->edge_cdf[e][inner];
    if (cdf[GENPROF_MASKS - 1] <= 0) return GENPROF_MASKS - 1; /* no sets at all: every axis */
    double v = rng_uniform(&rb->base) * cdf[GENPROF_MASKS - 1];
    int m = 1;
    while (m < GENPROF_MASKS - 2 && cdf[m] <= v) m++;
    return g->p.edge[e].mask_p[inner][m] > 0 ? (unsigned)m : GENPROF_MASKS - 1;
}

/* Advances the duty cycle of rb to time t. A run is a start ramp (the axes switching on),
 * the motion program, then an end ramp (switching off); samples in the ramps are edge rows.
 * Without edges in the profile the ramps last 0. */
static void gen_advance_state(gen *g, gen_robot *rb, int64_t t)
{
    while (t >= rb->state_end) {
        if (rb->running) {
            rb->running = 0;
            rb->state_end += (int64_t)(gen_idle_s(g, rb) * GEN_US) + 1;
        } else {
            rb->running = 1;
            int64_t start = rb->state_end;
            int64_t ramp_s = gen_ramp_us(g, rb, GENPROF_EDGE_START);
            int64_t ramp_e = gen_ramp_us(g, rb, GENPROF_EDGE_END);
            int64_t dur = g->models[rb->model].duration_us;
            if (t < start + ramp_s + dur) {
                /* Where the sampler's clock falls in the program is chance; left to chance,
                 * some program bins get sampled more than others over a run of hours, and
                 * the sampled distribution drifts from the profile's. The first sample of each
                 * run's program lands at a phase from a golden-ratio sequence instead (moving
                 * the start by less than one interval), so every bin is sampled evenly. With a
                 * start ramp (shorter than the interval to the next sample), this sample falls
                 * in the ramp where the phase is within the ramp's length of that interval's
                 * end (the next sample is then the program's first), else in the program; a
                 * longer ramp takes this sample and the next. */
                double u = rb->phase_u + 0.6180339887498949;
                rb->phase_u = u - floor(u);
                int64_t ph = (int64_t)(rb->phase_u * g->median_iv_us), iv1 = rb->next_t - t, want;
                if (ramp_s >= iv1)
                    want = t - ph;
                else if (ramp_s > 0 && ph >= iv1 - ramp_s && ph < iv1)
                    want = rb->next_t - ph - ramp_s;
                else
                    want = t - ph - ramp_s;
                if (want > rb->last_t) start = want;
            }
            rb->run_start = start + ramp_s;
            rb->prog_end = rb->run_start + dur;
            rb->state_end = rb->prog_end + ramp_e;
            rb->ramp_rows = 0;
            rb->variant = (rb->variant + 1) % GEN_VARIANTS; /* parts come in a fixed order */
        }
    }
}

static double gen_round3(double v)
{
    return (double)llround(v * 1000.0) / 1000.0;
}

static void gen_finish_fault(gen *g, gen_fault *f)
{
    gen_fault_push(g, f);
}

/* Starts the faults whose time has come (value faults need a running robot). */
static void gen_start_faults(gen *g, gen_robot *rb, int64_t t)
{
    for (int k = 0; k < GEN_NKINDS; k++) {
        if (t < rb->next_fault[k]) continue;
        rng *fr = &rb->frng;
        gen_schedule_fault(g, rb, (gen_kind)k, t);
        if (rb->repair_until) continue;
        gen_fault rec = {.robot_id = rb->id, .kind = (gen_kind)k, .level = GEN_ALERT};
        int axis = (int)rng_below(fr, READING_AXES);
        switch ((gen_kind)k) {
        case GEN_PLATEAU:
        case GEN_SPIKE:
        case GEN_STUCK:
        case GEN_NOISE: {
            if (!rb->running || rb->nactive == GEN_MAX_ACTIVE) break;
            int busy = 0;
            for (int i = 0; i < rb->nactive; i++) busy |= rb->active[i].axis == axis;
            if (busy) break;
            gen_active *ac = &rb->active[rb->nactive++];
            memset(ac, 0, sizeof *ac);
            ac->kind = (gen_kind)k;
            ac->axis = axis;
            double sigma = g->p.sigma[axis] * rb->scale;
            rec.axis = axis + 1;
            if (k == GEN_PLATEAU) {
                int error = rng_uniform(fr) < 0.3;
                double mult = error ? rng_range(fr, 4, 6) : rng_range(fr, 2, 4);
                rec.level = error ? GEN_ERROR : GEN_ALERT;
                rec.magnitude = mult;
                ac->amount = mult * sigma;
                ac->rows_left = 15 + (int)rng_below(fr, 31);
            } else if (k == GEN_SPIKE) {
                /* A transient beyond anything the axis does in normal operation: 1.5-3 times its
                 * largest running current on top of the value (in sigmas, some 15-40). */
                double top = g->p.axis_q[axis][GENPROF_QN - 1];
                double mult = rng_range(fr, 1.5, 3) * top / g->p.sigma[axis];
                rec.level = GEN_ERROR;
                rec.magnitude = mult;
                ac->amount = mult * sigma;
                ac->rows_left = 1;
            } else if (k == GEN_STUCK) {
                ac->rows_left = 20 + (int)rng_below(fr, 101);
                ac->amount = -1; /* take the next row's value */
            } else {
                double mult = rng_range(fr, 1.5, 3);
                rec.magnitude = mult;
                ac->amount = mult * sigma;
                ac->rows_left = 20 + (int)rng_below(fr, 81);
            }
            ac->rec = rec;
            break;
        }
        case GEN_DROPOUT: {
            if (rb->dropout_until) break;
            /* A dropout is a silence longer than the robot's own pauses in sampling (which the
             * profile's gaps are, up to 403 s on the real robot): a shorter one is a pause like
             * any other, and no rule on time can tell it from one. 1.25 to 2.5 times the
             * profile's longest pause, at least 60 to 900 s. */
            double longest = g->p.gap_prob > 0 ? g->p.gap_q[GENPROF_SN - 1] * g->o.interval_scale : 0;
            double lo = fmax(60, 1.25 * longest), hi = fmax(900, 2.5 * longest);
            rec.magnitude = rng_range(fr, lo, hi);
            rb->dropout_until = t + (int64_t)(rec.magnitude * GEN_US);
            rb->dropout = rec;
            rb->dropout.ts_start = 0;
            break;
        }
        case GEN_WEAR:
            if (rb->wear_axis >= 0) break;
            rb->wear_axis = axis;
            rb->wear_start = t;
            rb->wear_fail = t + (int64_t)(rng_range(fr, 6, 48) * GEN_HOUR_US);
            rb->wear_rise = rng_range(fr, 0.4, 0.8);
            rec.axis = axis + 1;
            rec.magnitude = rb->wear_rise;
            rb->wear = rec;
            break;
        case GEN_CLOCK_JUMP: {
            /* Not during a dropout: a jump that began and ended within one would shift the
             * dropout's stamps without any row to show it, and never be reported. */
            if (rb->clock_until || rb->dropout_until) break;
            double off = rng_range(fr, 30, 900) * (rng_uniform(fr) < 0.5 ? -1 : 1);
            rb->clock_offset = (int64_t)off * 1000000;
            rb->clock_until = t + (int64_t)(rng_range(fr, 5, 60) * 60 * GEN_US);
            rec.magnitude = (double)(rb->clock_offset / 1000000); /* the whole seconds applied */
            rb->clock = rec;
            break;
        }
        case GEN_DUPLICATE: rb->pending_dup = 1; break;
        case GEN_LATE: rb->pending_late = 1; break;
        default: break;
        }
    }
}

/* Fills r with an edge row of rb at t: the axes of mask read 0, the others a holding current
 * drawn from the profile's edge values. */
static void gen_edge_row(gen *g, gen_robot *rb, int64_t t, unsigned mask, reading *r)
{
    for (int a = 0; a < READING_AXES; a++) {
        if (!(mask & (1u << a))) {
            r->axis[a] = 0;
            continue;
        }
        double v = genprof_table(g->p.edge_q[a], GENPROF_SN, rng_uniform(&rb->base)) * rb->scale;
        if (a == rb->wear_axis)
            v *= 1 + rb->wear_rise * (double)(t - rb->wear_start) / (double)(rb->wear_fail - rb->wear_start);
        v = gen_round3(v);
        r->axis[a] = v > 0 ? v : 0.001;
    }
}

/* Computes rb's sample at time t into r (values only). */
static void gen_sample(gen *g, gen_robot *rb, int64_t t, reading *r)
{
    gen_advance_state(g, rb, t);
    if (!rb->running) {
        for (int a = 0; a < READING_AXES; a++) r->axis[a] = 0;
    } else if (t < rb->run_start) {
        /* The start ramp: its first sample is the one nearest the rest. */
        gen_edge_row(g, rb, t, gen_edge_mask(g, rb, GENPROF_EDGE_START, rb->ramp_rows++ > 0), r);
    } else if (t >= rb->prog_end) {
        /* The end ramp: the last sample in it (the next one falls after) is nearest the rest. */
        int inner = rb->next_t < rb->state_end;
        gen_edge_row(g, rb, t, gen_edge_mask(g, rb, GENPROF_EDGE_END, inner), r);
    } else {
        const gen_model *md = &g->models[rb->model];
        int bin = (int)((double)(t - rb->run_start) / (GEN_BIN_S * GEN_US));
        if (bin >= md->nbins) bin = md->nbins - 1;
        const float *w = &md->wave[((size_t)rb->variant * (size_t)md->nbins + (size_t)bin) * READING_AXES];
        for (int a = 0; a < READING_AXES; a++) {
            double v = w[a];
            if (v > 0) {
                /* Relative noise keeps small currents small and never negative. */
                double rel = g->p.noise[a];
                if (a == rb->wear_axis) {
                    double prog = (double)(t - rb->wear_start) / (double)(rb->wear_fail - rb->wear_start);
                    v *= 1 + rb->wear_rise * prog;
                    rel *= 1 + prog;
                }
                v *= rb->scale * (1 + rel * rng_noise(&rb->base));
                if (v < 0) v = 0;
            }
            r->axis[a] = gen_round3(v);
        }
    }
}

/* Applies rb's active value faults to r (emitted at ts). */
static void gen_apply_value_faults(gen *g, gen_robot *rb, reading *r)
{
    for (int i = 0; i < rb->nactive;) {
        gen_active *ac = &rb->active[i];
        double *v = &r->axis[ac->axis];
        switch (ac->kind) {
        case GEN_PLATEAU:
        case GEN_SPIKE: *v = gen_round3(*v + ac->amount); break;
        case GEN_STUCK:
            if (ac->amount < 0) ac->amount = *v > 0 ? *v : gen_round3(g->p.axis_q[ac->axis][GENPROF_QN / 2]);
            *v = ac->amount;
            break;
        case GEN_NOISE: {
            double x = *v + ac->amount * rng_normal(&rb->frng);
            *v = gen_round3(x > 0 ? x : 0);
            break;
        }
        default: break;
        }
        /* The range covers every affected row: with a clock jump starting or ending during
         * the fault, emitted timestamps are not in order. */
        if (!ac->started || r->ts_us < ac->rec.ts_start) ac->rec.ts_start = r->ts_us;
        if (!ac->started || r->ts_us > ac->rec.ts_end) ac->rec.ts_end = r->ts_us;
        ac->started = 1;
        ac->rec.rows++;
        if (--ac->rows_left == 0) {
            gen_finish_fault(g, &ac->rec);
            rb->active[i] = rb->active[--rb->nactive];
        } else {
            i++;
        }
    }
}

/* Produces one sample from the fleet and routes it through the data faults. */
static void gen_step(gen *g)
{
    int idx = g->heap[0];
    gen_robot *rb = &g->robots[idx];
    int64_t t = rb->next_t;
    g->now = t;
    rb->next_t = gen_ms((double)t + gen_draw_interval(g, rb) * GEN_US);
    if (rb->next_t <= t) rb->next_t = t + 1000;
    gen_sift_down(g, 0);

    /* Late rows whose time has come go out first. */
    while (g->nheld && g->held[0].release <= t) {
        gen_out_push(g, &g->held[0].r);
        gen_held_pop(g);
    }

    reading r;
    r.robot_id = rb->id;
    r.ts_us = t;
    gen_sample(g, rb, t, &r); /* always, so the signal does not depend on the faults */
    rb->last_t = t;
    if (g->rate_mult == 0) {
        gen_out_push(g, &r);
        return;
    }
    gen_start_faults(g, rb, t);

    /* Wear: failure, then repair (no rows), then healthy. */
    if (rb->wear_axis >= 0 && t >= rb->wear_fail) {
        rb->wear.ts_end = rb->wear_fail;
        rb->wear.ts_start = rb->wear_start;
        gen_finish_fault(g, &rb->wear);
        gen_event_push(g, rb->id, rb->wear_axis + 1, GEN_FAILURE, rb->wear_fail);
        rb->repair_until = rb->wear_fail + (int64_t)(rng_range(&rb->frng, 1, 4) * GEN_HOUR_US);
        rb->wear_axis = -1;
    }
    if (rb->repair_until) {
        if (t < rb->repair_until) return;
        gen_event_push(g, rb->id, 0, GEN_REPAIR, rb->repair_until);
        rb->repair_until = 0;
    }
    if (rb->dropout_until) {
        if (t < rb->dropout_until) {
            /* Stamped as the missing row would have been: a clock jump may be under way
             * (and start or end meanwhile, hence the min and max). */
            int64_t e = rb->clock_until && t < rb->clock_until ? t + rb->clock_offset : t;
            if (!rb->dropout.rows || e < rb->dropout.ts_start) rb->dropout.ts_start = e;
            if (!rb->dropout.rows || e > rb->dropout.ts_end) rb->dropout.ts_end = e;
            rb->dropout.rows++;
            return;
        }
        if (rb->dropout.rows) gen_finish_fault(g, &rb->dropout);
        rb->dropout_until = 0;
    }
    if (rb->clock_until) {
        if (t < rb->clock_until) {
            r.ts_us = t + rb->clock_offset;
            if (!rb->clock.rows++) rb->clock.ts_start = r.ts_us;
            rb->clock.ts_end = r.ts_us;
        } else {
            if (rb->clock.rows) gen_finish_fault(g, &rb->clock);
            rb->clock_until = 0;
            rb->clock_offset = 0;
        }
    }
    if (rb->wear_axis >= 0 && t > rb->wear_start) rb->wear.rows++; /* rows it affects */
    gen_apply_value_faults(g, rb, &r);
    for (int a = 0; a < READING_AXES; a++) rb->last[a] = r.axis[a];

    if (rb->pending_late) {
        rb->pending_late = 0;
        double delay = rng_range(&rb->frng, 5, 120);
        gen_held_push(g, &r, t + (int64_t)(delay * GEN_US));
        gen_fault_push(g, &(gen_fault){rb->id, 0, GEN_LATE, GEN_ALERT, r.ts_us, r.ts_us, delay, 1});
        return;
    }
    gen_out_push(g, &r);
    if (rb->pending_dup) {
        rb->pending_dup = 0;
        gen_out_push(g, &r);
        gen_fault_push(g, &(gen_fault){rb->id, 0, GEN_DUPLICATE, GEN_ALERT, r.ts_us, r.ts_us, 0, 1});
    }
}

void gen_next(gen *g, reading *out)
{
    while (!g->out.len) gen_step(g);
    gen_ring_pop(&g->out, out);
}

int gen_next_queued(gen *g, reading *out)
{
    return gen_ring_pop(&g->out, out);
}

void gen_close(gen *g)
{
    for (int i = 0; i < g->o.robots; i++) {
        gen_robot *rb = &g->robots[i];
        for (int k = 0; k < rb->nactive; k++)
            if (rb->active[k].started) gen_finish_fault(g, &rb->active[k].rec);
        rb->nactive = 0;
        if (rb->dropout_until && rb->dropout.rows) gen_finish_fault(g, &rb->dropout);
        if (rb->clock_until && rb->clock.rows) gen_finish_fault(g, &rb->clock);
        rb->dropout_until = rb->clock_until = 0;
        if (rb->wear_axis >= 0) {
            /* Unfinished wear: report it up to now, without a failure. */
            rb->wear.ts_start = rb->wear_start;
            rb->wear.ts_end = g->now;
            gen_finish_fault(g, &rb->wear);
            rb->wear_axis = -1;
        }
    }
    /* Late rows still held go out now. */
    while (g->nheld) {
        gen_out_push(g, &g->held[0].r);
        gen_held_pop(g);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Rates and calibration. */

double gen_mean_interval(const genprof *p)
{
    double mi = 0, mg = 0;
    for (int i = 0; i < GENPROF_QN; i++) mi += p->interval_q[i];
    for (int i = 0; i < GENPROF_SN; i++) mg += p->gap_q[i];
    mi /= GENPROF_QN;
    mg /= GENPROF_SN;
    return (1 - p->gap_prob) * mi + p->gap_prob * mg;
}

double gen_scale_for_interval(const genprof *p, double seconds)
{
    double s = seconds / gen_mean_interval(p);
    return s > 1e-9 ? s : 1e-9;
}

void gen_calibrate(genprof *p, uint64_t seed)
{
    enum { ROWS = 150000, SEEDS = 3, STEPS = 12 };
    double lo[READING_AXES], hi[READING_AXES];
    for (int a = 0; a < READING_AXES; a++) {
        lo[a] = 0;
        hi[a] = 1;
    }
    reading *rows = xmalloc(sizeof *rows * ROWS);
    gen_opts o = {.robots = 1, .first_robot = 1, .seed = seed, .start_us = 0, .interval_scale = 1};
    calstats s;
    for (int step = 0; step < STEPS; step++) {
        for (int a = 0; a < READING_AXES; a++) p->persist[a] = (lo[a] + hi[a]) / 2;
        /* Average over a few seeds: each seed draws other programs. */
        double lag1[READING_AXES] = {0};
        for (int k = 0; k < SEEDS; k++) {
            o.seed = seed + (uint64_t)k;
            gen *g = gen_new(p, &o);
            for (size_t i = 0; i < ROWS; i++) gen_next(g, &rows[i]);
            gen_free(g);
            calstats_compute(rows, ROWS, &s);
            for (int a = 0; a < READING_AXES; a++) lag1[a] += s.lag1[a] / SEEDS;
        }
        for (int a = 0; a < READING_AXES; a++) {
            if (lag1[a] < p->target.lag1[a])
                lo[a] = p->persist[a];
            else
                hi[a] = p->persist[a];
        }
    }
    for (int a = 0; a < READING_AXES; a++) p->persist[a] = (lo[a] + hi[a]) / 2;
    free(rows);

    /* The idle share: idle stretches have a long tail, so measure over a long run (1M rows)
     * and stretch or shrink the idle durations toward the target, three times. */
    o.seed = seed;
    for (int round = 0; round < 3; round++) {
        gen *g = gen_new(p, &o);
        size_t idle = 0, n = 1000000;
        reading r;
        for (size_t i = 0; i < n; i++) {
            gen_next(g, &r);
            int zero = 1;
            for (int a = 0; a < READING_AXES; a++) zero &= r.axis[a] == 0;
            idle += (size_t)zero;
        }
        gen_free(g);
        double f = (double)idle / (double)n, ft = p->target.idle_fraction;
        if (!(f > 0.01 && f < 0.99 && ft > 0.01 && ft < 0.99)) break;
        double k = (ft / (1 - ft)) / (f / (1 - f));
        for (int i = 0; i < GENPROF_QN; i++) p->idle_q[i] *= k;
    }
}
