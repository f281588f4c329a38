/* stage_detect: the `detect` stage (see stage_detect.c for what it maintains). */
#ifndef PGPULSE_STAGE_DETECT_H
#define PGPULSE_STAGE_DETECT_H

#include "stream.h"

extern const stream_stage_ops stage_detect_ops;

#endif
