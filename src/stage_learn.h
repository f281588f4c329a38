/* stage_learn: the `learn` stage (see stage_learn.c for what it maintains). */
#ifndef PGPULSE_STAGE_LEARN_H
#define PGPULSE_STAGE_LEARN_H

#include "stream.h"

extern const stream_stage_ops stage_learn_ops;

#endif
