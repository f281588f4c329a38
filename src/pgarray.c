/* pgarray: PostgreSQL text-form array literals. */
#include "pgarray.h"

#include <arpa/inet.h>

#include <string.h>

#include "utf8.h"

static void pgarray_sep(pgarray *a)
{
    buf_append(&a->b, a->n++ ? "," : "{", 1);
}

void pgarray_text(pgarray *a, const char *s, size_t len)
{
    if (!s) {
        pgarray_null(a);
        return;
    }
    pgarray_sep(a);
    buf_append(&a->b, "\"", 1);
    size_t start = a->b.len;
    utf8_append_clean(&a->b, s, len);
    /* Escape quotes and backslashes in what was just appended (rare: copy only if needed). */
    size_t special = 0;
    for (size_t i = start; i < a->b.len; i++)
        special += a->b.data[i] == '"' || a->b.data[i] == '\\';
    if (special) {
        size_t n = a->b.len - start;
        buf_reserve(&a->b, special);
        uint8_t *p = a->b.data + start;
        for (size_t i = n, o = n + special; i > 0;) {
            uint8_t c = p[--i];
            p[--o] = c;
            if (c == '"' || c == '\\') p[--o] = '\\';
        }
        a->b.len += special;
    }
    buf_append(&a->b, "\"", 1);
}

void pgarray_str(pgarray *a, const char *s)
{
    pgarray_text(a, s, s ? strlen(s) : 0);
}

void pgarray_int(pgarray *a, int64_t v)
{
    pgarray_sep(a);
    buf_printf(&a->b, "%lld", (long long)v);
}

void pgarray_float(pgarray *a, double v)
{
    pgarray_sep(a);
    buf_printf(&a->b, "%.17g", v);
}

void pgarray_null(pgarray *a)
{
    pgarray_sep(a);
    buf_puts(&a->b, "NULL");
}

const char *pgarray_end(pgarray *a)
{
    if (!a->n) buf_append(&a->b, "{", 1);
    buf_append(&a->b, "}", 2); /* with the terminating NUL */
    return (const char *)a->b.data;
}

void pgarray_free(pgarray *a)
{
    buf_free(&a->b);
    a->n = 0;
}

void pgarray_bin_header(buf *b, uint32_t oid, size_t n)
{
    uint32_t h[5] = {htonl(1), htonl(0), htonl(oid), htonl((uint32_t)n), htonl(1)};
    buf_append(b, h, sizeof h);
}

void pgarray_bin_elem(buf *b, const void *p, size_t len)
{
    uint32_t l = htonl((uint32_t)len);
    buf_append(b, &l, 4);
    buf_append(b, p, len);
}
