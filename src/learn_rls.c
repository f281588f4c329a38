/* learn_rls: recursive least squares with forgetting (see learn_rls.h). */
#include "learn_rls.h"

#include <math.h>
#include <string.h>

int learn_rls_init(learn_rls *m, int d, double lambda, double delta)
{
    if (d < 1 || d > LEARN_RLS_MAXD || !(lambda > 0 && lambda <= 1) || !(delta > 0) ||
        !isfinite(delta))
        return -1;
    memset(m, 0, sizeof *m);
    m->d = d;
    m->lambda = lambda;
    m->p_max = 1e3 * delta;
    for (int i = 0; i < d; i++) m->P[i][i] = delta;
    return 0;
}

double learn_rls_predict(const learn_rls *m, const double *x)
{
    double s = 0;
    for (int i = 0; i < m->d; i++) s += m->w[i] * x[i];
    return s;
}

double learn_rls_update(learn_rls *m, const double *x, double y)
{
    const int d = m->d;
    double px[LEARN_RLS_MAXD];
    double e = y, xpx = 0;
    for (int i = 0; i < d; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += m->P[i][j] * x[j];
        px[i] = s;
        xpx += x[i] * s;
        e -= m->w[i] * x[i];
    }
    if (!isfinite(e) || !isfinite(xpx)) return NAN;
    double den = m->lambda + xpx;
    double inv_l = 1 / m->lambda, g = 1 / den;
    /* w += k e with k = P x / den; P = (P - P x x' P / den) / lambda, upper triangle, mirrored. */
    double pmax = 0;
    for (int i = 0; i < d; i++) {
        m->w[i] += px[i] * g * e;
        double gi = px[i] * g;
        for (int j = i; j < d; j++) {
            double v = (m->P[i][j] - gi * px[j]) * inv_l;
            m->P[i][j] = v;
            m->P[j][i] = v;
        }
        if (m->P[i][i] > pmax) pmax = m->P[i][i];
    }
    /* Wind-up: directions the inputs no longer excite grow by 1 / lambda a record. */
    if (pmax > m->p_max) {
        double s = m->p_max / pmax;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) m->P[i][j] *= s;
    }
    m->n++;
    return e;
}
