/* numparse: strict, locale-independent number parsing over (p, len) spans.
 *
 * Accepted: optional surrounding spaces, an optional sign, decimal digits with an optional
 * fraction and exponent ("12", "-0.5", ".5", "1e-3"). Rejected with a code: empty text,
 * anything else (hex, "1,5", "12abc"), and non-finite values ("nan", "inf", 1e999). Never
 * reads past len. */
#ifndef PGPULSE_NUMPARSE_H
#define PGPULSE_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

#define NUMPARSE_OK 0
#define NUMPARSE_EMPTY (-1)     /* no digits at all */
#define NUMPARSE_SYNTAX (-2)    /* not a decimal number */
#define NUMPARSE_NONFINITE (-3) /* NaN, infinity, or too large for a double */
#define NUMPARSE_RANGE (-4)     /* integer out of range */

/* Parses a double, correctly rounded (as strtod). Returns NUMPARSE_OK or an error code;
 * *out is set only on success. */
int numparse_double(const char *p, size_t len, double *out);

/* Parses a decimal integer in [min, max]. Returns NUMPARSE_OK or an error code. */
int numparse_int64(const char *p, size_t len, int64_t min, int64_t max, int64_t *out);

/* A short description of an error code ("not a number", ...). */
const char *numparse_strerror(int code);

#endif
