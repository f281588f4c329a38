/* httpq: query strings and paths of HTTP requests, parsed and checked (see httpq.h). */
#include "httpq.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "numparse.h"
#include "tstamp.h"
#include "util.h"

/* The value of a hex digit, or -1. */
static int httpq_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out (which holds len + 1 bytes), '+' as a space when plus is
 * set; returns the decoded length, or -1 for a bad escape or a NUL (decoded or raw). */
static long httpq_decode(const char *s, size_t len, int plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len) return -1; /* fewer than two hex digits follow */
            int h = httpq_hex((unsigned char)s[i + 1]), l = httpq_hex((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == '\0') return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

int httpq_parse(httpq *q, const char *s, size_t len, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    if (len == 0) return 0;
    if (len > HTTPQ_MAX_BYTES)
        return util_err(err, errlen, "the query string is longer than %d bytes", HTTPQ_MAX_BYTES);
    /* Decoded text never grows: names and values fit in len + one NUL each. */
    q->store = xmalloc(len + 2 * (HTTPQ_MAX_PARAMS + 1));
    char *w = q->store;
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && s[end] != '&') end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && s[eq] != '=') eq++;
            if (q->n == HTTPQ_MAX_PARAMS) {
                httpq_free(q);
                return util_err(err, errlen, "more than %d query parameters", HTTPQ_MAX_PARAMS);
            }
            char *name = w;
            long nl = httpq_decode(s + i, eq - i, 1, name);
            if (nl < 0) {
                httpq_free(q);
                return util_err(err, errlen, "query parameter %d: a bad %%-escape or a NUL in its name",
                                q->n + 1);
            }
            if (nl == 0) {
                httpq_free(q);
                return util_err(err, errlen, "query parameter %d has no name", q->n + 1);
            }
            w += nl + 1;
            char *value = w;
            long vl = eq < end ? httpq_decode(s + eq + 1, end - eq - 1, 1, value) : 0;
            if (eq >= end) value[0] = '\0';
            if (vl < 0) {
                int rc = util_err(err, errlen, "query parameter '%.64s': a bad %%-escape or a NUL in its value",
                                  name);
                httpq_free(q);
                return rc;
            }
            w += vl + 1;
            if (httpq_get(q, name)) {
                int rc = util_err(err, errlen, "query parameter '%.64s' is given more than once", name);
                httpq_free(q);
                return rc;
            }
            q->params[q->n].name = name;
            q->params[q->n].value = value;
            q->n++;
        }
        i = end + 1;
    }
    return 0;
}

void httpq_free(httpq *q)
{
    free(q->store);
    memset(q, 0, sizeof *q);
}

const char *httpq_get(const httpq *q, const char *name)
{
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->params[i].name, name) == 0) return q->params[i].value;
    return NULL;
}

int httpq_only(const httpq *q, const char *const *names, int n, char *err, size_t errlen)
{
    for (int i = 0; i < q->n; i++) {
        int known = 0;
        for (int j = 0; j < n && !known; j++) known = strcmp(q->params[i].name, names[j]) == 0;
        if (!known)
            return util_err(err, errlen, "unknown query parameter '%.64s'", q->params[i].name);
    }
    return 0;
}

int httpq_int(const httpq *q, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
              size_t errlen)
{
    const char *v = httpq_get(q, name);
    if (!v) return 1;
    int64_t x;
    if (numparse_int64(v, strlen(v), lo, hi, &x) != 0) {
        util_err(err, errlen, "query parameter '%s': '%.64s' is not an integer from %lld to %lld",
                 name, v, (long long)lo, (long long)hi);
        return -1;
    }
    *out = x;
    return 0;
}

int httpq_time(const httpq *q, const char *name, int64_t *out, char *err, size_t errlen)
{
    const char *v = httpq_get(q, name);
    if (!v) return 1;
    int64_t us;
    if (tstamp_parse(v, strlen(v), TSTAMP_EPOCH_OK, &us) != TSTAMP_OK) {
        util_err(err, errlen,
                 "query parameter '%s': '%.64s' is not a time (ISO 8601 or epoch seconds)", name, v);
        return -1;
    }
    *out = us;
    return 0;
}

int httpq_choice(const httpq *q, const char *name, const char *const *choices, int n, int *out,
                 char *err, size_t errlen)
{
    const char *v = httpq_get(q, name);
    if (!v) return 1;
    for (int i = 0; i < n; i++)
        if (strcmp(v, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    buf b = {0};
    for (int i = 0; i < n; i++) buf_printf(&b, "%s%s", i ? ", " : "", choices[i]);
    buf_append(&b, "", 1);
    util_err(err, errlen, "query parameter '%s': '%.64s' is not one of %s", name, v,
             (const char *)b.data);
    buf_free(&b);
    return -1;
}

int httpq_path(const char *raw, char *out, size_t len, char *err, size_t errlen)
{
    size_t rl = strlen(raw);
    if (rl + 1 > len) return util_err(err, errlen, "the path is longer than %zu bytes", len - 1);
    if (httpq_decode(raw, rl, 0, out) < 0)
        return util_err(err, errlen, "the path has a bad %%-escape or a NUL");
    if (out[0] != '/') return util_err(err, errlen, "the path does not start with '/'");
    if (strchr(out, '\\')) return util_err(err, errlen, "the path holds a backslash");
    /* Segment by segment: none empty (but a final '/'), none "." or "..". */
    for (const char *p = out + 1;;) {
        const char *e = strchr(p, '/');
        size_t sl = e ? (size_t)(e - p) : strlen(p);
        if (sl == 0 && e) return util_err(err, errlen, "the path holds an empty segment ('//')");
        if ((sl == 1 && p[0] == '.') || (sl == 2 && p[0] == '.' && p[1] == '.'))
            return util_err(err, errlen, "the path holds a '.' or '..' segment");
        if (!e) break;
        p = e + 1;
    }
    return 0;
}
