/* query: the canned analyses — `pgpulse query NAME` and GET /api/query/NAME.
 *
 * Each analysis is a documented SQL file, sql/queries/NAME.sql, compiled into the binary
 * (scripts/embed_queries.sh). Its first line is "-- NAME: what it answers"; the comment lines
 * that follow document it (what it reads, its columns). Every query takes the same three
 * parameters, NULL when not given: $1 from and $2 to (timestamptz: the half-open range
 * [from, to) of stream time it covers), $3 robot (integer: one robot, NULL: all). They read
 * the warehouse's rollups (schema dw) and the small tables beside it, never raw `reading`. */
#ifndef PGPULSE_QUERY_H
#define PGPULSE_QUERY_H

#include <stddef.h>

#include <libpq-fe.h>

#include "buf.h"

typedef struct query_def {
    const char *name; /* file name without .sql */
    const char *sql;  /* its text, comments included */
} query_def;

/* Generated from sql/queries/ by scripts/embed_queries.sh, in name order. */
extern const query_def query_defs[];
extern const int query_ndefs;

typedef enum query_format { QUERY_TABLE, QUERY_CSV, QUERY_JSON } query_format;

/* A run's parameters: NULL (or robot 0) when not given. from and to are timestamps PostgreSQL
 * reads (ISO 8601). */
typedef struct query_args {
    const char *from, *to;
    int robot;
} query_args;

/* The query named name, or NULL. */
const query_def *query_find(const char *name);

/* Its one-line summary (after "-- NAME: " on the first line) into out; its documentation (the
 * leading comment lines, without "-- ") into doc when doc is not NULL. */
void query_summary(const query_def *q, char *out, size_t outlen);
void query_doc(const query_def *q, buf *doc);

/* Parses "table", "csv" or "json"; returns 0, or -1 with a message. */
int query_parse_format(const char *s, query_format *f, char *err, size_t errlen);

/* Runs q with a on conn (a read-only statement) and appends its rows to out in format f:
 * table (aligned columns under a header), csv (a header line, RFC 4180 quoting) or json (an
 * array of objects, column name to value: numbers as numbers, NULL as null). Returns the number
 * of rows, or -1 with a message (the database's, naming the query). */
long query_run(PGconn *conn, const query_def *q, const query_args *a, query_format f, buf *out, char *err,
               size_t errlen);

/* Appends res (any result set) to out in format f; the formatter behind query_run. */
void query_format_result(const PGresult *res, query_format f, buf *out);

#endif
