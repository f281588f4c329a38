/* copybin: PostgreSQL's COPY ... (FORMAT binary) encoding, both directions.
 *
 * Writers append to a buf; readers decode from (const uint8_t *, size_t) and never read past
 * the end. The value encodings are the types' binary send formats, which pgoutput also uses
 * with `binary 'true'`, so the readers serve change capture too. All integers are big-endian;
 * timestamptz is int64 microseconds since 2000-01-01 UTC. See ../shared/reference/COPY_BINARY.md
 * for the layout. */
#ifndef PGPULSE_COPYBIN_H
#define PGPULSE_COPYBIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

#define COPYBIN_HEADER_LEN 19
#define COPYBIN_PG_EPOCH_US INT64_C(946684800000000) /* 2000-01-01 in Unix microseconds */

static inline void copybin_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void copybin_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void copybin_put64(uint8_t *p, uint64_t v)
{
    copybin_put32(p, (uint32_t)(v >> 32));
    copybin_put32(p + 4, (uint32_t)v);
}

static inline uint16_t copybin_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t copybin_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t copybin_get64(const uint8_t *p)
{
    return ((uint64_t)copybin_get32(p) << 32) | copybin_get32(p + 4);
}

/* Writers: each appends one element to b. */
void copybin_write_header(buf *b);
void copybin_write_trailer(buf *b);
void copybin_write_tuple_start(buf *b, uint16_t nfields);
void copybin_write_null(buf *b);
void copybin_write_int4(buf *b, int32_t v);
void copybin_write_int8(buf *b, int64_t v);
void copybin_write_float8(buf *b, double v);
void copybin_write_timestamptz(buf *b, int64_t unix_us);
void copybin_write_text(buf *b, const char *s, size_t len);

/* A read cursor over a COPY BINARY stream or a pgoutput binary value. */
typedef struct copybin_reader {
    const uint8_t *p; /* next byte */
    const uint8_t *end;
} copybin_reader;

/* Readers return 0 on success, -1 if the input is short or malformed (the cursor is then
 * unspecified). copybin_read_field_len gives the next field's length (-1 for NULL) and
 * checks that many bytes are present. */
int copybin_read_header(copybin_reader *r);
int copybin_read_tuple_start(copybin_reader *r, int *nfields); /* -1 at the trailer */
int copybin_read_field_len(copybin_reader *r, int32_t *len);
int copybin_read_int4(copybin_reader *r, int32_t *v);
int copybin_read_int8(copybin_reader *r, int64_t *v);
int copybin_read_float8(copybin_reader *r, double *v);
int copybin_read_timestamptz(copybin_reader *r, int64_t *unix_us);

#endif
