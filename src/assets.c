/* assets: reads the asset files into a model and writes it (see assets.h for the contract and
 * docs/assets.md for the rules).
 *
 * Strings of the model live in a pool of large chunks freed at once; ids and row identities
 * are looked up in small open-addressing hash maps, so a file of any size within the bound is
 * read in linear time. The file is the first half; the writer, the only part that speaks to
 * PostgreSQL, is the second. */
#include "assets.h"

#include <jansson.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "csvin.h"
#include "numparse.h"
#include "pgarray.h"
#include "pgconn.h"
#include "utf8.h"
#include "util.h"

#define ASSETS_POOL_CHUNK (64 * 1024) /* bytes per string-pool chunk */
#define ASSETS_SHOW_MAX 60            /* bytes of a value quoted in a message */
#define ASSETS_DIR_ORDER ((size_t)-1) /* sort key of directory-level defects: after files */

/* ---------------------------------------------------------------------------------------
 * Private state: string pool, hash maps, capacities.
 * --------------------------------------------------------------------------------------- */

typedef struct assets_chunk {
    struct assets_chunk *next;
    size_t used, cap;
    char data[];
} assets_chunk;

typedef struct assets_slot {
    const char *key; /* NULL: empty slot */
    size_t len;
    uint32_t hash;
    size_t val;
} assets_slot;

typedef struct assets_map {
    assets_slot *slots;
    size_t cap, n;
} assets_map;

/* An earlier row, for telling duplicates from conflicts. */
typedef struct assets_seen {
    uint64_t line;
    const char *cmp;   /* the value compared (normalised) */
    const char *value; /* the value stored (for messages) */
} assets_seen;

/* The record tables of the model, for the id indexes. */
typedef enum assets_table {
    ASSETS_T_PLANT,
    ASSETS_T_SHOP,
    ASSETS_T_DETAIL,
    ASSETS_T_ROBOT,
    ASSETS_T_CONTROLLER,
    ASSETS_T_PART,
    ASSETS_T_SOURCE,
    ASSETS_T_FEED,
    ASSETS_T_N
} assets_table;

struct assets_state {
    assets_chunk *pool;           /* string storage of the model */
    assets_map index[ASSETS_T_N]; /* id -> position in the model's array, per table */
    assets_map seen;              /* row identity -> position in seens */
    assets_seen *seens;
    size_t nseens, seens_cap;
    assets_map placeholders[3]; /* plant, shop, detail ids needing a placeholder */
    buf scratch;                /* row identities being built */
    buf clean;                  /* text being cleaned for messages */
    size_t plants_cap, shops_cap, details_cap, robots_cap, controllers_cap, parts_cap, sources_cap,
        feeds_cap, defects_cap, files_cap;
    size_t kind_files[ASSETS_NKINDS];      /* files read of each format */
    const char *kind_first[ASSETS_NKINDS]; /* base name of the first of them */
    size_t seq;                            /* defects created so far */
    int resolved;                          /* assets_resolve ran */
};

#define ASSETS_GROW(arr, n, cap)                                                                   \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 16;                                                          \
            (arr) = xrealloc((arr), sizeof *(arr) * (cap));                                        \
        }                                                                                          \
    } while (0)

static char *assets_alloc(assets_state *s, size_t n)
{
    assets_chunk *c = s->pool;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ASSETS_POOL_CHUNK ? n : ASSETS_POOL_CHUNK;
        c = xmalloc(sizeof *c + cap);
        c->cap = cap;
        c->used = 0;
        c->next = s->pool;
        s->pool = c;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

static const char *assets_strndup(assets_state *s, const char *p, size_t n)
{
    char *q = assets_alloc(s, n + 1);
    memcpy(q, p, n);
    q[n] = '\0';
    return q;
}

static const char *assets_vprintf(assets_state *s, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) abort();
    char *p = assets_alloc(s, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

/* A pooled "dir/name". */
static const char *assets_join_path(assets_state *s, const char *dir, const char *name)
{
    size_t dn = strlen(dir), nn = strlen(name);
    char *p = assets_alloc(s, dn + 1 + nn + 1);
    memcpy(p, dir, dn);
    p[dn] = '/';
    memcpy(p + dn + 1, name, nn + 1);
    return p;
}

static uint32_t assets_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static assets_slot *assets_map_find(const assets_map *m, const char *key, size_t len, uint32_t h)
{
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        assets_slot *sl = &m->slots[i];
        if (!sl->key) return sl;
        if (sl->hash == h && sl->len == len && memcmp(sl->key, key, len) == 0) return sl;
    }
}

/* The value stored under key, or NULL. */
static const size_t *assets_map_get(const assets_map *m, const void *key, size_t len)
{
    assets_slot *sl = assets_map_find(m, key, len, assets_hash(key, len));
    return sl && sl->key ? &sl->val : NULL;
}

/* Stores key -> val unless key is present. Returns 1 if stored, 0 if it was there. */
static int assets_map_put(assets_state *s, assets_map *m, const void *key, size_t len, size_t val)
{
    if ((m->n + 1) * 10 > m->cap * 7) {
        assets_map old = *m;
        m->cap = m->cap ? m->cap * 2 : 64;
        m->slots = xcalloc(m->cap, sizeof *m->slots);
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].key)
                *assets_map_find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) =
                    old.slots[i];
        free(old.slots);
    }
    uint32_t h = assets_hash(key, len);
    assets_slot *sl = assets_map_find(m, key, len, h);
    if (sl->key) return 0;
    sl->key = assets_strndup(s, key, len);
    sl->len = len;
    sl->hash = h;
    sl->val = val;
    m->n++;
    return 1;
}

static const size_t *assets_index_get(const assets_model *m, assets_table t, int32_t id)
{
    return assets_map_get(&m->st->index[t], &id, sizeof id);
}

/* ---------------------------------------------------------------------------------------
 * Text helpers. Fields are spans of the csvin row, trimmed of spaces and tabs.
 * --------------------------------------------------------------------------------------- */

typedef struct assets_span {
    const char *p;
    size_t len;
} assets_span;

static char assets_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static int assets_is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static assets_span assets_trim(const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return (assets_span){p, len};
}

/* Case-insensitive equality of a span and an ASCII word. */
static int assets_eq_ci(assets_span a, const char *word)
{
    size_t n = strlen(word);
    if (a.len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (assets_upper(a.p[i]) != assets_upper(word[i])) return 0;
    return 1;
}

/* A key or column name normalised for matching: upper case, and each run of spaces,
 * underscores and hyphens one underscore ("Purchase Date" = "PURCHASE_DATE"). */
static const char *assets_norm(assets_state *s, assets_span a)
{
    char *q = assets_alloc(s, a.len + 1);
    size_t o = 0;
    for (size_t i = 0; i < a.len; i++) {
        char c = a.p[i];
        if (c == ' ' || c == '_' || c == '-' || c == '\t') {
            if (o == 0 || q[o - 1] != '_') q[o++] = '_';
        } else {
            q[o++] = assets_upper(c);
        }
    }
    q[o] = '\0';
    return q;
}

/* A pooled copy of at most max bytes of p that is valid UTF-8 (bad bytes become U+FFFD);
 * with printable, control characters become '?' too (for one-line messages). */
static const char *assets_clean(assets_state *s, const char *p, size_t n, size_t max, int printable)
{
    int cut = n > max;
    if (cut) n = max;
    buf *b = &s->clean;
    buf_reset(b);
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (!k) {
            buf_append(b, "\xEF\xBF\xBD", 3);
            i++;
        } else if (printable && k == 1 && (u[i] < 0x20 || u[i] == 0x7F)) {
            buf_append(b, "?", 1);
            i++;
        } else {
            buf_append(b, u + i, k);
            i += k;
        }
    }
    if (cut && printable) buf_append(b, "...", 3);
    return assets_strndup(s, (const char *)b->data, b->len);
}

/* A value for quoting in a message. */
static const char *assets_show(assets_state *s, assets_span a)
{
    return assets_clean(s, a.p, a.len, ASSETS_SHOW_MAX, 1);
}

/* Parses an id: a whole number 1..INT32_MAX. */
static int assets_parse_id(assets_span a, int32_t *out)
{
    int64_t v;
    if (numparse_int64(a.p, a.len, 1, INT32_MAX, &v) != NUMPARSE_OK) return 0;
    *out = (int32_t)v;
    return 1;
}

static int assets_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads 1..maxd digits at *i; returns the number or -1. */
static int assets_digits(assets_span a, size_t *i, size_t mind, size_t maxd)
{
    int v = 0;
    size_t n = 0;
    while (*i < a.len && a.p[*i] >= '0' && a.p[*i] <= '9' && n < maxd) {
        v = v * 10 + (a.p[*i] - '0');
        (*i)++;
        n++;
    }
    return n >= mind ? v : -1;
}

