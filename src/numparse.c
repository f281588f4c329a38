/* numparse: strict decimal parsing. Doubles take Clinger's fast path — a mantissa below 2^53
 * scaled by an exact power of ten up to 1e22 is one correctly rounded IEEE operation — and
 * fall back to strtod for everything else, so results always equal strtod's. */
#include "numparse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double numparse_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int numparse_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void numparse_trim(const char **p, size_t *len)
{
    while (*len > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*len)--;
    }
    while (*len > 0 && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t')) (*len)--;
}

/* True if [p, p+len) spells a NaN or an infinity, as strtod would accept. */
static int numparse_is_nonfinite_word(const char *p, size_t len)
{
    if (len > 0 && (*p == '+' || *p == '-')) {
        p++;
        len--;
    }
    static const char *const words[] = {"nan", "inf", "infinity"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t n = strlen(words[w]);
        if (len != n) continue;
        size_t i = 0;
        while (i < n && (p[i] | 0x20) == words[w][i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

int numparse_double(const char *p, size_t len, double *out)
{
    numparse_trim(&p, &len);
    if (len == 0) return NUMPARSE_EMPTY;
    if (numparse_is_nonfinite_word(p, len)) return NUMPARSE_NONFINITE;

    size_t i = 0;
    int neg = 0;
    if (p[i] == '+' || p[i] == '-') neg = p[i++] == '-';
    uint64_t mant = 0;
    int ndig = 0;       /* significant digits accumulated in mant */
    int dropped = 0;    /* digits beyond 19 that did not fit (integer part) */
    int exp10 = 0;
    int any = 0;
    while (i < len && numparse_is_digit(p[i])) {
        any = 1;
        if (ndig < 19) {
            if (mant || p[i] != '0') {
                mant = mant * 10 + (uint64_t)(p[i] - '0');
                ndig += mant != 0;
            }
        } else {
            dropped++;
        }
        i++;
    }
    exp10 += dropped;
    if (i < len && p[i] == '.') {
        i++;
        while (i < len && numparse_is_digit(p[i])) {
            any = 1;
            if (ndig < 19) {
                mant = mant * 10 + (uint64_t)(p[i] - '0');
                if (mant) ndig++;
                exp10--;
            } else {
                dropped++;
            }
            i++;
        }
    }
    if (!any) return NUMPARSE_SYNTAX;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (p[i] == '+' || p[i] == '-')) eneg = p[i++] == '-';
        if (i >= len || !numparse_is_digit(p[i])) return NUMPARSE_SYNTAX;
        int e = 0;
        while (i < len && numparse_is_digit(p[i])) {
            if (e < 100000) e = e * 10 + (p[i] - '0');
            i++;
        }
        exp10 += eneg ? -e : e;
    }
    if (i != len) return NUMPARSE_SYNTAX;

    double v;
    if (dropped == 0 && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        v = (double)mant;
        v = exp10 < 0 ? v / numparse_pow10[-exp10] : v * numparse_pow10[exp10];
        if (neg) v = -v;
    } else {
        /* Rare: long mantissas or large exponents. strtod on a bounded NUL-terminated copy;
         * the syntax was checked above, so strtod consumes it all. */
        char tmp[512];
        char *heap = NULL;
        char *s = tmp;
        if (len >= sizeof tmp) s = heap = malloc(len + 1);
        if (!s) return NUMPARSE_SYNTAX;
        memcpy(s, p, len);
        s[len] = '\0';
        v = strtod(s, NULL);
        free(heap);
    }
    if (!isfinite(v)) return NUMPARSE_NONFINITE;
    *out = v;
    return NUMPARSE_OK;
}

int numparse_int64(const char *p, size_t len, int64_t min, int64_t max, int64_t *out)
{
    numparse_trim(&p, &len);
    if (len == 0) return NUMPARSE_EMPTY;
    size_t i = 0;
    int neg = 0;
    if (p[i] == '+' || p[i] == '-') neg = p[i++] == '-';
    if (i == len) return NUMPARSE_SYNTAX;
    for (size_t k = i; k < len; k++)
        if (!numparse_is_digit(p[k])) return NUMPARSE_SYNTAX; /* syntax before range */
    uint64_t v = 0;
    for (; i < len; i++) {
        if (v > (UINT64_C(1) << 63) / 10) return NUMPARSE_RANGE;
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > (UINT64_C(1) << 63)) return NUMPARSE_RANGE;
    }
    int64_t s;
    if (neg)
        s = v == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)v;
    else if (v > (uint64_t)INT64_MAX)
        return NUMPARSE_RANGE;
    else
        s = (int64_t)v;
    if (s < min || s > max) return NUMPARSE_RANGE;
    *out = s;
    return NUMPARSE_OK;
}

const char *numparse_strerror(int code)
{
    switch (code) {
    case NUMPARSE_OK: return "ok";
    case NUMPARSE_EMPTY: return "empty";
    case NUMPARSE_SYNTAX: return "not a number";
    case NUMPARSE_NONFINITE: return "not a finite number";
    case NUMPARSE_RANGE: return "out of range";
    default: return "invalid";
    }
}
