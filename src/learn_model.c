/* learn_model: forest, linear and rls learners behind one interface. */
#include "learn_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn_forest.h"
#include "learn_rls.h"
#include "learn_sgd.h"
#include "util.h"

typedef enum lm_kind { LM_FOREST, LM_LINEAR, LM_RLS } lm_kind;

struct learn_model {
    lm_kind kind;
    int d, nclasses;
    double *mean, *m2;     /* running mean and M2 of each feature (imputation, rls scaling) */
    int64_t *cnt;
    double *xs;            /* scratch: the imputed or standardised vector */
    learn_forest *forest;
    learn_sgd *sgd;        /* one (binary, regression) or nclasses (one against the rest) */
    int nsgd;
    learn_rls *rls;
    double y_mean, y_m2;   /* regression: the target's running mean and M2 (the learners see the
                              target standardised, so that any scale learns at one rate) */
    int64_t y_n;
};

/* AdaGrad's base step: a drifting class boundary is followed faster with 0.5 (Elec2: 0.80 at
 * 0.1, 0.84 at 0.5, and still at 0.93 on the stationary rule of test_learn_replay); regression
 * learns a standardised target at 0.1. */
#define LM_LR_CLASSIFY 0.5
#define LM_LR_REGRESS 0.1

static const char *const lm_names[] = {"forest", "linear", "rls"};

learn_model *learn_model_new(const char *name, int d, int nclasses, uint64_t seed, char *err,
                             size_t errlen)
{
    lm_kind kind = nclasses ? LM_FOREST : LM_LINEAR;
    if (name) {
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(name, lm_names[i])) found = i;
        if (found < 0) {
            util_err(err, errlen, "unknown model '%s' (forest, linear or rls)", name);
            return NULL;
        }
        kind = (lm_kind)found;
    }
    if (nclasses && (nclasses < 2 || nclasses > LEARN_MAXC)) {
        util_err(err, errlen, "%d classes: between 2 and %d can be learned", nclasses, LEARN_MAXC);
        return NULL;
    }
    if (kind == LM_FOREST && !nclasses) {
        util_err(err, errlen, "model forest classifies; for regression use linear or rls");
        return NULL;
    }
    if (kind == LM_RLS && nclasses) {
        util_err(err, errlen, "model rls regresses; for classification use forest or linear");
        return NULL;
    }
    if (d < 1 || (kind == LM_LINEAR && d > LEARN_SGD_MAXD) || (kind == LM_RLS && d > LEARN_RLS_MAXD)) {
        util_err(err, errlen, "model %s takes 1 to %d features, not %d", lm_names[kind],
                 kind == LM_RLS ? LEARN_RLS_MAXD : kind == LM_LINEAR ? LEARN_SGD_MAXD : 1 << 20, d);
        return NULL;
    }
    learn_model *m = xcalloc(1, sizeof *m);
    m->kind = kind;
    m->d = d;
    m->nclasses = nclasses;
    m->mean = xcalloc((size_t)d, sizeof *m->mean);
    m->m2 = xcalloc((size_t)d, sizeof *m->m2);
    m->cnt = xcalloc((size_t)d, sizeof *m->cnt);
    m->xs = xcalloc((size_t)d, sizeof *m->xs);
    if (kind == LM_FOREST) {
        learn_forest_opts o;
        learn_forest_opts_default(&o);
        o.seed = seed;
        m->forest = learn_forest_new(d, nclasses, &o, err, errlen);
        if (!m->forest) {
            learn_model_free(m);
            return NULL;
        }
    } else if (kind == LM_LINEAR) {
        m->nsgd = nclasses > 2 ? nclasses : 1;
        m->sgd = xcalloc((size_t)m->nsgd, sizeof *m->sgd);
        for (int i = 0; i < m->nsgd; i++) learn_sgd_init(&m->sgd[i], d, nclasses != 0, nclasses ? LM_LR_CLASSIFY : LM_LR_REGRESS, 1e-6);
    } else {
        m->rls = xcalloc(1, sizeof *m->rls);
        learn_rls_init(m->rls, d, 0.9999, 1e3);
    }
    return m;
}

