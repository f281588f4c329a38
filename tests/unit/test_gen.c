/* Unit tests for gen, the fleet simulator:
 *   - determinism: same profile, options and seed, same rows, faults and CSV bytes;
 *   - calibration: the built-in profile against the workshop's published figures (README of
 *     ../shared/data/workshop, hard-coded here), and a profile fitted from the real export
 *     against that file's own statistics (when PGPULSE_SHARED is set);
 *   - faults: a run with faults and the same run without, aligned row by row on (robot, true
 *     time): every fault kind is found in the output where the simulator reports it, with its
 *     signature, and outside the faults the two runs are identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calstats.h"
#include "csvin.h"
#include "gen.h"
#include "genprof.h"
#include "readingcsv.h"
#include "tstamp.h"
#include "util.h"

#define START_US INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define SEC_US INT64_C(1000000)
#define HOUR_US (INT64_C(3600) * SEC_US)
#define CAL_ROWS 200000

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

/* Field by field: the struct has padding, so memcmp of whole readings is not meaningful. */
static int same_reading(const reading *a, const reading *b)
{
    return a->robot_id == b->robot_id && a->ts_us == b->ts_us &&
           memcmp(a->axis, b->axis, sizeof a->axis) == 0;
}

static int same_fault(const gen_fault *a, const gen_fault *b)
{
    return a->robot_id == b->robot_id && a->axis == b->axis && a->kind == b->kind &&
           a->level == b->level && a->ts_start == b->ts_start && a->ts_end == b->ts_end &&
           memcmp(&a->magnitude, &b->magnitude, sizeof a->magnitude) == 0 && a->rows == b->rows;
}

