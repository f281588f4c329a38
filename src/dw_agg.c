/* dw_agg: exact, mergeable aggregates of readings per robot and period. */
#include "dw_agg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "pgarray.h"
#include "util.h"

#define DW_OID_INT4 23
#define DW_OID_INT8 20
#define DW_OID_NUMERIC 1700
#define DW_OID_FLOAT8 701
#define DW_OID_TIMESTAMPTZ 1184
#define DW_OID_DATE 1082
#define DW_NUMERIC_NEG 0x4000
#define DW_PG_EPOCH_DAYS 10957 /* 2000-01-01 in days since 1970-01-01 */

int dw_agg_bin(double v)
{
    if (v == 0) return 0;
    double m = fabs(v);
    int b;
    if (m < 1e-3) {
        b = 1;
    } else {
        double f = floor(log(m / 1e-3) / log(1.02));
        b = f >= DW_AGG_BIN_MAX - 1 ? DW_AGG_BIN_MAX : 1 + (int)(f < 0 ? 0 : f);
    }
    return v < 0 ? -b : b;
}

int64_t dw_agg_run_us(int64_t rows, int64_t active)
{
    return rows > 0 ? (INT64_C(120000000) * active + rows) / (2 * rows) : 0;
}

int64_t dw_agg_scaled(double v)
{
    double x = rint(v * 1e6);
    if (x >= (double)DW_AGG_SCALED_MAX) return DW_AGG_SCALED_MAX;
    if (x <= -(double)DW_AGG_SCALED_MAX) return -DW_AGG_SCALED_MAX;
    return (int64_t)x;
}

int64_t dw_agg_period(int64_t ts_us, int64_t period_us)
{
    int64_t q = ts_us / period_us;
    if (ts_us % period_us < 0) q--;
    return q * period_us;
}

static void dw_agg_cell_clear(dw_agg_cell *c, int32_t robot, int64_t t)
{
    c->robot = robot;
    c->used = 1;
    c->t = t;
    c->rows = c->active = c->run_us = 0;
    for (int a = 0; a < READING_AXES; a++) {
        dw_agg_axis *x = &c->ax[a];
        x->n = 0;
        x->s = 0;
        x->q = 0;
        x->mn = INFINITY;
        x->mx = -INFINITY;
        x->hlen = 0;
    }
}

void dw_agg_init(dw_agg *a, int64_t period_us)
{
    memset(a, 0, sizeof *a);
    a->period_us = period_us;
}

void dw_agg_reset(dw_agg *a)
{
    for (size_t i = 0; i < a->cap; i++) a->cells[i].used = 0;
    a->n = 0;
}

void dw_agg_free(dw_agg *a)
{
    for (size_t i = 0; i < a->cap; i++)
        for (int x = 0; x < READING_AXES; x++) free(a->cells[i].ax[x].h);
    free(a->cells);
    free(a->tmp);
    memset(a, 0, sizeof *a);
}

static size_t dw_agg_hash(int32_t robot, int64_t t)
{
    return util_hash64((uint64_t)t * 0x9e3779b97f4a7c15u ^ (uint32_t)robot);
}

static void dw_agg_grow(dw_agg *a)
{
    dw_agg_cell *old = a->cells;
    size_t oldcap = a->cap;
    a->cap = oldcap ? oldcap * 2 : 256;
    a->cells = xcalloc(a->cap, sizeof *a->cells);
    size_t mask = a->cap - 1;
    /* Used cells move with their buffers; free slots give theirs to free slots of the new
     * table, so that memory warmed up stays. */
    size_t spare = 0;
    for (size_t i = 0; i < oldcap; i++) {
        dw_agg_cell *c = &old[i];
        if (!c->used) continue;
        size_t j = dw_agg_hash(c->robot, c->t) & mask;
        while (a->cells[j].used) j = (j + 1) & mask;
        a->cells[j] = *c;
    }
    for (size_t i = 0; i < oldcap; i++) {
        dw_agg_cell *c = &old[i];
        if (c->used) continue;
        while (spare < a->cap && (a->cells[spare].used || a->cells[spare].ax[0].h)) spare++;
        if (spare == a->cap) {
            for (int x = 0; x < READING_AXES; x++) free(c->ax[x].h);
            continue;
        }
        memcpy(a->cells[spare].ax, c->ax, sizeof c->ax);
        a->cells[spare].used = 0;
    }
    free(old);
}

