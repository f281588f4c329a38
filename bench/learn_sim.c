/* learn_sim: the learn stage's learners over the fixed simulator run — `pgpulse gen
 * --robots 50 --duration 2592000 --seed 5 --faults default` — read straight from the
 * generator in the order the stage reads them, failures given as the simulator reports them:
 * the forecasts' MAE per axis and horizon beside the naive baselines, and the failure risk's
 * ROC-AUC, PR-AUC and alarm figures per threshold. The stage runs this code (test_learn shows
 * its outputs are a function of the rows alone); this skips PostgreSQL to measure the learning.
 *
 *   learn_sim [--robots N] [--days D] [--seed S]      (defaults 50, 30, 5)
 *   learn_sim --csv FILE     the forecasts over a readings file instead (the workshop's export) */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvin.h"
#include "gen.h"
#include "learn_forecast.h"
#include "learn_risk.h"
#include "readingcsv.h"
#include "util.h"

/* The forecasts' MAE per axis and horizon over robots fc[0..robots), beside the naive
 * baselines. */
static void learn_sim_forecasts(const learn_fc *fc, int robots)
{
    printf("Forecast MAE on running readings (A), and the model's against the best naive baseline:\n\n");
    printf("| horizon | axis | readings | model | last | same phase, previous run | same phase, previous cycle | mean | median | model / best naive |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    double worst = 0;
    for (int h = 0; h < LEARN_FC_HORIZONS; h++)
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            double mae[LEARN_FC_METHODS] = {0};
            int64_t cnt = 0, idle = 0;
            for (int i = 0; i < robots; i++) {
                cnt += fc[i].score[h][a].n;
                idle += fc[i].score[h][a].idle;
                for (int k = 0; k < LEARN_FC_METHODS; k++) mae[k] += fc[i].score[h][a].abs[k];
            }
            double best = INFINITY;
            for (int k = 0; k < LEARN_FC_METHODS; k++) {
                mae[k] /= (double)cnt;
                if (k && mae[k] < best) best = mae[k];
            }
            if (mae[0] / best > worst) worst = mae[0] / best;
            printf("| %d | %d | %lld | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f |\n", learn_fc_horizon[h], a + 1,
                   (long long)cnt, mae[0], mae[1], mae[2], mae[3], mae[4], mae[5], mae[0] / best);
            (void)idle;
        }
    printf("\nworst model / best naive: %.2f\n\n", worst);
}

/* --csv: a readings file (any format pgpulse ingests; the workshop's export) through the
 * forecaster, a robot at a time as the stage takes them; forecasts only (it has no failures). */
static int learn_sim_csv(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "learn_sim: %s: %s\n", path, strerror(errno));
        return 1;
    }
    csvin *in = csvin_new(fd, 0);
    csvin_row row;
    readingcsv fmt;
    char err[512];
    int got = csvin_next(in, &row, -1, err, sizeof err);
    if (got != CSVIN_ROW || readingcsv_detect(&fmt, &row, 1, err, sizeof err) != 0) {
        fprintf(stderr, "learn_sim: %s: %s\n", path, got == CSVIN_EOF ? "empty file" : err);
        csvin_free(in);
        return 1;
    }
    enum { MAXR = 64 };
    int32_t ids[MAXR];
    int robots = 0;
    learn_fc *fc = xcalloc(MAXR, sizeof *fc);
    int64_t n = 0, now = util_now_us();
    while ((got = csvin_next(in, &row, -1, err, sizeof err)) == CSVIN_ROW) {
        reading r;
        char reason[256];
        if (readingcsv_decode(&fmt, &row, now, &r, reason, sizeof reason) == READINGCSV_REJECT) continue;
        int k = 0;
        while (k < robots && ids[k] != r.robot_id) k++;
        if (k == robots) {
            if (robots == MAXR) continue;
            ids[robots++] = r.robot_id;
            learn_fc_init(&fc[k]);
        }
        n += learn_fc_step(&fc[k], r.ts_us, r.axis);
    }
    csvin_free(in);
    printf("%s: %d robot(s), %lld readings\n\n", path, robots, (long long)n);
    learn_sim_forecasts(fc, robots);
    free(fc);
    return 0;
}

int main(int argc, char **argv)
{
    int robots = 50;
    double days = 30;
    uint64_t seed = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--csv")) return learn_sim_csv(argv[i + 1]);
        if (!strcmp(argv[i], "--robots")) robots = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--days")) days = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
    }
    genprof p;
    genprof_default(&p);
    gen_opts o = {.robots = robots, .first_robot = 1, .seed = seed, .start_us = 1767225600000000LL,
                  .interval_scale = 1, .faults = GEN_FAULTS_DEFAULT};
    gen *g = gen_new(&p, &o);
    learn_fc *fc = xcalloc((size_t)robots, sizeof *fc);
    learn_risk_robot *rr = xcalloc((size_t)robots, sizeof *rr);
    learn_risk_fleet *fleet = xcalloc(1, sizeof *fleet);
    learn_risk_fleet_init(fleet);
    for (int i = 0; i < robots; i++) {
        learn_fc_init(&fc[i]);
        learn_risk_robot_init(&rr[i]);
    }
    int64_t end = o.start_us + (int64_t)(days * 86400e6), n = 0, t0 = util_mono_us();
    reading rd;
    for (;;) {
        gen_next(g, &rd);
        if (rd.ts_us >= end) break;
        gen_event e;
        while (gen_pop_event(g, &e))
            if (e.kind == GEN_FAILURE) learn_risk_add_failure(&rr[e.robot_id - 1], e.ts);
        learn_fc_step(&fc[rd.robot_id - 1], rd.ts_us, rd.axis);
        learn_risk_sample s;
        learn_risk_step(fleet, &rr[rd.robot_id - 1], rd.ts_us, rd.axis, &s);
        n++;
    }
    double secs = (double)(util_mono_us() - t0) / 1e6;
    printf("%d robots, %.0f days, seed %llu: %lld readings in %.1f s (%.0f readings/s with the simulator)\n\n",
           robots, days, (unsigned long long)seed, (long long)n, secs, (double)n / secs);
    learn_sim_forecasts(fc, robots);

    const learn_risk_fleet *f = fleet;
    printf("Failure risk (24 h): %lld samples, %lld labelled, %lld failures scored; champion (model %d) "
           "ROC-AUC %.3f, PR-AUC %.3f, log loss %.3f; challenger ROC-AUC %.3f, PR-AUC %.3f; %d promotion(s)\n\n",
           (long long)f->samples, (long long)f->resolved, (long long)f->failures, f->champion,
           learn_risk_roc_auc(&f->score[f->champion]), learn_risk_pr_auc(&f->score[f->champion]),
           learn_risk_logloss(&f->score[f->champion]), learn_risk_roc_auc(&f->score[1 - f->champion]),
           learn_risk_pr_auc(&f->score[1 - f->champion]), f->promotions);
    printf("| alarm threshold | failures warned | alarms | alarms followed by a failure | recall | precision | median lead (h) |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int k = 0; k < LEARN_RISK_NT; k++)
        printf("| %.1f%s | %lld | %lld | %lld | %.3f | %.3f | %.1f |\n", learn_risk_thresholds[k],
               k == f->primary ? " (default)" : "", (long long)f->at[k].detected, (long long)f->at[k].alarms,
               (long long)f->at[k].true_alarms, learn_risk_recall(f, k), learn_risk_precision(f, k),
               learn_risk_lead_hours(f, k));
    gen_free(g);
    free(fc);
    free(rr);
    free(fleet);
    return 0;
}
