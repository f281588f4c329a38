/* pgarray: builds PostgreSQL array literals in text form ({"a","b",NULL}) to pass a batch of
 * rows as a few parameters of one statement (INSERT ... SELECT FROM unnest($1::text[], ...)):
 * one round trip for any number of rows, and no SQL text built from data.
 *
 * Text elements are made valid UTF-8 (see utf8.h) and escaped; the literal lives in the
 * pgarray's buffer until pgarray_free. */
#ifndef PGPULSE_PGARRAY_H
#define PGPULSE_PGARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct pgarray {
    buf b;    /* the literal being built */
    size_t n; /* elements so far */
} pgarray;

/* Appends a text element (s[0..len)); s NULL appends NULL. */
void pgarray_text(pgarray *a, const char *s, size_t len);

/* Appends a NUL-terminated text element, or NULL when s is NULL. */
void pgarray_str(pgarray *a, const char *s);

void pgarray_int(pgarray *a, int64_t v);
void pgarray_float(pgarray *a, double v); /* 17 significant digits: exact round trip */
void pgarray_null(pgarray *a);

/* Closes the literal and returns it NUL-terminated; no element may be added afterwards. */
const char *pgarray_end(pgarray *a);

/* Releases the storage; the pgarray is empty and reusable. */
void pgarray_free(pgarray *a);

/* PostgreSQL's binary array format (a parameter sent with format 1): the header of a
 * one-dimensional array of n elements of type oid, then each element with its length. */
void pgarray_bin_header(buf *b, uint32_t oid, size_t n);
void pgarray_bin_elem(buf *b, const void *p, size_t len);

#endif
