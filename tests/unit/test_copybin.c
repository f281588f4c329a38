/* Unit tests for copybin: the writers reproduce the server-produced hexdump in
 * shared/reference/COPY_BINARY.md byte for byte, the readers decode every writer's output, and
 * truncated or malformed input is rejected without reading past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "copybin.h"

/* The hexdump of `\copy t TO 'copy.bin' WITH (FORMAT binary)` for
 * t(robot_id int4, ts timestamptz, seq int8, temp float8, ok bool, note text) holding
 * (7, '2000-01-01 00:00:01+00', 1, 1.5, true, 'hi') and
 * (8, '1970-01-01 00:00:00+00', -1, NULL, false, NULL). */
static const char reference_hex[] = "5047434f50590aff0d0a00"
                                    "00000000"
                                    "00000000"
                                    "0006"
                                    "0000000400000007"
                                    "0000000800000000000f4240"
                                    "000000080000000000000001"
                                    "000000083ff8000000000000"
                                    "0000000101"
                                    "000000026869"
                                    "0006"
                                    "0000000400000008"
                                    "00000008fffca2fec4c82000"
                                    "00000008ffffffffffffffff"
                                    "ffffffff"
                                    "0000000100"
                                    "ffffffff"
                                    "ffff";

static uint64_t rng_state = UINT64_C(0xD1B54A32D192ED03);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* A bool field: copybin has no writer for it; the reference table has one. */
static void put_bool(buf *b, int v)
{
    uint8_t f[5] = {0, 0, 0, 1, (uint8_t)(v != 0)};
    buf_append(b, f, sizeof f);
}

static void write_reference_rows(buf *b)
{
    copybin_write_header(b);
    copybin_write_tuple_start(b, 6);
    copybin_write_int4(b, 7);
    copybin_write_timestamptz(b, COPYBIN_PG_EPOCH_US + 1000000); /* 2000-01-01 00:00:01 */
    copybin_write_int8(b, 1);
    copybin_write_float8(b, 1.5);
    put_bool(b, 1);
    copybin_write_text(b, "hi", 2);
    copybin_write_tuple_start(b, 6);
    copybin_write_int4(b, 8);
    copybin_write_timestamptz(b, 0); /* 1970-01-01 */
    copybin_write_int8(b, -1);
    copybin_write_null(b);
    put_bool(b, 0);
    copybin_write_null(b);
    copybin_write_trailer(b);
}

static void test_writers_match_reference_hexdump(void **state)
{
    (void)state;
    uint8_t want[256];
    size_t wn = unhex(reference_hex, want);
    assert_int_equal(wn, 19 + 2 + 8 + 12 + 12 + 12 + 5 + 6 + 2 + 8 + 12 + 12 + 4 + 5 + 4 + 2);

    buf b = {0};
    write_reference_rows(&b);
    assert_int_equal(b.len, wn);
    assert_memory_equal(b.data, want, wn);
    buf_free(&b);

    /* Element by element, hand-encoded. */
    static const struct {
        const char *hex;
        int what;
    } cases[] = {
        {"00000004ffffffff", 1},         /* int4 -1 */
        {"0000000480000000", 2},         /* int4 INT32_MIN */
        {"000000087fffffffffffffff", 3}, /* int8 INT64_MAX */
        {"00000008bff8000000000000", 4}, /* float8 -1.5 */
        {"000000088000000000000000", 5}, /* float8 -0.0 */
        {"000000087ff0000000000000", 6}, /* float8 +inf */
        {"000000087fffffffffffffff", 7}, /* timestamptz infinity */
        {"000000088000000000000000", 8}, /* timestamptz -infinity */
        {"00000000", 9},                 /* empty text */
        {"00000003610062", 10},          /* text with a NUL inside */
        {"0000", 11},                    /* tuple with no fields */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf e = {0};
        switch (cases[i].what) {
        case 1:
            copybin_write_int4(&e, -1);
            break;
        case 2:
            copybin_write_int4(&e, INT32_MIN);
            break;
        case 3:
            copybin_write_int8(&e, INT64_MAX);
            break;
        case 4:
            copybin_write_float8(&e, -1.5);
            break;
        case 5:
            copybin_write_float8(&e, -0.0);
            break;
        case 6:
            copybin_write_float8(&e, INFINITY);
            break;
        case 7:
            copybin_write_timestamptz(&e, INT64_MAX);
            break;
        case 8:
            copybin_write_timestamptz(&e, INT64_MIN);
            break;
        case 9:
            copybin_write_text(&e, "", 0);
            break;
        case 10:
            copybin_write_text(&e, "a\0b", 3);
            break;
        case 11:
            copybin_write_tuple_start(&e, 0);
            break;
        }
        uint8_t w[32];
        size_t n = unhex(cases[i].hex, w);
        assert_int_equal(e.len, n);
        assert_memory_equal(e.data, w, n);
        buf_free(&e);
    }
}

