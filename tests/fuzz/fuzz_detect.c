/* libFuzzer target: `detect --replay` over arbitrary CSV bytes — the replay's header and line
 * handling, and every detector and the combiner fed whatever numbers the bytes spell (huge,
 * tiny, negative, repeated, out of order, from many keys). The promises checked: the run
 * returns, every score is in 0..1, the output has one line per input line, and a state saved
 * after the run loads back byte for byte. */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "detect.h"
#include "detect_replay.h"
#include "tstamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(const char *out, size_t len, int64_t lines)
{
    int64_t got = -1; /* the header */
    for (size_t i = 0; i < len; i++) got += out[i] == '\n';
    if (got != lines) abort();
    /* Every data line ends with ",score,label" (score with six decimals in 0..1). */
    const char *p = memchr(out, '\n', len);
    while (p && (size_t)(p - out) + 1 < len) {
        const char *e = memchr(p + 1, '\n', len - (size_t)(p + 1 - out));
        if (!e) abort();
        const char *c2 = e - 1;
        while (c2 > p && *c2 != ',') c2--;
        const char *c1 = c2 - 1;
        while (c1 > p && *c1 != ',') c1--;
        double s = strtod(c1 + 1, NULL);
        if (!(s >= 0 && s <= 1) || (c2[1] != '0' && c2[1] != '1')) abort();
        p = e;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("in", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    lseek(fd, 0, SEEK_SET);
    char *out = NULL, *ep = NULL;
    size_t olen = 0, elen = 0;
    FILE *o = open_memstream(&out, &olen);
    FILE *e = open_memstream(&ep, &elen);
    FILE *msgs = fopen("/dev/null", "w");
    detect_cfg cfg;
    detect_cfg_default(&cfg);
    detect_replay_opts opts = {.cfg = &cfg, .in_name = "fuzz", .explain = size % 2,
                               .episodes = e, .msgs = msgs};
    detect_replay_stats st;
    char err[1024];
    int rc = detect_replay_run(fd, o, &opts, &st, err, sizeof err);
    fclose(o);
    fclose(e);
    fclose(msgs);
    close(fd);
    if (rc == 0 && !opts.explain) check_output(out, olen, st.lines);
    if (rc != 0 && !memchr(err, '\0', sizeof err)) abort();
    free(out);
    free(ep);

    /* The state of a key fed these bytes as values saves and loads back unchanged. */
    detect_state s, t;
    detect_state_init(&s, &cfg, 2);
    detect_result r;
    for (size_t i = 0; i + 24 <= size; i += 24) {
        int64_t ts;
        double x[2];
        memcpy(&ts, data + i, 8);
        ts %= TSTAMP_MAX_US; /* the contract: an instant of years 1..9999 */
        memcpy(x, data + i + 8, 16);
        if (!isfinite(x[0]) || !isfinite(x[1])) continue;
        detect_step(&s, &cfg, ts, x, &r);
        if (!(r.score >= 0 && r.score <= 1)) abort();
    }
    buf b = {0};
    detect_state_save(&s, &b);
    if (detect_state_load(&t, b.data, b.len, err, sizeof err) != (long)b.len) abort();
    if (memcmp(&s, &t, sizeof s) != 0) abort();
    buf_free(&b);
    return 0;
}
