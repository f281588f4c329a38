/* maintlog: maintenance work orders from a maintenance log, in CSV or JSON lines, decoded line
 * by line into orders or reasons to reject them. Pure: no I/O, never reads past a line's length.
 *
 * The first non-blank line decides the format: a line starting with '{' begins JSON lines (one
 * object per line, and that line is the first record); anything else is a CSV header. A UTF-8
 * byte-order mark before the first line and a CR before each line's end are dropped; blank lines
 * are skipped.
 *
 * Fields (CSV columns or JSON keys), named without regard to case, spaces, '_', '-' and '.':
 *   robot       robot, robot id                 the robot's id, an integer >= 1 (required)
 *   start       start, start time, started at,  ISO 8601 with a zone, or epoch seconds
 *               ts start, begin                 (required)
 *   end         end, end time, ended at, ts end the same, at or after start; empty or absent:
 *                                               an instantaneous event
 *   kind        kind, type                      failure, repair, inspection or replacement,
 *                                               any case (required)
 *   work order  work order, work order id,      the order's id, unique in its source: text of
 *               order, order id, wo, wo id      1..MAINTLOG_ORDER_MAX bytes, trimmed (required)
 *   text        text, description, detail,      free text (optional; invalid UTF-8 is replaced
 *               comment                         by U+FFFD)
 *   axis        axis                            1..8; empty or absent: the whole robot
 * Other columns and keys are ignored (maintlog_ignored lists the CSV ones). In JSON, robot and
 * axis may be numbers or strings of digits, start and end strings or numbers (epoch seconds),
 * the work order a string or an integer, end, text and axis may be null. A CSV line must have
 * as many fields as the header. */
#ifndef PGPULSE_MAINTLOG_H
#define PGPULSE_MAINTLOG_H

#include <stddef.h>
#include <stdint.h>

#define MAINTLOG_ORDER_MAX 200 /* bytes of a work order's id */

typedef enum maintlog_kind {
    MAINTLOG_FAILURE = 1,
    MAINTLOG_REPAIR = 2,
    MAINTLOG_INSPECTION = 3,
    MAINTLOG_REPLACEMENT = 4,
} maintlog_kind;

typedef enum maintlog_format {
    MAINTLOG_UNKNOWN = 0, /* no non-blank line seen yet */
    MAINTLOG_CSV = 1,
    MAINTLOG_JSONL = 2,
} maintlog_format;

/* One work order. The text pointers stay valid until the parser's next call. */
typedef struct maintlog_order {
    uint64_t line_no;    /* the line it came from */
    int32_t robot_id;    /* >= 1 */
    int axis;            /* 1..8; 0: the whole robot */
    maintlog_kind kind;
    int64_t start_us;    /* µs since 1970-01-01 UTC */
    int64_t end_us;      /* >= start_us when has_end, else equal to start_us */
    int has_end;         /* 0: an instantaneous event */
    const char *order;   /* the work order's id: valid UTF-8 without NUL, 1..MAINTLOG_ORDER_MAX */
    size_t order_len;
    const char *text;    /* valid UTF-8 without NUL; text_len 0 when absent */
    size_t text_len;
} maintlog_order;

typedef struct maintlog maintlog;

/* A parser at the start of a file. Never NULL (out of memory aborts). */
maintlog *maintlog_new(void);

/* Results of maintlog_line. */
#define MAINTLOG_ORDER 1       /* *out holds an order */
#define MAINTLOG_SKIP 0        /* no record on this line: the CSV header, a blank line */
#define MAINTLOG_REJECT (-1)   /* the line is not a valid order: reason names the field */
#define MAINTLOG_BADHEADER (-2) /* the CSV header cannot be used: reason says why; every later
                                   line returns this too, the file cannot be read */

/* Decodes line number line_no, line[0..len) without its newline (a trailing CR is dropped).
 * reason (reasonlen >= 1) receives, on MAINTLOG_REJECT and MAINTLOG_BADHEADER, "field: what"
 * with the field named as the file names it (e.g. "Start Time: not a timestamp with a zone:
 * '2024-13-01'"), or what is wrong with the line as a whole ("not JSON: ..."). */
int maintlog_line(maintlog *p, const char *line, size_t len, uint64_t line_no,
                  maintlog_order *out, char *reason, size_t reasonlen);

/* The format, once the first non-blank line has been seen. */
maintlog_format maintlog_get_format(const maintlog *p);

/* The CSV header's columns that are not read, comma separated ("" if none). */
const char *maintlog_ignored(const maintlog *p);

/* "failure", "repair", "inspection", "replacement". */
const char *maintlog_kind_name(maintlog_kind kind);

/* Releases p. NULL-safe. */
void maintlog_free(maintlog *p);

#endif
