/* progress: terminal progress bar. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util.h"

#define PROGRESS_INTERVAL_US 100000

void progress_start(progress *p, uint64_t total_bytes)
{
    p->enabled = isatty(2);
    p->total_bytes = total_bytes;
    p->start_us = p->last_draw_us = util_mono_us();
    p->drawn = 0;
}

double progress_elapsed(const progress *p)
{
    return (double)(util_mono_us() - p->start_us) / 1e6;
}

void progress_update(progress *p, uint64_t rows, uint64_t bytes)
{
    if (!p->enabled || (rows & 1023) != 0) return;
    int64_t now = util_mono_us();
    if (now - p->last_draw_us < PROGRESS_INTERVAL_US) return;
    p->last_draw_us = now;
    double secs = (double)(now - p->start_us) / 1e6;
    double rate = secs > 0 ? (double)rows / secs : 0;
    char nrows[32], nrate[32];
    util_fmt_count(nrows, sizeof nrows, rows);
    util_fmt_count(nrate, sizeof nrate, (uint64_t)rate);
    if (p->total_bytes > 0) {
        double frac = (double)bytes / (double)p->total_bytes;
        if (frac > 1) frac = 1;
        int width = 30, fill = (int)(frac * width);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
        fprintf(stderr, "\r[%s] %5.1f%%  %s rows  %s rows/s  ETA %.0f s   ", bar, frac * 100,
                nrows, nrate, eta);
    } else {
        fprintf(stderr, "\r%s rows  %s rows/s  %.0f s   ", nrows, nrate, secs);
    }
    p->drawn = 1;
}

void progress_finish(progress *p)
{
    if (p->enabled && p->drawn) fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}
