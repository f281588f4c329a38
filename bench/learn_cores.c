/* learn_cores: the learners' speed on one core, without I/O — records learned per second.
 *
 *     learn_cores [--records N]
 *
 * Inputs are drawn before the clock starts (an intercept and d - 1 standard normal features, y
 * linear in them plus noise); each learner then takes them in order, prequential (update returns
 * the prior error), and one line is printed per learner and size:
 *
 *     learn_cores learner=rls d=8 lambda=0.999 records=4000000 seconds=0.61 records_per_s=6557377
 *     learn_cores learner=sgd d=16 task=classify records=4000000 ...
 *
 * The bar: RLS with 8 features at 5,000,000 records/s or more per core. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "learn_rls.h"
#include "learn_sgd.h"
#include "rng.h"
#include "util.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void bench_rls(int d, long n, const double *xs, const double *ys)
{
    learn_rls m;
    learn_rls_init(&m, d, 0.999, 1e3);
    double sse = 0, t0 = now_s();
    for (long i = 0; i < n; i++) {
        double e = learn_rls_update(&m, xs + (size_t)i * LEARN_RLS_MAXD, ys[i]);
        sse += e * e;
    }
    double t = now_s() - t0;
    printf("learn_cores learner=rls d=%d lambda=0.999 records=%ld seconds=%.3f records_per_s=%.0f "
           "rmse=%.4f\n",
           d, n, t, (double)n / t, sqrt(sse / (double)n));
}

static void bench_sgd(int d, int logistic, long n, const double *xs, const double *ys)
{
    learn_sgd m;
    learn_sgd_init(&m, d, logistic, 0.1, 1e-6);
    double t0 = now_s(), sum = 0;
    for (long i = 0; i < n; i++)
        sum += learn_sgd_update(&m, xs + (size_t)i * LEARN_RLS_MAXD, logistic ? ys[i] > 0 : ys[i]);
    double t = now_s() - t0;
    printf("learn_cores learner=sgd d=%d task=%s records=%ld seconds=%.3f records_per_s=%.0f "
           "check=%.3g\n",
           d, logistic ? "classify" : "regress", n, t, (double)n / t, sum / (double)n);
}

int main(int argc, char **argv)
{
    long n = 4000000;
    static const struct option opts[] = {{"records", required_argument, NULL, 'n'}, {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'n' || (n = atol(optarg)) < 1) {
            fprintf(stderr, "usage: learn_cores [--records N]\n");
            return 2;
        }
    }
    double *xs = xmalloc((size_t)n * LEARN_RLS_MAXD * sizeof *xs), *ys = xmalloc((size_t)n * sizeof *ys);
    rng r;
    rng_seed(&r, 42, 0);
    for (long i = 0; i < n; i++) {
        double *x = xs + (size_t)i * LEARN_RLS_MAXD, y = 0.1 * rng_normal(&r);
        x[0] = 1;
        for (int k = 1; k < LEARN_RLS_MAXD; k++) x[k] = rng_normal(&r);
        for (int k = 0; k < 8; k++) y += (k + 1) * 0.25 * x[k];
        ys[i] = y;
    }
    static const int sizes[] = {4, 8, 16};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) bench_rls(sizes[s], n, xs, ys);
    bench_sgd(8, 0, n, xs, ys);
    bench_sgd(16, 1, n, xs, ys);
    free(xs);
    free(ys);
    return 0;
}
