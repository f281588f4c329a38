/* buf: a growable byte buffer (the encoder side of every wire format).
 *
 * A buf owns its storage; buf_free releases it. Appends never fail (growth aborts on out of
 * memory, see util.h). */
#ifndef PGPULSE_BUF_H
#define PGPULSE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct buf {
    uint8_t *data; /* storage, NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} buf;

/* Makes room for n more bytes and returns a pointer to them (never NULL, even for n == 0); the
 * caller writes them and calls buf_commit(b, n). */
uint8_t *buf_reserve(buf *b, size_t n);

static inline void buf_commit(buf *b, size_t n)
{
    b->len += n;
}

static inline void buf_append(buf *b, const void *p, size_t n)
{
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

/* Appends a NUL-terminated string without its terminator. */
void buf_puts(buf *b, const char *s);

/* Appends formatted text (without a terminator). */
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its storage. */
static inline void buf_reset(buf *b)
{
    b->len = 0;
}

/* Releases the storage; the buf is empty and reusable afterwards. NULL-safe. */
void buf_free(buf *b);

#endif
