/* tstamp: ISO 8601 and epoch-second timestamps. The calendar arithmetic is the well-known
 * era-based conversion between civil dates and day numbers (400-year cycles of 146097 days). */
#include "tstamp.h"

#include <stdio.h>
#include <string.h>

int64_t tstamp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void tstamp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t tstamp_day_of(int64_t us)
{
    int64_t d = us / TSTAMP_US_PER_DAY;
    return (us % TSTAMP_US_PER_DAY < 0) ? d - 1 : d;
}

static int tstamp_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned tstamp_days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && tstamp_is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n digits at p[*i]; returns the value or -1. */
static int tstamp_digits(const char *p, size_t len, size_t *i, int n)
{
    if (*i + (size_t)n > len) return -1;
    int v = 0;
    for (int k = 0; k < n; k++) {
        char c = p[*i + (size_t)k];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *i += (size_t)n;
    return v;
}

/* Reads a fraction's digits at p[*i] (after the separator) as microseconds, rounded. */
static int tstamp_fraction(const char *p, size_t len, size_t *i, int64_t *us)
{
    int64_t v = 0;
    int n = 0;
    int round_up = 0;
    size_t start = *i;
    while (*i < len && p[*i] >= '0' && p[*i] <= '9') {
        if (n < 6)
            v = v * 10 + (p[*i] - '0');
        else if (n == 6)
            round_up = p[*i] >= '5';
        n++;
        (*i)++;
    }
    if (*i == start) return -1;
    for (int k = n; k < 6; k++) v *= 10;
    *us = v + round_up;
    return 0;
}

static int tstamp_parse_epoch(const char *p, size_t len, int64_t *us)
{
    size_t i = 0;
    int neg = 0;
    if (p[i] == '+' || p[i] == '-') neg = p[i++] == '-';
    int64_t sec = 0;
    size_t start = i;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        sec = sec * 10 + (p[i] - '0');
        /* Beyond year 9999: stop before sec * 10 or sec * TSTAMP_US_PER_SEC could overflow. */
        if (sec > TSTAMP_MAX_US / TSTAMP_US_PER_SEC + 1) return TSTAMP_RANGE;
        i++;
    }
    int64_t frac = 0;
    int have_int = i > start;
    if (i < len && p[i] == '.') {
        i++;
        if (tstamp_fraction(p, len, &i, &frac) != 0 && !have_int) return TSTAMP_SYNTAX;
    } else if (!have_int) {
        return TSTAMP_SYNTAX;
    }
    if (i != len) return TSTAMP_SYNTAX;
    int64_t v = sec * TSTAMP_US_PER_SEC + frac;
    if (neg) v = -v;
    if (v < TSTAMP_MIN_US || v > TSTAMP_MAX_US) return TSTAMP_RANGE;
    *us = v;
    return TSTAMP_OK;
}

