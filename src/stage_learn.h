/* stage_learn: the `learn` stage (see stage_learn.c for what it maintains). */
#ifndef PGPULSE_STAGE_LEARN_H
#define PGPULSE_STAGE_LEARN_H

#include "stream.h"

#include "buf.h"
#include "learn_forecast.h"
#include "learn_risk.h"

extern const stream_stage_ops stage_learn_ops;

/* Appends a robot's block of learn_robot_state, as the stage writes it, to b. */
void stage_learn_robot_encode(const learn_fc *fc, const learn_risk_robot *risk, buf *b);

/* Reads a robot's block of learn_robot_state (as the stage wrote it) into *fc and *risk; the
 * forecaster's waveform memory comes empty (stage_learn_waveform_load fills it). Returns 0, or
 * -1 with a message (a block of another layout or size). */
int stage_learn_robot_decode(const uint8_t *p, size_t len, learn_fc *fc, learn_risk_robot *risk,
                             char *err, size_t errlen);

/* Reads the robot's waveform memory, as consumer's learn stage wrote it to learn_robot_waveform,
 * into fc->tpl (slots without a row are left as they are). Returns 0, or -1 with a message (the
 * database's, or a slot of another size). */
int stage_learn_waveform_load(PGconn *conn, const char *consumer, int32_t robot, learn_fc *fc, char *err,
                              size_t errlen);

#endif