/* Decodes the reference stream from p[0..len); returns 0 if every step succeeds. */
static int read_reference(const uint8_t *p, size_t len, int check_values)
{
    copybin_reader r = {p, p + len};
    int nf;
    int32_t i4, fl;
    int64_t i8, ts;
    double f8;
    if (copybin_read_header(&r)) return -1;
    if (copybin_read_tuple_start(&r, &nf) || nf != 6) return -1;
    if (copybin_read_int4(&r, &i4)) return -1;
    if (copybin_read_timestamptz(&r, &ts)) return -1;
    if (copybin_read_int8(&r, &i8)) return -1;
    if (copybin_read_float8(&r, &f8)) return -1;
    if (check_values) {
        assert_int_equal(i4, 7);
        assert_true(ts == COPYBIN_PG_EPOCH_US + 1000000);
        assert_true(i8 == 1);
        assert_true(f8 == 1.5);
    }
    if (copybin_read_field_len(&r, &fl) || fl != 1) return -1;
    if (check_values) assert_int_equal(r.p[0], 1);
    r.p += 1;
    if (copybin_read_field_len(&r, &fl) || fl != 2) return -1;
    if (check_values) assert_memory_equal(r.p, "hi", 2);
    r.p += 2;
    if (copybin_read_tuple_start(&r, &nf) || nf != 6) return -1;
    if (copybin_read_int4(&r, &i4)) return -1;
    if (copybin_read_timestamptz(&r, &ts)) return -1;
    if (copybin_read_int8(&r, &i8)) return -1;
    if (check_values) {
        assert_int_equal(i4, 8);
        assert_true(ts == 0);
        assert_true(i8 == -1);
    }
    if (copybin_read_field_len(&r, &fl) || fl != -1) return -1;
    if (copybin_read_field_len(&r, &fl) || fl != 1) return -1;
    if (check_values) assert_int_equal(r.p[0], 0);
    r.p += 1;
    if (copybin_read_field_len(&r, &fl) || fl != -1) return -1;
    if (copybin_read_tuple_start(&r, &nf) || nf != -1) return -1;
    if (r.p != r.end) return -1;
    return 0;
}

static void test_readers_decode_reference(void **state)
{
    (void)state;
    buf b = {0};
    write_reference_rows(&b);
    assert_int_equal(read_reference(b.data, b.len, 1), 0);
    /* A NULL where a value is expected is an error for the typed readers. */
    buf n = {0};
    copybin_write_null(&n);
    copybin_reader r = {n.data, n.data + n.len};
    double d;
    assert_int_equal(copybin_read_float8(&r, &d), -1);
    buf_free(&n);
    buf_free(&b);
}

/* Every prefix of the reference stream, in a heap block of exactly that size (so ASan sees any
 * overread), fails to decode. */
