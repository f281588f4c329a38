/* report_text: headline tiles and tables from report_data (see report_text.h). The real
 * statistics are the workshop export's, as the simulator's built-in profile carries them
 * (genprof.h: target), and the period's real robots' (an ingested export); the simulated ones
 * are the period's simulated robots, pooled. */
#include "report_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genprof.h"
#include "util.h"

static void put(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *dst, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

static const char *cnt(char *out, size_t len, int64_t n)
{
    return util_fmt_count(out, len, (uint64_t)(n > 0 ? n : 0));
}

static void pct(char *dst, size_t len, double part, double whole)
{
    if (whole > 0) put(dst, len, "%.1f %%", 100 * part / whole);
    else put(dst, len, "n/a");
}

static void num(char *dst, size_t len, double v, int dec)
{
    if (isfinite(v)) put(dst, len, "%.*f", dec, v);
    else put(dst, len, "n/a");
}

/* The period's length, in the largest unit that keeps it above 1. */
static void duration(char *dst, size_t len, double s)
{
    if (s >= 2 * 86400) put(dst, len, "%.1f days", s / 86400);
    else if (s >= 2 * 3600) put(dst, len, "%.1f hours", s / 3600);
    else put(dst, len, "%.0f min", s / 60);
}

/* A metric whose model name starts with model_prefix (and, if role is given, contains it),
 * NAN when absent. */
static double metric_of(const report_data *d, const char *model_prefix, const char *role,
                        const char *key)
{
    for (size_t i = 0; i < d->nmetrics; i++)
        if (!strncmp(d->metrics[i].model, model_prefix, strlen(model_prefix)) &&
            (!role || strstr(d->metrics[i].model, role)) && !strcmp(d->metrics[i].key, key))
            return d->metrics[i].value;
    return NAN;
}

static double metric(const report_data *d, const char *model_prefix, const char *key)
{
    return metric_of(d, model_prefix, NULL, key);
}

size_t report_text_tiles(const report_data *d, report_tile *out)
{
    size_t n = 0;
    char a[32], b[32];
    report_tile *t;
    memset(out, 0, REPORT_MAX_TILES * sizeof *out);

    t = &out[n++];
    put(t->value, sizeof t->value, "%lld", (long long)d->robots);
    put(t->label, sizeof t->label, "robots");
    put(t->detail, sizeof t->detail, "%s readings", cnt(a, sizeof a, d->readings));

    t = &out[n++];
    double span = d->to - d->from;
    if (d->days > 0 && span > 2.0 * 86400 * (double)d->days) {
        /* Readings on few of the period's days (an old export beside a recent fleet): the days
         * with readings, not the span. */
        put(t->value, sizeof t->value, "%lld day%s", (long long)d->days, d->days == 1 ? "" : "s");
        put(t->label, sizeof t->label, "with readings");
        put(t->detail, sizeof t->detail, "%.10s to %.10s", d->from_text, d->to_text);
    } else {
        duration(t->value, sizeof t->value, span);
        put(t->label, sizeof t->label, "of readings");
        put(t->detail, sizeof t->detail, "%.5s %.5s to %.5s %.5s UTC", d->from_text + 5,
            d->from_text + 11, d->to_text + 5, d->to_text + 11);
    }

    t = &out[n++];
    pct(t->value, sizeof t->value, (double)d->idle_rows, (double)d->readings);
    put(t->label, sizeof t->label, "idle readings");
    put(t->detail, sizeof t->detail, "every axis exactly 0 A");

    t = &out[n++];
    put(t->value, sizeof t->value, "%s", cnt(a, sizeof a, d->alerts));
    put(t->label, sizeof t->label, "ALERT episodes");
    put(t->detail, sizeof t->detail, "%s", d->detect_consumer[0] ? "anomaly detection" : "no detection ran");

    t = &out[n++];
    put(t->value, sizeof t->value, "%s", cnt(a, sizeof a, d->errors));
    put(t->label, sizeof t->label, "ERROR episodes");
    put(t->detail, sizeof t->detail, "consumer %s", d->detect_consumer[0] ? d->detect_consumer : "none");

    int64_t detected = 0;
    for (size_t i = 0; i < d->ndetect; i++) detected += d->detect[i].detected;
    t = &out[n++];
    pct(t->value, sizeof t->value, (double)detected, (double)d->faults);
    put(t->label, sizeof t->label, "of injected faults detected");
    put(t->detail, sizeof t->detail, "%s of %s faults", cnt(a, sizeof a, detected), cnt(b, sizeof b, d->faults));

    t = &out[n++];
    pct(t->value, sizeof t->value, (double)d->anomalies_matched, (double)(d->alerts + d->errors));
    put(t->label, sizeof t->label, "of episodes match a fault");
    put(t->detail, sizeof t->detail, "%s of %s episodes", cnt(a, sizeof a, d->anomalies_matched),
        cnt(b, sizeof b, d->alerts + d->errors));

    t = &out[n++];
    put(t->value, sizeof t->value, "%lld", (long long)d->failures);
    put(t->label, sizeof t->label, "failures");
    put(t->detail, sizeof t->detail, "%lld repairs", (long long)d->repairs);

    if (d->has_forecast) {
        double r2 = 0, mae = 0;
        int k = 0;
        for (int i = 0; i < REPORT_AXES; i++)
            if (isfinite(d->forecast[i].r2) && d->forecast[i].n > 0) {
                r2 += d->forecast[i].r2;
                mae += d->forecast[i].mae;
                k++;
            }
        t = &out[n++];
        if (k) put(t->value, sizeof t->value, "%.2f", r2 / k);
        else put(t->value, sizeof t->value, "n/a");
        put(t->label, sizeof t->label, "forecast R\xc2\xb2 (mean of axes)");
        put(t->detail, sizeof t->detail, "MAE %.2f A, %d reading%s ahead", k ? mae / k : NAN,
            d->forecast[0].horizon, d->forecast[0].horizon == 1 ? "" : "s");
    }
    double auc = metric_of(d, "failure_risk", "champion", "roc_auc");
    if (isfinite(auc)) {
        t = &out[n++];
        put(t->value, sizeof t->value, "%.3f", auc);
        put(t->label, sizeof t->label, "failure risk ROC-AUC");
        double rec = metric_of(d, "failure_risk/", "champion", "recall");
        double prec = metric_of(d, "failure_risk/", "champion", "precision");
        if (isfinite(rec) && isfinite(prec))
            put(t->detail, sizeof t->detail, "alarms: recall %.2f, precision %.2f", rec, prec);
        else
            put(t->detail, sizeof t->detail, "the champion, prequential");
    }
    return n;
}

static void table_init(report_table *t, const char *title, int ncols, const char *const *head,
                       size_t rows)
{
    memset(t, 0, sizeof *t);
    put(t->title, sizeof t->title, "%s", title);
    t->ncols = ncols;
    for (int c = 0; c < ncols; c++) {
        put(t->head[c], REPORT_CELL, "%s", head[c]);
        t->right[c] = c > 0;
    }
    t->cell = xcalloc((rows ? rows : 1) * (size_t)ncols, REPORT_CELL);
}

/* One source's rows of the comparison: a row per axis at rows r, r + step, ... and its idle
 * share at row idle_row. */
static void stats_rows(report_table *t, size_t r, size_t step, size_t idle_row, const char *source,
                       const report_axis *x, double idle)
{
    for (int a = 0; a < REPORT_AXES; a++, r += step) {
        put(report_cell(t, r, 0), REPORT_CELL, "%d", a + 1);
        put(report_cell(t, r, 1), REPORT_CELL, "%s", source);
        num(report_cell(t, r, 2), REPORT_CELL, x[a].mean, 3);
        num(report_cell(t, r, 3), REPORT_CELL, x[a].std, 3);
        num(report_cell(t, r, 4), REPORT_CELL, x[a].p50, 3);
        num(report_cell(t, r, 5), REPORT_CELL, x[a].p90, 3);
        num(report_cell(t, r, 6), REPORT_CELL, x[a].p99, 3);
    }
    put(report_cell(t, idle_row, 0), REPORT_CELL, "all");
    put(report_cell(t, idle_row, 1), REPORT_CELL, "%s", source);
    put(report_cell(t, idle_row, 2), REPORT_CELL, "idle: %.1f %%", 100 * idle);
}

/* The workshop's export (the simulator's profile), then the period's real robots and its
 * simulated ones, each where it has readings. */
static void stats_table(const report_data *d, report_table *t)
{
    static const char *const head[] = {"axis", "source", "mean (A)", "std (A)", "p50 (A)",
                                       "p90 (A)", "p99 (A)"};
    genprof prof;
    genprof_default(&prof);
    const calstats *w = &prof.target;
    report_axis ws[REPORT_AXES];
    memset(ws, 0, sizeof ws);
    for (int a = 0; a < REPORT_AXES; a++) {
        ws[a].mean = w->mean[a];
        ws[a].std = w->std[a];
        ws[a].p50 = w->nz_p50[a];
        ws[a].p90 = w->nz_p90[a];
        ws[a].p99 = w->nz_p99[a];
    }
    const report_group *g[2] = {&d->real, &d->sim};
    char label[2][32];
    size_t k = 1;
    const report_group *src[3] = {NULL};
    const char *name[3] = {"workshop"};
    for (int i = 0; i < 2; i++) {
        if (g[i]->readings == 0) continue;
        put(label[i], sizeof label[i], "%s, %lld robot%s", i == 0 ? "real" : "simulated",
            (long long)g[i]->robots, g[i]->robots == 1 ? "" : "s");
        src[k] = g[i];
        name[k++] = label[i];
    }
    table_init(t, "Real against simulated: the workshop's export and this period's robots", 7, head,
               (REPORT_AXES + 1) * k);
    t->right[1] = 0;
    stats_rows(t, 0, k, REPORT_AXES * k, name[0], ws, w->idle_fraction);
    for (size_t i = 1; i < k; i++)
        stats_rows(t, i, k, REPORT_AXES * k + i, name[i], src[i]->axis,
                   (double)src[i]->idle_rows / (double)src[i]->readings);
    t->nrows = (REPORT_AXES + 1) * k;
    char rows[32], real[32], sim[32];
    put(t->note, sizeof t->note,
        "Mean and standard deviation over all readings (idle zeros included); p50, p90 and p99 of "
        "the non-zero readings; idle: the share of readings with every axis exactly 0. Workshop: "
        "the real robot's export (%s readings), as the simulator's built-in profile holds it. "
        "Real: this period's robots not made by the simulator (%s readings, e.g. an ingested "
        "export); simulated: pgpulse gen's robots (%s readings), pooled (each scales its currents "
        "by 0.85-1.15, so pooled figures spread wider than one robot's). From the warehouse: "
        "quantiles within 1 %%.",
        cnt(rows, sizeof rows, (int64_t)w->rows), cnt(real, sizeof real, d->real.readings),
        cnt(sim, sizeof sim, d->sim.readings));
}

static void forecast_table(const report_data *d, report_table *t)
{
    static const char *const head[] = {"axis", "scored", "idle targets", "MAE (A)", "R\xc2\xb2",
                                       "stage MAE (A)", "best naive (A)", "naive"};
    table_init(t, "Forecasts against the readings", 8, head, REPORT_AXES);
    t->right[7] = 0;
    static const char *const naive[] = {"last", "prev_run", "prev_cycle", "mean", "median"};
    char a[32];
    for (int i = 0; i < REPORT_AXES; i++) {
        const report_forecast *f = &d->forecast[i];
        size_t r = t->nrows++;
        put(report_cell(t, r, 0), REPORT_CELL, "%d", i + 1);
        put(report_cell(t, r, 1), REPORT_CELL, "%s", cnt(a, sizeof a, f->n));
        put(report_cell(t, r, 2), REPORT_CELL, "%s", cnt(a, sizeof a, f->idle));
        num(report_cell(t, r, 3), REPORT_CELL, f->mae, 3);
        num(report_cell(t, r, 4), REPORT_CELL, f->r2, 3);
        char key[64];
        put(key, sizeof key, "mae.h%d.axis%d", f->horizon, i + 1);
        num(report_cell(t, r, 5), REPORT_CELL, metric(d, "forecast", key), 3);
        double best = NAN;
        const char *which = "";
        for (size_t k = 0; k < sizeof naive / sizeof naive[0]; k++) {
            put(key, sizeof key, "mae_%s.h%d.axis%d", naive[k], f->horizon, i + 1);
            double v = metric(d, "forecast", key);
            if (isfinite(v) && !(v >= best)) {
                best = v;
                which = naive[k];
            }
        }
        num(report_cell(t, r, 6), REPORT_CELL, best, 3);
        put(report_cell(t, r, 7), REPORT_CELL, "%s", which);
    }
    put(t->note, sizeof t->note,
        "Each forecast %d reading%s ahead (one a minute per robot and axis) against the reading "
        "nearest its target time (within 10 s), scored where the robot ran; R\xc2\xb2 = 1 - "
        "SSE/SST over those targets. Stage MAE and the naive baselines: the forecaster's own "
        "prequential figures over every running reading (run_metric, latest).",
        d->forecast[0].horizon, d->forecast[0].horizon == 1 ? "" : "s");
}

static void detect_table(const report_data *d, report_table *t)
{
    static const char *const head[] = {"fault kind", "level", "faults", "detected", "recall"};
    table_init(t, "Detection quality against the injected faults", 5, head, d->ndetect + 1);
    t->right[1] = 0;
    char a[32];
    int64_t tf = 0, td = 0;
    for (size_t i = 0; i < d->ndetect; i++) {
        const report_detect *x = &d->detect[i];
        size_t r = t->nrows++;
        put(report_cell(t, r, 0), REPORT_CELL, "%s", x->kind);
        put(report_cell(t, r, 1), REPORT_CELL, "%s", x->error ? "ERROR" : "ALERT");
        put(report_cell(t, r, 2), REPORT_CELL, "%s", cnt(a, sizeof a, x->faults));
        put(report_cell(t, r, 3), REPORT_CELL, "%s", cnt(a, sizeof a, x->detected));
        pct(report_cell(t, r, 4), REPORT_CELL, (double)x->detected, (double)x->faults);
        tf += x->faults;
        td += x->detected;
    }
    size_t r = t->nrows++;
    put(report_cell(t, r, 0), REPORT_CELL, "all");
    put(report_cell(t, r, 2), REPORT_CELL, "%s", cnt(a, sizeof a, tf));
    put(report_cell(t, r, 3), REPORT_CELL, "%s", cnt(a, sizeof a, td));
    pct(report_cell(t, r, 4), REPORT_CELL, (double)td, (double)tf);
    char b[32];
    put(t->note, sizeof t->note,
        "A fault (the simulator's ground truth, table fault) is detected when an anomaly episode "
        "of the same robot, on its axis or the whole robot, overlaps its time range widened by "
        "60 s on each side. Precision the same way round: %s of %s episodes (%.1f %%) overlap a "
        "fault. Consumer: %s.",
        cnt(a, sizeof a, d->anomalies_matched), cnt(b, sizeof b, d->alerts + d->errors),
        d->alerts + d->errors ? 100.0 * (double)d->anomalies_matched / (double)(d->alerts + d->errors) : 0.0,
        d->detect_consumer[0] ? d->detect_consumer : "none");
}

static void metrics_table(const report_data *d, report_table *t)
{
    static const char *const head[] = {"model", "metric", "value"};
    table_init(t, "Model metrics", 3, head, d->nmetrics);
    t->right[1] = 0;
    for (size_t i = 0; i < d->nmetrics; i++) {
        const report_metric *m = &d->metrics[i];
        if (!strcmp(m->model, "forecast")) continue; /* in the forecast table */
        size_t r = t->nrows++;
        put(report_cell(t, r, 0), REPORT_CELL, "%s", m->model);
        put(report_cell(t, r, 1), REPORT_CELL, "%s", m->key);
        num(report_cell(t, r, 2), REPORT_CELL, m->value,
            m->value == rint(m->value) || fabs(m->value) >= 100 ? 0 : 4);
    }
    put(t->note, sizeof t->note,
        "The registered models' figures as of their latest snapshot (model_version.metrics: "
        "the failure risk champion and challenger), then each learner's latest logged figures "
        "(run_metric; recall, precision and lead time of its alarms), all prequential "
        "(docs/learn.md). Consumer: %s.",
        d->learn_consumer);
}

size_t report_text_tables(const report_data *d, report_table *out)
{
    size_t n = 0;
    stats_table(d, &out[n++]);
    if (d->has_forecast) forecast_table(d, &out[n++]);
    if (d->faults > 0 || d->alerts + d->errors > 0) detect_table(d, &out[n++]);
    metrics_table(d, &out[n]);
    if (out[n].nrows) n++;
    else report_text_free(&out[n], 1);
    return n;
}

void report_text_free(report_table *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].cell);
        t[i].cell = NULL;
    }
}
