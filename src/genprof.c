/* genprof: fitting, reading and writing simulator profiles (see genprof.h). */
#include "genprof.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "normal.h"
#include "util.h"

extern const char genprof_default_json[]; /* profiles/default.json, compiled in */
extern const size_t genprof_default_json_len;

#define GENPROF_NOISE 0.05 /* relative measurement noise of a running current */

double genprof_table(const double *q, size_t n, double u)
{
    if (u <= 0) return q[0];
    if (u >= 1) return q[n - 1];
    double pos = u * (double)(n - 1);
    size_t i = (size_t)pos;
    double f = pos - (double)i;
    return q[i] + f * (q[i + 1] - q[i]);
}

/* Fills table[0..nq) with the quantiles of v[0..n) (sorted here); zeros if n is 0. */
static void genprof_quantiles(double *v, size_t n, double *table, size_t nq)
{
    calstats_sort(v, n);
    for (size_t i = 0; i < nq; i++)
        table[i] = calstats_quantile(v, n, (double)i / (double)(nq - 1));
}

static int genprof_idle(const reading *r)
{
    for (int a = 0; a < READING_AXES; a++)
        if (r->axis[a] != 0) return 0;
    return 1;
}

static int genprof_nonzero(const reading *r)
{
    int k = 0;
    for (int a = 0; a < READING_AXES; a++) k += r->axis[a] != 0;
    return k;
}

static unsigned genprof_mask(const reading *r)
{
    unsigned m = 0;
    for (int a = 0; a < READING_AXES; a++)
        if (r->axis[a] != 0) m |= 1u << a;
    return m;
}

/* Fits the rest edges (genprof.h) and marks the edge rows in edge[0..n) (1: edge row). An
 * edge row is one of the leading (trailing) rows of a running stretch with fewer than 8
 * non-zero axes, at most GENPROF_EDGE_ROWS of them, on stretches with idle rows on both sides
 * (at the file's ends the edge is not seen). */
