/* readingcsv: the CSV formats that carry readings, recognised by their header, and the
 * decoding of one line into a reading or a reason to reject it.
 *
 * Formats (column order never matters; names are matched without case and surrounding space):
 *   native    robot_id,ts,axis1,...,axis8          ts: ISO 8601 with a zone, or epoch seconds
 *   workshop  "Trait","Axis #1".."Axis #14","Time" the robot export: one robot per file
 *             (given by --robot), Time in ISO 8601; Trait, if present, must be "current";
 *             Axis #9..#14 are not stored (a file with values there is told so), but text
 *             that is not a number there rejects the line like anywhere else.
 * Decoding is pure: the caller supplies "now" for the future-timestamp rule. */
#ifndef PGPULSE_READINGCSV_H
#define PGPULSE_READINGCSV_H

#include <stddef.h>
#include <stdint.h>

#include "csvin.h"

#define READING_AXES 8
#define READINGCSV_MAX_FUTURE_US (INT64_C(86400) * 1000000) /* a day */

/* One row of the `reading` table. */
typedef struct reading {
    int32_t robot_id;
    int64_t ts_us;               /* microseconds since 1970-01-01 UTC */
    double axis[READING_AXES];   /* joint currents, finite */
} reading;

typedef enum readingcsv_format {
    READINGCSV_NATIVE = 1,
    READINGCSV_WORKSHOP = 2,
} readingcsv_format;

typedef struct readingcsv {
    readingcsv_format format;
    size_t ncols;                 /* fields every data line must have */
    int col_robot;                /* robot_id column (native), else -1 */
    int col_ts;                   /* ts / Time column */
    int col_axis[READING_AXES];   /* axis1..8 / Axis #1..#8 columns */
    int col_trait;                /* workshop Trait column, -1 if absent */
    int col_extra[6];             /* workshop Axis #9..#14 columns, -1 if absent */
    int32_t robot_id;             /* workshop: the robot the file belongs to */
    char ignored[256];            /* header columns that are not read, comma separated */
} readingcsv;

/* Recognises the header line. For the workshop format robot_id must be > 0 (it has no robot
 * column). Returns 0, or -1 with a message saying what was expected or what is missing. */
int readingcsv_detect(readingcsv *f, const csvin_row *header, int32_t robot_id, char *err,
                      size_t errlen);

/* Decode outcomes. */
#define READINGCSV_OK 0
#define READINGCSV_REJECT (-1)  /* reason says why, naming the field */
#define READINGCSV_OK_EXTRA 1   /* accepted; the line has values in unstored Axis #9..#14 */

/* Decodes one data line into *out. now_us is the current time (timestamps more than a day
 * ahead of it are rejected). Returns READINGCSV_OK, READINGCSV_OK_EXTRA, or READINGCSV_REJECT
 * with a reason such as "axis3: not a number: 'x1'". */
int readingcsv_decode(const readingcsv *f, const csvin_row *row, int64_t now_us, reading *out,
                      char *reason, size_t reasonlen);

/* The writer of the native format, the inverse of decoding it: timestamps as ISO 8601 UTC with
 * milliseconds ("2026-01-01T00:00:01.234Z", microseconds dropped), values with at most three
 * decimals (rounded; trailing zeros dropped: "12.5", "0"). Fast enough for millions of rows
 * a second: the date part is cached per day. */
typedef struct readingcsv_writer {
    int64_t day;     /* day number of the cached date, INT64_MIN before the first row */
    char date[12];   /* "YYYY-MM-DDT" */
} readingcsv_writer;

#define READINGCSV_HEADER "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8\n"
#define READINGCSV_ROW_MAX 512 /* bytes a written row can take, newline included */

void readingcsv_writer_init(readingcsv_writer *w);

/* Writes r as one native CSV line (with its newline) at out, which must hold
 * READINGCSV_ROW_MAX bytes; returns the length. */
size_t readingcsv_write_row(readingcsv_writer *w, const reading *r, char *out);

/* "native" or "workshop". */
const char *readingcsv_format_name(readingcsv_format format);

#endif
