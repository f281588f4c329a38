/* libFuzzer target: readingcsv_decode of arbitrary lines against fixed native and workshop
 * headers (and readingcsv_detect of the first line as a header). Each line is split from an
 * exact-size heap copy. Accepted readings must satisfy the module's promises. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "readingcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW INT64_C(1700000000000000)

static readingcsv fmt_native, fmt_workshop;

static void detect_fixed(readingcsv *f, const char *header, int32_t robot)
{
    char line[512];
    size_t n = strlen(header);
    memcpy(line, header, n);
    csvin_row row;
    char err[256];
    if (csvin_split(line, n, &row) != 0 || readingcsv_detect(f, &row, robot, err, sizeof err) != 0)
        abort();
}

static void check(const readingcsv *f, const csvin_row *row)
{
    reading out;
    char reason[256];
    reason[0] = '\0';
    int rc = readingcsv_decode(f, row, NOW, &out, reason, sizeof reason);
    if (rc == READINGCSV_REJECT) {
        if (reason[0] == '\0' || !memchr(reason, '\0', sizeof reason)) abort();
        return;
    }
    if (rc != READINGCSV_OK && rc != READINGCSV_OK_EXTRA) abort();
    if (rc == READINGCSV_OK_EXTRA && f->format != READINGCSV_WORKSHOP) abort();
    if (out.robot_id < 1) abort();
    if (out.ts_us < 0 || out.ts_us > NOW + READINGCSV_MAX_FUTURE_US) abort();
    for (int a = 0; a < READING_AXES; a++)
        if (!isfinite(out.axis[a])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fmt_native.format == 0) {
        detect_fixed(&fmt_native, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8", 0);
        detect_fixed(&fmt_workshop,
                     "Trait,Axis #1,Axis #2,Axis #3,Axis #4,Axis #5,Axis #6,Axis #7,Axis #8,"
                     "Axis #9,Axis #10,Axis #11,Axis #12,Axis #13,Axis #14,Time",
                     7);
    }
    size_t start = 0;
    int first = 1;
    while (start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
        char *line = malloc(len ? len : 1);
        if (!line) return 0;
        memcpy(line, data + start, len);
        csvin_row row;
        csvin_split(line, len, &row);
        row.raw = line;
        row.raw_len = len;
        row.line_no = 1;
        if (first) {
            readingcsv f;
            char err[512];
            if (readingcsv_detect(&f, &row, 3, err, sizeof err) == 0) {
                if (f.ncols != row.nfields || f.col_ts < 0 || (size_t)f.col_ts >= f.ncols) abort();
                for (int a = 0; a < READING_AXES; a++)
                    if (f.col_axis[a] < 0 || (size_t)f.col_axis[a] >= f.ncols) abort();
                check(&f, &row); /* the header as data: must not crash */
            } else if (err[0] == '\0') {
                abort();
            }
            first = 0;
            /* Splitting unquoted the line in place; split a fresh copy for decoding. */
            memcpy(line, data + start, len);
            csvin_split(line, len, &row);
        }
        check(&fmt_native, &row);
        check(&fmt_workshop, &row);
        free(line);
        if (!nl) break;
        start += len + 1;
    }
    return 0;
}
