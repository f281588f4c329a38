/* utf8: checking and cleaning UTF-8 text that came from outside (input files), before it is
 * stored in PostgreSQL text columns, which refuse invalid UTF-8 and NUL bytes. Pure over
 * (p, n); never reads past n. */
#ifndef PGPULSE_UTF8_H
#define PGPULSE_UTF8_H

#include <stddef.h>

#include "buf.h"

#define UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD, 3 bytes */

/* Length (1..4) of the valid, shortest-form UTF-8 sequence of one code point at p, or 0 if p
 * starts with an invalid sequence, a NUL byte, or n is 0. */
size_t utf8_seq_len(const unsigned char *p, size_t n);

/* True if p[0..n) is valid UTF-8 without NUL bytes. */
int utf8_valid(const char *p, size_t n);

/* Appends p[0..n) to b with each byte that does not start a valid sequence replaced by
 * U+FFFD. */
void utf8_append_clean(buf *b, const char *p, size_t n);

#endif
