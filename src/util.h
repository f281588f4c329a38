/* util: memory wrappers that abort on exhaustion, error-buffer formatting and clocks.
 *
 * Out of memory is not an error pgpulse recovers from: the x* wrappers print a message
 * and abort, so call sites never test for NULL. */
#ifndef PGPULSE_UTIL_H
#define PGPULSE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Returns a newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats a message into err (if err is not NULL and errlen > 0) and returns -1, so that a
 * fallible function can `return util_err(err, errlen, "...")`. */
int util_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Wall-clock time in microseconds since the Unix epoch. */
int64_t util_now_us(void);

/* Monotonic time in microseconds (for rates and timeouts). */
int64_t util_mono_us(void);

/* Sleeps for ms milliseconds (restarting after signals). */
void util_sleep_ms(int ms);

/* Fills buf with n bytes from the system's random source; aborts if none is available. */
void util_random_bytes(void *buf, size_t n);

/* Formats n with thousands separators ("1,234,567") into buf of size len; returns buf. */
char *util_fmt_count(char *buf, size_t len, uint64_t n);

/* A 64-bit mixer (MurmurHash3's finaliser) for open-addressing tables keyed by integers. */
static inline size_t util_hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

/* Fault injection for tests: if $PGPULSE_TEST_FAULT is "point:N", the N-th time the process
 * passes `point` it kills itself with SIGKILL (as a crash at exactly that step would). */
void util_test_fault(const char *point);

#endif
