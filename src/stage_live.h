/* stage_live: the `live` stage (see stage_live.c for what it maintains). */
#ifndef PGPULSE_STAGE_LIVE_H
#define PGPULSE_STAGE_LIVE_H

#include "stream.h"

extern const stream_stage_ops stage_live_ops;

#endif
