/* learn_sgd: AdaGrad linear and logistic regression on standardised features (learn_sgd.h). */
#include "learn_sgd.h"

#include <math.h>
#include <string.h>

#define LEARN_SGD_EPS 1e-8 /* AdaGrad's guard against a zero gradient sum */

int learn_sgd_init(learn_sgd *m, int d, int logistic, double lr, double l2)
{
    if (d < 1 || d > LEARN_SGD_MAXD || !(lr > 0) || !isfinite(lr) || !(l2 >= 0) || !isfinite(l2))
        return -1;
    memset(m, 0, sizeof *m);
    m->d = d;
    m->logistic = logistic != 0;
    m->lr = lr;
    m->l2 = l2;
    return 0;
}

#define LEARN_SGD_ZMAX 10 /* a standardised value is clipped here (young statistics) */

/* Feature i of x standardised by the statistics so far: 0 until they have two records (a raw
 * value of any scale would swamp AdaGrad's gradient sums for good), then clipped to
 * +-LEARN_SGD_ZMAX while the variance is still young; a constant feature gives 0. */
static inline double sgd_z(const learn_sgd *m, const double *x, int i)
{
    if (m->n < 2) return 0;
    double var = m->m2[i] / (double)(m->n - 1);
    if (!(var > 0)) return 0;
    double z = (x[i] - m->mean[i]) / sqrt(var);
    return z > LEARN_SGD_ZMAX ? LEARN_SGD_ZMAX : z < -LEARN_SGD_ZMAX ? -LEARN_SGD_ZMAX : z;
}

static inline double sgd_link(const learn_sgd *m, double s)
{
    if (!m->logistic) return s;
    return s >= 0 ? 1 / (1 + exp(-s)) : exp(s) / (1 + exp(s));
}

double learn_sgd_predict(const learn_sgd *m, const double *x)
{
    double s = m->b;
    for (int i = 0; i < m->d; i++) s += m->w[i] * sgd_z(m, x, i);
    return sgd_link(m, s);
}

double learn_sgd_update(learn_sgd *m, const double *x, double y)
{
    const int d = m->d;
    if (!isfinite(y) || (m->logistic && y != 0 && y != 1)) return NAN;
    double z[LEARN_SGD_MAXD], s = m->b;
    for (int i = 0; i < d; i++) {
        if (!isfinite(x[i])) return NAN;
        z[i] = sgd_z(m, x, i);
        s += m->w[i] * z[i];
    }
    double p = sgd_link(m, s);
    /* Both losses have the gradient (p - y) z with respect to the weights. */
    double err = p - y;
    m->gb += err * err;
    m->b -= m->lr * err / (sqrt(m->gb) + LEARN_SGD_EPS);
    for (int i = 0; i < d; i++) {
        double g = err * z[i] + m->l2 * m->w[i];
        m->g[i] += g * g;
        m->w[i] -= m->lr * g / (sqrt(m->g[i]) + LEARN_SGD_EPS);
    }
    /* Then the statistics learn the record (Welford). */
    m->n++;
    for (int i = 0; i < d; i++) {
        double dl = x[i] - m->mean[i];
        m->mean[i] += dl / (double)m->n;
        m->m2[i] += dl * (x[i] - m->mean[i]);
    }
    return p;
}
