/* stages: the registry of stages a consumer can run, by name. */
#ifndef PGPULSE_STAGES_H
#define PGPULSE_STAGES_H

#include "stream.h"

/* The stage called name, or NULL. */
const stream_stage_ops *stages_find(const char *name);

/* The names of every stage, comma separated (for messages). */
const char *stages_names(void);

/* Parses "live,detect" into ops (at most max); returns the count, or -1 with a message naming
 * an unknown or repeated stage. */
int stages_parse(const char *list, const stream_stage_ops **ops, int max, char *err, size_t errlen);

#endif
