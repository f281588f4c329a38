/* utf8: validation per RFC 3629 (no overlong forms, no surrogates, nothing above U+10FFFF). */
#include "utf8.h"

size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    if (n == 0) return 0;
    unsigned c = p[0];
    size_t len = c == 0             ? 0
                 : c < 0x80         ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || len > n) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    if (len == 2 && c < 0xC2) return 0;
    if (len == 3) {
        unsigned cp = ((c & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    }
    if (len == 4) {
        unsigned cp =
            ((c & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
        if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    }
    return len;
}

int utf8_valid(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

void utf8_append_clean(buf *b, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t run = 0; /* start of the pending run of valid bytes */
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        buf_append(b, u + run, i - run);
        buf_append(b, UTF8_REPLACEMENT, 3);
        run = ++i;
    }
    buf_append(b, u + run, n - run);
}
