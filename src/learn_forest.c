/* TEMPORARY placeholder until the forest branch merges. */
#include "learn_forest.h"
#include "util.h"
void learn_forest_opts_default(learn_forest_opts *o) { o->models = 10; o->seed = 1; }
learn_forest *learn_forest_new(int d, int nclasses, const learn_forest_opts *o, char *err, size_t errlen)
{ (void)d; (void)nclasses; (void)o; util_err(err, errlen, "forest: not built yet"); return NULL; }
void learn_forest_proba(learn_forest *f, const double *x, double *proba) { (void)f; (void)x; (void)proba; }
void learn_forest_learn(learn_forest *f, const double *x, int y) { (void)f; (void)x; (void)y; }
void learn_forest_free(learn_forest *f) { (void)f; }
