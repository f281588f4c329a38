/* learn_model: one online learner behind one interface, by name — what `pgpulse learn` runs
 * (issue 11). Replay and the live stage call the same code.
 *
 *   forest   (classification) leveraging bagging of Hoeffding trees (learn_forest.h): the
 *            default for classification
 *   linear   logistic regression, one against the rest for more than two classes, or linear
 *            regression: AdaGrad with online standardisation (learn_sgd.h), up to
 *            LEARN_SGD_MAXD features; the default for regression
 *   rls      (regression) recursive least squares with forgetting (learn_rls.h) on the
 *            features standardised online, up to LEARN_RLS_MAXD features
 *
 * Missing values (NaN) are fine: the forest sends them down a default branch; the linear
 * learners see the feature's running mean in their place. */
#ifndef PGPULSE_LEARN_MODEL_H
#define PGPULSE_LEARN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define LEARN_MAXC 16 /* classes */

typedef struct learn_model learn_model;

/* A model called name ("forest", "linear", "rls"; NULL: the task's default) over d features,
 * classifying into nclasses (2..LEARN_MAXC) or regressing (nclasses 0). seed makes a random
 * learner repeatable. Returns NULL with a message naming what does not fit (an unknown name, a
 * learner that cannot do the task, too many features). */
learn_model *learn_model_new(const char *name, int d, int nclasses, uint64_t seed, char *err,
                             size_t errlen);

/* The model's name ("forest", ...). */
const char *learn_model_name(const learn_model *m);

/* Predicts x: fills proba[nclasses] (classification; they sum to 1) and returns the most
 * probable class, or returns the value (regression; proba untouched, may be NULL). */
double learn_model_predict(learn_model *m, const double *x, double *proba);

/* Learns x with target y (a class index, or a finite value). */
void learn_model_learn(learn_model *m, const double *x, double y);

/* Releases m. NULL-safe. */
void learn_model_free(learn_model *m);

#endif
