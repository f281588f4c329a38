/* httpq: a request's query string and path, parsed — pure functions over (buf, len), fuzzed
 * (tests/fuzz/fuzz_httpq.c).
 *
 * A query string "a=1&b=x%20y&c" holds at most HTTPQ_MAX_PARAMS parameters; names and values
 * are percent-decoded ('+' is a space); a name may appear once. Typed getters check a value and
 * say, in a message naming the parameter, what was wrong with it. */
#ifndef PGPULSE_HTTPQ_H
#define PGPULSE_HTTPQ_H

#include <stddef.h>
#include <stdint.h>

#define HTTPQ_MAX_PARAMS 32
#define HTTPQ_MAX_BYTES 4096 /* a query string's length */

typedef struct httpq_param {
    char *name;
    char *value; /* "" for "c" without '=' */
} httpq_param;

typedef struct httpq {
    httpq_param params[HTTPQ_MAX_PARAMS];
    int n;
    char *store; /* the decoded names and values */
} httpq;

/* Parses a query string (without the '?'). Returns 0, or -1 with a message (too long, too many
 * parameters, a bad %-escape, a NUL, a repeated name); q is then empty. httpq_free releases
 * it either way. */
int httpq_parse(httpq *q, const char *s, size_t len, char *err, size_t errlen);
void httpq_free(httpq *q);

/* The value of name, or NULL if absent. */
const char *httpq_get(const httpq *q, const char *name);

/* Parameters outside names[] (n of them): returns 0, or -1 with a message naming the first
 * unknown one. */
int httpq_only(const httpq *q, const char *const *names, int n, char *err, size_t errlen);

/* Typed values: 0 and *out when present and valid, 1 when absent (*out untouched), -1 with a
 * message naming the parameter when present but bad. */
int httpq_int(const httpq *q, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
              size_t errlen);
/* A time: ISO 8601 (as tstamp.h reads it) or epoch seconds; µs since the epoch. */
int httpq_time(const httpq *q, const char *name, int64_t *out, char *err, size_t errlen);
/* One of choices[] (n): its index. */
int httpq_choice(const httpq *q, const char *name, const char *const *choices, int n, int *out,
                 char *err, size_t errlen);

/* Percent-decodes a path (no '+' rule) into out (len bytes) and checks it: starts with '/', no
 * NUL, no backslash, no "." or ".." segment, no "//". Returns 0, or -1 with a message. */
int httpq_path(const char *raw, char *out, size_t len, char *err, size_t errlen);

#endif