static void genprof_fit_edges(genprof *p, const reading *rows, size_t n, unsigned char *edge)
{
    double cnt[2][GENPROF_EDGE_ROWS + 1] = {{0}}, masks[2][2][GENPROF_MASKS] = {{{0}}};
    double nrows[2] = {0}, nmasks[2][2] = {{0}};
    memset(edge, 0, n);
    for (size_t i = 0; i < n;) {
        if (genprof_idle(&rows[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < n && !genprof_idle(&rows[j + 1])) j++;
        if (i > 0 && j + 1 < n) {
            size_t len = j - i + 1, lead = 0, trail = 0;
            while (lead < len && lead < GENPROF_EDGE_ROWS &&
                   genprof_nonzero(&rows[i + lead]) < READING_AXES)
                lead++;
            while (trail < len - lead && trail < GENPROF_EDGE_ROWS &&
                   genprof_nonzero(&rows[j - trail]) < READING_AXES)
                trail++;
            cnt[GENPROF_EDGE_START][lead]++;
            cnt[GENPROF_EDGE_END][trail]++;
            nrows[GENPROF_EDGE_START]++;
            nrows[GENPROF_EDGE_END]++;
            for (size_t k = 0; k < lead + trail; k++) {
                size_t r = k < lead ? i + k : j - (k - lead);
                int e = k < lead ? GENPROF_EDGE_START : GENPROF_EDGE_END;
                int inner = k != 0 && k != lead; /* not the row nearest the rest */
                masks[e][inner][genprof_mask(&rows[r])]++;
                nmasks[e][inner]++;
                edge[r] = 1;
            }
        }
        i = j + 1;
    }
    /* A running row can read 0 on an axis anywhere in a run (a current crossing zero), so
     * some rows counted above are the run's own, not its edge's: where a run has no edge row,
     * its first row still has fewer than 8 axes on with the share of such rows in the runs'
     * middles. Take their expected number off each set of axes (and off the counts of one
     * edge row), so that the simulator, which adds such rows in its programs, has them once. */
    double body[GENPROF_MASKS] = {0}, nbody = 0, zsum = 0;
    for (size_t k = 0; k < n; k++)
        if (!edge[k] && !genprof_idle(&rows[k])) {
            body[genprof_mask(&rows[k])]++;
            nbody++;
        }
    for (int m = 0; m < GENPROF_MASKS - 1 && nbody > 0; m++) zsum += body[m] / nbody;
    for (int e = 0; e < 2 && nbody > 0 && zsum < 1; e++) {
        double none = cnt[e][0] / (1 - zsum), taken = 0; /* runs without a true edge row */
        for (int m = 1; m < GENPROF_MASKS - 1; m++) {
            double d = none * body[m] / nbody;
            if (d > masks[e][0][m]) d = masks[e][0][m];
            masks[e][0][m] -= d;
            taken += d;
        }
        if (taken > cnt[e][1]) taken = cnt[e][1];
        cnt[e][1] -= taken;
        cnt[e][0] += taken;
        nmasks[e][0] -= taken;
    }
    for (int e = 0; e < 2; e++) {
        for (int k = 0; k <= GENPROF_EDGE_ROWS; k++)
            p->edge[e].rows_p[k] = nrows[e] > 0 ? cnt[e][k] / nrows[e] : (k == 0);
        for (int in = 0; in < 2; in++)
            for (int m = 0; m < GENPROF_MASKS; m++)
                p->edge[e].mask_p[in][m] = nmasks[e][in] > 0 ? masks[e][in][m] / nmasks[e][in] : 0;
    }
    double *v = xmalloc(sizeof *v * n);
    for (int a = 0; a < READING_AXES; a++) {
        size_t m = 0;
        for (size_t k = 0; k < n; k++)
            if (edge[k] && rows[k].axis[a] != 0) v[m++] = rows[k].axis[a];
        genprof_quantiles(v, m, p->edge_q[a], GENPROF_SN); /* zeros if never on at an edge */
    }
    free(v);
    p->has_edges = 1;
}

typedef struct genprof_rank {
    double v;
    size_t i;
} genprof_rank;

static int genprof_rank_cmp(const void *x, const void *y)
{
    const genprof_rank *a = x, *b = y;
    return (a->v > b->v) - (a->v < b->v);
}

/* Normal scores of v[0..n) (ties share their mean rank) into z. */
static void genprof_normal_scores(const double *v, size_t n, double *z, genprof_rank *tmp)
{
    for (size_t i = 0; i < n; i++) tmp[i] = (genprof_rank){v[i], i};
    qsort(tmp, n, sizeof *tmp, genprof_rank_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && tmp[j + 1].v == tmp[i].v) j++;
        double rank = ((double)i + (double)j) / 2.0;
        double s = normal_quantile((rank + 0.5) / (double)n);
        for (size_t k = i; k <= j; k++) z[tmp[k].i] = s;
        i = j + 1;
    }
}

int genprof_fit(genprof *p, const reading *rows, size_t n, const char *source, char *err,
                size_t errlen)
{
    if (n < 1000) return util_err(err, errlen, "need at least 1,000 rows to fit a profile, got %zu", n);
    memset(p, 0, sizeof *p);
    snprintf(p->source, sizeof p->source, "%s", source ? source : "");
    calstats_compute(rows, n, &p->target);

    /* Sampling intervals and gaps. */
    double *dt = xmalloc(sizeof *dt * n), *gaps = xmalloc(sizeof *gaps * n);
    size_t ndt = 0, ngaps = 0;
    unsigned char *edge = NULL; /* per row: a rest edge's row */
    for (size_t i = 1; i < n; i++) {
        double d = (double)(rows[i].ts_us - rows[i - 1].ts_us) / 1e6;
        if (d <= 0) continue;
        if (d > GENPROF_GAP_S)
            gaps[ngaps++] = d;
        else
            dt[ndt++] = d;
    }
    int rc = 0;
    if (ndt < 100) {
        rc = util_err(err, errlen, "timestamps are not increasing: sort the rows by time");
        goto cleanup;
    }
    p->gap_prob = (double)ngaps / (double)(ndt + ngaps);
    genprof_quantiles(dt, ndt, p->interval_q, GENPROF_QN);
    genprof_quantiles(gaps, ngaps, p->gap_q, GENPROF_SN);
    double median_dt = p->interval_q[GENPROF_QN / 2];

    /* Rest edges; then running stretches (the program: the rows between the edge rows, on
     * stretches without a gap) and idle ones (from the last running row, edge or not, to the
     * next). */
    edge = xmalloc(n);
    genprof_fit_edges(p, rows, n, edge);
    double *runs = xmalloc(sizeof *runs * n), *idles = xmalloc(sizeof *idles * n);
    size_t nruns = 0, nidles = 0;
    size_t i = 0;
    int64_t last_run_end = -1; /* ts of the last running row of the previous stretch */
    while (i < n) {
        size_t j = i;
        int idle = genprof_idle(&rows[i]);
        while (j + 1 < n && genprof_idle(&rows[j + 1]) == idle) j++;
        if (!idle) {
            /* A complete stretch: idle rows on both sides and no gap inside. */
            int complete = i > 0 && j + 1 < n;
            for (size_t k = i + 1; k <= j && complete; k++)
                complete = (double)(rows[k].ts_us - rows[k - 1].ts_us) / 1e6 <= GENPROF_GAP_S;
            size_t b0 = i, b1 = j;
            while (b0 <= j && edge[b0]) b0++;
            while (b1 > b0 && edge[b1]) b1--;
            if (complete && b0 <= b1) runs[nruns++] = (double)(b1 - b0 + 1);
            if (last_run_end >= 0) {
                double idle_s = (double)(rows[i].ts_us - last_run_end) / 1e6 - median_dt;
                idles[nidles++] = idle_s > 0.1 ? idle_s : 0.1;
            }
            last_run_end = rows[j].ts_us;
        }
        i = j + 1;
    }
    if (nruns < 10 || nidles < 10) {
        rc = util_err(err, errlen,
                      "found %zu running and %zu idle stretches (rows with every axis 0); need "
                      "at least 10 of each to fit the duty cycle",
                      nruns, nidles);
    } else {
        /* The program lasts as many samples as a run's rows between its edges, on average, at
         * the mean interval the simulator draws: so a simulated run has as many rows as a
         * real one, and the edge rows their share of all rows. */
        double rows_mean = 0, iv_mean = 0;
        for (size_t k = 0; k < nruns; k++) rows_mean += runs[k] / (double)nruns;
        for (int k = 0; k < GENPROF_QN; k++) iv_mean += p->interval_q[k] / GENPROF_QN;
        p->program_s = rows_mean * iv_mean;
        genprof_quantiles(idles, nidles, p->idle_q, GENPROF_QN);
    }
    free(runs);
    free(idles);
    if (rc != 0) goto cleanup;

    /* The running values of the rows between the edges: quantiles, noise, and the
     * normal-score correlation between axes. */
    size_t nrun = 0;
    for (size_t k = 0; k < n; k++) nrun += !genprof_idle(&rows[k]) && !edge[k];
    double *v = xmalloc(sizeof *v * nrun);
    double *z[READING_AXES];
    genprof_rank *tmp = xmalloc(sizeof *tmp * nrun);
    for (int a = 0; a < READING_AXES; a++) {
        size_t m = 0;
        for (size_t k = 0; k < n; k++)
            if (!genprof_idle(&rows[k]) && !edge[k]) v[m++] = rows[k].axis[a];
        z[a] = xmalloc(sizeof *z[a] * nrun);
        size_t zeros = 0;
        for (size_t k = 0; k < m; k++) zeros += v[k] == 0;
        p->zero[a] = m ? (double)zeros / (double)m : 0;
        genprof_normal_scores(v, m, z[a], tmp);
        p->noise[a] = GENPROF_NOISE;
        genprof_quantiles(v, m, p->axis_q[a], GENPROF_QN);
        p->sigma[a] = p->target.std[a];
    }
    for (int a = 0; a < READING_AXES; a++)
        for (int b = 0; b < READING_AXES; b++) {
            double sab = 0, saa = 0, sbb = 0;
            for (size_t k = 0; k < nrun; k++) {
                sab += z[a][k] * z[b][k];
                saa += z[a][k] * z[a][k];
                sbb += z[b][k] * z[b][k];
            }
            p->corr[a][b] = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : (a == b);
        }
    for (int a = 0; a < READING_AXES; a++) free(z[a]);
    free(tmp);
    free(v);
cleanup:
    free(edge);
    free(dt);
    free(gaps);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON */

static json_t *genprof_json_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static const char *const genprof_edge_names[2] = {"start", "end"};
static const char *const genprof_mask_keys[2] = {"masks", "inner_masks"};

/* "edges": {"start": {"rows": [...], "masks": [{"axes": [7, 8], "p": 0.05}, ...],
 * "inner_masks": [...]}, "end": ..., "q": [[...], ...]}, the sets of axes from the most
 * frequent down. */
static json_t *genprof_edges_json(const genprof *p)
{
    json_t *o = json_object();
    for (int e = 0; e < 2; e++) {
        const genprof_edge *ed = &p->edge[e];
        json_t *eo = json_object();
        json_object_set_new(eo, "rows", genprof_json_array(ed->rows_p, GENPROF_EDGE_ROWS + 1));
        for (int in = 0; in < 2; in++) {
            const double *mp = ed->mask_p[in];
            json_t *masks = json_array();
            unsigned char done[GENPROF_MASKS] = {0};
            for (;;) {
                int best = -1;
                for (int m = 1; m < GENPROF_MASKS; m++)
                    if (!done[m] && mp[m] > 0 && (best < 0 || mp[m] > mp[best])) best = m;
                if (best < 0) break;
                done[best] = 1;
                json_t *mo = json_object(), *ax = json_array();
                for (int a = 0; a < READING_AXES; a++)
                    if (best & (1 << a)) json_array_append_new(ax, json_integer(a + 1));
                json_object_set_new(mo, "axes", ax);
                json_object_set_new(mo, "p", json_real(mp[best]));
                json_array_append_new(masks, mo);
            }
            json_object_set_new(eo, genprof_mask_keys[in], masks);
        }
        json_object_set_new(o, genprof_edge_names[e], eo);
    }
    json_t *q = json_array();
    for (int a = 0; a < READING_AXES; a++)
        json_array_append_new(q, genprof_json_array(p->edge_q[a], GENPROF_SN));
    json_object_set_new(o, "q", q);
    return o;
}

void genprof_write_json(const genprof *p, buf *b)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(GENPROF_VERSION));
    json_object_set_new(root, "source", json_string(p->source));
    json_object_set_new(root, "interval_q", genprof_json_array(p->interval_q, GENPROF_QN));
    json_object_set_new(root, "gap_prob", json_real(p->gap_prob));
    json_object_set_new(root, "gap_q", genprof_json_array(p->gap_q, GENPROF_SN));
    json_object_set_new(root, "program_s", json_real(p->program_s));
    json_object_set_new(root, "idle_q", genprof_json_array(p->idle_q, GENPROF_QN));
    json_t *axes = json_array();
    for (int a = 0; a < READING_AXES; a++) {
        json_t *o = json_object();
        json_object_set_new(o, "axis", json_integer(a + 1));
        json_object_set_new(o, "persist", json_real(p->persist[a]));
        json_object_set_new(o, "noise", json_real(p->noise[a]));
        json_object_set_new(o, "sigma", json_real(p->sigma[a]));
        if (p->zero[a] >= 0) json_object_set_new(o, "zero", json_real(p->zero[a]));
        json_object_set_new(o, "corr", genprof_json_array(p->corr[a], READING_AXES));
        json_object_set_new(o, "q", genprof_json_array(p->axis_q[a], GENPROF_QN));
        json_array_append_new(axes, o);
    }
    json_object_set_new(root, "axes", axes);
    if (p->has_edges) json_object_set_new(root, "edges", genprof_edges_json(p));
    const calstats *t = &p->target;
    json_t *tg = json_object();
    json_object_set_new(tg, "rows", json_integer((json_int_t)t->rows));
    json_object_set_new(tg, "idle_fraction", json_real(t->idle_fraction));
    json_object_set_new(tg, "mean", genprof_json_array(t->mean, READING_AXES));
    json_object_set_new(tg, "std", genprof_json_array(t->std, READING_AXES));
    json_object_set_new(tg, "nz_p50", genprof_json_array(t->nz_p50, READING_AXES));
    json_object_set_new(tg, "nz_p90", genprof_json_array(t->nz_p90, READING_AXES));
    json_object_set_new(tg, "nz_p99", genprof_json_array(t->nz_p99, READING_AXES));
    json_object_set_new(tg, "lag1", genprof_json_array(t->lag1, READING_AXES));
    json_object_set_new(tg, "nz_share", genprof_json_array(t->nz_share, READING_AXES + 1));
    json_object_set_new(tg, "few_rows", json_integer((json_int_t)t->few_rows));
    json_object_set_new(tg, "few_by_run", json_integer((json_int_t)t->few_by_run));
    json_object_set_new(root, "target", tg);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (!text) abort(); /* out of memory */
    buf_puts(b, text);
    buf_puts(b, "\n");
    free(text);
}

