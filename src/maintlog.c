/* maintlog: work orders in CSV or JSON lines (see maintlog.h). Both formats reduce a record to
 * one value per field, which the same decoders check, so the two formats accept the same
 * orders and reject with the same reasons. */
#include "maintlog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "csvin.h"
#include "numparse.h"
#include "tstamp.h"
#include "utf8.h"
#include "util.h"

/* The fields, in the order a record's defects are reported. */
enum { MF_ROBOT, MF_START, MF_END, MF_KIND, MF_ORDER, MF_AXIS, MF_TEXT, MF_N };

static const char *const maintlog_field_name[MF_N] = {"robot", "start", "end", "kind",
                                                       "work_order", "axis", "text"};

/* Accepted names, normalised (lower case, without ' ', '_', '-', '.'). */
static const struct {
    int field;
    const char *name;
} maintlog_aliases[] = {
    {MF_ROBOT, "robot"},      {MF_ROBOT, "robotid"},      {MF_START, "start"},
    {MF_START, "starttime"},  {MF_START, "startedat"},    {MF_START, "tsstart"},
    {MF_START, "begin"},      {MF_END, "end"},            {MF_END, "endtime"},
    {MF_END, "endedat"},      {MF_END, "tsend"},          {MF_KIND, "kind"},
    {MF_KIND, "type"},        {MF_ORDER, "workorder"},    {MF_ORDER, "workorderid"},
    {MF_ORDER, "order"},      {MF_ORDER, "orderid"},      {MF_ORDER, "wo"},
    {MF_ORDER, "woid"},       {MF_TEXT, "text"},          {MF_TEXT, "description"},
    {MF_TEXT, "detail"},      {MF_TEXT, "comment"},       {MF_AXIS, "axis"},
};

static const char *const maintlog_kinds[] = {NULL, "failure", "repair", "inspection",
                                             "replacement"};

#define MAINTLOG_NAME_MAX 48 /* bytes of a field's name kept for messages */

struct maintlog {
    maintlog_format format;
    int failed;                              /* the CSV header was unusable */
    char failure[256];                       /* why */
    int started;                             /* a line has been seen (BOM checked) */
    size_t ncols;                            /* CSV: fields per line */
    int col[MF_N];                           /* CSV: column of each field, -1 if absent */
    char name[MF_N][MAINTLOG_NAME_MAX];      /* each field's name as the file spells it */
    char ignored[256];                       /* CSV columns not read */
    buf line;                                /* CSV: the line, split in place */
    buf text;                                /* the cleaned text of the last order */
    char order_num[24];                      /* a JSON integer work order, as text */
    json_t *json;                            /* JSON: the last record (owns its strings) */
    csvin_row row;                           /* CSV: the split line */
};

/* A field's value in a record: text (CSV, JSON strings), a JSON number, null or absent. */
typedef enum { MV_ABSENT, MV_NULL, MV_TEXT, MV_INT, MV_REAL, MV_OTHER } maintlog_vtype;

typedef struct maintlog_val {
    maintlog_vtype type;
    const char *p; /* MV_TEXT */
    size_t len;
    json_int_t i;  /* MV_INT */
    double r;      /* MV_REAL */
    const char *what; /* MV_OTHER: "an array", "an object", "true", "false" */
} maintlog_val;

maintlog *maintlog_new(void)
{
    maintlog *p = xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    for (int f = 0; f < MF_N; f++) {
        p->col[f] = -1;
        snprintf(p->name[f], sizeof p->name[f], "%s", maintlog_field_name[f]);
    }
    return p;
}

void maintlog_free(maintlog *p)
{
    if (!p) return;
    buf_free(&p->line);
    buf_free(&p->text);
    json_decref(p->json);
    free(p);
}

maintlog_format maintlog_get_format(const maintlog *p)
{
    return p->format;
}

const char *maintlog_ignored(const maintlog *p)
{
    return p->ignored;
}

const char *maintlog_kind_name(maintlog_kind kind)
{
    return kind >= MAINTLOG_FAILURE && kind <= MAINTLOG_REPLACEMENT ? maintlog_kinds[kind] : "?";
}