const char *learn_model_name(const learn_model *m)
{
    return lm_names[m->kind];
}

/* The vector a linear learner sees: NaN replaced by the feature's running mean; for rls also
 * standardised (RLS has no scaling of its own). */
static const double *lm_fill(learn_model *m, const double *x)
{
    for (int i = 0; i < m->d; i++) {
        double v = isfinite(x[i]) ? x[i] : m->mean[i];
        if (m->kind == LM_RLS) {
            double sd = m->cnt[i] > 1 ? sqrt(m->m2[i] / (double)(m->cnt[i] - 1)) : 0;
            v = sd > 0 ? (v - m->mean[i]) / sd : 0;
            if (v > 10) v = 10;
            if (v < -10) v = -10;
        }
        m->xs[i] = v;
    }
    return m->xs;
}

/* The target's running standard deviation (1 until two differ). */
static double lm_y_sd(const learn_model *m)
{
    double sd = m->y_n > 1 ? sqrt(m->y_m2 / (double)(m->y_n - 1)) : 1;
    return sd > 0 ? sd : 1;
}

static void lm_observe(learn_model *m, const double *x)
{
    for (int i = 0; i < m->d; i++) {
        if (!isfinite(x[i])) continue;
        m->cnt[i]++;
        double dlt = x[i] - m->mean[i];
        m->mean[i] += dlt / (double)m->cnt[i];
        m->m2[i] += dlt * (x[i] - m->mean[i]);
    }
}

double learn_model_predict(learn_model *m, const double *x, double *proba)
{
    if (m->kind == LM_FOREST) {
        learn_forest_proba(m->forest, x, proba);
    } else if (!m->nclasses) {
        const double *xs = lm_fill(m, x);
        double z = m->kind == LM_RLS ? learn_rls_predict(m->rls, xs) : learn_sgd_predict(&m->sgd[0], xs);
        return m->y_mean + lm_y_sd(m) * z;
    } else if (m->nsgd == 1) {
        proba[1] = learn_sgd_predict(&m->sgd[0], lm_fill(m, x));
        proba[0] = 1 - proba[1];
    } else {
        const double *xs = lm_fill(m, x);
        double sum = 0;
        for (int c = 0; c < m->nclasses; c++) sum += proba[c] = learn_sgd_predict(&m->sgd[c], xs);
        for (int c = 0; c < m->nclasses; c++) proba[c] = sum > 0 ? proba[c] / sum : 1.0 / m->nclasses;
    }
    int best = 0;
    for (int c = 1; c < m->nclasses; c++)
        if (proba[c] > proba[best]) best = c;
    return best;
}

void learn_model_learn(learn_model *m, const double *x, double y)
{
    if (!isfinite(y)) return;
    if (m->kind == LM_FOREST) {
        learn_forest_learn(m->forest, x, (int)y);
        return;
    }
    const double *xs = lm_fill(m, x);
    if (!m->nclasses) {
        double z = (y - m->y_mean) / lm_y_sd(m);
        if (m->kind == LM_RLS) learn_rls_update(m->rls, xs, z);
        else learn_sgd_update(&m->sgd[0], xs, z);
        m->y_n++;
        double dlt = y - m->y_mean;
        m->y_mean += dlt / (double)m->y_n;
        m->y_m2 += dlt * (y - m->y_mean);
    } else if (m->nsgd == 1) {
        learn_sgd_update(&m->sgd[0], xs, y == 1);
    } else {
        for (int c = 0; c < m->nclasses; c++) learn_sgd_update(&m->sgd[c], xs, (int)y == c);
    }
    lm_observe(m, x);
}

void learn_model_free(learn_model *m)
{
    if (!m) return;
    learn_forest_free(m->forest);
    free(m->sgd);
    free(m->rls);
    free(m->mean);
    free(m->m2);
    free(m->cnt);
    free(m->xs);
    free(m);
}