/* Reads array key of exactly n finite numbers into out. With monotonic, values must not
 * decrease (a quantile table). */
static int genprof_get_array(json_t *obj, const char *key, double *out, size_t n, int monotonic,
                             const char *where, char *err, size_t errlen)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a) || json_array_size(a) != n)
        return util_err(err, errlen, "%s: \"%s\" must be an array of %zu numbers", where, key, n);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_number(x))
            return util_err(err, errlen, "%s: \"%s\"[%zu] is not a number", where, key, i);
        out[i] = json_number_value(x);
        if (!isfinite(out[i]) || (monotonic && out[i] < 0))
            return util_err(err, errlen, "%s: \"%s\"[%zu] must be a finite value >= 0", where, key, i);
        if (monotonic && i > 0 && out[i] < out[i - 1])
            return util_err(err, errlen, "%s: \"%s\" is a quantile table and must not decrease "
                            "(element %zu)", where, key, i);
    }
    return 0;
}

static int genprof_get_number(json_t *obj, const char *key, double lo, double hi, double *out,
                              const char *where, char *err, size_t errlen)
{
    json_t *x = json_object_get(obj, key);
    if (!json_is_number(x) || !(json_number_value(x) >= lo && json_number_value(x) <= hi))
        return util_err(err, errlen, "%s: \"%s\" must be a number in [%g, %g]", where, key, lo, hi);
    *out = json_number_value(x);
    return 0;
}

