/* copybin: COPY BINARY writers and readers. */
#include "copybin.h"

static const uint8_t copybin_signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF,
                                              '\r', '\n', 0};

void copybin_write_header(buf *b)
{
    uint8_t *p = buf_reserve(b, COPYBIN_HEADER_LEN);
    memcpy(p, copybin_signature, sizeof copybin_signature);
    copybin_put32(p + 11, 0); /* flags: no OIDs */
    copybin_put32(p + 15, 0); /* no header extension */
    buf_commit(b, COPYBIN_HEADER_LEN);
}

void copybin_write_trailer(buf *b)
{
    copybin_put16(buf_reserve(b, 2), 0xFFFF);
    buf_commit(b, 2);
}

void copybin_write_tuple_start(buf *b, uint16_t nfields)
{
    copybin_put16(buf_reserve(b, 2), nfields);
    buf_commit(b, 2);
}

void copybin_write_null(buf *b)
{
    copybin_put32(buf_reserve(b, 4), 0xFFFFFFFFu);
    buf_commit(b, 4);
}

void copybin_write_int4(buf *b, int32_t v)
{
    uint8_t *p = buf_reserve(b, 8);
    copybin_put32(p, 4);
    copybin_put32(p + 4, (uint32_t)v);
    buf_commit(b, 8);
}

void copybin_write_int8(buf *b, int64_t v)
{
    uint8_t *p = buf_reserve(b, 12);
    copybin_put32(p, 8);
    copybin_put64(p + 4, (uint64_t)v);
    buf_commit(b, 12);
}

void copybin_write_float8(buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    uint8_t *p = buf_reserve(b, 12);
    copybin_put32(p, 8);
    copybin_put64(p + 4, u);
    buf_commit(b, 12);
}

void copybin_write_timestamptz(buf *b, int64_t unix_us)
{
    /* INT64_MIN and INT64_MAX are -infinity and infinity on both sides. */
    int64_t pg = unix_us;
    if (unix_us != INT64_MAX && unix_us != INT64_MIN) {
        /* <=: unix_us == INT64_MIN + epoch would otherwise become INT64_MIN, -infinity. */
        pg = unix_us <= INT64_MIN + COPYBIN_PG_EPOCH_US ? INT64_MIN + 1
                                                        : unix_us - COPYBIN_PG_EPOCH_US;
    }
    copybin_write_int8(b, pg);
}

void copybin_write_text(buf *b, const char *s, size_t len)
{
    uint8_t *p = buf_reserve(b, 4 + len);
    copybin_put32(p, (uint32_t)len);
    memcpy(p + 4, s, len);
    buf_commit(b, 4 + len);
}

static int copybin_have(const copybin_reader *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

int copybin_read_header(copybin_reader *r)
{
    if (!copybin_have(r, COPYBIN_HEADER_LEN)) return -1;
    if (memcmp(r->p, copybin_signature, sizeof copybin_signature) != 0) return -1;
    uint32_t flags = copybin_get32(r->p + 11);
    uint32_t ext = copybin_get32(r->p + 15);
    if (flags != 0) return -1; /* OIDs or unknown critical flags */
    r->p += COPYBIN_HEADER_LEN;
    if (!copybin_have(r, ext)) return -1;
    r->p += ext;
    return 0;
}

int copybin_read_tuple_start(copybin_reader *r, int *nfields)
{
    if (!copybin_have(r, 2)) return -1;
    uint16_t n = copybin_get16(r->p);
    /* The count is an Int16: -1 is the trailer, any other negative value is malformed. */
    if (n >= 0x8000 && n != 0xFFFF) return -1;
    r->p += 2;
    *nfields = n == 0xFFFF ? -1 : (int)n;
    return 0;
}

int copybin_read_field_len(copybin_reader *r, int32_t *len)
{
    if (!copybin_have(r, 4)) return -1;
    int32_t n = (int32_t)copybin_get32(r->p);
    r->p += 4;
    if (n < -1) return -1;
    if (n > 0 && !copybin_have(r, (size_t)n)) return -1;
    *len = n;
    return 0;
}

/* Reads a field that must be exactly n bytes (not NULL) and returns its start. */
static const uint8_t *copybin_fixed(copybin_reader *r, int32_t n)
{
    int32_t len;
    if (copybin_read_field_len(r, &len) != 0 || len != n) return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

int copybin_read_int4(copybin_reader *r, int32_t *v)
{
    const uint8_t *p = copybin_fixed(r, 4);
    if (!p) return -1;
    *v = (int32_t)copybin_get32(p);
    return 0;
}

int copybin_read_int8(copybin_reader *r, int64_t *v)
{
    const uint8_t *p = copybin_fixed(r, 8);
    if (!p) return -1;
    *v = (int64_t)copybin_get64(p);
    return 0;
}

int copybin_read_float8(copybin_reader *r, double *v)
{
    const uint8_t *p = copybin_fixed(r, 8);
    if (!p) return -1;
    uint64_t u = copybin_get64(p);
    memcpy(v, &u, sizeof *v);
    return 0;
}

int copybin_read_timestamptz(copybin_reader *r, int64_t *unix_us)
{
    int64_t pg;
    if (copybin_read_int8(r, &pg) != 0) return -1;
    if (pg == INT64_MAX || pg == INT64_MIN)
        *unix_us = pg;
    else /* >=: pg == INT64_MAX - epoch would otherwise become INT64_MAX, infinity. */
        *unix_us = pg >= INT64_MAX - COPYBIN_PG_EPOCH_US ? INT64_MAX - 1 : pg + COPYBIN_PG_EPOCH_US;
    return 0;
}
