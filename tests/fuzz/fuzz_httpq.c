/* libFuzzer target: httpq_parse and httpq_path over arbitrary bytes (exact-size heap copies, so
 * ASan sees overreads), with the invariants every accepted query must keep: names non-empty and
 * unique, no NUL inside a name or value, getters find what was parsed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (size) memcpy(s, data, size);
    httpq q;
    char err[256];
    if (httpq_parse(&q, s, size, err, sizeof err) == 0) {
        for (int i = 0; i < q.n; i++) {
            if (q.params[i].name[0] == '\0') abort();
            if (httpq_get(&q, q.params[i].name) != q.params[i].value) abort(); /* unique */
        }
        int64_t v;
        (void)httpq_int(&q, "points", 1, 10000, &v, err, sizeof err);
        (void)httpq_time(&q, "from", &v, err, sizeof err);
    } else if (q.n != 0) {
        abort();
    }
    httpq_free(&q);
    /* As a path: NUL-terminated copy. */
    char *p = malloc(size + 1);
    if (size) memcpy(p, data, size);
    p[size] = '\0';
    char out[512];
    if (httpq_path(p, out, sizeof out, err, sizeof err) == 0) {
        if (out[0] != '/' || strstr(out, "/../") || strstr(out, "//") || strchr(out, '\\')) abort();
        size_t ol = strlen(out);
        if ((ol >= 3 && strcmp(out + ol - 3, "/..") == 0) || (ol >= 2 && strcmp(out + ol - 2, "/.") == 0))
            abort();
    }
    free(p);
    free(s);
    return 0;
}
