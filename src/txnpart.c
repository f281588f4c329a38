/* txnpart: the applied part of a transaction, per robot (see txnpart.h). */
#include "txnpart.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int txnpart_key_cmp(const void *a, const void *b)
{
    const txnpart_key *x = a, *y = b;
    if (x->robot != y->robot) return x->robot < y->robot ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

static int txnpart_robot_cmp(const void *a, const void *b)
{
    const txnpart_robot *x = a, *y = b;
    return (x->robot > y->robot) - (x->robot < y->robot);
}

/* Ranges come out of txnpart_ranges sorted by robot, one each. */
static int txnpart_range_cmp(const void *a, const void *b)
{
    const txnpart_range *x = a, *y = b;
    return (x->robot > y->robot) - (x->robot < y->robot);
}

static const txnpart_robot *txnpart_find_robot(const txnpart *p, int32_t robot)
{
    txnpart_robot k = {robot, 0};
    return p->nrobots ? bsearch(&k, p->robots, p->nrobots, sizeof k, txnpart_robot_cmp) : NULL;
}

static int txnpart_has_key(const txnpart_key *v, size_t n, int32_t robot, int64_t ts)
{
    txnpart_key k = {robot, ts};
    return n && bsearch(&k, v, n, sizeof k, txnpart_key_cmp) != NULL;
}

/* The part's rows as keys sorted by (robot, ts). */
static txnpart_key *txnpart_keys(const reading *rows, size_t n)
{
    txnpart_key *k = xmalloc((n ? n : 1) * sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = (txnpart_key){rows[i].robot_id, rows[i].ts_us};
    qsort(k, n, sizeof *k, txnpart_key_cmp);
    return k;
}

size_t txnpart_ranges(const txnpart *p, const reading *rows, size_t n, txnpart_range **out)
{
    *out = NULL;
    if (!n) return 0;
    txnpart_key *k = txnpart_keys(rows, n);
    txnpart_range *r = xmalloc(n * sizeof *r);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        /* The last key of each robot holds its latest ts in the part. */
        if (i + 1 < n && k[i + 1].robot == k[i].robot) continue;
        const txnpart_robot *old = txnpart_find_robot(p, k[i].robot);
        if (old && old->last >= k[i].ts) continue;
        r[nr++] = (txnpart_range){k[i].robot, old != NULL, old ? old->last : 0, k[i].ts};
    }
    free(k);
    if (!nr) {
        free(r);
        return 0;
    }
    *out = r;
    return nr;
}

static void txnpart_push_skip(txnpart *p, int32_t robot, int64_t ts)
{
    if (p->nskip == p->skip_cap) {
        p->skip_cap = p->skip_cap ? p->skip_cap * 2 : 64;
        p->skip = xrealloc(p->skip, p->skip_cap * sizeof *p->skip);
    }
    p->skip[p->nskip++] = (txnpart_key){robot, ts};
}

void txnpart_put_skip(txnpart *p, int32_t robot, int64_t ts)
{
    txnpart_push_skip(p, robot, ts);
}

void txnpart_put_robot(txnpart *p, int32_t robot, int64_t last)
{
    if (p->nrobots == p->robots_cap) {
        p->robots_cap = p->robots_cap ? p->robots_cap * 2 : 64;
        p->robots = xrealloc(p->robots, p->robots_cap * sizeof *p->robots);
    }
    p->robots[p->nrobots++] = (txnpart_robot){robot, last};
}

void txnpart_sort(txnpart *p)
{
    if (p->nrobots) qsort(p->robots, p->nrobots, sizeof *p->robots, txnpart_robot_cmp);
    size_t o = 0;
    for (size_t i = 0; i < p->nrobots; i++) {
        if (o && p->robots[o - 1].robot == p->robots[i].robot) {
            if (p->robots[i].last > p->robots[o - 1].last)
                p->robots[o - 1].last = p->robots[i].last;
            continue;
        }
        p->robots[o++] = p->robots[i];
    }
    p->nrobots = o;
    if (p->nskip) qsort(p->skip, p->nskip, sizeof *p->skip, txnpart_key_cmp);
    o = 0;
    for (size_t i = 0; i < p->nskip; i++)
        if (!o || txnpart_key_cmp(&p->skip[o - 1], &p->skip[i]) != 0) p->skip[o++] = p->skip[i];
    p->nskip = o;
}

void txnpart_advance(txnpart *p, const reading *rows, size_t n, const txnpart_key *found,
                     size_t nfound)
{
    if (!n) return;
    txnpart_key *k = txnpart_keys(rows, n);
    txnpart_range *r = NULL;
    size_t nr = txnpart_ranges(p, rows, n, &r);
    /* Rows of the part that were waiting below their robot's last are applied now. */
    size_t o = 0;
    for (size_t i = 0; i < p->nskip; i++)
        if (!txnpart_has_key(k, n, p->skip[i].robot, p->skip[i].ts)) p->skip[o++] = p->skip[i];
    p->nskip = o;
    /* Rows the lookup found between a robot's old and new last that the part does not hold
     * come later in the transaction. */
    for (size_t i = 0; i < nfound; i++) {
        const txnpart_key *f = &found[i];
        txnpart_range want = {.robot = f->robot};
        const txnpart_range *g = nr ? bsearch(&want, r, nr, sizeof *r, txnpart_range_cmp) : NULL;
        if (g && f->ts <= g->hi && (!g->has_lo || f->ts > g->lo) &&
            !txnpart_has_key(k, n, f->robot, f->ts))
            txnpart_push_skip(p, f->robot, f->ts);
    }
    for (size_t j = 0; j < nr; j++)
        txnpart_put_robot(p, r[j].robot, r[j].hi);
    txnpart_sort(p);
    free(r);
    free(k);
}

int txnpart_applied(const txnpart *p, int32_t robot, int64_t ts)
{
    const txnpart_robot *r = txnpart_find_robot(p, robot);
    return r && ts <= r->last && !txnpart_has_key(p->skip, p->nskip, robot, ts);
}

void txnpart_copy(txnpart *dst, const txnpart *src)
{
    if (dst == src) return;
    txnpart_clear(dst);
    for (size_t i = 0; i < src->nrobots; i++)
        txnpart_put_robot(dst, src->robots[i].robot, src->robots[i].last);
    for (size_t i = 0; i < src->nskip; i++)
        txnpart_push_skip(dst, src->skip[i].robot, src->skip[i].ts);
}

void txnpart_clear(txnpart *p)
{
    p->nrobots = 0;
    p->nskip = 0;
}

void txnpart_free(txnpart *p)
{
    if (!p) return;
    free(p->robots);
    free(p->skip);
    memset(p, 0, sizeof *p);
}
