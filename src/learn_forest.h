/* TEMPORARY placeholder until the forest branch merges (API as agreed). */
#ifndef PGPULSE_LEARN_FOREST_H
#define PGPULSE_LEARN_FOREST_H
#include <stddef.h>
#include <stdint.h>
typedef struct learn_forest learn_forest;
typedef struct learn_forest_opts { int models; uint64_t seed; } learn_forest_opts;
void learn_forest_opts_default(learn_forest_opts *o);
learn_forest *learn_forest_new(int d, int nclasses, const learn_forest_opts *o, char *err, size_t errlen);
void learn_forest_proba(learn_forest *f, const double *x, double *proba);
void learn_forest_learn(learn_forest *f, const double *x, int y);
void learn_forest_free(learn_forest *f);
#endif
