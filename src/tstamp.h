/* tstamp: timestamps as int64 microseconds since the Unix epoch (UTC), parsed from and
 * formatted to ISO 8601, and parsed from epoch seconds.
 *
 * ISO 8601 accepted: YYYY-MM-DD, then 'T', 't' or ' ' and HH:MM[:SS[.fraction]], then a zone:
 * 'Z', "UTC", or +HH, +HHMM, +HH:MM (also after a space, as PostgreSQL prints them). A
 * fraction beyond microseconds is rounded to the nearest microsecond. Epoch seconds: an
 * optional sign, digits and an optional fraction ("1666009103.66"). Every field is range
 * checked (no month 13, no February 30, no second 60), and the instant, for both forms, must lie
 * in years 1..9999 UTC (TSTAMP_MIN_US..TSTAMP_MAX_US): the range that tstamp_format prints in a
 * form tstamp_parse reads back. Pure over (p, len); never reads past len. */
#ifndef PGPULSE_TSTAMP_H
#define PGPULSE_TSTAMP_H

#include <stddef.h>
#include <stdint.h>

#define TSTAMP_ZONE_REQUIRED 1 /* reject ISO text without a zone (else it is taken as UTC) */
#define TSTAMP_EPOCH_OK 2      /* accept epoch seconds */

#define TSTAMP_OK 0
#define TSTAMP_EMPTY (-1)  /* no text */
#define TSTAMP_SYNTAX (-2) /* not a timestamp of an accepted form */
#define TSTAMP_RANGE (-3)  /* a field out of range (month 13, 25:00, ...) */
#define TSTAMP_NOZONE (-4) /* no time zone, and one is required */

#define TSTAMP_US_PER_SEC INT64_C(1000000)
#define TSTAMP_US_PER_DAY INT64_C(86400000000)
/* The instants tstamp_parse accepts: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. */
#define TSTAMP_MIN_US (INT64_C(-62135596800) * TSTAMP_US_PER_SEC)
#define TSTAMP_MAX_US (INT64_C(253402300800) * TSTAMP_US_PER_SEC - 1)

/* Parses p[0..len) into *us (microseconds since 1970-01-01 UTC). Returns TSTAMP_OK or an
 * error code; *us is set only on success. */
int tstamp_parse(const char *p, size_t len, int flags, int64_t *us);

/* Formats us as ISO 8601 UTC ("2022-10-17T12:18:23.66Z": fraction only as long as needed)
 * into buf. Returns the length written (at most 31; buf should hold 32). Any int64 is accepted;
 * outside TSTAMP_MIN_US..TSTAMP_MAX_US the year has more or fewer than 4 digits or a sign. */
size_t tstamp_format(int64_t us, char *buf, size_t len);

/* A short description of an error code. */
const char *tstamp_strerror(int code);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t tstamp_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The day number (since 1970-01-01) containing us, rounding toward minus infinity. */
int64_t tstamp_day_of(int64_t us);

#endif