dw_agg_cell *dw_agg_find(const dw_agg *a, int32_t robot, int64_t t)
{
    if (!a->cap) return NULL;
    size_t mask = a->cap - 1;
    for (size_t i = dw_agg_hash(robot, t) & mask;; i = (i + 1) & mask) {
        dw_agg_cell *c = &a->cells[i];
        if (!c->used) return NULL;
        if (c->robot == robot && c->t == t) return c;
    }
}

dw_agg_cell *dw_agg_cell_get(dw_agg *a, int32_t robot, int64_t t)
{
    if ((a->n + 1) * 2 > a->cap) dw_agg_grow(a);
    size_t mask = a->cap - 1;
    for (size_t i = dw_agg_hash(robot, t) & mask;; i = (i + 1) & mask) {
        dw_agg_cell *c = &a->cells[i];
        if (c->used) {
            if (c->robot == robot && c->t == t) return c;
            continue;
        }
        dw_agg_cell_clear(c, robot, t);
        a->n++;
        return c;
    }
}

static void dw_agg_hist_reserve(dw_agg_axis *x, uint32_t pairs)
{
    if (pairs <= x->hcap) return;
    uint32_t cap = x->hcap ? x->hcap : 16;
    while (cap < pairs) cap *= 2;
    x->h = xrealloc(x->h, (size_t)cap * 2 * sizeof *x->h);
    x->hcap = cap;
}

/* Adds count to bin in the sorted pairs. */
static void dw_agg_hist_add(dw_agg_axis *x, int32_t bin, int32_t count)
{
    uint32_t lo = 0, hi = x->hlen;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (x->h[2 * mid] < bin) lo = mid + 1;
        else hi = mid;
    }
    if (lo < x->hlen && x->h[2 * lo] == bin) {
        x->h[2 * lo + 1] += count;
        return;
    }
    dw_agg_hist_reserve(x, x->hlen + 1);
    memmove(&x->h[2 * lo + 2], &x->h[2 * lo], (size_t)(x->hlen - lo) * 2 * sizeof *x->h);
    x->h[2 * lo] = bin;
    x->h[2 * lo + 1] = count;
    x->hlen++;
}

void dw_agg_add(dw_agg *a, const reading *rows, size_t n)
{
    dw_agg_cell *c = NULL;
    for (size_t i = 0; i < n; i++) {
        const reading *r = &rows[i];
        int64_t t = dw_agg_period(r->ts_us, a->period_us);
        /* Consecutive readings of one robot mostly share a cell. */
        if (!c || c->robot != r->robot_id || c->t != t) c = dw_agg_cell_get(a, r->robot_id, t);
        c->rows++;
        int active = 0;
        for (int k = 0; k < READING_AXES; k++) {
            dw_agg_axis *x = &c->ax[k];
            double v = r->axis[k];
            if (v != 0) {
                active = 1;
                x->n++;
                int64_t s = dw_agg_scaled(v);
                x->s += s;
                x->q += (dw_agg_u128)((dw_agg_i128)s * s);
            }
            if (v < x->mn) x->mn = v;
            if (v > x->mx) x->mx = v;
            dw_agg_hist_add(x, dw_agg_bin(v), 1);
        }
        c->active += active;
    }
}

/* x.h += y.h: a merge of two sorted lists through a's scratch. */
static void dw_agg_hist_merge(dw_agg *a, dw_agg_axis *x, const dw_agg_axis *y)
{
    if (!y->hlen) return;
    size_t need = (size_t)x->hlen + y->hlen;
    if (need > a->tmpcap) {
        a->tmpcap = need * 2;
        a->tmp = xrealloc(a->tmp, a->tmpcap * 2 * sizeof *a->tmp);
    }
    uint32_t i = 0, j = 0, k = 0;
    while (i < x->hlen || j < y->hlen) {
        if (j == y->hlen || (i < x->hlen && x->h[2 * i] < y->h[2 * j])) {
            a->tmp[2 * k] = x->h[2 * i];
            a->tmp[2 * k + 1] = x->h[2 * i + 1];
            i++;
        } else if (i == x->hlen || y->h[2 * j] < x->h[2 * i]) {
            a->tmp[2 * k] = y->h[2 * j];
            a->tmp[2 * k + 1] = y->h[2 * j + 1];
            j++;
        } else {
            a->tmp[2 * k] = x->h[2 * i];
            a->tmp[2 * k + 1] = x->h[2 * i + 1] + y->h[2 * j + 1];
            i++;
            j++;
        }
        k++;
    }
    dw_agg_hist_reserve(x, k);
    memcpy(x->h, a->tmp, (size_t)k * 2 * sizeof *x->h);
    x->hlen = k;
}

