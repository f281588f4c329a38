/* libFuzzer target: the copybin readers over arbitrary bytes (an exact-size heap copy, so ASan
 * sees any read past the end). The first byte picks a reader for each field; a value that reads
 * back must re-encode to exactly the bytes it came from. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes with a writer and compares with the bytes the reader consumed. */
static void same_bytes(const uint8_t *from, const uint8_t *to, buf *b)
{
    if ((size_t)(to - from) != b->len || memcmp(from, b->data, b->len) != 0) abort();
    buf_reset(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    uint8_t prog = data[0];
    data++;
    size--;
    uint8_t *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    buf b = {0};
    copybin_reader r = {p, p + size};
    if (prog & 0x80) {
        if (copybin_read_header(&r) != 0) goto done;
        if (r.p < p + COPYBIN_HEADER_LEN || r.p > r.end) abort();
    }
    for (int tuples = 0; tuples < 1000; tuples++) {
        int nf = 0;
        if (copybin_read_tuple_start(&r, &nf) != 0) break;
        if (r.p > r.end || nf < -1 || nf > 0xFFFE) abort();
        if (nf < 0) break;
        for (int i = 0; i < nf; i++) {
            const uint8_t *at = r.p;
            int rc;
            int32_t i4, len;
            int64_t i8;
            double f8;
            switch ((prog + i) % 5) {
            case 0:
                rc = copybin_read_int4(&r, &i4);
                if (rc == 0) {
                    copybin_write_int4(&b, i4);
                    same_bytes(at, r.p, &b);
                }
                break;
            case 1:
                rc = copybin_read_int8(&r, &i8);
                if (rc == 0) {
                    copybin_write_int8(&b, i8);
                    same_bytes(at, r.p, &b);
                }
                break;
            case 2:
                rc = copybin_read_float8(&r, &f8);
                if (rc == 0) {
                    copybin_write_float8(&b, f8);
                    same_bytes(at, r.p, &b);
                }
                break;
            case 3:
                rc = copybin_read_timestamptz(&r, &i8);
                break;
            default:
                rc = copybin_read_field_len(&r, &len);
                if (rc == 0) {
                    if (len < -1 || (len > 0 && (size_t)len > (size_t)(r.end - r.p))) abort();
                    if (len > 0) {
                        copybin_write_text(&b, (const char *)r.p, (size_t)len);
                        r.p += len;
                        same_bytes(at, r.p, &b);
                    }
                }
                break;
            }
            if (r.p > r.end) abort();
            if (rc != 0) goto done;
        }
    }
done:
    buf_free(&b);
    free(p);
    return 0;
}
