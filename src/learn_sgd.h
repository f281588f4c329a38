/* learn_sgd: online linear and logistic regression by stochastic gradient with AdaGrad step sizes
 * and online standardisation — the learner of `pgpulse learn` for more features than RLS takes
 * (issue 11), up to LEARN_SGD_MAXD.
 *
 * Each feature is standardised by its running mean and standard deviation (Welford's; before the
 * record is learned, so a prediction uses only the past), so features of any scale and offset
 * learn at one rate: 0 until two records are seen, then clipped to +-10 while the variance is
 * young (a raw 1e6 in the first step would swamp AdaGrad's sums for good). The weights (and the bias) step by lr / sqrt(the sum of their squared
 * gradients) — AdaGrad — with an L2 penalty l2. Regression minimises the squared error;
 * classification the logistic loss, predicting P(y = 1) for y in {0, 1}.
 *
 * O(d) per record, no allocation, plain data of a fixed size (serialisable as bytes). */
#ifndef PGPULSE_LEARN_SGD_H
#define PGPULSE_LEARN_SGD_H

#include <stdint.h>

#define LEARN_SGD_MAXD 512

typedef struct learn_sgd {
    int32_t d;        /* features */
    int32_t logistic; /* 1: classification (logistic loss), 0: regression */
    double lr;        /* AdaGrad's base step (0.1) */
    double l2;        /* L2 penalty (1e-6) */
    int64_t n;        /* records learned */
    double b, gb;     /* bias and its squared-gradient sum */
    double mean[LEARN_SGD_MAXD], m2[LEARN_SGD_MAXD]; /* standardisation (Welford) */
    double w[LEARN_SGD_MAXD], g[LEARN_SGD_MAXD];     /* weights, squared-gradient sums */
} learn_sgd;

/* A model of d features (1..LEARN_SGD_MAXD), logistic or not, base step lr > 0, l2 >= 0.
 * Returns 0, or -1 for a bad argument (m untouched). */
int learn_sgd_init(learn_sgd *m, int d, int logistic, double lr, double l2);

/* The prediction for x: the value (regression) or P(y = 1) (classification). */
double learn_sgd_predict(const learn_sgd *m, const double *x);

/* Learns (x, y) and returns the prediction made before learning it. A record with a value or a
 * target that is not finite (or, classifying, a target other than 0 and 1) is not learned
 * (returns NaN). */
double learn_sgd_update(learn_sgd *m, const double *x, double y);

#endif