/* Checks that v[0..n) are probabilities summing to 1 (within 1e-6; then made exact). */
static int genprof_check_dist(double *v, size_t n, const char *what, char *err, size_t errlen)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] >= 0 && v[i] <= 1))
            return util_err(err, errlen, "%s: element %zu must be a probability in [0, 1]", what, i);
        sum += v[i];
    }
    if (!(fabs(sum - 1) <= 1e-6))
        return util_err(err, errlen, "%s: the probabilities must sum to 1, not %.9g", what, sum);
    for (size_t i = 0; i < n; i++) v[i] /= sum;
    return 0;
}

/* Reads "edges" (see genprof_edges_json) into p; absent: no edges. */
static int genprof_read_edges(genprof *p, json_t *root, char *err, size_t errlen)
{
    json_t *o = json_object_get(root, "edges");
    if (!o) return 0; /* a profile from before edges: runs start and end with full rows */
    if (!json_is_object(o)) return util_err(err, errlen, "profile: \"edges\" must be an object");
    for (int e = 0; e < 2; e++) {
        genprof_edge *ed = &p->edge[e];
        char where[64];
        snprintf(where, sizeof where, "profile: edges.%s", genprof_edge_names[e]);
        json_t *eo = json_object_get(o, genprof_edge_names[e]);
        if (!json_is_object(eo)) return util_err(err, errlen, "%s must be an object", where);
        if (genprof_get_array(eo, "rows", ed->rows_p, GENPROF_EDGE_ROWS + 1, 0, where, err, errlen))
            return -1;
        char what[96];
        snprintf(what, sizeof what, "%s.rows", where);
        if (genprof_check_dist(ed->rows_p, GENPROF_EDGE_ROWS + 1, what, err, errlen)) return -1;
        for (int in = 0; in < 2; in++) {
            double *mp = ed->mask_p[in];
            const char *key = genprof_mask_keys[in];
            json_t *masks = json_object_get(eo, key);
            if (!json_is_array(masks))
                return util_err(err, errlen, "%s: \"%s\" must be an array", where, key);
            for (size_t i = 0; i < json_array_size(masks); i++) {
                json_t *mo = json_array_get(masks, i), *ax = json_object_get(mo, "axes");
                snprintf(what, sizeof what, "%s.%s[%zu]", where, key, i);
                if (!json_is_array(ax) || json_array_size(ax) < 1 ||
                    json_array_size(ax) >= READING_AXES)
                    return util_err(err, errlen, "%s: \"axes\" must list 1 to %d axes", what,
                                    READING_AXES - 1);
                unsigned m = 0;
                for (size_t k = 0; k < json_array_size(ax); k++) {
                    json_t *x = json_array_get(ax, k);
                    json_int_t a = json_is_integer(x) ? json_integer_value(x) : 0;
                    if (a < 1 || a > READING_AXES || (m & (1u << (a - 1))))
                        return util_err(err, errlen, "%s: \"axes\" must be distinct axis "
                                        "numbers 1..%d", what, READING_AXES);
                    m |= 1u << (a - 1);
                }
                if (mp[m] > 0) return util_err(err, errlen, "%s: the same axes twice", what);
                if (genprof_get_number(mo, "p", 0, 1, &mp[m], what, err, errlen)) return -1;
            }
            /* Needed where such rows occur: any edge row for the first table, two or more for
             * the second. */
            double need = 0;
            for (int k = in + 1; k <= GENPROF_EDGE_ROWS; k++) need += ed->rows_p[k];
            snprintf(what, sizeof what, "%s.%s", where, key);
            if (need > 0 && genprof_check_dist(mp, GENPROF_MASKS, what, err, errlen)) return -1;
        }
    }
    json_t *q = json_object_get(o, "q");
    if (!json_is_array(q) || json_array_size(q) != READING_AXES)
        return util_err(err, errlen, "profile: edges.q must be an array of %d quantile tables",
                        READING_AXES);
    for (int a = 0; a < READING_AXES; a++) {
        json_t *holder = json_object();
        json_object_set(holder, "q", json_array_get(q, (size_t)a));
        char where[64];
        snprintf(where, sizeof where, "profile: edges.q[%d]", a);
        int rc = genprof_get_array(holder, "q", p->edge_q[a], GENPROF_SN, 1, where, err, errlen);
        json_decref(holder);
        if (rc) return -1;
    }
    p->has_edges = 1;
    return 0;
}