/* Drops spaces and tabs at both ends of p[0..*n). */
static const char *maintlog_trim(const char *p, size_t *n)
{
    while (*n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        (*n)--;
    }
    while (*n > 0 && (p[*n - 1] == ' ' || p[*n - 1] == '\t')) (*n)--;
    return p;
}

/* The field a name stands for, or -1. */
static int maintlog_field_of(const char *p, size_t n)
{
    char norm[32];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == ' ' || c == '\t' || c == '_' || c == '-' || c == '.') continue;
        if (k + 1 >= sizeof norm) return -1;
        norm[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    norm[k] = '\0';
    for (size_t i = 0; i < UTIL_ARRAY_LEN(maintlog_aliases); i++)
        if (strcmp(norm, maintlog_aliases[i].name) == 0) return maintlog_aliases[i].field;
    return -1;
}

/* Copies a name for messages, printable ASCII only, cut to fit. */
static void maintlog_set_name(char *dst, const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < MAINTLOG_NAME_MAX; i++) {
        unsigned char c = (unsigned char)p[i];
        dst[k++] = c >= 0x20 && c < 0x7F ? (char)c : '?';
    }
    dst[k] = '\0';
}

/* "name: what" or "name: what: 'value'" (at most 40 bytes of the value shown, non-printable
 * bytes as '?'). Returns MAINTLOG_REJECT. */
static int maintlog_reject(char *reason, size_t len, const char *name, const char *what,
                           const char *v, size_t vlen)
{
    if (!v) {
        snprintf(reason, len, "%s: %s", name, what);
        return MAINTLOG_REJECT;
    }
    char shown[48];
    size_t n = vlen < 40 ? vlen : 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        shown[i] = c >= 0x20 && c < 0x7F ? (char)c : '?';
    }
    shown[n] = '\0';
    snprintf(reason, len, "%s: %s: '%s%s'", name, what, shown, vlen > 40 ? "..." : "");
    return MAINTLOG_REJECT;
}

/* The reason for a value of the wrong JSON type. */
static int maintlog_wrong_type(char *reason, size_t len, const char *name, const char *expected,
                               const maintlog_val *v)
{
    const char *got = v->type == MV_INT || v->type == MV_REAL ? "a number"
                      : v->type == MV_TEXT                    ? "a string"
                      : v->type == MV_NULL                    ? "null"
                                                              : v->what;
    snprintf(reason, len, "%s: expected %s, got %s", name, expected, got);
    return MAINTLOG_REJECT;
}

/* ---------------------------------------------------------------------------------------
 * Decoding a record's values (shared by both formats).
 * --------------------------------------------------------------------------------------- */

static int maintlog_decode_int(const maintlog_val *v, const char *name, int64_t lo, int64_t hi,
                               const char *expected, int64_t *out, char *reason, size_t len)
{
    if (v->type == MV_INT) {
        if (v->i < lo || v->i > hi) {
            char num[32];
            int n = snprintf(num, sizeof num, "%lld", (long long)v->i);
            return maintlog_reject(reason, len, name, "out of range", num, (size_t)n);
        }
        *out = v->i;
        return 0;
    }
    if (v->type != MV_TEXT) return maintlog_wrong_type(reason, len, name, expected, v);
    size_t n = v->len;
    const char *t = maintlog_trim(v->p, &n);
    int rc = numparse_int64(t, n, lo, hi, out);
    if (rc == NUMPARSE_RANGE) return maintlog_reject(reason, len, name, "out of range", t, n);
    if (rc != NUMPARSE_OK) {
        char what[96];
        snprintf(what, sizeof what, "not %s", expected);
        return maintlog_reject(reason, len, name, what, t, n);
    }
    return 0;
}