static void test_truncated_at_every_length(void **state)
{
    (void)state;
    buf b = {0};
    write_reference_rows(&b);
    for (size_t len = 0; len < b.len; len++) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, b.data, len);
        if (read_reference(p, len, 0) == 0) fail_msg("prefix of %zu bytes decoded", len);
        free(p);
    }
    buf_free(&b);

    /* Each reader alone, on each prefix of its own element. */
    for (int what = 0; what < 7; what++) {
        buf e = {0};
        switch (what) {
        case 0:
            copybin_write_header(&e);
            break;
        case 1:
            copybin_write_tuple_start(&e, 3);
            break;
        case 2:
            copybin_write_text(&e, "hello", 5);
            break;
        case 3:
            copybin_write_int4(&e, 5);
            break;
        case 4:
            copybin_write_int8(&e, 5);
            break;
        case 5:
            copybin_write_float8(&e, 5.0);
            break;
        case 6:
            copybin_write_timestamptz(&e, 5);
            break;
        }
        for (size_t len = 0; len <= e.len; len++) {
            uint8_t *p = malloc(len ? len : 1);
            memcpy(p, e.data, len);
            copybin_reader r = {p, p + len};
            int rc, nf;
            int32_t i4;
            int64_t i8;
            double f8;
            switch (what) {
            case 0:
                rc = copybin_read_header(&r);
                break;
            case 1:
                rc = copybin_read_tuple_start(&r, &nf);
                break;
            case 2:
                rc = copybin_read_field_len(&r, &i4);
                break;
            case 3:
                rc = copybin_read_int4(&r, &i4);
                break;
            case 4:
                rc = copybin_read_int8(&r, &i8);
                break;
            case 5:
                rc = copybin_read_float8(&r, &f8);
                break;
            default:
                rc = copybin_read_timestamptz(&r, &i8);
                break;
            }
            if (len == e.len) {
                assert_int_equal(rc, 0);
                if (what != 2)
                    assert_ptr_equal(r.p, r.end);
                else
                    assert_ptr_equal(r.p, r.end - 5); /* at the text's bytes */
            } else {
                if (rc != -1) fail_msg("reader %d accepted %zu of %zu bytes", what, len, e.len);
            }
            free(p);
        }
        buf_free(&e);
    }
}

static void test_header_checks(void **state)
{
    (void)state;
    buf b = {0};
    copybin_write_header(&b);
    assert_int_equal(b.len, COPYBIN_HEADER_LEN);
    uint8_t h[64];
    /* Each signature byte matters. */
    for (size_t i = 0; i < 11; i++) {
        memcpy(h, b.data, b.len);
        h[i] ^= 0x01;
        copybin_reader r = {h, h + b.len};
        if (copybin_read_header(&r) != -1) fail_msg("signature byte %zu not checked", i);
    }
    /* Flags: OIDs (bit 16) and any other bit are refused. */
    for (int bit = 0; bit < 32; bit++) {
        memcpy(h, b.data, b.len);
        copybin_put32(h + 11, UINT32_C(1) << bit);
        copybin_reader r = {h, h + b.len};
        if (copybin_read_header(&r) != -1) fail_msg("flag bit %d accepted", bit);
    }
    /* A header extension is skipped; one longer than the input is an error. */
    memcpy(h, b.data, b.len);
    copybin_put32(h + 15, 4);
    memcpy(h + 19, "abcd", 4);
    copybin_put16(h + 23, 0xFFFF);
    copybin_reader r = {h, h + 25};
    assert_int_equal(copybin_read_header(&r), 0);
    assert_ptr_equal(r.p, h + 23);
    int nf = 0;
    assert_int_equal(copybin_read_tuple_start(&r, &nf), 0);
    assert_int_equal(nf, -1);
    r = (copybin_reader){h, h + 22};
    assert_int_equal(copybin_read_header(&r), -1);
    copybin_put32(h + 15, 0xFFFFFFFFu);
    r = (copybin_reader){h, h + 25};
    assert_int_equal(copybin_read_header(&r), -1);
    buf_free(&b);
}