/* Parses a date, US m/d/yyyy (or ISO yyyy-mm-dd), into "yyyy-mm-dd". Returns 1 if valid. */
static int assets_parse_date(assets_span a, char out[32])
{
    size_t i = 0;
    int y, mo, d;
    if (a.len == 10 && a.p[4] == '-') {
        y = assets_digits(a, &i, 4, 4);
        if (y < 0 || i >= a.len || a.p[i++] != '-') return 0;
        mo = assets_digits(a, &i, 2, 2);
        if (mo < 0 || i >= a.len || a.p[i++] != '-') return 0;
        d = assets_digits(a, &i, 2, 2);
    } else {
        mo = assets_digits(a, &i, 1, 2);
        if (mo < 0 || i >= a.len || a.p[i++] != '/') return 0;
        d = assets_digits(a, &i, 1, 2);
        if (d < 0 || i >= a.len || a.p[i++] != '/') return 0;
        y = assets_digits(a, &i, 4, 4);
    }
    if (y < 1 || d < 0 || i != a.len || mo < 1 || mo > 12) return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dim = mdays[mo - 1] + (mo == 2 && assets_leap(y));
    if (d < 1 || d > dim) return 0;
    snprintf(out, 32, "%04d-%02d-%02d", y, mo, d);
    return 1;
}

/* The joint number of a comment such as "Joint 3" or "Joint 1 FANUC": 1..14, or 0. */
static int assets_joint_axis(const char *c)
{
    if (!c) return 0;
    assets_span a = {c, strlen(c)};
    if (a.len < 5 || !assets_eq_ci((assets_span){c, 5}, "joint")) return 0;
    size_t i = 5;
    while (i < a.len && (a.p[i] == ' ' || a.p[i] == '#'))
        i++;
    int n = assets_digits(a, &i, 1, 2);
    if (n < 1 || n > 14) return 0;
    if (i < a.len && assets_is_alnum(a.p[i])) return 0; /* "Joint 3a", "Joint 123" */
    return n;
}

static int assets_is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* ---------------------------------------------------------------------------------------
 * Formats.
 * --------------------------------------------------------------------------------------- */

typedef struct assets_format {
    const char *what;  /* the record, in messages */
    const char *label; /* the format, in messages */
    size_t ncols;
    const char *cols[6]; /* column names in canonical order (position 0 is the id) */
} assets_format;

static const assets_format assets_formats[ASSETS_NKINDS] = {
    [ASSETS_PLANT] = {"plant", "plant", 3, {"PLANT_ID", "KEY", "VALUE"}},
    [ASSETS_SHOP] = {"shop", "shop", 4, {"SHOP_ID", "KEY", "VALUE", "PLANT_ID"}},
    [ASSETS_DETAIL] = {"asset detail", "part details", 3, {"DETAIL_ID", "KEY", "VALUE"}},
    [ASSETS_EQUIPMENT] = {"equipment",
                          "equipment",
                          6,
                          {"TYPE_ID", "TYPE_CLASS", "IP_ADDRESS", "TYPE_INSTANCE", "DETAIL_ID",
                           "SHOP_ID"}},
    [ASSETS_PART] = {"part", "part", 4, {"PART_ID", "TYPE", "COMMENTS", "DETAIL_ID"}},
    [ASSETS_SOURCE] = {"data source",
                       "data source",
                       4,
                       {"SOURCE_ID", "NAME", "PLANT_ID", "SHOP_ID"}},
    [ASSETS_FEED] = {"feed", "feed", 3, {"FEED_ID", "KEY", "VALUE"}},
};

/* Canonical column positions. */
enum { ASSETS_C_ID = 0, ASSETS_C_KEY = 1, ASSETS_C_VALUE = 2, ASSETS_C_SHOP_PLANT = 3 };
enum {
    ASSETS_C_CLASS = 1,
    ASSETS_C_IP = 2,
    ASSETS_C_INSTANCE = 3,
    ASSETS_C_EQ_DETAIL = 4,
    ASSETS_C_EQ_SHOP = 5
};
enum { ASSETS_C_TYPE = 1, ASSETS_C_COMMENTS = 2, ASSETS_C_PART_DETAIL = 3 };
enum { ASSETS_C_NAME = 1, ASSETS_C_SRC_PLANT = 2, ASSETS_C_SRC_SHOP = 3 };

/* Where the known keys of the ID,KEY,VALUE formats go. */
typedef enum assets_field {
    ASSETS_F_ATTR, /* unknown key: attrs */
    ASSETS_F_NAME,
    ASSETS_F_LOCATION,
    ASSETS_F_PROCESS, /* several values, in order */
    ASSETS_F_PROVIDER,
    ASSETS_F_PART_NUMBER,
    ASSETS_F_MODEL_NUMBER,
    ASSETS_F_SERIAL_NUMBER,
    ASSETS_F_PURCHASE_DATE, /* a date */
    ASSETS_F_UNIT,
    ASSETS_F_UPPER_LIMIT, /* a number */
    ASSETS_F_LOWER_LIMIT, /* a number */
} assets_field;

static const struct {
    assets_kind kind;
    const char *key; /* normalised */
    assets_field field;
} assets_keys[] = {
    {ASSETS_PLANT, "NAME", ASSETS_F_NAME},
    {ASSETS_PLANT, "LOCATION", ASSETS_F_LOCATION},
    {ASSETS_SHOP, "NAME", ASSETS_F_NAME},
    {ASSETS_SHOP, "PROCESS", ASSETS_F_PROCESS},
    {ASSETS_DETAIL, "PROVIDER", ASSETS_F_PROVIDER},
    {ASSETS_DETAIL, "PART_NUMBER", ASSETS_F_PART_NUMBER},
    {ASSETS_DETAIL, "MODEL_NUMBER", ASSETS_F_MODEL_NUMBER},
    {ASSETS_DETAIL, "SERIAL_NUMBER", ASSETS_F_SERIAL_NUMBER},
    {ASSETS_DETAIL, "PURCHASE_DATE", ASSETS_F_PURCHASE_DATE},
    {ASSETS_FEED, "NAME", ASSETS_F_NAME},
    {ASSETS_FEED, "UNIT", ASSETS_F_UNIT},
    {ASSETS_FEED, "UPPER_LIMIT", ASSETS_F_UPPER_LIMIT},
    {ASSETS_FEED, "LOWER_LIMIT", ASSETS_F_LOWER_LIMIT},
};

static assets_field assets_key_field(assets_kind kind, const char *norm)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(assets_keys); i++)
        if (assets_keys[i].kind == kind && strcmp(assets_keys[i].key, norm) == 0)
            return assets_keys[i].field;
    return ASSETS_F_ATTR;
}

/* A file being read. */
typedef struct assets_file {
    const char *path; /* pooled */
    size_t order;     /* position in m->files */
    assets_kind kind;
    size_t ncols;
    size_t col[6]; /* position in the row of each canonical column */
} assets_file;

/* Recognises a header: the format whose column names equal the header's, in any order.
 * Returns 1 and fills f->kind and f->col, or 0. */
static int assets_recognise(assets_state *s, const csvin_row *row, assets_file *f)
{
    if (row->error || !utf8_valid(row->raw, row->raw_len)) return 0;
    for (int k = 0; k < ASSETS_NKINDS; k++) {
        const assets_format *fm = &assets_formats[k];
        if (row->nfields != fm->ncols) continue;
        int used[6] = {0};
        size_t matched = 0;
        for (size_t i = 0; i < row->nfields; i++) {
            const char *name = assets_norm(s, assets_trim(row->fields[i].p, row->fields[i].len));
            for (size_t c = 0; c < fm->ncols; c++) {
                if (!used[c] && strcmp(name, fm->cols[c]) == 0) {
                    used[c] = 1;
                    f->col[c] = i;
                    matched++;
                    break;
                }
            }
        }
        if (matched == fm->ncols) {
            f->kind = (assets_kind)k;
            f->ncols = fm->ncols;
            return 1;
        }
    }
    return 0;
}

static assets_span assets_col(const assets_file *f, const csvin_row *row, size_t c)
{
    const csvin_field *fl = &row->fields[f->col[c]];
    return assets_trim(fl->p, fl->len);
}

/* ---------------------------------------------------------------------------------------
 * Defects.
 * --------------------------------------------------------------------------------------- */

static void assets_vdefect(assets_model *m, assets_defect_kind kind, const char *file, size_t order,
                           uint64_t line, const char *raw, size_t rawlen, const char *fmt,
                           va_list ap)
{
    assets_state *s = m->st;
    ASSETS_GROW(m->defects, m->ndefects, s->defects_cap);
    assets_defect *d = &m->defects[m->ndefects++];
    d->kind = kind;
    d->file = file;
    d->line = line;
    d->order = order;
    d->seq = s->seq++;
    const char *msg = assets_vprintf(s, fmt, ap);
    d->message = assets_clean(s, msg, strlen(msg), SIZE_MAX, 1);
    d->raw = raw ? assets_clean(s, raw, rawlen, ASSETS_RAW_MAX, 0) : NULL;
}