int tstamp_parse(const char *p, size_t len, int flags, int64_t *us)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == 0) return TSTAMP_EMPTY;

    /* Epoch seconds have no '-' after the first character and no ':'. */
    int iso = len >= 10 && p[4] == '-';
    if (!iso) {
        if (!(flags & TSTAMP_EPOCH_OK)) return TSTAMP_SYNTAX;
        return tstamp_parse_epoch(p, len, us);
    }

    size_t i = 0;
    int y = tstamp_digits(p, len, &i, 4);
    if (y < 0 || i >= len || p[i++] != '-') return TSTAMP_SYNTAX;
    int mo = tstamp_digits(p, len, &i, 2);
    if (mo < 0 || i >= len || p[i++] != '-') return TSTAMP_SYNTAX;
    int d = tstamp_digits(p, len, &i, 2);
    if (d < 0) return TSTAMP_SYNTAX;
    int hh = 0, mi = 0, ss = 0;
    int64_t frac = 0;
    int have_time = 0;
    if (i < len && (p[i] == 'T' || p[i] == 't' || p[i] == ' ') && i + 1 < len && p[i + 1] >= '0' &&
        p[i + 1] <= '9') {
        i++;
        have_time = 1;
        hh = tstamp_digits(p, len, &i, 2);
        if (hh < 0 || i >= len || p[i++] != ':') return TSTAMP_SYNTAX;
        mi = tstamp_digits(p, len, &i, 2);
        if (mi < 0) return TSTAMP_SYNTAX;
        if (i < len && p[i] == ':') {
            i++;
            ss = tstamp_digits(p, len, &i, 2);
            if (ss < 0) return TSTAMP_SYNTAX;
            if (i < len && (p[i] == '.' || p[i] == ',')) {
                i++;
                if (tstamp_fraction(p, len, &i, &frac) != 0) return TSTAMP_SYNTAX;
            }
        }
    }
    /* Zone. */
    int64_t offset_min = 0;
    int have_zone = 0;
    if (i < len && p[i] == ' ') i++;
    if (i < len) {
        if ((p[i] == 'Z' || p[i] == 'z') && i + 1 == len) {
            have_zone = 1;
            i++;
        } else if (len - i == 3 && memcmp(p + i, "UTC", 3) == 0) {
            have_zone = 1;
            i += 3;
        } else if (p[i] == '+' || p[i] == '-') {
            int sign = p[i++] == '-' ? -1 : 1;
            int zh = tstamp_digits(p, len, &i, 2);
            if (zh < 0) return TSTAMP_SYNTAX;
            int zm = 0;
            int colon = i < len && p[i] == ':';
            if (colon) i++;
            if (colon || i < len) { /* "+05:" is not a zone */
                zm = tstamp_digits(p, len, &i, 2);
                if (zm < 0) return TSTAMP_SYNTAX;
            }
            if (zh > 15 || zm > 59) return TSTAMP_RANGE;
            offset_min = sign * (zh * 60 + zm);
            have_zone = 1;
        }
        if (i != len) return TSTAMP_SYNTAX;
    }
    if (!have_time && have_zone) return TSTAMP_SYNTAX;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > tstamp_days_in_month(y, (unsigned)mo) ||
        hh > 23 || mi > 59 || ss > 59)
        return TSTAMP_RANGE;
    if (!have_zone && (flags & TSTAMP_ZONE_REQUIRED)) return TSTAMP_NOZONE;

    int64_t days = tstamp_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - offset_min * 60;
    int64_t v = secs * TSTAMP_US_PER_SEC + frac;
    /* An offset or a rounded fraction can push a valid date out of years 1..9999. */
    if (v < TSTAMP_MIN_US || v > TSTAMP_MAX_US) return TSTAMP_RANGE;
    *us = v;
    return TSTAMP_OK;
}

size_t tstamp_format(int64_t us, char *buf, size_t len)
{
    if (len == 0) return 0;
    int64_t days = tstamp_day_of(us);
    /* Not us - days * TSTAMP_US_PER_DAY, which overflows near INT64_MIN. */
    int64_t rem = us % TSTAMP_US_PER_DAY;
    if (rem < 0) rem += TSTAMP_US_PER_DAY;
    int64_t y;
    unsigned m, d;
    tstamp_civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / TSTAMP_US_PER_SEC;
    int frac = (int)(rem % TSTAMP_US_PER_SEC);
    char fr[12] = "";
    if (frac) {
        snprintf(fr, sizeof fr, ".%06d", frac);
        size_t n = strlen(fr);
        while (fr[n - 1] == '0') fr[--n] = '\0';
    }
    int n = snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02d%sZ", (long long)y, m, d,
                     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), fr);
    return n < 0 ? 0 : ((size_t)n < len ? (size_t)n : len - 1);
}

const char *tstamp_strerror(int code)
{
    switch (code) {
    case TSTAMP_OK: return "ok";
    case TSTAMP_EMPTY: return "empty";
    case TSTAMP_SYNTAX: return "not an ISO 8601 timestamp or epoch seconds";
    case TSTAMP_RANGE: return "a field is out of range";
    case TSTAMP_NOZONE: return "no time zone (add Z or an offset such as +00:00)";
    default: return "invalid";
    }
}
