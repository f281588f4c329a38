/* libFuzzer target: tstamp_parse with every flag combination over arbitrary bytes (an
 * exact-size heap copy); every accepted value must survive tstamp_format then tstamp_parse.
 * Also formats the first 8 bytes as an arbitrary int64. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tstamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    for (int flags = 0; flags < 4; flags++) {
        int64_t us = INT64_C(-4242);
        int rc = tstamp_parse(p, size, flags, &us);
        if (rc != TSTAMP_OK) {
            if (us != INT64_C(-4242) || rc < TSTAMP_NOZONE || rc > TSTAMP_EMPTY) abort();
            continue;
        }
        if (us < TSTAMP_MIN_US || us > TSTAMP_MAX_US) abort();
        char buf[32];
        size_t n = tstamp_format(us, buf, sizeof buf);
        if (n == 0 || n > 31 || n != strlen(buf)) abort();
        int64_t back = 0;
        rc = tstamp_parse(buf, n, flags | TSTAMP_ZONE_REQUIRED, &back);
        if (rc != TSTAMP_OK || back != us) {
            fprintf(stderr, "'%.*s' (flags %d) -> %lld -> '%s' -> rc %d, %lld\n", (int)size, p,
                    flags, (long long)us, buf, rc, (long long)back);
            abort();
        }
    }
    if (size >= 8) {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | data[i];
        char buf[32];
        size_t n = tstamp_format((int64_t)u, buf, sizeof buf);
        if (n > 31 || n != strlen(buf)) abort();
        int64_t day = tstamp_day_of((int64_t)u);
        (void)day;
    }
    free(p);
    return 0;
}
