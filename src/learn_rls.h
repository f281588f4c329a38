/* learn_rls: online linear regression by recursive least squares with exponential forgetting —
 * the first learner of `pgpulse learn` (issue 11), for up to LEARN_RLS_MAXD features.
 *
 * Each record (x, y) costs O(d^2) and no allocation: the gain k = P x / (lambda + x' P x), the
 * prior error e = y - w' x, then w += k e and P = (P - k (P x)') / lambda, P kept symmetric by
 * updating its upper triangle and mirroring it. lambda < 1 forgets: a record's weight halves
 * every ln(2) / -ln(lambda) records, so the model follows a relation that drifts. Forgetting
 * inflates P along directions the inputs stop exciting ("wind-up"); the diagonal is capped at
 * p_max (P rescaled), so a stretch of constant inputs cannot make the next record's step
 * explode.
 *
 * The state is plain data of a fixed size (serialisable as bytes, copied with memcpy): a copy
 * continues exactly as the original. Prequential use: learn_rls_update returns the error of the
 * prediction made before the record was learned. */
#ifndef PGPULSE_LEARN_RLS_H
#define PGPULSE_LEARN_RLS_H

#include <stdint.h>

#define LEARN_RLS_MAXD 16

typedef struct learn_rls {
    int32_t d;        /* features, 1..LEARN_RLS_MAXD */
    int32_t pad;      /* (alignment) */
    double lambda;    /* forgetting factor, (0, 1] */
    double p_max;     /* cap on P's diagonal */
    int64_t n;        /* records learned */
    double w[LEARN_RLS_MAXD];
    double P[LEARN_RLS_MAXD][LEARN_RLS_MAXD]; /* the inverse information matrix, symmetric */
} learn_rls;

/* A model of d features with forgetting factor lambda and P = delta * I (large delta: the first
 * records weigh as much as least squares would give them; 1e3 suits standardised inputs);
 * p_max = 1e3 * delta. Returns 0, or -1 for d outside 1..LEARN_RLS_MAXD, lambda outside (0, 1]
 * or delta not positive and finite (m untouched). */
int learn_rls_init(learn_rls *m, int d, double lambda, double delta);

/* The prediction w' x. */
double learn_rls_predict(const learn_rls *m, const double *x);

/* Learns (x, y) and returns the prior error y - w' x (before learning). A record whose x or y
 * is not finite is not learned (returns NaN). */
double learn_rls_update(learn_rls *m, const double *x, double y);

#endif