void dw_agg_cell_merge(dw_agg *a, dw_agg_cell *dst, const dw_agg_cell *src)
{
    dst->rows += src->rows;
    dst->active += src->active;
    dst->run_us += src->run_us;
    for (int k = 0; k < READING_AXES; k++) {
        dw_agg_axis *x = &dst->ax[k];
        const dw_agg_axis *y = &src->ax[k];
        x->n += y->n;
        x->s += y->s;
        x->q += y->q;
        if (y->mn < x->mn) x->mn = y->mn;
        if (y->mx > x->mx) x->mx = y->mx;
        dw_agg_hist_merge(a, x, y);
    }
}

void dw_agg_merge_into(dw_agg *dst, const dw_agg *src)
{
    for (size_t i = 0; i < src->cap; i++) {
        const dw_agg_cell *c = &src->cells[i];
        if (!c->used) continue;
        dw_agg_cell *d = dw_agg_cell_get(dst, c->robot, dw_agg_period(c->t, dst->period_us));
        dw_agg_cell_merge(dst, d, c);
    }
}

int dw_agg_cell_equal(const dw_agg_cell *x, const dw_agg_cell *y)
{
    if (x->robot != y->robot || x->t != y->t || x->rows != y->rows || x->active != y->active ||
        x->run_us != y->run_us)
        return 0;
    for (int k = 0; k < READING_AXES; k++) {
        const dw_agg_axis *p = &x->ax[k], *q = &y->ax[k];
        if (p->n != q->n || p->s != q->s || p->q != q->q || p->hlen != q->hlen ||
            memcmp(&p->mn, &q->mn, sizeof p->mn) || memcmp(&p->mx, &q->mx, sizeof p->mx) ||
            (p->hlen && memcmp(p->h, q->h, (size_t)p->hlen * 2 * sizeof *p->h)))
            return 0;
    }
    return 1;
}

