/* libFuzzer target: csvin_split over arbitrary bytes, in a heap block of exactly the input's
 * size so that ASan reports any read or write past the line. Checks the row's invariants. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csvin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size ? size : 1);
    if (!line) return 0;
    memcpy(line, data, size);
    csvin_row row;
    memset(&row, 0xA5, sizeof row);
    int rc = csvin_split(line, size, &row);
    if (rc == 0) {
        if (row.error != NULL || row.nfields < 1 || row.nfields > CSVIN_MAX_FIELDS) abort();
        size_t total = 0;
        for (size_t i = 0; i < row.nfields; i++) {
            const csvin_field *f = &row.fields[i];
            if (f->p < line || f->p > line + size || f->len > (size_t)(line + size - f->p)) abort();
            if (i > 0 && f->p < row.fields[i - 1].p + row.fields[i - 1].len) abort();
            total += f->len;
        }
        /* Unquoting only removes bytes; separators take one byte each. */
        if (total + row.nfields - 1 > size) abort();
        /* Without quotes the fields are exactly the comma-separated pieces. */
        if (!memchr(data, '"', size)) {
            size_t commas = 0;
            for (size_t i = 0; i < size; i++)
                commas += data[i] == ',';
            if (row.nfields != commas + 1 || total != size - commas) abort();
        }
    } else {
        if (rc != -1 || row.error == NULL || row.nfields != 0) abort();
    }
    free(line);
    return 0;
}