/* A timestamp: ISO 8601 with a zone or epoch seconds, as text or a JSON number. */
static int maintlog_decode_time(const maintlog_val *v, const char *name, int64_t *us,
                                char *reason, size_t len)
{
    if (v->type == MV_INT || v->type == MV_REAL) {
        double s = v->type == MV_INT ? (double)v->i : v->r;
        double x = s * 1e6;
        if (!(x >= (double)TSTAMP_MIN_US && x <= (double)TSTAMP_MAX_US)) {
            snprintf(reason, len, "%s: epoch seconds out of range (years 1..9999)", name);
            return MAINTLOG_REJECT;
        }
        *us = (int64_t)llround(x);
        return 0;
    }
    if (v->type != MV_TEXT)
        return maintlog_wrong_type(reason, len, name, "a timestamp (text or epoch seconds)", v);
    size_t n = v->len;
    const char *t = maintlog_trim(v->p, &n);
    int rc = tstamp_parse(t, n, TSTAMP_ZONE_REQUIRED | TSTAMP_EPOCH_OK, us);
    if (rc == TSTAMP_NOZONE)
        return maintlog_reject(reason, len, name, "no time zone (add Z or +HH:MM)", t, n);
    if (rc != TSTAMP_OK) return maintlog_reject(reason, len, name, tstamp_strerror(rc), t, n);
    return 0;
}

/* A text value is empty (after trimming), null or absent. */
static int maintlog_blank(const maintlog_val *v)
{
    if (v->type == MV_ABSENT || v->type == MV_NULL) return 1;
    if (v->type != MV_TEXT) return 0;
    size_t n = v->len;
    maintlog_trim(v->p, &n);
    return n == 0;
}

static int maintlog_decode(maintlog *p, const maintlog_val *v, uint64_t line_no,
                           maintlog_order *out, char *reason, size_t len)
{
    memset(out, 0, sizeof *out);
    out->line_no = line_no;
    static const int required[] = {MF_ROBOT, MF_START, MF_KIND, MF_ORDER};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(required); i++) {
        const maintlog_val *r = &v[required[i]];
        const char *nm = p->name[required[i]];
        if (r->type == MV_ABSENT) return maintlog_reject(reason, len, nm, "missing", NULL, 0);
        if (maintlog_blank(r))
            return maintlog_reject(reason, len, nm, r->type == MV_NULL ? "null" : "empty", NULL, 0);
    }

    int64_t x;
    if (maintlog_decode_int(&v[MF_ROBOT], p->name[MF_ROBOT], 1, INT32_MAX,
                            "a robot id (an integer from 1)", &x, reason, len))
        return MAINTLOG_REJECT;
    out->robot_id = (int32_t)x;

    if (maintlog_decode_time(&v[MF_START], p->name[MF_START], &out->start_us, reason, len))
        return MAINTLOG_REJECT;
    out->end_us = out->start_us;
    if (!maintlog_blank(&v[MF_END])) {
        if (maintlog_decode_time(&v[MF_END], p->name[MF_END], &out->end_us, reason, len))
            return MAINTLOG_REJECT;
        if (out->end_us < out->start_us) {
            char st[40], en[40];
            tstamp_format(out->start_us, st, sizeof st);
            tstamp_format(out->end_us, en, sizeof en);
            snprintf(reason, len, "%s: %s is before the start, %s", p->name[MF_END], en, st);
            return MAINTLOG_REJECT;
        }
        out->has_end = 1;
    }

    const maintlog_val *k = &v[MF_KIND];
    if (k->type != MV_TEXT)
        return maintlog_wrong_type(reason, len, p->name[MF_KIND], "a kind (text)", k);
    size_t kn = k->len;
    const char *kt = maintlog_trim(k->p, &kn);
    for (int i = MAINTLOG_FAILURE; i <= MAINTLOG_REPLACEMENT && !out->kind; i++) {
        size_t m = strlen(maintlog_kinds[i]);
        if (kn != m) continue;
        size_t j = 0;
        while (j < m && (kt[j] | 0x20) == maintlog_kinds[i][j]) j++;
        if (j == m) out->kind = (maintlog_kind)i;
    }
    if (!out->kind)
        return maintlog_reject(reason, len, p->name[MF_KIND],
                               "not failure, repair, inspection or replacement", kt, kn);

    const maintlog_val *o = &v[MF_ORDER];
    if (o->type == MV_INT) {
        int n = snprintf(p->order_num, sizeof p->order_num, "%lld", (long long)o->i);
        out->order = p->order_num;
        out->order_len = (size_t)n;
    } else if (o->type == MV_TEXT) {
        size_t n = o->len;
        const char *t = maintlog_trim(o->p, &n);
        if (n > MAINTLOG_ORDER_MAX) {
            char what[64];
            snprintf(what, sizeof what, "longer than %d bytes", MAINTLOG_ORDER_MAX);
            return maintlog_reject(reason, len, p->name[MF_ORDER], what, t, n);
        }
        if (!utf8_valid(t, n))
            return maintlog_reject(reason, len, p->name[MF_ORDER], "not valid UTF-8", t, n);
        out->order = t;
        out->order_len = n;
    } else {
        return maintlog_wrong_type(reason, len, p->name[MF_ORDER], "a work order id (text)", o);
    }

    if (!maintlog_blank(&v[MF_AXIS])) {
        if (maintlog_decode_int(&v[MF_AXIS], p->name[MF_AXIS], 1, 8, "an axis (1..8)", &x,
                                reason, len))
            return MAINTLOG_REJECT;
        out->axis = (int)x;
    }

    const maintlog_val *t = &v[MF_TEXT];
    buf_reset(&p->text);
    if (t->type == MV_TEXT) {
        size_t n = t->len;
        const char *s = maintlog_trim(t->p, &n);
        utf8_append_clean(&p->text, s, n);
    } else if (t->type != MV_ABSENT && t->type != MV_NULL) {
        return maintlog_wrong_type(reason, len, p->name[MF_TEXT], "text", t);
    }
    out->text = p->text.len ? (const char *)p->text.data : "";
    out->text_len = p->text.len;
    return MAINTLOG_ORDER;
}