int genprof_read_json(genprof *p, const char *text, size_t len, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) return util_err(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        util_err(err, errlen, "the profile must be a JSON object");
        goto cleanup;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != GENPROF_VERSION) {
        if (json_is_integer(ver))
            util_err(err, errlen, "profile: \"version\" %lld is not supported (this pgpulse reads "
                     "version %d)", (long long)json_integer_value(ver), GENPROF_VERSION);
        else
            util_err(err, errlen, "profile: \"version\" must be the integer %d", GENPROF_VERSION);
        goto cleanup;
    }
    json_t *src = json_object_get(root, "source");
    snprintf(p->source, sizeof p->source, "%s", json_is_string(src) ? json_string_value(src) : "");
    if (genprof_get_array(root, "interval_q", p->interval_q, GENPROF_QN, 1, "profile", err, errlen) ||
        genprof_get_number(root, "gap_prob", 0, 0.5, &p->gap_prob, "profile", err, errlen) ||
        genprof_get_array(root, "gap_q", p->gap_q, GENPROF_SN, 1, "profile", err, errlen) ||
        genprof_get_number(root, "program_s", 0.5, 86400, &p->program_s, "profile", err, errlen) ||
        genprof_get_array(root, "idle_q", p->idle_q, GENPROF_QN, 1, "profile", err, errlen))
        goto cleanup;
    if (p->interval_q[GENPROF_QN / 2] <= 0) {
        util_err(err, errlen, "profile: the median sampling interval must be > 0");
        goto cleanup;
    }
    json_t *axes = json_object_get(root, "axes");
    if (!json_is_array(axes) || json_array_size(axes) != READING_AXES) {
        util_err(err, errlen, "profile: \"axes\" must be an array of %d objects", READING_AXES);
        goto cleanup;
    }
    for (int a = 0; a < READING_AXES; a++) {
        json_t *o = json_array_get(axes, (size_t)a);
        char where[32];
        snprintf(where, sizeof where, "profile: axes[%d]", a);
        if (!json_is_object(o)) {
            util_err(err, errlen, "%s must be an object", where);
            goto cleanup;
        }
        if (genprof_get_number(o, "persist", 0, 1, &p->persist[a], where, err, errlen) ||
            genprof_get_number(o, "noise", 0, 0.25, &p->noise[a], where, err, errlen) ||
            genprof_get_number(o, "sigma", 0, 1e6, &p->sigma[a], where, err, errlen) ||
            genprof_get_array(o, "corr", p->corr[a], READING_AXES, 0, where, err, errlen) ||
            genprof_get_array(o, "q", p->axis_q[a], GENPROF_QN, 1, where, err, errlen))
            goto cleanup;
        /* Optional (profiles from before it lack it): then the table decides. */
        p->zero[a] = -1;
        if (json_object_get(o, "zero") &&
            genprof_get_number(o, "zero", 0, 1, &p->zero[a], where, err, errlen))
            goto cleanup;
    }
    json_t *tg = json_object_get(root, "target");
    if (json_is_object(tg)) {
        calstats *t = &p->target;
        json_t *rows = json_object_get(tg, "rows");
        t->rows = json_is_integer(rows) ? (size_t)json_integer_value(rows) : 0;
        if (genprof_get_number(tg, "idle_fraction", 0, 1, &t->idle_fraction, "profile: target", err,
                               errlen) ||
            genprof_get_array(tg, "mean", t->mean, READING_AXES, 0, "profile: target", err, errlen) ||
            genprof_get_array(tg, "std", t->std, READING_AXES, 0, "profile: target", err, errlen) ||
            genprof_get_array(tg, "nz_p50", t->nz_p50, READING_AXES, 0, "profile: target", err, errlen) ||
            genprof_get_array(tg, "nz_p90", t->nz_p90, READING_AXES, 0, "profile: target", err, errlen) ||
            genprof_get_array(tg, "nz_p99", t->nz_p99, READING_AXES, 0, "profile: target", err, errlen) ||
            genprof_get_array(tg, "lag1", t->lag1, READING_AXES, 0, "profile: target", err, errlen))
            goto cleanup;
        /* Optional (profiles from before edges lack them): for reporting only. */
        if (json_object_get(tg, "nz_share") &&
            genprof_get_array(tg, "nz_share", t->nz_share, READING_AXES + 1, 0, "profile: target",
                              err, errlen))
            goto cleanup;
        json_t *few = json_object_get(tg, "few_rows"), *by = json_object_get(tg, "few_by_run");
        t->few_rows = json_is_integer(few) ? (size_t)json_integer_value(few) : 0;
        t->few_by_run = json_is_integer(by) ? (size_t)json_integer_value(by) : 0;
    }
    if (genprof_read_edges(p, root, err, errlen)) goto cleanup;
    rc = 0;