size_t dw_agg_i128_text(dw_agg_i128 v, char *out)
{
    char tmp[48];
    size_t n = 0;
    dw_agg_u128 u = v < 0 ? (dw_agg_u128)0 - (dw_agg_u128)v : (dw_agg_u128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    size_t k = 0;
    if (v < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    out[k] = '\0';
    return k;
}

/* ---- Binary encoding ---- */

void dw_agg_params_reset(dw_agg_params *p, int as_date)
{
    p->as_date = as_date;
    p->n = 0;
    for (int i = 0; i < DW_AGG_NPARAMS; i++) {
        buf_reset(&p->p[i]);
        buf_reset(&p->out[i]);
    }
    memset(p->off, 0, sizeof p->off);
}

static void dw_put_int4(buf *b, int32_t v)
{
    uint8_t *p = buf_reserve(b, 8);
    copybin_put32(p, 4);
    copybin_put32(p + 4, (uint32_t)v);
    buf_commit(b, 8);
}

static void dw_put_int8(buf *b, int64_t v)
{
    uint8_t *p = buf_reserve(b, 12);
    copybin_put32(p, 8);
    copybin_put64(p + 4, (uint64_t)v);
    buf_commit(b, 12);
}

static void dw_put_float8(buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    dw_put_int8(b, (int64_t)u);
}

/* A numeric holding the integer v: base-10000 digits, weight, sign, scale 0. */
static void dw_put_numeric(buf *b, dw_agg_i128 v)
{
    uint16_t d[12];
    int nd = 0;
    dw_agg_u128 u = v < 0 ? (dw_agg_u128)0 - (dw_agg_u128)v : (dw_agg_u128)v;
    while (u) {
        d[nd++] = (uint16_t)(u % 10000);
        u /= 10000;
    }
    int weight = nd - 1;
    int lo = 0; /* trailing zero digits are left out (the weight keeps the value) */
    while (lo < nd && d[lo] == 0) lo++;
    int ndigits = nd - lo;
    uint8_t *p = buf_reserve(b, 4 + 8 + 2 * (size_t)ndigits);
    copybin_put32(p, (uint32_t)(8 + 2 * ndigits));
    copybin_put16(p + 4, (uint16_t)ndigits);
    copybin_put16(p + 6, (uint16_t)(nd ? weight : 0));
    copybin_put16(p + 8, v < 0 ? DW_NUMERIC_NEG : 0);
    copybin_put16(p + 10, 0);
    for (int i = 0; i < ndigits; i++) copybin_put16(p + 12 + 2 * i, d[nd - 1 - i]);
    buf_commit(b, 4 + 8 + 2 * (size_t)ndigits);
}

void dw_agg_params_add(dw_agg_params *p, const dw_agg_cell *c)
{
    if (p->n == 0)
        for (int a = 0; a < READING_AXES; a++) dw_put_int4(&p->p[4 + 7 * a + 6], 0);
    dw_put_int4(&p->p[0], c->robot);
    if (p->as_date)
        dw_put_int4(&p->p[1], (int32_t)(c->t / DW_AGG_DAY_US - DW_PG_EPOCH_DAYS));
    else
        dw_put_int8(&p->p[1], c->t - COPYBIN_PG_EPOCH_US);
    dw_put_int4(&p->p[2], (int32_t)c->rows);
    dw_put_int4(&p->p[3], (int32_t)c->active);
    for (int a = 0; a < READING_AXES; a++) {
        const dw_agg_axis *x = &c->ax[a];
        buf *q = &p->p[4 + 7 * a];
        dw_put_int4(&q[0], (int32_t)x->n);
        dw_put_numeric(&q[1], x->s);
        dw_put_numeric(&q[2], (dw_agg_i128)x->q);
        dw_put_float8(&q[3], x->mn);
        dw_put_float8(&q[4], x->mx);
        /* One int8 entry per bin: (bin << 32) | count (docs/warehouse.md). */
        uint8_t *w = buf_reserve(&q[5], (size_t)x->hlen * 12);
        for (uint32_t i = 0; i < x->hlen; i++) {
            uint64_t e = ((uint64_t)(int64_t)x->h[2 * i] << 32) | (uint32_t)x->h[2 * i + 1];
            copybin_put32(w + 12 * i, 8);
            copybin_put32(w + 12 * i + 4, (uint32_t)(e >> 32));
            copybin_put32(w + 12 * i + 8, (uint32_t)e);
        }
        buf_commit(&q[5], (size_t)x->hlen * 12);
        p->off[a] += x->hlen;
        dw_put_int4(&q[6], (int32_t)p->off[a]);
    }
    dw_put_int8(&p->p[DW_AGG_NPARAMS - 1], c->run_us);
    p->n++;
}

void dw_agg_params_end(dw_agg_params *p, const char *values[DW_AGG_NPARAMS],
                       int lengths[DW_AGG_NPARAMS])
{
    static const uint32_t axis_oids[7] = {DW_OID_INT4,   DW_OID_NUMERIC, DW_OID_NUMERIC,
                                          DW_OID_FLOAT8, DW_OID_FLOAT8,  DW_OID_INT8,
                                          DW_OID_INT4};
    for (int i = 0; i < DW_AGG_NPARAMS; i++) {
        uint32_t oid;
        size_t n = p->n;
        if (i == 1) oid = p->as_date ? DW_OID_DATE : DW_OID_TIMESTAMPTZ;
        else if (i < 4) oid = DW_OID_INT4;
        else if (i == DW_AGG_NPARAMS - 1) oid = DW_OID_INT8;
        else oid = axis_oids[(i - 4) % 7];
        if (i >= 4 && i < DW_AGG_NPARAMS - 1 && (i - 4) % 7 == 5) n = p->off[(i - 4) / 7];
        if (i >= 4 && i < DW_AGG_NPARAMS - 1 && (i - 4) % 7 == 6) n = p->n + 1;
        buf *o = &p->out[i];
        buf_reset(o);
        if (n == 0) {
            /* An empty array has no dimensions. */
            uint8_t *w = buf_reserve(o, 12);
            copybin_put32(w, 0);
            copybin_put32(w + 4, 0);
            copybin_put32(w + 8, oid);
            buf_commit(o, 12);
        } else {
            pgarray_bin_header(o, oid, n);
        }
        buf_append(o, p->p[i].data, p->p[i].len);
        values[i] = (const char *)o->data;
        lengths[i] = (int)o->len;
    }
}

void dw_agg_params_free(dw_agg_params *p)
{
    for (int i = 0; i < DW_AGG_NPARAMS; i++) {
        buf_free(&p->p[i]);
        buf_free(&p->out[i]);
    }
    memset(p, 0, sizeof *p);
}

/* ---- Binary decoding ---- */

static int dw_get_int4(const char *v, int len, int32_t *out)
{
    if (len != 4) return -1;
    *out = (int32_t)copybin_get32((const uint8_t *)v);
    return 0;
}

static int dw_get_float8(const char *v, int len, double *out)
{
    if (len != 8) return -1;
    uint64_t u = copybin_get64((const uint8_t *)v);
    memcpy(out, &u, 8);
    return 0;
}

/* A numeric that is an integer within ±2^127. */
static int dw_get_numeric(const char *v, int len, dw_agg_i128 *out)
{
    const uint8_t *p = (const uint8_t *)v;
    if (len < 8) return -1;
    int ndigits = copybin_get16(p);
    int weight = (int16_t)copybin_get16(p + 2);
    uint16_t sign = copybin_get16(p + 4);
    if (len != 8 + 2 * ndigits || (sign != 0 && sign != DW_NUMERIC_NEG)) return -1;
    dw_agg_u128 u = 0;
    const dw_agg_u128 lim = ((dw_agg_u128)1 << 127) / 10000;
    for (int i = 0; i < ndigits; i++) {
        uint16_t d = copybin_get16(p + 8 + 2 * i);
        if (d >= 10000) return -1;
        if (weight - i < 0) {
            if (d) return -1; /* a fraction */
            continue;
        }
        if (u > lim) return -1;
        u = u * 10000 + d;
    }
    for (int i = ndigits; i <= weight; i++) {
        if (u > lim) return -1;
        u *= 10000;
    }
    if (u >> 127) return -1;
    *out = sign ? -(dw_agg_i128)u : (dw_agg_i128)u;
    return 0;
}

/* A one-dimensional int8[] of entries (bin << 32) | count (or an empty one) into x's histogram,
 * replacing it. */
static int dw_get_hist(const char *v, int len, dw_agg_axis *x)
{
    const uint8_t *p = (const uint8_t *)v;
    if (len < 12) return -1;
    uint32_t ndim = copybin_get32(p), oid = copybin_get32(p + 8);
    if (oid != DW_OID_INT8 || ndim > 1) return -1;
    if (ndim == 0) {
        x->hlen = 0;
        return len == 12 ? 0 : -1;
    }
    if (len < 20 || copybin_get32(p + 4) != 0) return -1; /* no NULLs */
    uint32_t n = copybin_get32(p + 12);
    if ((size_t)len != 20 + (size_t)n * 12) return -1;
    dw_agg_hist_reserve(x, n);
    const uint8_t *e = p + 20;
    for (uint32_t i = 0; i < n; i++, e += 12) {
        if (copybin_get32(e) != 8) return -1;
        int32_t bin = (int32_t)copybin_get32(e + 4);
        uint32_t count = copybin_get32(e + 8);
        if (count > INT32_MAX || (i && bin <= x->h[2 * i - 2])) return -1; /* sorted, distinct */
        x->h[2 * i] = bin;
        x->h[2 * i + 1] = (int32_t)count;
    }
    x->hlen = n;
    return 0;
}

int dw_agg_read_row(dw_agg *a, int as_date, const char *const *vals, const int *lens)
{
    int32_t robot, rows, active, day;
    int64_t t;
    if (dw_get_int4(vals[0], lens[0], &robot) || dw_get_int4(vals[2], lens[2], &rows) ||
        dw_get_int4(vals[3], lens[3], &active))
        return -1;
    if (as_date) {
        if (dw_get_int4(vals[1], lens[1], &day)) return -1;
        t = ((int64_t)day + DW_PG_EPOCH_DAYS) * DW_AGG_DAY_US;
    } else {
        if (lens[1] != 8) return -1;
        t = (int64_t)copybin_get64((const uint8_t *)vals[1]) + COPYBIN_PG_EPOCH_US;
    }
    t = dw_agg_period(t, a->period_us);
    dw_agg_cell row;
    memset(&row, 0, sizeof row);
    row.robot = robot;
    row.used = 1;
    row.t = t;
    row.rows = rows;
    row.active = active;
    int rc = 0;
    {
        const char *v = vals[DW_AGG_NFIELDS - 1];
        int l = lens[DW_AGG_NFIELDS - 1];
        if (l != 8) return -1;
        row.run_us = (int64_t)copybin_get64((const uint8_t *)v);
        if (row.run_us < 0) return -1;
    }
    for (int k = 0; k < READING_AXES && !rc; k++) {
        dw_agg_axis *x = &row.ax[k];
        const char *const *v = vals + 4 + 6 * k;
        const int *l = lens + 4 + 6 * k;
        int32_t n = 0;
        dw_agg_i128 q = 0;
        rc = dw_get_int4(v[0], l[0], &n) || dw_get_numeric(v[1], l[1], &x->s) ||
             dw_get_numeric(v[2], l[2], &q) || q < 0 || dw_get_float8(v[3], l[3], &x->mn) ||
             dw_get_float8(v[4], l[4], &x->mx) || dw_get_hist(v[5], l[5], x);
        x->n = n;
        x->q = (dw_agg_u128)q;
    }
    if (!rc) dw_agg_cell_merge(a, dw_agg_cell_get(a, robot, t), &row);
    for (int k = 0; k < READING_AXES; k++) free(row.ax[k].h);
    return rc ? -1 : 0;
}