static void test_field_checks(void **state)
{
    (void)state;
    uint8_t f[16];
    int32_t len = 99, i4 = 99;
    /* Lengths below -1 are malformed. */
    copybin_put32(f, 0xFFFFFFFEu);
    copybin_reader r = {f, f + 16};
    assert_int_equal(copybin_read_field_len(&r, &len), -1);
    copybin_put32(f, 0x80000000u);
    r = (copybin_reader){f, f + 16};
    assert_int_equal(copybin_read_field_len(&r, &len), -1);
    /* A length beyond the input. */
    copybin_put32(f, 13);
    r = (copybin_reader){f, f + 16};
    assert_int_equal(copybin_read_field_len(&r, &len), -1);
    copybin_put32(f, 12);
    r = (copybin_reader){f, f + 16};
    assert_int_equal(copybin_read_field_len(&r, &len), 0);
    assert_int_equal(len, 12);
    /* A typed reader wants exactly its size. */
    copybin_put32(f, 8);
    r = (copybin_reader){f, f + 16};
    assert_int_equal(copybin_read_int4(&r, &i4), -1);
    assert_int_equal(i4, 99);
    copybin_put32(f, 4);
    r = (copybin_reader){f, f + 16};
    int64_t i8 = 99;
    assert_int_equal(copybin_read_int8(&r, &i8), -1);
    assert_true(i8 == 99);
    r = (copybin_reader){f, f + 16};
    assert_int_equal(copybin_read_timestamptz(&r, &i8), -1);
    /* A tuple's field count: -1 is the trailer, other negative counts are malformed. */
    int nf = 99;
    copybin_put16(f, 0xFFFF);
    r = (copybin_reader){f, f + 2};
    assert_int_equal(copybin_read_tuple_start(&r, &nf), 0);
    assert_int_equal(nf, -1);
    copybin_put16(f, 0x8000);
    r = (copybin_reader){f, f + 2};
    assert_int_equal(copybin_read_tuple_start(&r, &nf), -1);
    copybin_put16(f, 0xFFFE);
    r = (copybin_reader){f, f + 2};
    assert_int_equal(copybin_read_tuple_start(&r, &nf), -1);
    copybin_put16(f, 0x7FFF);
    r = (copybin_reader){f, f + 2};
    assert_int_equal(copybin_read_tuple_start(&r, &nf), 0);
    assert_int_equal(nf, 32767);
}