/* ---------------------------------------------------------------------------------------
 * CSV
 * --------------------------------------------------------------------------------------- */

static int maintlog_bad_header(maintlog *p, char *reason, size_t len)
{
    p->failed = 1;
    snprintf(reason, len, "%s", p->failure);
    return MAINTLOG_BADHEADER;
}

static int maintlog_csv_header(maintlog *p, const csvin_row *h, char *reason, size_t len)
{
    p->format = MAINTLOG_CSV;
    if (h->error) {
        snprintf(p->failure, sizeof p->failure, "header: %s", h->error);
        return maintlog_bad_header(p, reason, len);
    }
    p->ncols = h->nfields;
    for (size_t i = 0; i < h->nfields; i++) {
        size_t n = h->fields[i].len;
        const char *t = maintlog_trim(h->fields[i].p, &n);
        int f = maintlog_field_of(t, n);
        if (f < 0) {
            size_t used = strlen(p->ignored);
            if (used + n + 3 < sizeof p->ignored)
                snprintf(p->ignored + used, sizeof p->ignored - used, "%s%.*s",
                         used ? ", " : "", (int)n, t);
            continue;
        }
        if (p->col[f] >= 0) {
            char other[MAINTLOG_NAME_MAX];
            maintlog_set_name(other, t, n);
            snprintf(p->failure, sizeof p->failure,
                     "header: columns %d ('%s') and %zu ('%s') both give the %s",
                     p->col[f] + 1, p->name[f], i + 1, other, maintlog_field_name[f]);
            return maintlog_bad_header(p, reason, len);
        }
        p->col[f] = (int)i;
        maintlog_set_name(p->name[f], t, n);
    }
    char missing[96] = "";
    static const int required[] = {MF_ROBOT, MF_START, MF_KIND, MF_ORDER};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(required); i++) {
        if (p->col[required[i]] >= 0) continue;
        size_t used = strlen(missing);
        snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "",
                 maintlog_field_name[required[i]]);
    }
    if (missing[0]) {
        snprintf(p->failure, sizeof p->failure,
                 "header: missing column(s) %s (a work order log needs robot, start, kind and "
                 "work_order; end, text and axis are optional)",
                 missing);
        return maintlog_bad_header(p, reason, len);
    }
    return MAINTLOG_SKIP;
}

static int maintlog_csv_record(maintlog *p, const csvin_row *row, uint64_t line_no,
                               maintlog_order *out, char *reason, size_t len)
{
    if (row->error) {
        snprintf(reason, len, "%s", row->error);
        return MAINTLOG_REJECT;
    }
    if (row->nfields != p->ncols) {
        snprintf(reason, len, "%zu field%s, the header has %zu", row->nfields,
                 row->nfields == 1 ? "" : "s", p->ncols);
        return MAINTLOG_REJECT;
    }
    maintlog_val v[MF_N];
    for (int f = 0; f < MF_N; f++) {
        memset(&v[f], 0, sizeof v[f]);
        if (p->col[f] < 0) continue;
        v[f].type = MV_TEXT;
        v[f].p = row->fields[p->col[f]].p;
        v[f].len = row->fields[p->col[f]].len;
    }
    return maintlog_decode(p, v, line_no, out, reason, len);
}