cleanup:
    json_decref(root);
    return rc;
}

void genprof_default(genprof *p)
{
    char err[256];
    if (genprof_read_json(p, genprof_default_json, genprof_default_json_len, err, sizeof err) != 0) {
        /* The embedded profile is checked by the unit tests; failing here is a build defect. */
        fprintf(stderr, "pgpulse: built-in profile is invalid: %s\n", err);
        abort();
    }
}

int genprof_load(genprof *p, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return util_err(err, errlen, "%s: %s", path, strerror(errno));
    buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + got > (64u << 20)) {
            fclose(f);
            buf_free(&b);
            return util_err(err, errlen, "%s: larger than 64 MiB, not a profile", path);
        }
        buf_append(&b, chunk, got);
    }
    fclose(f);
    char msg[512];
    int rc = genprof_read_json(p, (const char *)b.data, b.len, msg, sizeof msg);
    buf_free(&b);
    if (rc != 0) return util_err(err, errlen, "%s: %s", path, msg);
    return 0;
}

int genprof_save(const genprof *p, const char *path, char *err, size_t errlen)
{
    buf b = {0};
    genprof_write_json(p, &b);
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f || fwrite(b.data, 1, b.len, f) != b.len) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    buf_free(&b);
    if (rc != 0) return util_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return 0;
}
