/* progress: a one-line progress bar on stderr (rows, rows/s, percent of bytes, ETA), drawn
 * only when stderr is a terminal and at most 10 times a second. */
#ifndef PGPULSE_PROGRESS_H
#define PGPULSE_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    int enabled;          /* stderr is a terminal */
    uint64_t total_bytes; /* input size, 0 if unknown (a pipe) */
    int64_t start_us;     /* monotonic start */
    int64_t last_draw_us; /* monotonic time of the last draw */
    int drawn;            /* something is on the line */
} progress;

/* Starts a progress display for an input of total_bytes (0: unknown). */
void progress_start(progress *p, uint64_t total_bytes);

/* Redraws if due. Cheap to call per row. */
void progress_update(progress *p, uint64_t rows, uint64_t bytes);

/* Clears the bar, leaving the line for the caller's summary. */
void progress_finish(progress *p);

/* Seconds since progress_start. */
double progress_elapsed(const progress *p);

#endif