/* A defect about a whole file or the directory (no line, not recorded). */
static void assets_note(assets_model *m, assets_defect_kind kind, const char *file, size_t order,
                        uint64_t line, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void assets_note(assets_model *m, assets_defect_kind kind, const char *file, size_t order,
                        uint64_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    assets_vdefect(m, kind, file, order, line, NULL, 0, fmt, ap);
    va_end(ap);
}

/* A defect about a row that was rejected or not fully applied: recorded with its line. */
static void assets_reject(assets_model *m, const assets_file *f, const csvin_row *row,
                          assets_defect_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void assets_reject(assets_model *m, const assets_file *f, const csvin_row *row,
                          assets_defect_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    assets_vdefect(m, kind, f->path, f->order, row->line_no, row->raw, row->raw_len, fmt, ap);
    va_end(ap);
}

/* A defect about a row that was applied as far as the data allows (not recorded). */
static void assets_warn(assets_model *m, size_t order, uint64_t line, assets_defect_kind kind,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void assets_warn(assets_model *m, size_t order, uint64_t line, assets_defect_kind kind,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    assets_vdefect(m, kind, m->files[order], order, line, NULL, 0, fmt, ap);
    va_end(ap);
}

/* Parses a row's id column; on failure rejects the row and returns 0. */
static int assets_row_id(assets_model *m, const assets_file *f, const csvin_row *row, size_t c,
                         int32_t *id)
{
    assets_span a = assets_col(f, row, c);
    if (assets_parse_id(a, id)) return 1;
    const char *col = assets_formats[f->kind].cols[c];
    if (a.len == 0)
        assets_reject(m, f, row, ASSETS_D_ID, "empty %s: row rejected", col);
    else
        assets_reject(m, f, row, ASSETS_D_ID,
                      "%s '%s' is not an id (a whole number from 1 to 2147483647): row rejected",
                      col, assets_show(m->st, a));
    return 0;
}

/* Parses an optional reference column: empty is 0 (none). On failure rejects the row and
 * returns 0. */
static int assets_row_ref(assets_model *m, const assets_file *f, const csvin_row *row, size_t c,
                          int32_t *id)
{
    *id = 0;
    if (assets_col(f, row, c).len == 0) return 1;
    return assets_row_id(m, f, row, c, id);
}

/* Looks up or registers a row identity. Returns NULL if new (recording line and values), or
 * the earlier row's record. */
static const assets_seen *assets_seen_check(assets_state *s, uint64_t line, const char *cmp,
                                            const char *value)
{
    const size_t *at = assets_map_get(&s->seen, s->scratch.data, s->scratch.len);
    if (at) return &s->seens[*at];
    ASSETS_GROW(s->seens, s->nseens, s->seens_cap);
    s->seens[s->nseens] = (assets_seen){line, cmp, value};
    assets_map_put(s, &s->seen, s->scratch.data, s->scratch.len, s->nseens);
    s->nseens++;
    return NULL;
}

/* Starts a row identity in s->scratch: the format and the id. */
static void assets_identity(assets_state *s, assets_kind kind, int32_t id)
{
    buf_reset(&s->scratch);
    uint8_t k = (uint8_t)kind;
    buf_append(&s->scratch, &k, 1);
    buf_append(&s->scratch, &id, sizeof id);
}

/* ---------------------------------------------------------------------------------------
 * Records.
 * --------------------------------------------------------------------------------------- */

static void assets_attr_add(assets_attrs *a, const char *key, const char *value)
{
    ASSETS_GROW(a->v, a->n, a->cap);
    a->v[a->n++] = (assets_attr){key, value};
}

const char *assets_attr_get(const assets_attrs *attrs, const char *key)
{
    for (size_t i = 0; i < attrs->n; i++)
        if (strcmp(attrs->v[i].key, key) == 0) return attrs->v[i].value;
    return NULL;
}

/* The position of record id of an ID,KEY,VALUE format, created if new. */
static size_t assets_kv_record(assets_model *m, assets_kind kind, int32_t id, size_t file,
                               uint64_t line)
{
    assets_state *s = m->st;
    assets_table t = kind == ASSETS_PLANT    ? ASSETS_T_PLANT
                     : kind == ASSETS_SHOP   ? ASSETS_T_SHOP
                     : kind == ASSETS_DETAIL ? ASSETS_T_DETAIL
                                             : ASSETS_T_FEED;
    const size_t *at = assets_index_get(m, t, id);
    if (at) return *at;
    size_t pos;
    switch (kind) {
    case ASSETS_PLANT:
        ASSETS_GROW(m->plants, m->nplants, s->plants_cap);
        pos = m->nplants++;
        m->plants[pos] = (assets_plant){.plant_id = id, .file = file, .line = line};
        break;
    case ASSETS_SHOP:
        ASSETS_GROW(m->shops, m->nshops, s->shops_cap);
        pos = m->nshops++;
        m->shops[pos] = (assets_shop){.shop_id = id, .file = file, .line = line};
        break;
    case ASSETS_DETAIL:
        ASSETS_GROW(m->details, m->ndetails, s->details_cap);
        pos = m->ndetails++;
        m->details[pos] = (assets_detail){.detail_id = id, .file = file, .line = line};
        break;
    default:
        ASSETS_GROW(m->feeds, m->nfeeds, s->feeds_cap);
        pos = m->nfeeds++;
        m->feeds[pos] = (assets_feed){.feed_id = id, .file = file, .line = line};
        break;
    }
    assets_map_put(s, &s->index[t], &id, sizeof id, pos);
    return pos;
}

/* A row of an ID,KEY,VALUE format (plant, shop, part details, feed). */
static void assets_kv_row(assets_model *m, const assets_file *f, const csvin_row *row)
{
    assets_state *s = m->st;
    const char *what = assets_formats[f->kind].what;
    int32_t id, plant = 0;
    if (!assets_row_id(m, f, row, ASSETS_C_ID, &id)) return;
    assets_span key = assets_col(f, row, ASSETS_C_KEY);
    assets_span val = assets_col(f, row, ASSETS_C_VALUE);
    if (key.len == 0) {
        assets_reject(m, f, row, ASSETS_D_VALUE, "%s %d: empty KEY: row rejected", what, id);
        return;
    }
    if (val.len == 0) {
        assets_reject(m, f, row, ASSETS_D_VALUE, "%s %d: empty VALUE for %s: row rejected", what,
                      id, assets_show(s, key));
        return;
    }
    if (f->kind == ASSETS_SHOP && !assets_row_ref(m, f, row, ASSETS_C_SHOP_PLANT, &plant)) return;

    const char *norm = assets_norm(s, key);
    assets_field field = assets_key_field(f->kind, norm);
    const char *value = assets_strndup(s, val.p, val.len);
    const char *cmp = value; /* what duplicates are compared on */
    double num = 0;
    if (field == ASSETS_F_PURCHASE_DATE) {
        char iso[32];
        if (!assets_parse_date(val, iso)) {
            assets_reject(m, f, row, ASSETS_D_VALUE,
                          "%s %d: %s '%s' is not a date (m/d/yyyy): row rejected", what, id,
                          assets_show(s, key), assets_show(s, val));
            return;
        }
        cmp = value = assets_strndup(s, iso, 10);
    } else if (field == ASSETS_F_UPPER_LIMIT || field == ASSETS_F_LOWER_LIMIT) {
        int rc = numparse_double(val.p, val.len, &num);
        if (rc != NUMPARSE_OK) {
            assets_reject(m, f, row, ASSETS_D_VALUE, "%s %d: %s '%s': %s: row rejected", what, id,
                          assets_show(s, key), assets_show(s, val), numparse_strerror(rc));
            return;
        }
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.17g", num);
        cmp = assets_strndup(s, tmp, strlen(tmp));
    }

    /* A shop's plant is set by its first row that names one; a row naming another conflicts
     * and is not applied (its KEY/VALUE would otherwise describe a different shop). */
    if (f->kind == ASSETS_SHOP && plant) {
        const size_t *at = assets_index_get(m, ASSETS_T_SHOP, id);
        const assets_shop *sh = at ? &m->shops[*at] : NULL;
        if (sh && sh->plant_id && sh->plant_id != plant) {
            assets_reject(m, f, row, ASSETS_D_PARENT,
                          "shop %d is in plant %d (line %llu) but this row names plant %d: "
                          "conflicting parent, the first row wins, row not applied",
                          id, (int)sh->plant_id, (unsigned long long)sh->plant_line, (int)plant);
            return;
        }
    }

    /* Row identity: the id and key; each PROCESS value is its own identity (they are a
     * list, so a repeat of the same value is a duplicate and different values are not). */
    assets_identity(s, f->kind, id);
    buf_puts(&s->scratch, norm);
    if (field == ASSETS_F_PROCESS) {
        buf_append(&s->scratch, "\x1f", 1);
        buf_puts(&s->scratch, value);
    }
    const assets_seen *was = assets_seen_check(s, row->line_no, cmp, value);
    if (was) {
        if (strcmp(was->cmp, cmp) == 0)
            assets_reject(m, f, row, ASSETS_D_DUPLICATE,
                          "%s %d: %s '%s' repeats line %llu: duplicate row ignored", what, id,
                          assets_show(s, key), assets_show(s, val), (unsigned long long)was->line);
        else
            assets_reject(m, f, row, ASSETS_D_CONFLICT,
                          "%s %d: %s is '%s' on line %llu but '%s' here: duplicate key, the "
                          "first value is kept, row not applied",
                          what, id, assets_show(s, key),
                          assets_show(s, (assets_span){was->value, strlen(was->value)}),
                          (unsigned long long)was->line, assets_show(s, val));
        return;
    }

    size_t pos = assets_kv_record(m, f->kind, id, f->order, row->line_no);
    const char *attr_key = field == ASSETS_F_ATTR ? assets_strndup(s, key.p, key.len) : NULL;
    switch (f->kind) {
    case ASSETS_PLANT: {
        assets_plant *p = &m->plants[pos];
        if (field == ASSETS_F_NAME)
            p->name = value;
        else if (field == ASSETS_F_LOCATION)
            p->location = value;
        else
            assets_attr_add(&p->attrs, attr_key, value);
        break;
    }
    case ASSETS_SHOP: {
        assets_shop *sh = &m->shops[pos];
        if (plant && !sh->plant_id) {
            sh->plant_id = plant;
            sh->plant_line = row->line_no;
        }
        if (field == ASSETS_F_NAME) {
            sh->name = value;
        } else if (field == ASSETS_F_PROCESS) {
            ASSETS_GROW(sh->processes, sh->nprocesses, sh->processes_cap);
            sh->processes[sh->nprocesses++] = value;
        } else {
            assets_attr_add(&sh->attrs, attr_key, value);
        }
        break;
    }
    case ASSETS_DETAIL: {
        assets_detail *d = &m->details[pos];
        switch (field) {
        case ASSETS_F_PROVIDER:
            d->provider = value;
            break;
        case ASSETS_F_PART_NUMBER:
            d->part_number = value;
            break;
        case ASSETS_F_MODEL_NUMBER:
            d->model_number = value;
            break;
        case ASSETS_F_SERIAL_NUMBER:
            d->serial_number = value;
            break;
        case ASSETS_F_PURCHASE_DATE:
            d->purchase_date = value;
            break;
        default:
            assets_attr_add(&d->attrs, attr_key, value);
            break;
        }
        break;
    }
    default: {
        assets_feed *fd = &m->feeds[pos];
        switch (field) {
        case ASSETS_F_NAME:
            fd->name = value;
            break;
        case ASSETS_F_UNIT:
            fd->unit = value;
            break;
        case ASSETS_F_UPPER_LIMIT:
            fd->upper = num;
            fd->has_upper = 1;
            break;
        case ASSETS_F_LOWER_LIMIT:
            fd->lower = num;
            fd->has_lower = 1;
            break;
        default:
            assets_attr_add(&fd->attrs, attr_key, value);
            break;
        }
        break;
    }
    }
}

/* For the rows of one-row-per-id formats: rejects a repeat of an earlier row's id. The
 * identity is the id; the compared value is every other column, trimmed. Returns 1 if the
 * row is new. */
static int assets_flat_first(assets_model *m, const assets_file *f, const csvin_row *row,
                             int32_t id, const char *label)
{
    assets_state *s = m->st;
    buf sig = {0};
    for (size_t c = 1; c < f->ncols; c++) {
        assets_span a = assets_col(f, row, c);
        buf_append(&sig, "\x1f", 1);
        buf_append(&sig, a.p, a.len);
    }
    const char *cmp = assets_strndup(s, (const char *)sig.data, sig.len);
    buf_free(&sig);
    assets_identity(s, f->kind, id);
    const assets_seen *was = assets_seen_check(s, row->line_no, cmp, NULL);
    if (!was) return 1;
    if (strcmp(was->cmp, cmp) == 0)
        assets_reject(m, f, row, ASSETS_D_DUPLICATE,
                      "%s %d repeats line %llu: duplicate row ignored", label, id,
                      (unsigned long long)was->line);
    else
        assets_reject(m, f, row, ASSETS_D_CONFLICT,
                      "%s %d is already defined on line %llu with other values: duplicate id, the "
                      "first row is kept, row not applied",
                      label, id, (unsigned long long)was->line);
    return 0;
}

/* The value of a column, pooled, or NULL when empty. */
static const char *assets_col_str(assets_model *m, const assets_file *f, const csvin_row *row,
                                  size_t c)
{
    assets_span a = assets_col(f, row, c);
    return a.len ? assets_strndup(m->st, a.p, a.len) : NULL;
}

static void assets_equipment_row(assets_model *m, const assets_file *f, const csvin_row *row)
{
    assets_state *s = m->st;
    int32_t id, detail, shop;
    if (!assets_row_id(m, f, row, ASSETS_C_ID, &id)) return;
    assets_span cls = assets_col(f, row, ASSETS_C_CLASS);
    int robot = assets_eq_ci(cls, "Robot");
    if (!robot && !assets_eq_ci(cls, "Controller")) {
        assets_reject(m, f, row, ASSETS_D_CLASS,
                      "TYPE_ID %d: unknown TYPE_CLASS '%s' (expected Robot or Controller): row "
                      "rejected",
                      id, assets_show(s, cls));
        return;
    }
    if (!assets_row_ref(m, f, row, ASSETS_C_EQ_DETAIL, &detail) ||
        !assets_row_ref(m, f, row, ASSETS_C_EQ_SHOP, &shop))
        return;
    if (!assets_flat_first(m, f, row, id, "TYPE_ID")) return;

    const char *what = robot ? "robot" : "controller";
    const char *ip = assets_col_str(m, f, row, ASSETS_C_IP);
    if (ip && !assets_is_ip(ip)) {
        assets_reject(m, f, row, ASSETS_D_VALUE,
                      "%s %d: IP_ADDRESS '%s' is not an IP address: stored NULL, the rest of the "
                      "row loaded",
                      what, id, assets_show(s, assets_col(f, row, ASSETS_C_IP)));
        ip = NULL;
    }
    const char *name = assets_col_str(m, f, row, ASSETS_C_INSTANCE);
    if (!name)
        assets_warn(m, f->order, row->line_no, ASSETS_D_NO_NAME,
                    "%s %d has an empty TYPE_INSTANCE: loaded with name NULL", what, id);
    assets_equipment e = {id, name, ip, detail, shop, f->order, row->line_no};
    if (robot) {
        ASSETS_GROW(m->robots, m->nrobots, s->robots_cap);
        m->robots[m->nrobots] = e;
        assets_map_put(s, &s->index[ASSETS_T_ROBOT], &id, sizeof id, m->nrobots++);
    } else {
        ASSETS_GROW(m->controllers, m->ncontrollers, s->controllers_cap);
        m->controllers[m->ncontrollers] = e;
        assets_map_put(s, &s->index[ASSETS_T_CONTROLLER], &id, sizeof id, m->ncontrollers++);
    }
}

static void assets_part_row(assets_model *m, const assets_file *f, const csvin_row *row)
{
    assets_state *s = m->st;
    int32_t id, detail;
    if (!assets_row_id(m, f, row, ASSETS_C_ID, &id)) return;
    const char *kind = assets_col_str(m, f, row, ASSETS_C_TYPE);
    if (!kind) {
        assets_reject(m, f, row, ASSETS_D_VALUE, "part %d: empty TYPE: row rejected", id);
        return;
    }
    if (!assets_row_ref(m, f, row, ASSETS_C_PART_DETAIL, &detail)) return;
    if (!assets_flat_first(m, f, row, id, "part")) return;
    const char *comment = assets_col_str(m, f, row, ASSETS_C_COMMENTS);
    int axis = 0;
    if (assets_eq_ci((assets_span){kind, strlen(kind)}, "Joint")) {
        axis = assets_joint_axis(comment);
        if (!axis)
            assets_warn(m, f->order, row->line_no, ASSETS_D_NO_AXIS,
                        "part %d is a Joint but COMMENTS '%s' give no joint number 1-14 "
                        "('Joint N'): loaded with axis NULL",
                        id, comment ? assets_show(s, (assets_span){comment, strlen(comment)}) : "");
    }
    ASSETS_GROW(m->parts, m->nparts, s->parts_cap);
    m->parts[m->nparts] = (assets_part){id, kind, comment, axis, detail, f->order, row->line_no};
    assets_map_put(s, &s->index[ASSETS_T_PART], &id, sizeof id, m->nparts++);
}

static void assets_source_row(assets_model *m, const assets_file *f, const csvin_row *row)
{
    assets_state *s = m->st;
    int32_t id, plant, shop;
    if (!assets_row_id(m, f, row, ASSETS_C_ID, &id)) return;
    if (!assets_row_ref(m, f, row, ASSETS_C_SRC_PLANT, &plant) ||
        !assets_row_ref(m, f, row, ASSETS_C_SRC_SHOP, &shop))
        return;
    if (!assets_flat_first(m, f, row, id, "data source")) return;
    const char *name = assets_col_str(m, f, row, ASSETS_C_NAME);
    if (!name)
        assets_warn(m, f->order, row->line_no, ASSETS_D_NO_NAME,
                    "data source %d has an empty NAME: loaded with name NULL", id);
    ASSETS_GROW(m->sources, m->nsources, s->sources_cap);
    m->sources[m->nsources] = (assets_source){id, name, plant, shop, f->order, row->line_no};
    assets_map_put(s, &s->index[ASSETS_T_SOURCE], &id, sizeof id, m->nsources++);
}

/* ---------------------------------------------------------------------------------------
 * Reading.
 * --------------------------------------------------------------------------------------- */

assets_model *assets_model_new(void)
{
    assets_model *m = xcalloc(1, sizeof *m);
    m->st = xcalloc(1, sizeof *m->st);
    return m;
}

static void assets_attrs_free(assets_attrs *a)
{
    free(a->v);
}

void assets_model_free(assets_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nplants; i++)
        assets_attrs_free(&m->plants[i].attrs);
    for (size_t i = 0; i < m->nshops; i++) {
        assets_attrs_free(&m->shops[i].attrs);
        free(m->shops[i].processes);
    }
    for (size_t i = 0; i < m->ndetails; i++)
        assets_attrs_free(&m->details[i].attrs);
    for (size_t i = 0; i < m->nfeeds; i++)
        assets_attrs_free(&m->feeds[i].attrs);
    free(m->plants);
    free(m->shops);
    free(m->details);
    free(m->robots);
    free(m->controllers);
    free(m->parts);
    free(m->sources);
    free(m->feeds);
    free(m->placeholder_plants);
    free(m->placeholder_shops);
    free(m->placeholder_details);
    free(m->defects);
    free(m->files);
    assets_state *s = m->st;
    for (int t = 0; t < ASSETS_T_N; t++)
        free(s->index[t].slots);
    for (int t = 0; t < 3; t++)
        free(s->placeholders[t].slots);
    free(s->seen.slots);
    free(s->seens);
    buf_free(&s->scratch);
    buf_free(&s->clean);
    while (s->pool) {
        assets_chunk *next = s->pool->next;
        free(s->pool);
        s->pool = next;
    }
    free(s);
    free(m);
}

static const char *assets_basename(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Reads the rows of a recognised file. Returns 0 or -1 (I/O error or over the bound). */
static int assets_read_rows(assets_model *m, csvin *in, assets_file *f, uint64_t header_line,
                            char *err, size_t errlen)
{
    csvin_row row;
    uint64_t nrows = 0;
    for (;;) {
        int got = csvin_next(in, &row, -1, err, errlen);
        if (got == CSVIN_IOERR) return -1;
        if (got == CSVIN_EOF) break;
        if (csvin_bytes_read(in) > ASSETS_MAX_FILE)
            return util_err(err, errlen, "grew beyond %u bytes while being read", ASSETS_MAX_FILE);
        nrows++;
        if (row.error) {
            assets_reject(m, f, &row, ASSETS_D_SYNTAX, "%s: row rejected", row.error);
        } else if (!utf8_valid(row.raw, row.raw_len)) {
            assets_reject(m, f, &row, ASSETS_D_SYNTAX,
                          "not valid UTF-8 text (or holds a NUL byte): row rejected");
        } else if (row.nfields != f->ncols) {
            assets_reject(m, f, &row, ASSETS_D_FIELDS,
                          "%zu field%s where the header has %zu: row rejected", row.nfields,
                          row.nfields == 1 ? "" : "s", f->ncols);
        } else {
            switch (f->kind) {
            case ASSETS_EQUIPMENT:
                assets_equipment_row(m, f, &row);
                break;
            case ASSETS_PART:
                assets_part_row(m, f, &row);
                break;
            case ASSETS_SOURCE:
                assets_source_row(m, f, &row);
                break;
            default:
                assets_kv_row(m, f, &row);
                break;
            }
        }
    }
    if (nrows == 0)
        assets_note(m, ASSETS_D_EMPTY, f->path, f->order, header_line,
                    "%s file with a header but no data rows: nothing loaded from it",
                    assets_formats[f->kind].label);
    return 0;
}

int assets_read_file(assets_model *m, const char *path, char *err, size_t errlen)
{
    assets_state *s = m->st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return util_err(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        util_err(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return util_err(err, errlen, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > ASSETS_MAX_FILE) {
        close(fd);
        return util_err(err, errlen,
                        "%s: %lld bytes: an asset file may have at most %u bytes (16 MiB)", path,
                        (long long)st.st_size, ASSETS_MAX_FILE);
    }

    assets_file f = {.path = assets_strndup(s, path, strlen(path)), .order = m->nfiles};
    ASSETS_GROW(m->files, m->nfiles, s->files_cap);
    m->files[m->nfiles++] = f.path;

    csvin *in = csvin_new(fd, 0);
    csvin_row row;
    int rc = 0;
    int got = csvin_next(in, &row, -1, err, errlen);
    if (got == CSVIN_IOERR) {
        rc = -1;
    } else if (got == CSVIN_EOF) {
        assets_note(m, ASSETS_D_EMPTY, f.path, f.order, 0, "empty file (no header line): skipped");
    } else if (!assets_recognise(s, &row, &f)) {
        assets_reject(m, &f, &row, ASSETS_D_HEADER,
                      "unrecognised header '%s' (no asset file format has these columns, see "
                      "docs/assets.md): file skipped",
                      assets_clean(s, row.raw, row.raw_len, ASSETS_SHOW_MAX * 2, 1));
    } else {
        if (s->kind_files[f.kind]++ == 0) s->kind_first[f.kind] = assets_basename(f.path);
        rc = assets_read_rows(m, in, &f, row.line_no, err, errlen);
    }
    if (rc != 0) {
        /* Prefix the file name to csvin's or our message. */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        util_err(err, errlen, "%s: %s", path, tmp);
    }
    csvin_free(in);
    close(fd);
    return rc;
}

static int assets_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int assets_has_csv_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && assets_eq_ci((assets_span){name + n - 4, 4}, ".csv");
}

int assets_read_dir(assets_model *m, const char *dir, char *err, size_t errlen)
{
    assets_state *s = m->st;
    /* The directory as given, without trailing slashes (for tidy file names). */
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    const char *d = assets_strndup(s, dir, dlen);

    DIR *dh = opendir(d);
    if (!dh) return util_err(err, errlen, "%s: %s", d, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.') continue; /* ".", "..", hidden files */
        ASSETS_GROW(names, n, cap);
        names[n++] = xstrdup(de->d_name);
    }
    closedir(dh);
    if (n) qsort(names, n, sizeof *names, assets_cmp_names);

    int rc = 0;
    size_t ncsv = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *path = assets_join_path(s, d, names[i]);
        struct stat st;
        if (stat(path, &st) != 0) {
            rc = util_err(err, errlen, "%s: %s", path, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            /* subdirectories are not looked into */
        } else if (!assets_has_csv_suffix(names[i])) {
            assets_note(m, ASSETS_D_NOT_CSV, path, ASSETS_DIR_ORDER, 0, "not a .csv file: ignored");
        } else if (!S_ISREG(st.st_mode)) {
            assets_note(m, ASSETS_D_NOT_CSV, path, ASSETS_DIR_ORDER, 0,
                        "not a regular file: ignored");
        } else {
            ncsv++;
            rc = assets_read_file(m, path, err, errlen);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc != 0) return -1;
    if (ncsv == 0) return util_err(err, errlen, "%s: no .csv files in this directory", d);

    for (int k = 0; k < ASSETS_NKINDS; k++) {
        if (s->kind_files[k]) continue;
        static const char *const tables[ASSETS_NKINDS] = {
            [ASSETS_PLANT] = "table plant is not loaded; references to plants become placeholders",
            [ASSETS_SHOP] = "table shop is not loaded; references to shops become placeholders",
            [ASSETS_DETAIL] = "table asset_detail is not loaded; references to details become "
                              "placeholders",
            [ASSETS_EQUIPMENT] = "tables robot and controller are not loaded",
            [ASSETS_PART] = "table part is not loaded",
            [ASSETS_SOURCE] = "table data_source is not loaded",
            [ASSETS_FEED] = "table feed is not loaded",
        };
        const assets_format *fm = &assets_formats[k];
        buf_reset(&s->clean);
        for (size_t c = 0; c < fm->ncols; c++) {
            if (c) buf_puts(&s->clean, ",");
            buf_puts(&s->clean, fm->cols[c]);
        }
        buf_append(&s->clean, "", 1);
        assets_note(m, ASSETS_D_MISSING, d, ASSETS_DIR_ORDER, 0,
                    "no %s file (header %s) in this directory: %s", fm->label,
                    assets_strndup(s, (const char *)s->clean.data, s->clean.len - 1), tables[k]);
    }
    assets_resolve(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Resolving references between files.
 * --------------------------------------------------------------------------------------- */

static const char *assets_printf(assets_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *assets_printf(assets_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *p = assets_vprintf(s, fmt, ap);
    va_end(ap);
    return p;
}

/* The tables that can hold placeholders, and what defines their records. */
typedef struct assets_target {
    assets_table table;
    assets_kind kind; /* the format that defines them */
    int slot;         /* index of assets_state.placeholders */
} assets_target;

static const assets_target assets_target_plant = {ASSETS_T_PLANT, ASSETS_PLANT, 0};
static const assets_target assets_target_shop = {ASSETS_T_SHOP, ASSETS_SHOP, 1};
static const assets_target assets_target_detail = {ASSETS_T_DETAIL, ASSETS_DETAIL, 2};

/* Checks a reference; one to an id no file defines is reported and gets a placeholder. */
static void assets_check_ref(assets_model *m, size_t order, uint64_t line, const char *who,
                             int32_t who_id, const assets_target *t, int32_t ref)
{
    assets_state *s = m->st;
    if (!ref || assets_index_get(m, t->table, ref)) return;
    const char *what = assets_formats[t->kind].what;
    const char *why =
        s->kind_files[t->kind] == 0
            ? assets_printf(s, "and no %s file was read", assets_formats[t->kind].label)
        : s->kind_files[t->kind] == 1
            ? assets_printf(s, "which %s does not define", s->kind_first[t->kind])
            : assets_printf(s, "which no %s file defines", assets_formats[t->kind].label);
    assets_warn(m, order, line, ASSETS_D_UNDEFINED,
                "%s %d refers to %s %d, %s: reference kept, %s %d stored as a placeholder "
                "(unless already stored)",
                who, who_id, what, ref, why, what, ref);
    assets_map_put(s, &s->placeholders[t->slot], &ref, sizeof ref, 0);
}

static int assets_cmp_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The ids of a placeholder map, ascending. */
static int32_t *assets_placeholder_ids(const assets_map *map, size_t *n)
{
    int32_t *ids = xmalloc(sizeof *ids * (map->n ? map->n : 1));
    size_t k = 0;
    for (size_t i = 0; i < map->cap; i++)
        if (map->slots[i].key) memcpy(&ids[k++], map->slots[i].key, sizeof *ids);
    qsort(ids, k, sizeof *ids, assets_cmp_id);
    *n = k;
    return ids;
}

static int assets_cmp_defects(const void *a, const void *b)
{
    const assets_defect *x = a, *y = b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

void assets_resolve(assets_model *m)
{
    assets_state *s = m->st;
    if (s->resolved) return;
    s->resolved = 1;
    for (size_t i = 0; i < m->nplants; i++) {
        const assets_plant *p = &m->plants[i];
        if (!p->name)
            assets_warn(m, p->file, p->line, ASSETS_D_NO_NAME,
                        "plant %d has no NAME row: loaded with name NULL", p->plant_id);
    }
    for (size_t i = 0; i < m->nshops; i++) {
        const assets_shop *sh = &m->shops[i];
        if (!sh->name)
            assets_warn(m, sh->file, sh->line, ASSETS_D_NO_NAME,
                        "shop %d has no NAME row: loaded with name NULL", sh->shop_id);
        if (!sh->plant_id)
            assets_warn(m, sh->file, sh->line, ASSETS_D_NO_PARENT,
                        "shop %d: no row names its PLANT_ID: loaded with plant_id NULL",
                        sh->shop_id);
        assets_check_ref(m, sh->file, sh->plant_line, "shop", sh->shop_id, &assets_target_plant,
                         sh->plant_id);
    }
    for (size_t i = 0; i < m->nfeeds; i++) {
        const assets_feed *f = &m->feeds[i];
        if (!f->name)
            assets_warn(m, f->file, f->line, ASSETS_D_NO_NAME,
                        "feed %d has no NAME row: loaded with name NULL", f->feed_id);
    }
    for (int c = 0; c < 2; c++) {
        const assets_equipment *eq = c ? m->controllers : m->robots;
        size_t n = c ? m->ncontrollers : m->nrobots;
        const char *who = c ? "controller" : "robot";
        for (size_t i = 0; i < n; i++) {
            assets_check_ref(m, eq[i].file, eq[i].line, who, eq[i].id, &assets_target_shop,
                             eq[i].shop_id);
            assets_check_ref(m, eq[i].file, eq[i].line, who, eq[i].id, &assets_target_detail,
                             eq[i].detail_id);
        }
    }
    for (size_t i = 0; i < m->nparts; i++) {
        const assets_part *p = &m->parts[i];
        assets_check_ref(m, p->file, p->line, "part", p->part_id, &assets_target_detail,
                         p->detail_id);
    }
    for (size_t i = 0; i < m->nsources; i++) {
        const assets_source *src = &m->sources[i];
        assets_check_ref(m, src->file, src->line, "data source", src->source_id,
                         &assets_target_plant, src->plant_id);
        assets_check_ref(m, src->file, src->line, "data source", src->source_id,
                         &assets_target_shop, src->shop_id);
        const assets_shop *sh = src->shop_id ? assets_find_shop(m, src->shop_id) : NULL;
        if (sh && src->plant_id && sh->plant_id && sh->plant_id != src->plant_id)
            assets_warn(m, src->file, src->line, ASSETS_D_MISMATCH,
                        "data source %d names plant %d and shop %d, but shop %d is in plant %d: "
                        "stored as given",
                        src->source_id, src->plant_id, src->shop_id, src->shop_id, sh->plant_id);
    }
    m->placeholder_plants = assets_placeholder_ids(&s->placeholders[0], &m->nplaceholder_plants);
    m->placeholder_shops = assets_placeholder_ids(&s->placeholders[1], &m->nplaceholder_shops);
    m->placeholder_details = assets_placeholder_ids(&s->placeholders[2], &m->nplaceholder_details);
    if (m->ndefects) qsort(m->defects, m->ndefects, sizeof *m->defects, assets_cmp_defects);
}

/* ---------------------------------------------------------------------------------------
 * Lookups and reporting.
 * --------------------------------------------------------------------------------------- */

#define ASSETS_FIND(fn, type, table, arr)                                                          \
    const type *fn(const assets_model *m, int32_t id)                                              \
    {                                                                                              \
        const size_t *at = assets_index_get(m, table, id);                                         \
        return at ? &m->arr[*at] : NULL;                                                           \
    }

ASSETS_FIND(assets_find_plant, assets_plant, ASSETS_T_PLANT, plants)
ASSETS_FIND(assets_find_shop, assets_shop, ASSETS_T_SHOP, shops)
ASSETS_FIND(assets_find_detail, assets_detail, ASSETS_T_DETAIL, details)
ASSETS_FIND(assets_find_robot, assets_equipment, ASSETS_T_ROBOT, robots)
ASSETS_FIND(assets_find_controller, assets_equipment, ASSETS_T_CONTROLLER, controllers)
ASSETS_FIND(assets_find_part, assets_part, ASSETS_T_PART, parts)
ASSETS_FIND(assets_find_source, assets_source, ASSETS_T_SOURCE, sources)
ASSETS_FIND(assets_find_feed, assets_feed, ASSETS_T_FEED, feeds)

size_t assets_count_recorded(const assets_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ndefects; i++)
        n += m->defects[i].raw != NULL;
    return n;
}

void assets_print_defects(const assets_model *m, FILE *out)
{
    for (size_t i = 0; i < m->ndefects; i++) {
        const assets_defect *d = &m->defects[i];
        if (d->line)
            fprintf(out, "%s:%llu: %s\n", d->file, (unsigned long long)d->line, d->message);
        else
            fprintf(out, "%s: %s\n", d->file, d->message);
    }
}

/* ---------------------------------------------------------------------------------------
 * Writing. Each table is one statement over arrays (unnest), so the number of round trips
 * does not grow with the files; arrays travel in PostgreSQL's text array syntax.
 * --------------------------------------------------------------------------------------- */

/* An id or reference: 0 (none) is NULL. */
static void assets_arr_ref(pgarray *a, int64_t v)
{
    if (v)
        pgarray_int(a, v);
    else
        pgarray_null(a);
}

static void assets_arr_num(pgarray *a, int has, double v)
{
    if (has)
        pgarray_float(a, v);
    else
        pgarray_null(a);
}

/* Encodes a JSON value compactly into a reset tmp (jansson; the model's strings are valid
 * UTF-8, checked when read); returns it NUL-terminated and releases the value. */
static const char *assets_json_dump(buf *tmp, json_t *v)
{
    buf_reset(tmp);
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!text) abort(); /* only on out of memory or invalid UTF-8, both excluded */
    buf_append(tmp, text, strlen(text) + 1);
    free(text);
    return (const char *)tmp->data;
}

/* attrs as a JSON object, in file order. */
static const char *assets_json_attrs(buf *tmp, const assets_attrs *attrs)
{
    json_t *o = json_object();
    for (size_t i = 0; i < attrs->n; i++)
        json_object_set_new(o, attrs->v[i].key, json_string(attrs->v[i].value));
    return assets_json_dump(tmp, o);
}

/* Runs an upsert whose result is (rows that did not exist, rows written). */
static int assets_upsert(PGconn *conn, const char *sql, pgarray *cols, int ncols,
                         assets_table_stats *ts, char *err, size_t errlen)
{
    const char *params[8];
    for (int i = 0; i < ncols; i++)
        params[i] = pgarray_end(&cols[i]);
    PGresult *r = PQexecParams(conn, sql, ncols, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        uint64_t fresh = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        uint64_t written = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
        ts->inserted = fresh;
        ts->updated = written - fresh;
    } else {
        pgconn_result_error(r, conn, err, errlen);
    }
    PQclear(r);
    for (int i = 0; i < ncols; i++)
        pgarray_free(&cols[i]);
    return ok ? 0 : -1;
}

/* Inserts placeholder rows for ids not stored yet. */
static int assets_placeholders(PGconn *conn, const char *sql, const int32_t *ids, size_t n,
                               assets_table_stats *ts, char *err, size_t errlen)
{
    ts->placeholders = n;
    if (!n) return 0;
    pgarray a = {0};
    for (size_t i = 0; i < n; i++)
        assets_arr_ref(&a, ids[i]);
    const char *params[] = {pgarray_end(&a)};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (ok)
        ts->placeholders_new = strtoull(PQcmdTuples(r), NULL, 10);
    else
        pgconn_result_error(r, conn, err, errlen);
    PQclear(r);
    buf_free(&a.b);
    return ok ? 0 : -1;
}

/* The upserts. Every one has the same shape: `src` is the model's rows, `up` inserts them or
 * updates the stored row only when a value differs (so a re-import writes nothing), and the
 * result counts the rows that did not exist and the rows written. All parts of one statement
 * see the same snapshot, so the NOT EXISTS counts what was there before. */
#define ASSETS_UPSERT_RESULT(table, key)                                                           \
    " SELECT (SELECT count(*) FROM src WHERE NOT EXISTS (SELECT 1 FROM " table " o"                \
    " WHERE o." key " = src.id)), (SELECT count(*) FROM up)"

static const char assets_sql_plant[] =
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::jsonb[])"
    "  AS s(id, name, location, attrs)),"
    " up AS (INSERT INTO plant AS t (plant_id, name, location, attrs, placeholder)"
    "  SELECT id, name, location, attrs, false FROM src"
    "  ON CONFLICT (plant_id) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location,"
    "   attrs = EXCLUDED.attrs, placeholder = false"
    "  WHERE (t.name, t.location, t.attrs, t.placeholder) IS DISTINCT FROM"
    "   (EXCLUDED.name, EXCLUDED.location, EXCLUDED.attrs, EXCLUDED.placeholder)"
    "  RETURNING 1)" ASSETS_UPSERT_RESULT("plant", "plant_id");

static const char assets_sql_shop[] =
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[], $4::jsonb[],"
    "  $5::jsonb[]) AS s(id, plant_id, name, processes, attrs)),"
    " up AS (INSERT INTO shop AS t (shop_id, plant_id, name, processes, attrs, placeholder)"
    "  SELECT id, plant_id, name, ARRAY(SELECT e.v FROM jsonb_array_elements_text(src.processes)"
    "   WITH ORDINALITY AS e(v, i) ORDER BY e.i), attrs, false FROM src"
    "  ON CONFLICT (shop_id) DO UPDATE SET plant_id = EXCLUDED.plant_id, name = EXCLUDED.name,"
    "   processes = EXCLUDED.processes, attrs = EXCLUDED.attrs, placeholder = false"
    "  WHERE (t.plant_id, t.name, t.processes, t.attrs, t.placeholder) IS DISTINCT FROM"
    "   (EXCLUDED.plant_id, EXCLUDED.name, EXCLUDED.processes, EXCLUDED.attrs,"
    "    EXCLUDED.placeholder)"
    "  RETURNING 1)" ASSETS_UPSERT_RESULT("shop", "shop_id");

static const char assets_sql_detail[] =
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[],"
    "  $5::text[], $6::date[], $7::jsonb[])"
    "  AS s(id, provider, part_number, model_number, serial_number, purchase_date, attrs)),"
    " up AS (INSERT INTO asset_detail AS t (detail_id, provider, part_number, model_number,"
    "   serial_number, purchase_date, attrs, placeholder)"
    "  SELECT id, provider, part_number, model_number, serial_number, purchase_date, attrs,"
    "   false FROM src"
    "  ON CONFLICT (detail_id) DO UPDATE SET provider = EXCLUDED.provider,"
    "   part_number = EXCLUDED.part_number, model_number = EXCLUDED.model_number,"
    "   serial_number = EXCLUDED.serial_number, purchase_date = EXCLUDED.purchase_date,"
    "   attrs = EXCLUDED.attrs, placeholder = false"
    "  WHERE (t.provider, t.part_number, t.model_number, t.serial_number, t.purchase_date,"
    "    t.attrs, t.placeholder) IS DISTINCT FROM"
    "   (EXCLUDED.provider, EXCLUDED.part_number, EXCLUDED.model_number,"
    "    EXCLUDED.serial_number, EXCLUDED.purchase_date, EXCLUDED.attrs, EXCLUDED.placeholder)"
    "  RETURNING 1)" ASSETS_UPSERT_RESULT("asset_detail", "detail_id");

/* robot and controller: the same columns. robot.attrs and created_at are not the file's. */
#define ASSETS_SQL_EQUIPMENT(table, key)                                                           \
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::text[], $3::integer[], $4::inet[],"      \
    "  $5::integer[]) AS s(id, name, shop_id, ip_address, detail_id)),"                            \
    " up AS (INSERT INTO " table " AS t (" key ", name, shop_id, ip_address, detail_id)"           \
    "  SELECT id, name, shop_id, ip_address, detail_id FROM src"                                   \
    "  ON CONFLICT (" key ") DO UPDATE SET name = EXCLUDED.name, shop_id = EXCLUDED.shop_id,"      \
    "   ip_address = EXCLUDED.ip_address, detail_id = EXCLUDED.detail_id"                          \
    "  WHERE (t.name, t.shop_id, t.ip_address, t.detail_id) IS DISTINCT FROM"                      \
    "   (EXCLUDED.name, EXCLUDED.shop_id, EXCLUDED.ip_address, EXCLUDED.detail_id)"                \
    "  RETURNING 1)" ASSETS_UPSERT_RESULT(table, key)

static const char assets_sql_robot[] = ASSETS_SQL_EQUIPMENT("robot", "robot_id");
static const char assets_sql_controller[] = ASSETS_SQL_EQUIPMENT("controller", "controller_id");

static const char assets_sql_part[] =
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::smallint[],"
    "  $5::integer[]) AS s(id, kind, comment, axis, detail_id)),"
    " up AS (INSERT INTO part AS t (part_id, kind, comment, axis, detail_id)"
    "  SELECT id, kind, comment, axis, detail_id FROM src"
    "  ON CONFLICT (part_id) DO UPDATE SET kind = EXCLUDED.kind, comment = EXCLUDED.comment,"
    "   axis = EXCLUDED.axis, detail_id = EXCLUDED.detail_id"
    "  WHERE (t.kind, t.comment, t.axis, t.detail_id) IS DISTINCT FROM"
    "   (EXCLUDED.kind, EXCLUDED.comment, EXCLUDED.axis, EXCLUDED.detail_id)"
    "  RETURNING 1)" ASSETS_UPSERT_RESULT("part", "part_id");

static const char assets_sql_source[] =
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::text[], $3::integer[], $4::integer[])"
    "  AS s(id, name, plant_id, shop_id)),"
    " up AS (INSERT INTO data_source AS t (source_id, name, plant_id, shop_id)"
    "  SELECT id, name, plant_id, shop_id FROM src"
    "  ON CONFLICT (source_id) DO UPDATE SET name = EXCLUDED.name, plant_id = EXCLUDED.plant_id,"
    "   shop_id = EXCLUDED.shop_id"
    "  WHERE (t.name, t.plant_id, t.shop_id) IS DISTINCT FROM"
    "   (EXCLUDED.name, EXCLUDED.plant_id, EXCLUDED.shop_id)"
    "  RETURNING 1)" ASSETS_UPSERT_RESULT("data_source", "source_id");

static const char assets_sql_feed[] =
    "WITH src AS (SELECT * FROM unnest($1::integer[], $2::text[], $3::text[],"
    "  $4::double precision[], $5::double precision[], $6::jsonb[])"
    "  AS s(id, name, unit, lower_limit, upper_limit, attrs)),"
    " up AS (INSERT INTO feed AS t (feed_id, name, unit, lower_limit, upper_limit, attrs)"
    "  SELECT id, name, unit, lower_limit, upper_limit, attrs FROM src"
    "  ON CONFLICT (feed_id) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit,"
    "   lower_limit = EXCLUDED.lower_limit, upper_limit = EXCLUDED.upper_limit,"
    "   attrs = EXCLUDED.attrs"
    "  WHERE (t.name, t.unit, t.lower_limit, t.upper_limit, t.attrs) IS DISTINCT FROM"
    "   (EXCLUDED.name, EXCLUDED.unit, EXCLUDED.lower_limit, EXCLUDED.upper_limit,"
    "    EXCLUDED.attrs)"
    "  RETURNING 1)" ASSETS_UPSERT_RESULT("feed", "feed_id");

static int assets_write_plants(PGconn *conn, const assets_model *m, assets_table_stats *ts,
                               char *err, size_t errlen)
{
    if (!m->nplants) return 0;
    pgarray c[4] = {0};
    buf tmp = {0};
    for (size_t i = 0; i < m->nplants; i++) {
        const assets_plant *p = &m->plants[i];
        assets_arr_ref(&c[0], p->plant_id);
        pgarray_str(&c[1], p->name);
        pgarray_str(&c[2], p->location);
        pgarray_str(&c[3], assets_json_attrs(&tmp, &p->attrs));
    }
    buf_free(&tmp);
    return assets_upsert(conn, assets_sql_plant, c, 4, ts, err, errlen);
}

static int assets_write_shops(PGconn *conn, const assets_model *m, assets_table_stats *ts,
                              char *err, size_t errlen)
{
    if (!m->nshops) return 0;
    pgarray c[5] = {0};
    buf tmp = {0};
    for (size_t i = 0; i < m->nshops; i++) {
        const assets_shop *sh = &m->shops[i];
        assets_arr_ref(&c[0], sh->shop_id);
        assets_arr_ref(&c[1], sh->plant_id);
        pgarray_str(&c[2], sh->name);
        json_t *procs = json_array();
        for (size_t k = 0; k < sh->nprocesses; k++)
            json_array_append_new(procs, json_string(sh->processes[k]));
        pgarray_str(&c[3], assets_json_dump(&tmp, procs));
        pgarray_str(&c[4], assets_json_attrs(&tmp, &sh->attrs));
    }
    buf_free(&tmp);
    return assets_upsert(conn, assets_sql_shop, c, 5, ts, err, errlen);
}

static int assets_write_details(PGconn *conn, const assets_model *m, assets_table_stats *ts,
                                char *err, size_t errlen)
{
    if (!m->ndetails) return 0;
    pgarray c[7] = {0};
    buf tmp = {0};
    for (size_t i = 0; i < m->ndetails; i++) {
        const assets_detail *d = &m->details[i];
        assets_arr_ref(&c[0], d->detail_id);
        pgarray_str(&c[1], d->provider);
        pgarray_str(&c[2], d->part_number);
        pgarray_str(&c[3], d->model_number);
        pgarray_str(&c[4], d->serial_number);
        pgarray_str(&c[5], d->purchase_date);
        pgarray_str(&c[6], assets_json_attrs(&tmp, &d->attrs));
    }
    buf_free(&tmp);
    return assets_upsert(conn, assets_sql_detail, c, 7, ts, err, errlen);
}

static int assets_write_equipment(PGconn *conn, const char *sql, const assets_equipment *eq,
                                  size_t n, assets_table_stats *ts, char *err, size_t errlen)
{
    if (!n) return 0;
    pgarray c[5] = {0};
    for (size_t i = 0; i < n; i++) {
        assets_arr_ref(&c[0], eq[i].id);
        pgarray_str(&c[1], eq[i].name);
        assets_arr_ref(&c[2], eq[i].shop_id);
        pgarray_str(&c[3], eq[i].ip_address);
        assets_arr_ref(&c[4], eq[i].detail_id);
    }
    return assets_upsert(conn, sql, c, 5, ts, err, errlen);
}

static int assets_write_parts(PGconn *conn, const assets_model *m, assets_table_stats *ts,
                              char *err, size_t errlen)
{
    if (!m->nparts) return 0;
    pgarray c[5] = {0};
    for (size_t i = 0; i < m->nparts; i++) {
        const assets_part *p = &m->parts[i];
        assets_arr_ref(&c[0], p->part_id);
        pgarray_str(&c[1], p->kind);
        pgarray_str(&c[2], p->comment);
        assets_arr_ref(&c[3], p->axis);
        assets_arr_ref(&c[4], p->detail_id);
    }
    return assets_upsert(conn, assets_sql_part, c, 5, ts, err, errlen);
}

static int assets_write_sources(PGconn *conn, const assets_model *m, assets_table_stats *ts,
                                char *err, size_t errlen)
{
    if (!m->nsources) return 0;
    pgarray c[4] = {0};
    for (size_t i = 0; i < m->nsources; i++) {
        const assets_source *s = &m->sources[i];
        assets_arr_ref(&c[0], s->source_id);
        pgarray_str(&c[1], s->name);
        assets_arr_ref(&c[2], s->plant_id);
        assets_arr_ref(&c[3], s->shop_id);
    }
    return assets_upsert(conn, assets_sql_source, c, 4, ts, err, errlen);
}

static int assets_write_feeds(PGconn *conn, const assets_model *m, assets_table_stats *ts,
                              char *err, size_t errlen)
{
    if (!m->nfeeds) return 0;
    pgarray c[6] = {0};
    buf tmp = {0};
    for (size_t i = 0; i < m->nfeeds; i++) {
        const assets_feed *f = &m->feeds[i];
        assets_arr_ref(&c[0], f->feed_id);
        pgarray_str(&c[1], f->name);
        pgarray_str(&c[2], f->unit);
        assets_arr_num(&c[3], f->has_lower, f->lower);
        assets_arr_num(&c[4], f->has_upper, f->upper);
        pgarray_str(&c[5], assets_json_attrs(&tmp, &f->attrs));
    }
    buf_free(&tmp);
    return assets_upsert(conn, assets_sql_feed, c, 6, ts, err, errlen);
}

/* Records the rejected and not fully applied rows, once per (source, line, raw). */
static int assets_write_rejects(PGconn *conn, const assets_model *m, assets_write_stats *st,
                                char *err, size_t errlen)
{
    pgarray c[4] = {0};
    for (size_t i = 0; i < m->ndefects; i++) {
        const assets_defect *d = &m->defects[i];
        if (!d->raw) continue;
        pgarray_str(&c[0], d->file);
        assets_arr_ref(&c[1], (int64_t)d->line);
        pgarray_str(&c[2], d->raw);
        pgarray_str(&c[3], d->message);
        st->rejects++;
    }
    int ok = 1;
    if (st->rejects) {
        const char *params[4];
        for (int i = 0; i < 4; i++)
            params[i] = pgarray_end(&c[i]);
        PGresult *r =
            PQexecParams(conn,
                         "INSERT INTO ingest_reject (source, line_no, raw, reason)"
                         " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])"
                         " ON CONFLICT (source, line_no, md5(raw)) DO NOTHING",
                         4, NULL, params, NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (ok)
            st->rejects_new = strtoull(PQcmdTuples(r), NULL, 10);
        else
            pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
    }
    for (int i = 0; i < 4; i++)
        buf_free(&c[i].b);
    return ok ? 0 : -1;
}

int assets_write(PGconn *conn, const assets_model *m, assets_write_stats *st, char *err,
                 size_t errlen)
{
    static const char *const names[ASSETS_NTABLES] = {"plant",      "shop", "asset_detail", "robot",
                                                      "controller", "part", "data_source",  "feed"};
    memset(st, 0, sizeof *st);
    const size_t rows[ASSETS_NTABLES] = {m->nplants,      m->nshops, m->ndetails, m->nrobots,
                                         m->ncontrollers, m->nparts, m->nsources, m->nfeeds};
    for (int i = 0; i < ASSETS_NTABLES; i++) {
        st->tables[i].table = names[i];
        st->tables[i].rows = rows[i];
    }
    assets_table_stats *t = st->tables;

    int brc = pgconn_exec(conn, "BEGIN", err, errlen);
    if (brc != 0) return brc;
    /* Parents before children: the placeholders a child needs exist before it is written. */
    int rc = -1;
    if (pgconn_exec(conn, "SELECT pg_advisory_xact_lock(hashtext('pgpulse.import_assets'))", err,
                    errlen) != 0 ||
        assets_write_plants(conn, m, &t[0], err, errlen) != 0 ||
        assets_placeholders(conn,
                            "INSERT INTO plant (plant_id, placeholder) SELECT id, true"
                            " FROM unnest($1::integer[]) AS id ON CONFLICT (plant_id) DO NOTHING",
                            m->placeholder_plants, m->nplaceholder_plants, &t[0], err,
                            errlen) != 0 ||
        assets_write_shops(conn, m, &t[1], err, errlen) != 0 ||
        assets_placeholders(conn,
                            "INSERT INTO shop (shop_id, placeholder) SELECT id, true"
                            " FROM unnest($1::integer[]) AS id ON CONFLICT (shop_id) DO NOTHING",
                            m->placeholder_shops, m->nplaceholder_shops, &t[1], err, errlen) != 0 ||
        assets_write_details(conn, m, &t[2], err, errlen) != 0 ||
        assets_placeholders(conn,
                            "INSERT INTO asset_detail (detail_id, placeholder) SELECT id, true"
                            " FROM unnest($1::integer[]) AS id ON CONFLICT (detail_id) DO NOTHING",
                            m->placeholder_details, m->nplaceholder_details, &t[2], err,
                            errlen) != 0 ||
        assets_write_equipment(conn, assets_sql_robot, m->robots, m->nrobots, &t[3], err, errlen) !=
            0 ||
        assets_write_equipment(conn, assets_sql_controller, m->controllers, m->ncontrollers, &t[4],
                               err, errlen) != 0 ||
        assets_write_parts(conn, m, &t[5], err, errlen) != 0 ||
        assets_write_sources(conn, m, &t[6], err, errlen) != 0 ||
        assets_write_feeds(conn, m, &t[7], err, errlen) != 0 ||
        assets_write_rejects(conn, m, st, err, errlen) != 0 ||
        pgconn_exec(conn, "COMMIT", err, errlen) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc != 0 && pgconn_is_lost(conn)) rc = PGCONN_LOST;
    if (rc == -1) PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}
