/* libFuzzer target: numparse_double and numparse_int64 over arbitrary bytes (an exact-size heap
 * copy, so ASan sees overreads), cross-checked against strtod / strtoll on short inputs. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True if every byte is one a plain decimal number may contain. */
static int decimal_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", s[i]) || s[i] == '\0') return 0;
    return 1;
}

static void cross_check(const char *p, size_t len)
{
    /* numparse trims spaces and tabs; strtod skips leading white space but stops at trailing
     * blanks, so compare on the trimmed text. */
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0 || len > 64 || memchr(p, '\0', len)) return;
    char s[65];
    memcpy(s, p, len);
    s[len] = '\0';

    double d = 0;
    int rc = numparse_double(p, len, &d);
    char *end;
    double want = strtod(s, &end);
    int full = end == s + len && len > 0;
    if (rc == NUMPARSE_OK) {
        /* Whatever numparse accepts, strtod reads in full, to the same bits. */
        if (!full || memcmp(&d, &want, sizeof d) != 0) {
            fprintf(stderr, "numparse_double('%s') = %.17g, strtod = %.17g (full %d)\n", s, d, want,
                    full);
            abort();
        }
    } else if (full && decimal_chars(s, len) && isfinite(want)) {
        /* A plain decimal number that strtod reads in full must not be refused. */
        fprintf(stderr, "numparse_double('%s') = rc %d, strtod = %.17g\n", s, rc, want);
        abort();
    } else if (full && decimal_chars(s, len) && !isfinite(want) && rc != NUMPARSE_NONFINITE) {
        fprintf(stderr, "numparse_double('%s') = rc %d, strtod overflows\n", s, rc);
        abort();
    }

    int64_t v = 0;
    rc = numparse_int64(p, len, INT64_MIN, INT64_MAX, &v);
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    int ifull = end == s + len && errno == 0 && !strchr(" \t\n\v\f\r", s[0]);
    if (rc == NUMPARSE_OK && (!ifull || ll != v)) {
        fprintf(stderr, "numparse_int64('%s') = %lld, strtoll = %lld\n", s, (long long)v, ll);
        abort();
    }
    if (rc != NUMPARSE_OK && ifull) {
        fprintf(stderr, "numparse_int64('%s') = rc %d, strtoll = %lld\n", s, rc, ll);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    double d = 12345.0;
    int rc = numparse_double(p, size, &d);
    if (rc == NUMPARSE_OK && !isfinite(d)) abort();
    if (rc != NUMPARSE_OK && d != 12345.0) abort(); /* *out only on success */
    if (rc < NUMPARSE_NONFINITE || rc > NUMPARSE_OK) abort();
    int64_t v = 0;
    rc = numparse_int64(p, size, INT64_MIN, INT64_MAX, &v);
    if (rc < NUMPARSE_RANGE || rc > NUMPARSE_OK) abort();
    int64_t w = -1;
    int rc2 = numparse_int64(p, size, 1, INT32_MAX, &w);
    if (rc == NUMPARSE_OK && (v >= 1 && v <= INT32_MAX) != (rc2 == NUMPARSE_OK)) abort();
    if (rc2 == NUMPARSE_OK && w != v) abort();
    cross_check(p, size);
    free(p);
    return 0;
}
