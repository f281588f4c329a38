/* query: the canned analyses of sql/queries/ — lookup, documentation, run, and the three
 * output formats (see query.h). */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pgconn.h"
#include "util.h"

/* PostgreSQL type OIDs the formats treat as numbers or booleans. */
#define QUERY_OID_BOOL 16
#define QUERY_OID_INT8 20
#define QUERY_OID_INT2 21
#define QUERY_OID_INT4 23
#define QUERY_OID_FLOAT4 700
#define QUERY_OID_FLOAT8 701
#define QUERY_OID_NUMERIC 1700

const query_def *query_find(const char *name)
{
    for (int i = 0; i < query_ndefs; i++)
        if (!strcmp(query_defs[i].name, name)) return &query_defs[i];
    return NULL;
}

void query_summary(const query_def *q, char *out, size_t outlen)
{
    const char *p = q->sql;
    size_t skip = strlen("-- ") + strlen(q->name) + strlen(": ");
    if (!strncmp(p, "-- ", 3) && !strncmp(p + 3, q->name, strlen(q->name)) && p[skip - 2] == ':') p += skip;
    size_t n = strcspn(p, "\n");
    snprintf(out, outlen, "%.*s", (int)n, p);
}

void query_doc(const query_def *q, buf *doc)
{
    for (const char *p = q->sql; !strncmp(p, "--", 2);) {
        size_t n = strcspn(p, "\n");
        const char *t = p + 2;
        if (*t == ' ') t++;
        buf_append(doc, t, n - (size_t)(t - p));
        buf_append(doc, "\n", 1);
        p += n;
        if (*p == '\n') p++;
    }
}

int query_parse_format(const char *s, query_format *f, char *err, size_t errlen)
{
    if (!strcmp(s, "table")) *f = QUERY_TABLE;
    else if (!strcmp(s, "csv")) *f = QUERY_CSV;
    else if (!strcmp(s, "json")) *f = QUERY_JSON;
    else return util_err(err, errlen, "--format: '%s' is not table, csv or json", s);
    return 0;
}

static int query_is_number(Oid t)
{
    return t == QUERY_OID_INT2 || t == QUERY_OID_INT4 || t == QUERY_OID_INT8 || t == QUERY_OID_FLOAT4 ||
           t == QUERY_OID_FLOAT8 || t == QUERY_OID_NUMERIC;
}

static void query_csv_field(buf *out, const char *v)
{
    if (!v[strcspn(v, ",\"\r\n")]) {
        buf_append(out, v, strlen(v));
        return;
    }
    buf_append(out, "\"", 1);
    for (; *v; v++) {
        if (*v == '"') buf_append(out, "\"", 1);
        buf_append(out, v, 1);
    }
    buf_append(out, "\"", 1);
}

static void query_format_csv(const PGresult *res, buf *out)
{
    int nf = PQnfields(res), nt = PQntuples(res);
    for (int c = 0; c < nf; c++) {
        if (c) buf_append(out, ",", 1);
        query_csv_field(out, PQfname(res, c));
    }
    buf_append(out, "\n", 1);
    for (int r = 0; r < nt; r++) {
        for (int c = 0; c < nf; c++) {
            if (c) buf_append(out, ",", 1);
            if (!PQgetisnull(res, r, c)) query_csv_field(out, PQgetvalue(res, r, c));
        }
        buf_append(out, "\n", 1);
    }
}

/* Display width of a UTF-8 string: its code points (the queries' text is names and numbers). */
static size_t query_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void query_pad(buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++) buf_append(out, " ", 1);
}

static void query_format_table(const PGresult *res, buf *out)
{
    int nf = PQnfields(res), nt = PQntuples(res);
    size_t *w = xcalloc((size_t)nf + 1, sizeof *w);
    for (int c = 0; c < nf; c++) {
        w[c] = query_width(PQfname(res, c));
        for (int r = 0; r < nt; r++) {
            size_t x = PQgetisnull(res, r, c) ? 0 : query_width(PQgetvalue(res, r, c));
            if (x > w[c]) w[c] = x;
        }
    }
    /* Numbers align right, text left; columns two spaces apart. */
    for (int c = 0; c < nf; c++) {
        const char *h = PQfname(res, c);
        size_t pad = w[c] - query_width(h);
        if (c) query_pad(out, 2);
        if (query_is_number(PQftype(res, c))) query_pad(out, pad);
        buf_append(out, h, strlen(h));
        if (!query_is_number(PQftype(res, c)) && c + 1 < nf) query_pad(out, pad);
    }
    buf_append(out, "\n", 1);
    for (int c = 0; c < nf; c++) {
        if (c) query_pad(out, 2);
        for (size_t i = 0; i < w[c]; i++) buf_append(out, "-", 1);
    }
    buf_append(out, "\n", 1);
    for (int r = 0; r < nt; r++) {
        for (int c = 0; c < nf; c++) {
            const char *v = PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c);
            size_t pad = w[c] - query_width(v);
            if (c) query_pad(out, 2);
            if (query_is_number(PQftype(res, c))) query_pad(out, pad);
            buf_append(out, v, strlen(v));
            if (!query_is_number(PQftype(res, c)) && c + 1 < nf) query_pad(out, pad);
        }
        buf_append(out, "\n", 1);
    }
    buf_printf(out, "(%d row%s)\n", nt, nt == 1 ? "" : "s");
    free(w);
}

static void query_format_json(const PGresult *res, buf *out)
{
    int nf = PQnfields(res), nt = PQntuples(res);
    json_t *rows = json_array();
    for (int r = 0; r < nt; r++) {
        json_t *o = json_object();
        for (int c = 0; c < nf; c++) {
            const char *v = PQgetvalue(res, r, c);
            Oid t = PQftype(res, c);
            json_t *j;
            if (PQgetisnull(res, r, c)) j = json_null();
            else if (t == QUERY_OID_BOOL) j = json_boolean(v[0] == 't');
            else if (t == QUERY_OID_INT2 || t == QUERY_OID_INT4 || t == QUERY_OID_INT8)
                j = json_integer(strtoll(v, NULL, 10));
            else if (query_is_number(t)) {
                /* NaN and infinities have no JSON number: null, as a missing value. */
                double d = strtod(v, NULL);
                j = d == d && d - d == 0 ? json_real(d) : json_null();
            } else j = json_string(v);
            json_object_set_new(o, PQfname(res, c), j ? j : json_null());
        }
        json_array_append_new(rows, o);
    }
    char *s = json_dumps(rows, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    buf_append(out, s, strlen(s));
    buf_append(out, "\n", 1);
    free(s);
    json_decref(rows);
}

void query_format_result(const PGresult *res, query_format f, buf *out)
{
    switch (f) {
    case QUERY_CSV: query_format_csv(res, out); break;
    case QUERY_JSON: query_format_json(res, out); break;
    default: query_format_table(res, out); break;
    }
}

long query_run(PGconn *conn, const query_def *q, const query_args *a, query_format f, buf *out, char *err,
               size_t errlen)
{
    char robot[16];
    snprintf(robot, sizeof robot, "%d", a->robot);
    const char *p[] = {a->from, a->to, a->robot > 0 ? robot : NULL};
    PGresult *res = PQexecParams(conn, q->sql, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        pgconn_result_error(res, conn, msg, sizeof msg);
        PQclear(res);
        return util_err(err, errlen, "query %s: %s", q->name, msg);
    }
    long n = PQntuples(res);
    query_format_result(res, f, out);
    PQclear(res);
    return n;
}
