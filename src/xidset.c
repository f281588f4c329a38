/* xidset: snapshots and sorted lists of 64-bit transaction ids (see xidset.h). */
#include "xidset.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Reads a decimal id at *p; advances *p. Returns 0, or -1 if there are no digits or it
 * overflows. */
static int xidset_read_id(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9') return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

static int xidset_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts and removes duplicates. */
static size_t xidset_sort_unique(uint64_t *v, size_t n)
{
    if (n < 2) return n;
    qsort(v, n, sizeof *v, xidset_cmp);
    size_t o = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[o - 1]) v[o++] = v[i];
    return o;
}

int xidset_snap_parse(const char *text, xidset_snap *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    if (xidset_read_id(&p, &out->xmin) || *p++ != ':')
        return util_err(err, errlen, "snapshot '%s': expected xmin:xmax:xip,...", text);
    if (xidset_read_id(&p, &out->xmax) || *p++ != ':')
        return util_err(err, errlen, "snapshot '%s': expected xmin:xmax:xip,...", text);
    /* A slot's exported snapshot can have xmin above xmax ('3294:3293:', seen on PostgreSQL
     * 15 when the slot was made as the last transaction ended). PostgreSQL's own visibility
     * test asks xid < xmin first, so every id below xmin is ended and every other is not: the
     * same as xmin:xmin: with nothing in progress, which is what is kept (pg_snapshot's input
     * refuses xmin above xmax, and the checkpoint stores the snapshot as one). */
    int above = out->xmin > out->xmax;
    if (above) out->xmax = out->xmin;
    size_t cap = 0;
    while (*p) {
        uint64_t x;
        if (xidset_read_id(&p, &x) || (*p && *p != ',') || (*p == ',' && !p[1])) {
            xidset_snap_free(out);
            return util_err(err, errlen, "snapshot '%s': bad in-progress list", text);
        }
        if (*p == ',') p++;
        if (above) continue; /* below xmin: ended */
        if (x < out->xmin || x >= out->xmax) {
            xidset_snap_free(out);
            return util_err(err, errlen, "snapshot '%s': %llu is outside [xmin, xmax)", text,
                            (unsigned long long)x);
        }
        if (out->nxip == cap) {
            cap = cap ? cap * 2 : 8;
            out->xip = xrealloc(out->xip, cap * sizeof *out->xip);
        }
        out->xip[out->nxip++] = x;
    }
    out->nxip = xidset_sort_unique(out->xip, out->nxip);
    return 0;
}

void xidset_snap_format(const xidset_snap *s, buf *out)
{
    buf_printf(out, "%llu:%llu:", (unsigned long long)s->xmin, (unsigned long long)s->xmax);
    for (size_t i = 0; i < s->nxip; i++)
        buf_printf(out, "%s%llu", i ? "," : "", (unsigned long long)s->xip[i]);
}

void xidset_snap_format_xip(const xidset_snap *s, buf *out)
{
    buf_puts(out, "{");
    for (size_t i = 0; i < s->nxip; i++)
        buf_printf(out, "%s%llu", i ? "," : "", (unsigned long long)s->xip[i]);
    buf_puts(out, "}");
}

static int xidset_find(const uint64_t *v, size_t n, uint64_t x, size_t *at)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at) *at = lo;
    return lo < n && v[lo] == x;
}

int xidset_snap_ended(const xidset_snap *s, uint64_t xid)
{
    if (xid < s->xmin) return 1;
    if (xid >= s->xmax) return 0;
    return !xidset_find(s->xip, s->nxip, xid, NULL);
}

void xidset_snap_copy(xidset_snap *dst, const xidset_snap *src)
{
    if (dst == src) return;
    xidset_snap_free(dst);
    dst->xmin = src->xmin;
    dst->xmax = src->xmax;
    dst->nxip = src->nxip;
    if (src->nxip) {
        dst->xip = xmalloc(src->nxip * sizeof *dst->xip);
        memcpy(dst->xip, src->xip, src->nxip * sizeof *dst->xip);
    }
}

void xidset_snap_free(xidset_snap *s)
{
    if (!s) return;
    free(s->xip);
    memset(s, 0, sizeof *s);
}

uint64_t xidset_widen(uint32_t xid, uint64_t ref)
{
    /* The signed 32-bit distance from ref's low half picks the nearer epoch. */
    int64_t d = (int64_t)(int32_t)(xid - (uint32_t)ref);
    if (d < 0 && (uint64_t)(-d) > ref) return ref + (uint64_t)(d + (INT64_C(1) << 32));
    return d < 0 ? ref - (uint64_t)(-d) : ref + (uint64_t)d;
}

void xidset_list_add(xidset_list *l, uint64_t xid)
{
    size_t at;
    if (xidset_find(l->v, l->n, xid, &at)) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
    l->v[at] = xid;
    l->n++;
}

int xidset_list_has(const xidset_list *l, uint64_t xid)
{
    return xidset_find(l->v, l->n, xid, NULL);
}

void xidset_list_merge(xidset_list *l, const xidset_list *src)
{
    if (!src->n) return;
    if (l->n + src->n > l->cap) {
        l->cap = l->n + src->n;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    memcpy(l->v + l->n, src->v, src->n * sizeof *l->v);
    l->n = xidset_sort_unique(l->v, l->n + src->n);
}

void xidset_list_drop_ended(xidset_list *l, const xidset_snap *s)
{
    size_t o = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!xidset_snap_ended(s, l->v[i])) l->v[o++] = l->v[i];
    l->n = o;
}

int xidset_list_parse(const char *text, xidset_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    if (*p++ != '{') return util_err(err, errlen, "id list '%s': expected {...}", text);
    while (*p != '}') {
        uint64_t x;
        if (xidset_read_id(&p, &x) || (*p != ',' && *p != '}') || (*p == ',' && p[1] == '}')) {
            xidset_list_free(out);
            return util_err(err, errlen, "id list '%s': expected decimal ids", text);
        }
        if (*p == ',') p++;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->v = xrealloc(out->v, out->cap * sizeof *out->v);
        }
        out->v[out->n++] = x;
    }
    if (p[1]) {
        xidset_list_free(out);
        return util_err(err, errlen, "id list '%s': text after '}'", text);
    }
    out->n = xidset_sort_unique(out->v, out->n);
    return 0;
}

void xidset_list_format(const xidset_list *l, buf *out)
{
    buf_puts(out, "{");
    for (size_t i = 0; i < l->n; i++)
        buf_printf(out, "%s%llu", i ? "," : "", (unsigned long long)l->v[i]);
    buf_puts(out, "}");
}

void xidset_list_copy(xidset_list *dst, const xidset_list *src)
{
    if (dst == src) return;
    dst->n = 0;
    xidset_list_merge(dst, src);
}

void xidset_list_clear(xidset_list *l)
{
    l->n = 0;
}

void xidset_list_free(xidset_list *l)
{
    if (!l) return;
    free(l->v);
    memset(l, 0, sizeof *l);
}

int xidset_accounted(const xidset_snap *covered, const xidset_list *applied, uint64_t xid)
{
    return xidset_snap_ended(covered, xid) || xidset_list_has(applied, xid);
}