static int all_zero(const reading *r)
{
    for (int a = 0; a < READING_AXES; a++)
        if (r->axis[a] != 0) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Determinism */

static void test_determinism(void **state)
{
    (void)state;
    genprof p;
    genprof_default(&p);
    gen_opts o = {.robots = 8,
                  .first_robot = 1,
                  .seed = 1,
                  .start_us = START_US,
                  .interval_scale = 1,
                  .faults = GEN_FAULTS_HEAVY};
    gen *a = gen_new(&p, &o), *b = gen_new(&p, &o);
    o.seed = 2;
    gen *c = gen_new(&p, &o);
    readingcsv_writer wa, wb;
    readingcsv_writer_init(&wa);
    readingcsv_writer_init(&wb);
    char la[READINGCSV_ROW_MAX], lb[READINGCSV_ROW_MAX];
    size_t bytes = 0, differ = 0;
    for (size_t i = 0; i < CAL_ROWS; i++) {
        reading ra, rb, rc;
        gen_next(a, &ra);
        gen_next(b, &rb);
        gen_next(c, &rc);
        if (!same_reading(&ra, &rb)) fail_msg("row %zu differs between two runs with seed 1", i);
        size_t na = readingcsv_write_row(&wa, &ra, la), nb = readingcsv_write_row(&wb, &rb, lb);
        if (na != nb || memcmp(la, lb, na) != 0)
            fail_msg("row %zu: CSV '%.*s' vs '%.*s'", i, (int)na, la, (int)nb, lb);
        bytes += na;
        differ += !same_reading(&ra, &rc);
    }
    assert_true(bytes > CAL_ROWS * 30);
    /* Another seed: other timing, other values (only the robot ids can agree). */
    assert_true(differ > CAL_ROWS - CAL_ROWS / 1000);

    /* The ends agree too: the rows gen_close releases, the faults and the events. */
    gen_close(a);
    gen_close(b);
    reading ra, rb;
    size_t tail = 0;
    for (;;) {
        int ha = gen_next_queued(a, &ra), hb = gen_next_queued(b, &rb);
        assert_int_equal(ha, hb);
        if (!ha) break;
        assert_true(same_reading(&ra, &rb));
        tail++;
    }
    size_t nfaults = 0, nevents = 0, kinds[GEN_NKINDS] = {0};
    for (;;) {
        gen_fault fa, fb;
        int ha = gen_pop_fault(a, &fa), hb = gen_pop_fault(b, &fb);
        assert_int_equal(ha, hb);
        if (!ha) break;
        if (!same_fault(&fa, &fb))
            fail_msg("fault %zu (%s) differs", nfaults, gen_kind_name(fa.kind));
        kinds[fa.kind]++;
        nfaults++;
    }
    for (;;) {
        gen_event ea, eb;
        int ha = gen_pop_event(a, &ea), hb = gen_pop_event(b, &eb);
        assert_int_equal(ha, hb);
        if (!ha) break;
        assert_true(ea.robot_id == eb.robot_id && ea.axis == eb.axis && ea.kind == eb.kind &&
                    ea.ts == eb.ts);
        nevents++;
    }
    print_message("determinism: %zu rows (%zu CSV bytes) + %zu released at close, %zu faults, "
                  "%zu events identical; seed 2 differs in %zu rows\n",
                  (size_t)CAL_ROWS, bytes, tail, nfaults, nevents, differ);
    /* Heavy faults over ~15 simulated hours of 8 robots: every frequent kind occurs. */
    for (int k = 0; k < GEN_NKINDS; k++)
        if (k != GEN_WEAR && k != GEN_DROPOUT && k != GEN_CLOCK_JUMP && kinds[k] == 0)
            fail_msg("no %s fault in the determinism run", gen_kind_name((gen_kind)k));
    gen_free(a);
    gen_free(b);
    gen_free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Calibration */

/* The workshop's published figures (../shared/data/workshop/README.md). The README's std is
 * the sample one; the population std differs in the 5th digit, far inside the 5 % allowed. */
static const calstats readme = {
    .rows = 39672,
    .mean = {0.725743, 3.613374, 2.710336, 0.620222, 0.954521, 0.599427, 0.870145, 0.102214},
    .std = {2.162120, 6.879962, 5.111901, 1.574897, 2.100186, 1.815498, 2.166811, 0.423075},
    .idle_fraction = 0.6424,
    .nz_p50 = {0.651, 10.596, 6.589, 0.981, 1.703, 0.774, 0.751, 0.098},
    .nz_p90 = {5.655, 20.559, 15.076, 4.026, 5.755, 4.981, 8.073, 0.608},
    .nz_p99 = {16.000, 42.014, 29.942, 11.872, 13.524, 14.144, 8.108, 3.963},
    .lag1 = {0.153, 0.531, 0.499, 0.207, 0.504, 0.199, 0.300, 0.219},
};

#define CAL_MEAN_REL 0.05
#define CAL_STD_REL 0.05
#define CAL_IDLE_ABS 0.03
#define CAL_Q_REL 0.10
#define CAL_LAG1_ABS 0.1

/* The workshop's export by number of non-zero axes per row, 0..8 (its rows with 1-7 sit at
 * the edges of its rests), and its rows with one or two non-zero axes: 220, each beside a
 * running row (calstats.h). */
static const double real_classes[READING_AXES + 1] = {25487, 120, 100, 79, 95, 109, 99, 853, 12730};
#define REAL_FEW 220
#define CAL_CLASS_REL 0.20  /* a class's share within 20 % of the real one ... */
#define CAL_CLASS_ROWS 10.0 /* ... or within 10 rows of 39,672 where a class is rare */
#define CAL_FEW_BY_RUN 0.995 /* rows with 1-2 non-zero axes beside a running row, at least */

/* Prints the class shares against the real ones (in rows per 39,672) and the position of the
 * rows with one or two non-zero axes; returns how many miss the criteria. */
static int cal_classes(const calstats *got)
{
    double n = 0;
    for (int k = 0; k <= READING_AXES; k++) n += real_classes[k];
    int bad = 0;
    print_message("  rows by non-zero axes, per %.0f rows: simulated/real (20 %% or 10 rows)\n", n);
    for (int k = 0; k <= READING_AXES; k++) {
        double sim = got->nz_share[k] * n, real = real_classes[k];
        int miss = !(fabs(sim - real) <= CAL_CLASS_REL * real || fabs(sim - real) <= CAL_CLASS_ROWS);
        bad += miss;
        print_message("    %d: %8.1f/%5.0f %+6.1f%%%s\n", k, sim, real, 100 * (sim - real) / real,
                      miss ? " !" : "");
    }
    double by_run = got->few_rows ? (double)got->few_by_run / (double)got->few_rows : 0;
    print_message("  rows with 1-2 non-zero axes beside a running row: %zu of %zu (real: %d of %d)\n",
                  got->few_by_run, got->few_rows, REAL_FEW, REAL_FEW);
    bad += !(by_run >= CAL_FEW_BY_RUN);
    return bad;
}

/* Formats "measured/target error" for one figure into out (25 columns), marked with '!' when
 * outside tol; returns 1 when outside. rel: tol and the error are relative, else absolute. */
static int cal_cell(char *out, size_t len, double got, double want, double tol, int rel)
{
    double err = rel ? (got - want) / want : got - want;
    int bad = !(fabs(err) <= tol);
    if (rel)
        snprintf(out, len, "%7.3f/%7.3f %+5.1f%%%c", got, want, 100 * err, bad ? '!' : ' ');
    else
        snprintf(out, len, "%5.3f/%5.3f %+6.3f%c", got, want, err, bad ? '!' : ' ');
    return bad;
}

/* Prints the measured-vs-target table (the test log shows it) and returns how many figures
 * miss the criteria. */
static int cal_compare(const calstats *got, const calstats *want, const char *title)
{
    int bad = 0;
    print_message("%s\n", title);
    print_message("  measured/target error, ! where outside the criterion\n");
    print_message("  all-idle fraction %.4f/%.4f %+.4f (within 0.03)\n", got->idle_fraction,
                  want->idle_fraction, got->idle_fraction - want->idle_fraction);
    bad += !(fabs(got->idle_fraction - want->idle_fraction) <= CAL_IDLE_ABS);
    print_message("  axis   %-25s%-25s%-25s%-25s%-25s%s\n", "mean (5 %)", "std (5 %)",
                  "non-zero p50 (10 %)", "non-zero p90 (10 %)", "non-zero p99 (10 %)",
                  "lag-1 (0.1)");
    for (int a = 0; a < READING_AXES; a++) {
        char c[6][64];
        bad += cal_cell(c[0], sizeof c[0], got->mean[a], want->mean[a], CAL_MEAN_REL, 1);
        bad += cal_cell(c[1], sizeof c[1], got->std[a], want->std[a], CAL_STD_REL, 1);
        bad += cal_cell(c[2], sizeof c[2], got->nz_p50[a], want->nz_p50[a], CAL_Q_REL, 1);
        bad += cal_cell(c[3], sizeof c[3], got->nz_p90[a], want->nz_p90[a], CAL_Q_REL, 1);
        bad += cal_cell(c[4], sizeof c[4], got->nz_p99[a], want->nz_p99[a], CAL_Q_REL, 1);
        bad += cal_cell(c[5], sizeof c[5], got->lag1[a], want->lag1[a], CAL_LAG1_ABS, 0);
        print_message("  axis%d  %s  %s  %s  %s  %s  %s\n", a + 1, c[0], c[1], c[2], c[3], c[4],
                      c[5]);
    }
    return bad;
}

/* One robot, seed 1, no faults, from 2026-01-01: the rows `pgpulse gen` writes by default. */
static reading *cal_generate(const genprof *p)
{
    gen_opts o = {.robots = 1,
                  .first_robot = 1,
                  .seed = 1,
                  .start_us = START_US,
                  .interval_scale = 1,
                  .faults = GEN_FAULTS_NONE};
    gen *g = gen_new(p, &o);
    reading *rows = xmalloc(sizeof *rows * CAL_ROWS);
    for (size_t i = 0; i < CAL_ROWS; i++)
        gen_next(g, &rows[i]);
    gen_free(g);
    return rows;
}

static void test_calibration_readme(void **state)
{
    (void)state;
    int64_t start;
    assert_int_equal(tstamp_parse("2026-01-01T00:00:00Z", 20, 0, &start), TSTAMP_OK);
    assert_true(start == START_US);
    genprof p;
    genprof_default(&p);
    reading *rows = cal_generate(&p);
    calstats s;
    calstats_compute(rows, CAL_ROWS, &s);
    int bad = cal_compare(
        &s, &readme, "built-in profile, 1 robot, seed 1, 200,000 rows, vs the README's figures");
    bad += cal_classes(&s);

    /* Currents are never negative and carry at most three decimals; one robot's timestamps
     * increase strictly (no faults) and are whole milliseconds (what the CSV keeps). */
    double *iv = xmalloc(sizeof *iv * CAL_ROWS);
    for (size_t i = 0; i < CAL_ROWS; i++) {
        assert_int_equal(rows[i].robot_id, 1);
        for (int a = 0; a < READING_AXES; a++) {
            double v = rows[i].axis[a];
            if (!(v >= 0 && isfinite(v))) fail_msg("row %zu axis%d = %g", i, a + 1, v);
            if (fabs(v * 1000 - nearbyint(v * 1000)) > 1e-6)
                fail_msg("row %zu axis%d = %.17g has more than 3 decimals", i, a + 1, v);
        }
        if (rows[i].ts_us % 1000 != 0)
            fail_msg("row %zu: timestamp %lld", i, (long long)rows[i].ts_us);
        if (i > 0) {
            if (rows[i].ts_us <= rows[i - 1].ts_us)
                fail_msg("row %zu: timestamp %lld after %lld", i, (long long)rows[i].ts_us,
                         (long long)rows[i - 1].ts_us);
            iv[i - 1] = (double)(rows[i].ts_us - rows[i - 1].ts_us) / 1e6;
        }
    }
    assert_true(rows[0].ts_us >= START_US && rows[0].ts_us < START_US + 10 * SEC_US);
    calstats_sort(iv, CAL_ROWS - 1);
    double median = calstats_quantile(iv, CAL_ROWS - 1, 0.5);
    print_message("  median sampling interval %.4f s (README 1.891 s), mean %.4f s\n", median,
                  (double)(rows[CAL_ROWS - 1].ts_us - rows[0].ts_us) / 1e6 / (CAL_ROWS - 1));
    assert_near(median, 1.891, 1.891 * 0.02);
    free(iv);

    /* Each row is idle (all axes exactly 0) or running (some axis non-zero), and a running
     * sample never reads 0 on every axis: all-zero rows come only from idle stretches, so
     * the running rows around a block of them lie at least the shortest idle stretch apart. */
    size_t blocks = 0, short_blocks = 0, prev_run = SIZE_MAX;
    for (size_t i = 0; i < CAL_ROWS; i++) {
        if (all_zero(&rows[i])) continue;
        if (prev_run != SIZE_MAX && i > prev_run + 1) {
            blocks++;
            double idle_s = (double)(rows[i].ts_us - rows[prev_run].ts_us) / 1e6;
            if (idle_s < p.idle_q[0]) {
                if (short_blocks++ < 5)
                    print_message("  all-zero rows %zu..%zu between running rows %.3f s apart\n",
                                  prev_run + 1, i - 1, idle_s);
            }
        }
        prev_run = i;
    }
    assert_true(blocks > 1000);
    assert_int_equal(short_blocks, 0);
    free(rows);
    assert_int_equal(bad, 0);
}

/* Rest edges come from the profile: without them (a profile from before edges) no row has
 * one to three non-zero axes, as then; with them, such rows sit only at a rest's edge (an
 * all-idle row on one side), and the same seed gives the same rows. */
static void test_edges_optional(void **state)
{
    (void)state;
    enum { N = 60000 };
    genprof p;
    genprof_default(&p);
    for (int with = 0; with < 2; with++) {
        p.has_edges = with;
        gen_opts o = {.robots = 3, .first_robot = 1, .seed = 5, .start_us = START_US,
                      .interval_scale = 1, .faults = GEN_FAULTS_NONE};
        gen *g = gen_new(&p, &o);
        reading *rows = xmalloc(sizeof *rows * N);
        size_t last[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, few = 0, few_at_rest = 0;
        int prev_idle[3] = {1, 1, 1}, pending[3] = {0, 0, 0};
        for (size_t i = 0; i < N; i++) {
            gen_next(g, &rows[i]);
            int r = rows[i].robot_id - 1, k = 0;
            for (int a = 0; a < READING_AXES; a++) k += rows[i].axis[a] != 0;
            /* A row with 1-3 axes on: after an idle row, or before one (decided at the
             * robot's next row). */
            if (pending[r]) few_at_rest += k == 0;
            pending[r] = 0;
            if (k >= 1 && k <= 3) {
                few++;
                if (prev_idle[r] && last[r] != SIZE_MAX)
                    few_at_rest++;
                else
                    pending[r] = 1;
            }
            prev_idle[r] = k == 0;
            last[r] = i;
        }
        gen_free(g);
        print_message("  edges %s: %zu rows with 1-3 non-zero axes, %zu of them beside a rest\n",
                      with ? "on" : "off", few, few_at_rest);
        if (!with) {
            assert_int_equal(few, 0);
        } else {
            assert_true(few > 100);
            assert_true(few_at_rest >= few - few / 50); /* a few: two edge rows in a row */
            gen *h = gen_new(&p, &o);
            reading r;
            for (size_t i = 0; i < N; i++) {
                gen_next(h, &r);
                if (!same_reading(&r, &rows[i])) fail_msg("row %zu differs with the same seed", i);
            }
            gen_free(h);
        }
        free(rows);
    }
}

/* Reads the workshop's export (robot 1) into *rows; returns the row count. */
static size_t read_export(const char *path, reading **rows)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) fail_msg("%s: %s", path, strerror(errno));
    csvin *in = csvin_new(fd, 0);
    csvin_row row;
    readingcsv f;
    char err[512];
    assert_int_equal(csvin_next(in, &row, -1, err, sizeof err), CSVIN_ROW);
    if (readingcsv_detect(&f, &row, 1, err, sizeof err) != 0) fail_msg("%s: %s", path, err);
    assert_int_equal(f.format, READINGCSV_WORKSHOP);
    size_t n = 0, cap = 0;
    *rows = NULL;
    int got;
    while ((got = csvin_next(in, &row, -1, err, sizeof err)) == CSVIN_ROW) {
        if (n == cap) *rows = xrealloc(*rows, sizeof **rows * (cap = cap ? cap * 2 : 65536));
        char reason[256];
        if (readingcsv_decode(&f, &row, util_now_us(), &(*rows)[n], reason, sizeof reason) ==
            READINGCSV_REJECT)
            fail_msg("%s:%llu: %s", path, (unsigned long long)row.line_no, reason);
        n++;
    }
    assert_int_equal(got, CSVIN_EOF);
    csvin_free(in);
    close(fd);
    return n;
}

static void test_calibration_real_file(void **state)
{
    (void)state;
    const char *shared = getenv("PGPULSE_SHARED");
    if (!shared || !*shared) {
        print_message("PGPULSE_SHARED is not set: calibration against the real export skipped\n");
        skip();
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/data/workshop/RMBR4-2_export_test.csv", shared);
    reading *rows;
    size_t n = read_export(path, &rows);
    assert_int_equal(n, 39672);
    calstats real;
    calstats_compute(rows, n, &real);

    /* calstats of the file are the README's figures: its std is the sample one, and its
     * p90/p99 of axes 2, 3, 5 and 6 are the order statistic just below numpy's interpolated
     * quantile (42.014 for 42.041 ...), so those agree to 0.2 %. */
    assert_near(real.idle_fraction, readme.idle_fraction, 0.00005);
    for (int a = 0; a < READING_AXES; a++) {
        assert_near(real.mean[a], readme.mean[a], 1e-6);
        assert_near(real.std[a] * sqrt((double)n / (double)(n - 1)), readme.std[a], 1e-6);
        assert_near(real.nz_p50[a], readme.nz_p50[a], 0.0005);
        assert_near(real.nz_p90[a], readme.nz_p90[a], readme.nz_p90[a] * 0.002);
        assert_near(real.nz_p99[a], readme.nz_p99[a], readme.nz_p99[a] * 0.002);
        assert_near(real.lag1[a], readme.lag1[a], 0.0005);
    }

    /* Fit and tune as `pgpulse gen --calibrate` does (seed 1), simulate, compare with the
     * file itself. */
    genprof p;
    char err[512];
    if (genprof_fit(&p, rows, n, path, err, sizeof err) != 0) fail_msg("genprof_fit: %s", err);
    gen_calibrate(&p, 1);
    reading *sim = cal_generate(&p);
    calstats s;
    calstats_compute(sim, CAL_ROWS, &s);
    int bad = cal_compare(
        &s, &real,
        "profile fitted from the export and tuned (seed 1), 200,000 rows, vs the export");
    /* The hard-coded classes are the file's. */
    for (int k = 0; k <= READING_AXES; k++)
        assert_near(real.nz_share[k] * (double)n, real_classes[k], 1e-6);
    assert_int_equal(real.few_rows, REAL_FEW);
    assert_int_equal(real.few_by_run, REAL_FEW);
    bad += cal_classes(&s);

    /* The built-in profile is this fit: the same tables and tuning, to the 12 digits the JSON
     * keeps. */
    genprof d;
    genprof_default(&d);
    for (int i = 0; i < GENPROF_QN; i++) {
        assert_near(p.interval_q[i], d.interval_q[i], 1e-9 * d.interval_q[i]);
        assert_near(p.idle_q[i], d.idle_q[i], 1e-9 * d.idle_q[i]);
    }
    assert_near(p.program_s, d.program_s, 1e-9 * d.program_s);
    assert_true(p.has_edges && d.has_edges);
    for (int e = 0; e < 2; e++) {
        for (int k = 0; k <= GENPROF_EDGE_ROWS; k++)
            assert_near(p.edge[e].rows_p[k], d.edge[e].rows_p[k], 1e-9);
        for (int m = 0; m < GENPROF_MASKS; m++) {
            assert_near(p.edge[e].mask_p[0][m], d.edge[e].mask_p[0][m], 1e-9);
            assert_near(p.edge[e].mask_p[1][m], d.edge[e].mask_p[1][m], 1e-9);
        }
    }
    for (int a = 0; a < READING_AXES; a++)
        for (int i = 0; i < GENPROF_SN; i++)
            assert_near(p.edge_q[a][i], d.edge_q[a][i], 1e-9 * d.edge_q[a][i]);
    for (int a = 0; a < READING_AXES; a++) {
        assert_near(p.persist[a], d.persist[a], 1e-9);
        assert_near(p.sigma[a], d.sigma[a], 1e-9 * d.sigma[a]);
    }
    free(sim);
    free(rows);
    assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Faults: a faulted run beside its clean twin */

#define NONE SIZE_MAX
#define ROW_DUP 1  /* the second copy of a duplicated row */
#define ROW_LATE 2 /* a row held back */

typedef struct frun {
    genprof p;
    gen_opts o;
    reading *f; /* faulted rows, in emission order */
    size_t nf;
    reading *c; /* clean rows, in sample (time) order */
    size_t nc;
    gen_fault *faults;
    size_t nfaults;
    gen_event *events;
    size_t nevents;
    int64_t last; /* the last sample's time */
    /* Alignment */
    size_t *cidx;        /* per faulted row: its clean row, or NONE */
    unsigned char *flag; /* per faulted row: ROW_DUP, ROW_LATE or 0 */
    size_t *cmatch;      /* per clean row: the faulted row it became, or NONE */
    size_t *late_row;    /* per fault: the row a late fault held back, or NONE */
    int64_t *drop_t0;    /* per fault: a dropout's first and last missing row (true time) */
    int64_t *drop_t1;
    /* Per robot (index robot_id - first_robot) */
    size_t **crow, *ncrow;     /* clean rows, time order */
    size_t **frow, *nfrow;     /* faulted rows, emission order */
    size_t **rfault, *nrfault; /* faults */
} frun;

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return p;
    *cap = *cap ? *cap * 2 : 1024;
    return xrealloc(p, *cap * size);
}

static int robot_of(const frun *x, int32_t id)
{
    int r = (int)(id - x->o.first_robot);
    if (r < 0 || r >= x->o.robots) fail_msg("robot %d is not in the fleet", (int)id);
    return r;
}

/* Groups indexes 0..n) by robot: out[r] lists those of robot r, in order. */
static void by_robot(const frun *x, size_t n, int32_t (*id)(const frun *, size_t), size_t ***out,
                     size_t **nout)
{
    int nr = x->o.robots;
    *nout = xcalloc((size_t)nr, sizeof **nout);
    *out = xcalloc((size_t)nr, sizeof **out);
    for (size_t i = 0; i < n; i++)
        (*nout)[robot_of(x, id(x, i))]++;
    for (int r = 0; r < nr; r++)
        (*out)[r] = xmalloc(sizeof ***out * ((*nout)[r] + 1));
    size_t *k = xcalloc((size_t)nr, sizeof *k);
    for (size_t i = 0; i < n; i++) {
        int r = robot_of(x, id(x, i));
        (*out)[r][k[r]++] = i;
    }
    free(k);
}

static int32_t id_f(const frun *x, size_t i)
{
    return x->f[i].robot_id;
}
static int32_t id_c(const frun *x, size_t i)
{
    return x->c[i].robot_id;
}
static int32_t id_fault(const frun *x, size_t i)
{
    return x->faults[i].robot_id;
}

/* Generates `hours` of the fleet with heavy faults, then the same fleet without faults up to
 * the same simulated time. */
static void frun_generate(frun *x, int robots, double hours, double interval_scale)
{
    memset(x, 0, sizeof *x);
    genprof_default(&x->p);
    x->o = (gen_opts){.robots = robots,
                      .first_robot = 1,
                      .seed = 1,
                      .start_us = START_US,
                      .interval_scale = interval_scale,
                      .faults = GEN_FAULTS_HEAVY};
    size_t capf = 0, capc = 0, capfa = 0, capev = 0;
    int64_t end = START_US + (int64_t)(hours * (double)HOUR_US);
    gen *g = gen_new(&x->p, &x->o);
    reading r;
    while (gen_now(g) < end) {
        x->f = grow(x->f, &capf, x->nf, sizeof *x->f);
        gen_next(g, &x->f[x->nf++]);
    }
    gen_close(g);
    while (gen_next_queued(g, &r)) {
        x->f = grow(x->f, &capf, x->nf, sizeof *x->f);
        x->f[x->nf++] = r;
    }
    x->last = gen_now(g);
    gen_fault f;
    while (gen_pop_fault(g, &f)) {
        x->faults = grow(x->faults, &capfa, x->nfaults, sizeof *x->faults);
        x->faults[x->nfaults++] = f;
    }
    gen_event e;
    while (gen_pop_event(g, &e)) {
        x->events = grow(x->events, &capev, x->nevents, sizeof *x->events);
        x->events[x->nevents++] = e;
    }
    gen_free(g);

    gen_opts clean = x->o;
    clean.faults = GEN_FAULTS_NONE;
    g = gen_new(&x->p, &clean);
    for (;;) {
        gen_next(g, &r);
        if (r.ts_us > x->last) break;
        x->c = grow(x->c, &capc, x->nc, sizeof *x->c);
        x->c[x->nc++] = r;
    }
    gen_free(g);

    by_robot(x, x->nc, id_c, &x->crow, &x->ncrow);
    by_robot(x, x->nf, id_f, &x->frow, &x->nfrow);
    by_robot(x, x->nfaults, id_fault, &x->rfault, &x->nrfault);
    x->cidx = xmalloc(sizeof *x->cidx * x->nf);
    x->flag = xcalloc(x->nf, 1);
    x->cmatch = xmalloc(sizeof *x->cmatch * x->nc);
    x->late_row = xmalloc(sizeof *x->late_row * (x->nfaults + 1));
    x->drop_t0 = xcalloc(x->nfaults + 1, sizeof *x->drop_t0);
    x->drop_t1 = xcalloc(x->nfaults + 1, sizeof *x->drop_t1);
    for (size_t i = 0; i < x->nf; i++)
        x->cidx[i] = NONE;
    for (size_t i = 0; i < x->nc; i++)
        x->cmatch[i] = NONE;
    for (size_t i = 0; i < x->nfaults; i++)
        x->late_row[i] = NONE;
}

static void frun_free(frun *x)
{
    for (int r = 0; r < x->o.robots; r++) {
        free(x->crow[r]);
        free(x->frow[r]);
        free(x->rfault[r]);
    }
    free(x->crow);
    free(x->ncrow);
    free(x->frow);
    free(x->nfrow);
    free(x->rfault);
    free(x->nrfault);
    free(x->f);
    free(x->c);
    free(x->faults);
    free(x->events);
    free(x->cidx);
    free(x->flag);
    free(x->cmatch);
    free(x->late_row);
    free(x->drop_t0);
    free(x->drop_t1);
}

/* The clock offset a clock_jump fault reports (µs). */
static int64_t clock_offset(const gen_fault *f)
{
    return (int64_t)llround(f->magnitude * 1e6);
}

/* Position in robot r's clean rows of the row at true time t, or -1. */
static ptrdiff_t clean_pos(const frun *x, int r, int64_t t)
{
    size_t lo = 0, hi = x->ncrow[r];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->c[x->crow[r][mid]].ts_us < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->ncrow[r] && x->c[x->crow[r][lo]].ts_us == t ? (ptrdiff_t)lo : -1;
}

/* First position in robot r's clean rows at or after true time t. */
static size_t clean_from(const frun *x, int r, int64_t t)
{
    size_t lo = 0, hi = x->ncrow[r];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->c[x->crow[r][mid]].ts_us < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Marks and returns the first unclaimed fault of robot r of kind k at emitted time e, or
 * NONE. */
static size_t claim(frun *x, int r, gen_kind k, int64_t e, unsigned char *claimed)
{
    for (size_t j = 0; j < x->nrfault[r]; j++) {
        size_t fi = x->rfault[r][j];
        const gen_fault *f = &x->faults[fi];
        if (f->kind == k && f->ts_start == e && !claimed[fi]) {
            claimed[fi] = 1;
            return fi;
        }
    }
    return NONE;
}

/* Aligns each faulted row with the clean row it came from. Per robot, in emission order, a
 * row's true time is its timestamp, or its timestamp minus the offset of a clock jump whose
 * range holds it; rows are otherwise in time order, so the match is the earliest candidate
 * after the previous match. Exceptions: the second copy of a duplicate (the same row again,
 * where a duplicate fault is), and a late row (where a late fault is), which matches a clean
 * row the walk has passed over. Returns the number of rows that matched nothing. */
static size_t frun_align(frun *x)
{
    unsigned char *claimed = xcalloc(x->nfaults + 1, 1);
    size_t unmatched = 0;
    for (int r = 0; r < x->o.robots; r++) {
        ptrdiff_t p = -1; /* last forward match, in robot r's clean rows */
        size_t prev = NONE;
        for (size_t k = 0; k < x->nfrow[r]; k++) {
            size_t i = x->frow[r][k];
            int64_t e = x->f[i].ts_us;
            if (prev != NONE && same_reading(&x->f[i], &x->f[prev]) &&
                claim(x, r, GEN_DUPLICATE, e, claimed) != NONE) {
                if (i != prev + 1)
                    fail_msg("duplicate of robot %d at %lld: copies %zu rows apart",
                             (int)x->f[i].robot_id, (long long)e, i - prev);
                x->flag[i] = ROW_DUP;
                x->cidx[i] = x->cidx[prev];
                prev = i;
                continue;
            }
            int64_t cand[8];
            int nc = 0;
            cand[nc++] = e;
            for (size_t j = 0; j < x->nrfault[r] && nc < 8; j++) {
                const gen_fault *f = &x->faults[x->rfault[r][j]];
                if (f->kind == GEN_CLOCK_JUMP && e >= f->ts_start && e <= f->ts_end)
                    cand[nc++] = e - clock_offset(f);
            }
            ptrdiff_t q = -1;
            size_t lf = claim(x, r, GEN_LATE, e, claimed);
            if (lf != NONE) {
                x->flag[i] = ROW_LATE;
                x->late_row[lf] = i;
                for (int c = 0; c < nc && q < 0; c++) {
                    ptrdiff_t s = clean_pos(x, r, cand[c]);
                    if (s >= 0 && s <= p && x->cmatch[x->crow[r][s]] == NONE) q = s;
                }
            }
            if (q < 0) {
                for (int c = 0; c < nc; c++) {
                    ptrdiff_t s = clean_pos(x, r, cand[c]);
                    if (s > p && (q < 0 || s < q)) q = s;
                }
                if (q >= 0) p = q;
            }
            prev = i;
            if (q < 0) {
                if (unmatched++ < 5)
                    print_message("faulted row %zu (robot %d, ts %lld) matches no clean row\n", i,
                                  (int)x->f[i].robot_id, (long long)e);
                continue;
            }
            x->cidx[i] = x->crow[r][q];
            x->cmatch[x->crow[r][q]] = i;
        }
    }
    /* Every duplicate and late fault was found in the output. */
    for (size_t j = 0; j < x->nfaults; j++) {
        const gen_fault *f = &x->faults[j];
        if ((f->kind == GEN_DUPLICATE || f->kind == GEN_LATE) && !claimed[j])
            fail_msg("%s fault of robot %d at %lld: no such row in the output",
                     gen_kind_name(f->kind), (int)f->robot_id, (long long)f->ts_start);
    }
    free(claimed);
    return unmatched;
}

/* Whether robot r is under repair (between a failure and its repair) at true time t. */
static int in_repair(const frun *x, int r, int64_t t)
{
    int32_t id = x->o.first_robot + r;
    for (size_t j = 0; j < x->nevents; j++) {
        const gen_event *e = &x->events[j];
        if (e->robot_id != id || e->kind != GEN_FAILURE || t < e->ts) continue;
        int64_t until = INT64_MAX; /* a repair still under way at the end */
        for (size_t k = j + 1; k < x->nevents; k++)
            if (x->events[k].robot_id == id && x->events[k].kind == GEN_REPAIR) {
                until = x->events[k].ts;
                break;
            }
        if (t < until) return 1;
    }
    return 0;
}

/* Whether true time t of robot r lies in a dropout (as resolved by resolve_dropouts) or a
 * repair. */
static int missing_explained(const frun *x, int r, int64_t t)
{
    for (size_t j = 0; j < x->nrfault[r]; j++) {
        size_t fi = x->rfault[r][j];
        if (x->faults[fi].kind == GEN_DROPOUT && t >= x->drop_t0[fi] && t <= x->drop_t1[fi])
            return 1;
    }
    return in_repair(x, r, t);
}

/* Whether dropout f of robot r can have started at true time t0: then it took out every clean
 * row in [t0, t0 + magnitude) but those under repair (missing anyway), all missing, f->rows of
 * them, and the row before t0 is there (a dropout starts at a sample that would have been
 * emitted). *t1 is the last; *stamps_ok says whether ts_start and ts_end are each the time or
 * the clock-jumped time of one of them. */
static int dropout_fits(const frun *x, int r, const gen_fault *f, int64_t t0, int64_t *t1,
                        int *stamps_ok)
{
    ptrdiff_t q0 = clean_pos(x, r, t0);
    if (q0 < 0 || (q0 > 0 && x->cmatch[x->crow[r][q0 - 1]] == NONE) || in_repair(x, r, t0))
        return 0;
    int64_t until = t0 + (int64_t)(f->magnitude * 1e6);
    int64_t n = 0, found_s = 0, found_e = 0;
    for (size_t q = (size_t)q0; q < x->ncrow[r]; q++) {
        size_t ci = x->crow[r][q];
        int64_t t = x->c[ci].ts_us;
        if (t >= until) break;
        if (in_repair(x, r, t)) continue;
        if (x->cmatch[ci] != NONE) return 0;
        n++;
        *t1 = t;
        found_s |= t == f->ts_start;
        found_e |= t == f->ts_end;
        for (size_t j = 0; j < x->nrfault[r]; j++) {
            const gen_fault *c = &x->faults[x->rfault[r][j]];
            if (c->kind != GEN_CLOCK_JUMP) continue;
            found_s |= t + clock_offset(c) == f->ts_start;
            found_e |= t + clock_offset(c) == f->ts_end;
        }
    }
    *stamps_ok = found_s && found_e;
    return n > 0 && n == f->rows;
}

/* Finds the rows each dropout took out. Its range is stamped as those rows would have been,
 * which is their true time unless a clock jump was under way (then some or all of them are
 * shifted, and the start is searched among the missing rows within 900 s, the largest jump).
 * Returns how many dropouts needed the search. */
static size_t resolve_dropouts(frun *x)
{
    size_t shifted = 0;
    for (size_t j = 0; j < x->nfaults; j++) {
        const gen_fault *f = &x->faults[j];
        if (f->kind != GEN_DROPOUT) continue;
        int r = robot_of(x, f->robot_id);
        int64_t t1 = 0;
        int ok = 0;
        if (dropout_fits(x, r, f, f->ts_start, &t1, &ok) && t1 == f->ts_end) {
            x->drop_t0[j] = f->ts_start;
            x->drop_t1[j] = t1;
            continue;
        }
        int found = 0;
        for (size_t q = clean_from(x, r, f->ts_start - 901 * SEC_US); q < x->ncrow[r] && !found;
             q++) {
            size_t ci = x->crow[r][q];
            if (x->c[ci].ts_us > f->ts_end + 901 * SEC_US) break;
            if (x->cmatch[ci] != NONE) continue;
            found = dropout_fits(x, r, f, x->c[ci].ts_us, &t1, &ok) && ok;
            if (found) {
                x->drop_t0[j] = x->c[ci].ts_us;
                x->drop_t1[j] = t1;
            }
        }
        if (!found)
            fail_msg("dropout of robot %d, %lld..%lld, %lld rows, %.1f s: no such rows are "
                     "missing",
                     (int)f->robot_id, (long long)f->ts_start, (long long)f->ts_end,
                     (long long)f->rows, f->magnitude);
        shifted++;
    }
    return shifted;
}

static int is_value_kind(gen_kind k)
{
    return k == GEN_PLATEAU || k == GEN_SPIKE || k == GEN_STUCK || k == GEN_NOISE;
}

static int overlaps(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    return a0 <= b1 && b0 <= a1;
}

/* Whether [s, e] touches a clock jump of robot r, in emitted or in true time. */
static int near_clock_jump(const frun *x, int r, int64_t s, int64_t e)
{
    for (size_t j = 0; j < x->nrfault[r]; j++) {
        const gen_fault *f = &x->faults[x->rfault[r][j]];
        if (f->kind != GEN_CLOCK_JUMP) continue;
        int64_t off = clock_offset(f);
        if (overlaps(s, e, f->ts_start, f->ts_end) ||
            overlaps(s, e, f->ts_start - off, f->ts_end - off))
            return 1;
    }
    return 0;
}

/* Whether axis (1-based) of robot r wears during [s, e] (true time). */
static int near_wear(const frun *x, int r, int axis, int64_t s, int64_t e)
{
    for (size_t j = 0; j < x->nrfault[r]; j++) {
        const gen_fault *f = &x->faults[x->rfault[r][j]];
        if (f->kind == GEN_WEAR && f->axis == axis && overlaps(s, e, f->ts_start, f->ts_end))
            return 1;
    }
    return 0;
}

/* Whether value v of faulted row i on axis a (0-based) may differ from the clean run: a value
 * fault on that axis covers its timestamp, or the axis wears at its true time. */
static int value_fault_covers(const frun *x, size_t i, int a)
{
    int r = robot_of(x, x->f[i].robot_id);
    int64_t e = x->f[i].ts_us, t = x->c[x->cidx[i]].ts_us;
    for (size_t j = 0; j < x->nrfault[r]; j++) {
        const gen_fault *f = &x->faults[x->rfault[r][j]];
        if (f->axis != a + 1) continue;
        if (is_value_kind(f->kind) && e >= f->ts_start && e <= f->ts_end) return 1;
        if (f->kind == GEN_WEAR && t >= f->ts_start && t <= f->ts_end) return 1;
    }
    return 0;
}

/* The faulted rows of a value fault: robot r's rows stamped within its range, second copies
 * of duplicates left out. Returns the count; *out is allocated. */
static size_t fault_rows(const frun *x, const gen_fault *f, size_t **out)
{
    int r = robot_of(x, f->robot_id);
    size_t n = 0;
    *out = xmalloc(sizeof **out * (x->nfrow[r] + 1));
    for (size_t k = 0; k < x->nfrow[r]; k++) {
        size_t i = x->frow[r][k];
        if (x->flag[i] == ROW_DUP) continue;
        if (x->f[i].ts_us >= f->ts_start && x->f[i].ts_us <= f->ts_end) (*out)[n++] = i;
    }
    return n;
}

/* A robot's current scale, measured by plateaus and spikes: offset / (magnitude * profile
 * sigma) must agree for all of them. */
typedef struct scale_range {
    double lo, hi;
    int n;
} scale_range;

static void scale_seen(const frun *x, scale_range *sr, const gen_fault *f, double offset)
{
    double sigma = x->p.sigma[f->axis - 1];
    double est = offset / (f->magnitude * sigma);
    double tol = 0.0015 / (f->magnitude * sigma); /* two roundings to 3 decimals */
    int r = robot_of(x, f->robot_id);
    if (r == 0) {
        /* The first robot is the reference (scale 1): the offset is magnitude sigmas. */
        if (fabs(est - 1) > tol)
            fail_msg("%s on robot %d axis %d: offset %.4f is %.4f sigma, reported %.4f",
                     gen_kind_name(f->kind), (int)f->robot_id, f->axis, offset, offset / sigma,
                     f->magnitude);
    }
    if (est < 0.85 - tol || est > 1.15 + tol)
        fail_msg("%s on robot %d axis %d: offset %.4f = %.4f x magnitude x sigma: not a robot "
                 "scale (0.85..1.15)",
                 gen_kind_name(f->kind), (int)f->robot_id, f->axis, offset, est);
    sr[r].lo = sr[r].n ? fmax(sr[r].lo, est - tol) : est - tol;
    sr[r].hi = sr[r].n ? fmin(sr[r].hi, est + tol) : est + tol;
    sr[r].n++;
    if (sr[r].lo > sr[r].hi)
        fail_msg("robot %d: %s offset implies scale %.5f, other faults %.5f..%.5f",
                 (int)f->robot_id, gen_kind_name(f->kind), est, sr[r].lo, sr[r].hi);
}

static double round3(double v)
{
    return (double)llround(v * 1000.0) / 1000.0;
}

/* Whether robot r has no row in the output after true time t: the run ended (or the robot
 * went silent until it ended). */
static int cut_by_end(const frun *x, int r, int64_t t)
{
    for (size_t q = clean_from(x, r, t + 1); q < x->ncrow[r]; q++)
        if (x->cmatch[x->crow[r][q]] != NONE) return 0;
    return 1;
}

/* Checks one value fault; returns 1 if checked, 0 if skipped (a clock jump or the wear of
 * the same axis around it makes the comparison with the clean run ambiguous). */
static int check_value_fault(const frun *x, const gen_fault *f, scale_range *sr,
                             double *noise_ratio)
{
    const char *kn = gen_kind_name(f->kind);
    int r = robot_of(x, f->robot_id);
    if (f->axis < 1 || f->axis > READING_AXES) fail_msg("%s: axis %d", kn, f->axis);
    int a = f->axis - 1;
    if (near_clock_jump(x, r, f->ts_start, f->ts_end)) return 0;
    int worn = near_wear(x, r, f->axis, f->ts_start, f->ts_end);
    if (worn && f->kind != GEN_STUCK) return 0;
    size_t *rows;
    size_t n = fault_rows(x, f, &rows);
    if ((int64_t)n != f->rows)
        fail_msg("%s of robot %d axis %d: reports %lld rows, %zu in its range", kn,
                 (int)f->robot_id, f->axis, (long long)f->rows, n);
    double d0 = x->f[rows[0]].axis[a] - x->c[x->cidx[rows[0]]].axis[a];
    /* A fault still under way at the end of the run was ended there (gen_close): it may be
     * shorter than its kind's minimum. */
    int64_t t_end = INT64_MIN;
    for (size_t k = 0; k < n; k++)
        t_end = t_end > x->c[x->cidx[rows[k]]].ts_us ? t_end : x->c[x->cidx[rows[k]]].ts_us;
    size_t min_rows = cut_by_end(x, r, t_end) ? 1 : f->kind == GEN_PLATEAU ? 15 : 20;
    switch (f->kind) {
    case GEN_PLATEAU:
        if (n < min_rows || n > 45) fail_msg("plateau of %zu rows", n);
        if (f->level != (f->magnitude >= 4 ? GEN_ERROR : GEN_ALERT) || f->magnitude < 2 ||
            f->magnitude > 6)
            fail_msg("plateau of %.3f sigma reported as %s", f->magnitude,
                     gen_level_name(f->level));
        for (size_t k = 0; k < n; k++) {
            double d = x->f[rows[k]].axis[a] - x->c[x->cidx[rows[k]]].axis[a];
            if (fabs(d - d0) > 0.0015)
                fail_msg("plateau of robot %d axis %d: row %zu offset %.4f, first %.4f",
                         (int)f->robot_id, f->axis, k, d, d0);
        }
        if (r == 0) {
            /* Offset / sigma in [2, 4) for ALERT, [4, 6] for ERROR (robot 1 has scale 1). */
            double m = d0 / x->p.sigma[a];
            double lo = f->level == GEN_ERROR ? 4 : 2, hi = f->level == GEN_ERROR ? 6 : 4;
            if (m < lo - 0.001 || m > hi + 0.001)
                fail_msg("plateau %s of %.4f sigma", gen_level_name(f->level), m);
        }
        scale_seen(x, sr, f, d0);
        break;
    case GEN_SPIKE:
        if (n != 1 || f->ts_start != f->ts_end) fail_msg("spike of %zu rows", n);
        {
            /* 1.5-3 times the axis's largest running current, in sigmas. */
            double top = x->p.axis_q[a][GENPROF_QN - 1] / x->p.sigma[a];
            if (f->level != GEN_ERROR || f->magnitude < 1.5 * top - 1e-9 || f->magnitude > 3 * top + 1e-9)
                fail_msg("spike of %.3f sigma (%.3f..%.3f), %s", f->magnitude, 1.5 * top, 3 * top,
                         gen_level_name(f->level));
        }
        scale_seen(x, sr, f, d0);
        break;
    case GEN_STUCK: {
        if (n < min_rows || n > 120) fail_msg("stuck for %zu rows", n);
        if (f->level != GEN_ALERT) fail_msg("stuck at %s", gen_level_name(f->level));
        double v0 = x->f[rows[0]].axis[a];
        if (!(v0 > 0)) fail_msg("stuck at %g", v0);
        size_t first = rows[0];
        for (size_t k = 0; k < n; k++) {
            if (x->f[rows[k]].axis[a] != v0)
                fail_msg("stuck on robot %d axis %d: row %zu reads %.3f, not %.3f",
                         (int)f->robot_id, f->axis, k, x->f[rows[k]].axis[a], v0);
            if (x->cidx[rows[k]] < x->cidx[first]) first = rows[k]; /* a late row comes after */
        }
        /* The value is what the sensor read when it stuck (or a typical one if that was 0). */
        double c0 = x->c[x->cidx[first]].axis[a];
        if (!worn && v0 != (c0 > 0 ? c0 : round3(x->p.axis_q[a][GENPROF_QN / 2])))
            fail_msg("stuck at %.3f, the sensor read %.3f", v0, c0);
        break;
    }
    case GEN_NOISE: {
        if (n < min_rows || n > 100) fail_msg("noise for %zu rows", n);
        if (f->level != GEN_ALERT || f->magnitude < 1.5 || f->magnitude > 3)
            fail_msg("noise of %.3f sigma, %s", f->magnitude, gen_level_name(f->level));
        double s = 0, ss = 0;
        for (size_t k = 0; k < n; k++) {
            double d = x->f[rows[k]].axis[a] - x->c[x->cidx[rows[k]]].axis[a];
            s += d;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)n - (s / (double)n) * (s / (double)n));
        /* Added noise of magnitude sigmas (times the robot's scale), cut at 0 when the
         * current is small. */
        double ratio = sd / (f->magnitude * x->p.sigma[a]);
        if (ratio < 0.2 || ratio > 1.6)
            fail_msg("noise of robot %d axis %d: std of the change %.4f = %.3f x %.3f sigma",
                     (int)f->robot_id, f->axis, sd, ratio, f->magnitude);
        noise_ratio[0] = fmin(noise_ratio[0], ratio);
        noise_ratio[1] = fmax(noise_ratio[1], ratio);
        break;
    }
    default:
        break;
    }
    free(rows);
    return 1;
}

/* Checks a dropout: longer than the robot's own pauses (1.25-2.5 times the profile's longest
 * gap, at least 60-900 s), no rows of the robot for magnitude seconds from its start, where
 * the clean run has them (resolve_dropouts found them). */
static int check_dropout(const frun *x, size_t j)
{
    const gen_fault *f = &x->faults[j];
    double longest = x->p.gap_prob > 0 ? x->p.gap_q[GENPROF_SN - 1] * x->o.interval_scale : 0;
    double lo = fmax(60, 1.25 * longest), hi = fmax(900, 2.5 * longest);
    if (f->axis != 0 || f->level != GEN_ALERT || f->magnitude < lo || f->magnitude > hi ||
        !(longest > 300)) /* the default profile's longest pause: 403 s */
        fail_msg("dropout: axis %d, %s, %.1f s (%.1f-%.1f s)", f->axis, gen_level_name(f->level),
                 f->magnitude, lo, hi);
    int64_t t0 = x->drop_t0[j], t1 = x->drop_t1[j];
    if (t1 < t0 || t1 >= t0 + (int64_t)(f->magnitude * 1e6))
        fail_msg("dropout of robot %d: rows missing %lld..%lld, not within its %.1f s",
                 (int)f->robot_id, (long long)t0, (long long)t1, f->magnitude);
    /* Stamped with the true times, but when a clock jump was under way. */
    int r = robot_of(x, f->robot_id);
    if ((f->ts_start != t0 || f->ts_end != t1) &&
        !near_clock_jump(x, r, t0 - 901 * SEC_US, t1 + 901 * SEC_US))
        fail_msg("dropout of robot %d stamped %lld..%lld, its rows are %lld..%lld",
                 (int)f->robot_id, (long long)f->ts_start, (long long)f->ts_end, (long long)t0,
                 (long long)t1);
    /* A missing row amid a clock jump's rows would have been stamped off too: the range holds
     * it as such. */
    for (size_t q = clean_from(x, r, t0); q < x->ncrow[r]; q++) {
        int64_t t = x->c[x->crow[r][q]].ts_us;
        if (t > t1) break;
        for (size_t k = 0; k < x->nrfault[r]; k++) {
            const gen_fault *c = &x->faults[x->rfault[r][k]];
            int64_t off = clock_offset(c);
            if (c->kind != GEN_CLOCK_JUMP || t < c->ts_start - off || t > c->ts_end - off) continue;
            if (t + off < f->ts_start || t + off > f->ts_end)
                fail_msg("dropout of robot %d stamped %lld..%lld: its row at %lld, amid a clock "
                         "jump of %+.0f s, would have carried %lld",
                         (int)f->robot_id, (long long)f->ts_start, (long long)f->ts_end,
                         (long long)t, c->magnitude, (long long)(t + off));
        }
    }
    return 1;
}

/* Checks a wear fault: the axis's current rises over the range by magnitude (and its noise
 * grows), then a failure at ts_end, a repair 1-4 h later and no rows in between. Returns 1 if
 * it ended in a failure, 0 if it was still under way at the end of the run. */
static int check_wear(const frun *x, const gen_fault *f, double *rise_err)
{
    int r = robot_of(x, f->robot_id);
    if (f->axis < 1 || f->axis > READING_AXES || f->level != GEN_ALERT || f->magnitude < 0.4 ||
        f->magnitude > 0.8)
        fail_msg("wear: axis %d, %s, rise %.3f", f->axis, gen_level_name(f->level), f->magnitude);
    const gen_event *failure = NULL, *repair = NULL;
    for (size_t j = 0; j < x->nevents; j++) {
        const gen_event *e = &x->events[j];
        if (e->robot_id != f->robot_id) continue;
        if (!failure && e->kind == GEN_FAILURE && e->ts == f->ts_end) {
            failure = e;
        } else if (failure && e->kind == GEN_REPAIR) {
            repair = e;
            break;
        }
    }
    /* rows: the rows emitted while the axis wore (up to the failure, which takes its sample
     * out, or to the end of the run). */
    size_t emitted = 0;
    for (size_t k = 0; k < x->nfrow[r]; k++) {
        size_t i = x->frow[r][k];
        int64_t t = x->c[x->cidx[i]].ts_us;
        emitted += x->flag[i] != ROW_DUP && t > f->ts_start &&
                   (t < f->ts_end || (!failure && t == f->ts_end));
    }
    if ((int64_t)emitted != f->rows)
        fail_msg("wear of robot %d axis %d: reports %lld rows, %zu emitted while it wore",
                 (int)f->robot_id, f->axis, (long long)f->rows, emitted);
    if (!failure) {
        if (f->ts_end != x->last)
            fail_msg("wear of robot %d axis %d ends at %lld without a failure", (int)f->robot_id,
                     f->axis, (long long)f->ts_end);
        return 0;
    }
    if (failure->axis != f->axis)
        fail_msg("failure of axis %d after wear of axis %d", failure->axis, f->axis);
    int64_t dur = f->ts_end - f->ts_start;
    if (dur < 6 * HOUR_US || dur > 48 * HOUR_US) fail_msg("wear for %.2f h", (double)dur / HOUR_US);
    if (repair) {
        if (repair->ts < failure->ts + HOUR_US || repair->ts > failure->ts + 4 * HOUR_US)
            fail_msg("repair %.2f h after the failure",
                     (double)(repair->ts - failure->ts) / HOUR_US);
        if (repair->axis != 0) fail_msg("repair of axis %d", repair->axis);
    } else if (x->last - failure->ts < 4 * HOUR_US) {
        return 0; /* the run ended during the repair */
    } else {
        fail_msg("no repair after the failure of robot %d", (int)f->robot_id);
    }
    /* No rows between the failure and the repair; the clean run has them. */
    size_t down = 0;
    for (size_t q = clean_from(x, r, failure->ts); q < x->ncrow[r]; q++) {
        size_t ci = x->crow[r][q];
        if (x->c[ci].ts_us >= repair->ts) break;
        if (x->cmatch[ci] != NONE)
            fail_msg("robot %d under repair has a row at %lld", (int)f->robot_id,
                     (long long)x->c[ci].ts_us);
        down++;
    }
    if (down == 0) fail_msg("no samples during the repair of robot %d", (int)f->robot_id);

    /* Over the range, faulted / clean on the worn axis follows 1 + rise * progress, and the
     * relative noise grows. In quarters of the range: */
    int a = f->axis - 1;
    double sf[4] = {0}, sc[4] = {0}, sx[4] = {0}, dv[4] = {0}, dv2[4] = {0};
    size_t cnt[4] = {0}, cntv[4] = {0};
    for (size_t k = 0; k < x->nfrow[r]; k++) {
        size_t i = x->frow[r][k];
        if (x->flag[i] == ROW_DUP || x->cidx[i] == NONE) continue;
        int64_t t = x->c[x->cidx[i]].ts_us;
        if (t <= f->ts_start || t >= f->ts_end) continue;
        double cv = x->c[x->cidx[i]].axis[a], fv = x->f[i].axis[a];
        if (cv <= 0) continue;
        /* Rows under another fault of the axis tell nothing about the wear. */
        int other = 0;
        for (size_t j = 0; j < x->nrfault[r] && !other; j++) {
            const gen_fault *g = &x->faults[x->rfault[r][j]];
            other = is_value_kind(g->kind) && g->axis == f->axis && x->f[i].ts_us >= g->ts_start &&
                    x->f[i].ts_us <= g->ts_end;
        }
        if (other) continue;
        double prog = (double)(t - f->ts_start) / (double)dur;
        int b = prog < 1 ? (int)(prog * 4) : 3;
        double want = 1 + f->magnitude * prog;
        sf[b] += fv;
        sc[b] += cv;
        sx[b] += cv * want;
        cnt[b]++;
        if (cv >= 1) { /* where rounding to 3 decimals is negligible */
            double dev = fv / (cv * want) - 1;
            dv[b] += dev;
            dv2[b] += dev * dev;
            cntv[b]++;
        }
    }
    double prev = 0, sd[4];
    for (int b = 0; b < 4; b++) {
        if (cnt[b] < 20)
            fail_msg("wear of robot %d: %zu running rows in quarter %d", (int)f->robot_id, cnt[b],
                     b);
        double ratio = sf[b] / sc[b], want = sx[b] / sc[b];
        *rise_err = fmax(*rise_err, fabs(ratio - want));
        if (fabs(ratio - want) > 0.03)
            fail_msg("wear of robot %d axis %d (rise %.3f): quarter %d runs at %.4f of the clean "
                     "current, expected %.4f",
                     (int)f->robot_id, f->axis, f->magnitude, b, ratio, want);
        if (ratio <= prev)
            fail_msg("wear of robot %d: the current does not rise (quarter %d)", (int)f->robot_id,
                     b);
        prev = ratio;
        sd[b] = cntv[b] > 1 ? sqrt(dv2[b] / (double)cntv[b] - pow(dv[b] / (double)cntv[b], 2)) : 0;
    }
    if (cntv[0] >= 20 && cntv[3] >= 20 && !(sd[3] > 2 * sd[0]))
        fail_msg("wear of robot %d axis %d: relative noise %.4f at the start, %.4f at the end",
                 (int)f->robot_id, f->axis, sd[0], sd[3]);
    return 1;
}

/* Checks a clock jump: the clean rows of the true range come out stamped magnitude seconds
 * off, exactly those. */
static int check_clock_jump(const frun *x, const gen_fault *f)
{
    int r = robot_of(x, f->robot_id);
    double m = fabs(f->magnitude);
    if (f->axis != 0 || f->level != GEN_ALERT || m < 30 || m > 900)
        fail_msg("clock_jump: axis %d, %s, %.3f s", f->axis, gen_level_name(f->level),
                 f->magnitude);
    if (f->ts_end - f->ts_start > 60 * 60 * SEC_US)
        fail_msg("clock_jump for %.1f min", (double)(f->ts_end - f->ts_start) / 60e6);
    int64_t off = clock_offset(f);
    if (clean_pos(x, r, f->ts_start - off) < 0)
        fail_msg("clock_jump of robot %d: %lld - %.6f s is no sample time", (int)f->robot_id,
                 (long long)f->ts_start, f->magnitude);
    size_t shifted = 0;
    for (size_t q = clean_from(x, r, f->ts_start - off); q < x->ncrow[r]; q++) {
        size_t ci = x->crow[r][q];
        int64_t t = x->c[ci].ts_us;
        if (t > f->ts_end - off) break;
        if (x->cmatch[ci] == NONE) {
            if (!missing_explained(x, r, t))
                fail_msg("clock_jump of robot %d: the row at %lld is missing", (int)f->robot_id,
                         (long long)t);
            continue;
        }
        if (x->f[x->cmatch[ci]].ts_us != t + off)
            fail_msg("clock_jump of robot %d by %.0f s: the row at %lld is stamped %+.3f s off",
                     (int)f->robot_id, f->magnitude, (long long)t,
                     (double)(x->f[x->cmatch[ci]].ts_us - t) / 1e6);
        shifted++;
    }
    if ((int64_t)shifted != f->rows)
        fail_msg("clock_jump of robot %d: reports %lld rows, %zu shifted", (int)f->robot_id,
                 (long long)f->rows, shifted);
    /* Just outside the range, the clock is right. */
    ptrdiff_t q0 = clean_pos(x, r, f->ts_start - off);
    if (q0 > 0) {
        size_t ci = x->crow[r][q0 - 1];
        if (x->cmatch[ci] != NONE && x->f[x->cmatch[ci]].ts_us != x->c[ci].ts_us)
            fail_msg("clock_jump of robot %d: the row before it is shifted too", (int)f->robot_id);
    }
    size_t q1 = clean_from(x, r, f->ts_end - off + 1);
    if (q1 < x->ncrow[r]) {
        size_t ci = x->crow[r][q1];
        if (x->cmatch[ci] != NONE && x->f[x->cmatch[ci]].ts_us != x->c[ci].ts_us)
            fail_msg("clock_jump of robot %d: the row after it is shifted too", (int)f->robot_id);
    }
    return 1;
}

/* Checks a late row: emitted once the fleet's clock passed its time plus magnitude seconds,
 * i.e. after every row sampled before that and before every row sampled after. Sets *ooo when
 * a row with a later timestamp was emitted before it. */
static int check_late(const frun *x, size_t fi, const int64_t *max_before, const int64_t *min_after,
                      const int64_t *max_ts_before, int *ooo)
{
    const gen_fault *f = &x->faults[fi];
    if (f->axis != 0 || f->rows != 1 || f->ts_start != f->ts_end || f->magnitude < 5 ||
        f->magnitude > 120)
        fail_msg("late: axis %d, %lld rows, %.1f s", f->axis, (long long)f->rows, f->magnitude);
    size_t i = x->late_row[fi];
    if (i == NONE || x->cidx[i] == NONE)
        fail_msg("late row of robot %d not found", (int)f->robot_id);
    int64_t release = x->c[x->cidx[i]].ts_us + (int64_t)(f->magnitude * 1e6);
    if (!(max_before[i] < release && min_after[i] >= release))
        fail_msg("late row of robot %d at %lld held %.3f s: emitted after a row sampled at %+.3f "
                 "s and before one at %+.3f s",
                 (int)f->robot_id, (long long)f->ts_start, f->magnitude,
                 (double)(max_before[i] - release) / 1e6, (double)(min_after[i] - release) / 1e6);
    *ooo = max_ts_before[i] > x->f[i].ts_us;
    return 1;
}

/* Runs every check over x; checked[k] counts the faults of kind k verified. */
static void frun_check(frun *x, int *checked, const char *title)
{
    size_t unmatched = frun_align(x);
    assert_int_equal(unmatched, 0);
    size_t drop_jumped = resolve_dropouts(x);

    /* Every clean row came out, unless a dropout or a repair says it is missing. */
    size_t holes = 0, bad_holes = 0;
    for (int r = 0; r < x->o.robots; r++)
        for (size_t q = 0; q < x->ncrow[r]; q++) {
            size_t ci = x->crow[r][q];
            if (x->cmatch[ci] != NONE) continue;
            holes++;
            if (x->c[ci].ts_us == x->last || missing_explained(x, r, x->c[ci].ts_us)) continue;
            if (bad_holes++ < 5)
                print_message("robot %d: the row at %lld is missing without a dropout or repair\n",
                              r + 1, (long long)x->c[ci].ts_us);
        }
    assert_int_equal(bad_holes, 0);

    /* Outside the faults the runs are identical: every value of every row, except on an axis
     * under a value fault or wear at that row; no value is negative. */
    size_t changed = 0, bad_values = 0;
    for (size_t i = 0; i < x->nf; i++)
        for (int a = 0; a < READING_AXES; a++) {
            double fv = x->f[i].axis[a], cv = x->c[x->cidx[i]].axis[a];
            if (!(fv >= 0)) fail_msg("row %zu axis%d = %g", i, a + 1, fv);
            if (memcmp(&fv, &cv, sizeof fv) == 0) continue;
            changed++;
            if (value_fault_covers(x, i, a)) continue;
            if (bad_values++ < 5)
                print_message("row %zu robot %d ts %lld axis%d: %.3f, clean %.3f, no fault there\n",
                              i, (int)x->f[i].robot_id, (long long)x->f[i].ts_us, a + 1, fv, cv);
        }
    assert_int_equal(bad_values, 0);
    assert_true(changed > 0);

    /* For late rows: the latest sample time emitted before each row and the earliest after
     * (late rows aside), and the latest timestamp before. */
    int64_t *max_before = xmalloc(sizeof *max_before * x->nf);
    int64_t *min_after = xmalloc(sizeof *min_after * x->nf);
    int64_t *max_ts_before = xmalloc(sizeof *max_ts_before * x->nf);
    int64_t mb = INT64_MIN, mt = INT64_MIN;
    for (size_t i = 0; i < x->nf; i++) {
        max_before[i] = mb;
        max_ts_before[i] = mt;
        if (x->flag[i] != ROW_LATE && x->c[x->cidx[i]].ts_us > mb) mb = x->c[x->cidx[i]].ts_us;
        if (x->f[i].ts_us > mt) mt = x->f[i].ts_us;
    }
    int64_t ma = INT64_MAX;
    for (size_t i = x->nf; i-- > 0;) {
        min_after[i] = ma;
        if (x->flag[i] != ROW_LATE && x->c[x->cidx[i]].ts_us < ma) ma = x->c[x->cidx[i]].ts_us;
    }

    int reported[GEN_NKINDS] = {0}, ooo = 0;
    scale_range *sr = xcalloc((size_t)x->o.robots, sizeof *sr);
    double noise_ratio[2] = {INFINITY, -INFINITY}, rise_err = 0;
    for (size_t j = 0; j < x->nfaults; j++) {
        const gen_fault *f = &x->faults[j];
        if ((unsigned)f->kind >= GEN_NKINDS) fail_msg("fault of kind %d", (int)f->kind);
        reported[f->kind]++;
        if (f->ts_start > f->ts_end)
            fail_msg("%s of robot %d axis %d: ts_start %lld after ts_end %lld",
                     gen_kind_name(f->kind), (int)f->robot_id, f->axis, (long long)f->ts_start,
                     (long long)f->ts_end);
        if (f->level != GEN_ALERT && f->level != GEN_ERROR) fail_msg("level %d", f->level);
        int ok = 0;
        switch (f->kind) {
        case GEN_PLATEAU:
        case GEN_SPIKE:
        case GEN_STUCK:
        case GEN_NOISE:
            ok = check_value_fault(x, f, sr, noise_ratio);
            break;
        case GEN_DROPOUT:
            ok = check_dropout(x, j);
            break;
        case GEN_WEAR:
            ok = check_wear(x, f, &rise_err);
            break;
        case GEN_DUPLICATE:
            if (f->axis != 0 || f->rows != 1 || f->ts_start != f->ts_end)
                fail_msg("duplicate: axis %d, %lld rows", f->axis, (long long)f->rows);
            ok = 1; /* found as two adjacent copies by frun_align */
            break;
        case GEN_LATE: {
            int o = 0;
            ok = check_late(x, j, max_before, min_after, max_ts_before, &o);
            ooo += o;
            break;
        }
        case GEN_CLOCK_JUMP:
            ok = check_clock_jump(x, f);
            break;
        default:
            break;
        }
        checked[f->kind] += ok;
    }
    /* Nearly every late row is out of order (a few are held while nothing else was sampled). */
    if (checked[GEN_LATE] && ooo < checked[GEN_LATE] * 9 / 10)
        fail_msg("only %d of %d late rows came after a later timestamp", ooo, checked[GEN_LATE]);

    size_t failures = 0, repairs = 0;
    for (size_t j = 0; j < x->nevents; j++) {
        failures += x->events[j].kind == GEN_FAILURE;
        repairs += x->events[j].kind == GEN_REPAIR;
    }
    print_message("%s: %zu rows with faults, %zu without; %zu rows missing, %zu values changed\n",
                  title, x->nf, x->nc, holes, changed);
    for (int k = 0; k < GEN_NKINDS; k++)
        print_message("  %-10s %4d reported, %4d checked\n", gen_kind_name((gen_kind)k),
                      reported[k], checked[k]);
    print_message("  events: %zu failures, %zu repairs; late rows out of order: %d; noise std "
                  "%.2f..%.2f x magnitude; wear rise error <= %.4f; dropouts during a clock "
                  "jump: %zu\n",
                  failures, repairs, ooo, noise_ratio[0], noise_ratio[1], rise_err, drop_jumped);
    free(sr);
    free(max_before);
    free(min_after);
    free(max_ts_before);
}

/* A fleet of 20 robots for 12 simulated hours with heavy faults: every kind but wear. */
static void test_faults_fleet(void **state)
{
    (void)state;
    frun x;
    frun_generate(&x, 20, 12, 1);
    int checked[GEN_NKINDS] = {0};
    frun_check(&x, checked, "20 robots, 12 h, heavy faults");
    for (int k = 0; k < GEN_NKINDS; k++)
        if (k != GEN_WEAR && checked[k] < 3)
            fail_msg("only %d %s faults checked", checked[k], gen_kind_name((gen_kind)k));
    frun_free(&x);
}

/* Wear takes days: 12 robots for 72 simulated hours, sampled 8 times less often. */
static void test_faults_wear(void **state)
{
    (void)state;
    frun x;
    frun_generate(&x, 12, 72, 8);
    int checked[GEN_NKINDS] = {0};
    frun_check(&x, checked, "12 robots, 72 h, intervals x8, heavy faults");
    for (int k = 0; k < GEN_NKINDS; k++)
        if (checked[k] < 3)
            fail_msg("only %d %s faults checked", checked[k], gen_kind_name((gen_kind)k));
    frun_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),           cmocka_unit_test(test_calibration_readme),
        cmocka_unit_test(test_calibration_real_file),
        cmocka_unit_test(test_edges_optional), cmocka_unit_test(test_faults_fleet),
        cmocka_unit_test(test_faults_wear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