static void test_round_trips(void **state)
{
    (void)state;
    buf b = {0};
    enum { N = 20000 };
    static int32_t v4[N];
    static int64_t v8[N], vt[N];
    static uint64_t vf[N];
    static char txt[N][24];
    static size_t tl[N];
    int64_t special_ts[] = {INT64_MIN,
                            INT64_MIN + 1,
                            INT64_MAX,
                            INT64_MAX - 1,
                            0,
                            -1,
                            COPYBIN_PG_EPOCH_US,
                            INT64_MIN + COPYBIN_PG_EPOCH_US,
                            INT64_MAX - COPYBIN_PG_EPOCH_US};
    for (int i = 0; i < N; i++) {
        v4[i] = (int32_t)(uint32_t)rng();
        v8[i] = (int64_t)rng() >> (rng() % 64);
        vt[i] = i < 9 ? special_ts[i] : (int64_t)rng() >> (rng() % 64);
        vf[i] = rng(); /* any bit pattern, NaNs included */
        tl[i] = (size_t)(rng() % sizeof txt[i]);
        for (size_t k = 0; k < tl[i]; k++)
            txt[i][k] = (char)rng();
        copybin_write_tuple_start(&b, 6);
        copybin_write_int4(&b, v4[i]);
        copybin_write_int8(&b, v8[i]);
        copybin_write_timestamptz(&b, vt[i]);
        double d;
        memcpy(&d, &vf[i], sizeof d);
        copybin_write_float8(&b, d);
        copybin_write_text(&b, txt[i], tl[i]);
        copybin_write_null(&b);
    }
    copybin_write_trailer(&b);

    copybin_reader r = {b.data, b.data + b.len};
    for (int i = 0; i < N; i++) {
        int nf;
        int32_t i4, fl;
        int64_t i8, ts;
        double d;
        assert_int_equal(copybin_read_tuple_start(&r, &nf), 0);
        assert_int_equal(nf, 6);
        assert_int_equal(copybin_read_int4(&r, &i4), 0);
        assert_int_equal(i4, v4[i]);
        assert_int_equal(copybin_read_int8(&r, &i8), 0);
        assert_true(i8 == v8[i]);
        assert_int_equal(copybin_read_timestamptz(&r, &ts), 0);
        /* Exact, except below INT64_MIN + the 2000 epoch shift, where the writer clamps to
         * PostgreSQL's smallest finite value (INT64_MIN + 1), short of -infinity. */
        int64_t want = vt[i];
        if (want != INT64_MIN && want <= INT64_MIN + COPYBIN_PG_EPOCH_US)
            want = INT64_MIN + 1 + COPYBIN_PG_EPOCH_US;
        if (ts != want)
            fail_msg("row %d: wrote %lld, read %lld", i, (long long)vt[i], (long long)ts);
        assert_int_equal(copybin_read_float8(&r, &d), 0);
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        assert_true(u == vf[i]);
        assert_int_equal(copybin_read_field_len(&r, &fl), 0);
        assert_int_equal(fl, (int32_t)tl[i]);
        assert_memory_equal(r.p, txt[i], tl[i]);
        r.p += fl;
        assert_int_equal(copybin_read_field_len(&r, &fl), 0);
        assert_int_equal(fl, -1);
    }
    int nf = 0;
    assert_int_equal(copybin_read_tuple_start(&r, &nf), 0);
    assert_int_equal(nf, -1);
    assert_ptr_equal(r.p, r.end);
    buf_free(&b);

    /* On the PostgreSQL side: infinity stays infinity, the clamps stay finite. */
    buf e = {0};
    copybin_write_timestamptz(&e, INT64_MIN + 5);
    assert_true((int64_t)copybin_get64(e.data + 4) == INT64_MIN + 1);
    buf_reset(&e);
    copybin_write_timestamptz(&e, INT64_MAX - 5);
    assert_true((int64_t)copybin_get64(e.data + 4) == INT64_MAX - 5 - COPYBIN_PG_EPOCH_US);
    buf_free(&e);
    /* Server values near the top clamp below infinity when shifted to the Unix epoch. */
    static const int64_t pg_in[] = {INT64_MAX - 1, INT64_MAX - COPYBIN_PG_EPOCH_US,
                                    INT64_MAX - COPYBIN_PG_EPOCH_US - 1, INT64_MIN + 1, 0};
    static const int64_t unix_out[] = {INT64_MAX - 1, INT64_MAX - 1, INT64_MAX - 1,
                                       INT64_MIN + 1 + COPYBIN_PG_EPOCH_US, COPYBIN_PG_EPOCH_US};
    for (size_t i = 0; i < sizeof pg_in / sizeof pg_in[0]; i++) {
        uint8_t f[12];
        copybin_put32(f, 8);
        copybin_put64(f + 4, (uint64_t)pg_in[i]);
        copybin_reader rr = {f, f + 12};
        int64_t ts;
        assert_int_equal(copybin_read_timestamptz(&rr, &ts), 0);
        if (ts != unix_out[i]) fail_msg("pg %lld read as %lld", (long long)pg_in[i], (long long)ts);
    }
}

static void test_byte_helpers(void **state)
{
    (void)state;
    uint8_t p[8];
    copybin_put16(p, 0xABCD);
    assert_int_equal(p[0], 0xAB);
    assert_int_equal(p[1], 0xCD);
    assert_int_equal(copybin_get16(p), 0xABCD);
    copybin_put32(p, 0x01020304u);
    assert_memory_equal(p, "\x01\x02\x03\x04", 4);
    assert_int_equal(copybin_get32(p), 0x01020304u);
    copybin_put64(p, UINT64_C(0x8899AABBCCDDEEFF));
    assert_memory_equal(p, "\x88\x99\xAA\xBB\xCC\xDD\xEE\xFF", 8);
    assert_true(copybin_get64(p) == UINT64_C(0x8899AABBCCDDEEFF));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_helpers),
        cmocka_unit_test(test_writers_match_reference_hexdump),
        cmocka_unit_test(test_readers_decode_reference),
        cmocka_unit_test(test_truncated_at_every_length),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_field_checks),
        cmocka_unit_test(test_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