/* ---------------------------------------------------------------------------------------
 * JSON lines
 * --------------------------------------------------------------------------------------- */

static int maintlog_json_record(maintlog *p, const char *line, size_t n, uint64_t line_no,
                                maintlog_order *out, char *reason, size_t len)
{
    json_decref(p->json);
    p->json = NULL;
    json_error_t jerr;
    p->json = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!p->json) {
        snprintf(reason, len, "not JSON: %s (column %d)", jerr.text, jerr.column);
        return MAINTLOG_REJECT;
    }
    if (!json_is_object(p->json)) {
        snprintf(reason, len, "not a JSON object");
        return MAINTLOG_REJECT;
    }
    maintlog_val v[MF_N];
    memset(v, 0, sizeof v);
    for (int f = 0; f < MF_N; f++)
        snprintf(p->name[f], sizeof p->name[f], "%s", maintlog_field_name[f]);
    const char *key;
    json_t *val;
    json_object_foreach(p->json, key, val)
    {
        int f = maintlog_field_of(key, strlen(key));
        if (f < 0) continue;
        if (v[f].type != MV_ABSENT) {
            char other[MAINTLOG_NAME_MAX];
            maintlog_set_name(other, key, strlen(key));
            snprintf(reason, len, "%s: given twice (keys '%s' and '%s')", maintlog_field_name[f],
                     p->name[f], other);
            return MAINTLOG_REJECT;
        }
        maintlog_set_name(p->name[f], key, strlen(key));
        maintlog_val *x = &v[f];
        switch (json_typeof(val)) {
        case JSON_STRING:
            x->type = MV_TEXT;
            x->p = json_string_value(val);
            x->len = json_string_length(val);
            break;
        case JSON_INTEGER:
            x->type = MV_INT;
            x->i = json_integer_value(val);
            break;
        case JSON_REAL:
            x->type = MV_REAL;
            x->r = json_real_value(val);
            break;
        case JSON_NULL: x->type = MV_NULL; break;
        case JSON_OBJECT: x->type = MV_OTHER; x->what = "an object"; break;
        case JSON_ARRAY: x->type = MV_OTHER; x->what = "an array"; break;
        case JSON_TRUE: x->type = MV_OTHER; x->what = "true"; break;
        case JSON_FALSE: x->type = MV_OTHER; x->what = "false"; break;
        }
    }
    /* Strings may hold NUL (\u0000 is refused by the parser, but be sure). */
    for (int f = 0; f < MF_N; f++)
        if (v[f].type == MV_TEXT && memchr(v[f].p, '\0', v[f].len))
            return maintlog_reject(reason, len, p->name[f], "contains a NUL character", NULL, 0);
    return maintlog_decode(p, v, line_no, out, reason, len);
}

/* --------------------------------------------------------------------------------------- */

int maintlog_line(maintlog *p, const char *line, size_t len, uint64_t line_no,
                  maintlog_order *out, char *reason, size_t reasonlen)
{
    reason[0] = '\0';
    if (p->failed) return maintlog_bad_header(p, reason, reasonlen);
    if (!p->started) {
        p->started = 1;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
    }
    if (len > 0 && line[len - 1] == '\r') len--;
    size_t n = len;
    const char *t = maintlog_trim(line, &n);
    if (n == 0) return MAINTLOG_SKIP;

    if (p->format == MAINTLOG_UNKNOWN && t[0] == '{') p->format = MAINTLOG_JSONL;
    if (p->format == MAINTLOG_JSONL)
        return maintlog_json_record(p, t, n, line_no, out, reason, reasonlen);

    /* CSV: split a copy (splitting unquotes in place). */
    buf_reset(&p->line);
    buf_append(&p->line, line, len);
    csvin_split((char *)p->line.data, len, &p->row);
    if (p->format == MAINTLOG_UNKNOWN) return maintlog_csv_header(p, &p->row, reason, reasonlen);
    return maintlog_csv_record(p, &p->row, line_no, out, reason, reasonlen);
}
