/* csvin: a streaming CSV reader with constant memory, for files of any size and for pipes.
 *
 * Records are lines: a newline always ends a record, even inside quotes (no field of the
 * formats pgpulse reads spans lines, and this keeps one broken quote from swallowing the
 * lines after it). Fields are separated by commas; a field that starts with a double quote
 * runs to the matching quote, with "" standing for one quote. A UTF-8 byte-order mark at the
 * start and a CR before the newline are dropped. Blank lines are skipped (they carry no data)
 * unless csvin_keep_blank_lines asks for them.
 *
 * The parsing core, csvin_split, is pure over (buf, len) and is the fuzz target; csvin_next
 * adds buffered reading from a file descriptor. */
#ifndef PGPULSE_CSVIN_H
#define PGPULSE_CSVIN_H

#include <stddef.h>
#include <stdint.h>

#define CSVIN_MAX_FIELDS 64            /* a record with more fields is an error */
#define CSVIN_DEFAULT_MAX_LINE 65536   /* longer lines are reported, not parsed */

typedef struct csvin_field {
    const char *p; /* field text after unquoting (not NUL-terminated) */
    size_t len;
} csvin_field;

typedef struct csvin_row {
    uint64_t line_no;          /* 1-based line number in the input */
    uint64_t offset;           /* byte offset of the line in the input */
    const char *raw;           /* the line as read, without its line terminator */
    size_t raw_len;            /* its length (at most max_line when too_long) */
    size_t nfields;            /* number of fields, 0 when error is set */
    csvin_field fields[CSVIN_MAX_FIELDS];
    const char *error;         /* NULL, or why the line could not be split (static text, or
                                  text owned by the csvin that produced the row) */
} csvin_row;

/* Splits one line (without its terminator) into fields. The line's bytes are rewritten in
 * place to unquote fields, so `line` must be writable and outlive the row's use. Returns 0,
 * or -1 with row->error set ("unterminated quoted field", "text after closing quote",
 * "more than 64 fields"). */
int csvin_split(char *line, size_t len, csvin_row *row);

typedef struct csvin csvin;

/* Reads from fd (not closed by csvin). max_line bounds a line's length (0: the default). */
csvin *csvin_new(int fd, size_t max_line);

/* With keep set, blank lines (empty or only spaces and tabs) are returned as rows with
 * error "empty line" instead of being skipped: for inputs where every line should be a record,
 * so a line that lost its content is reported rather than passed over. */
void csvin_keep_blank_lines(csvin *r, int keep);

/* Result codes of csvin_next. */
#define CSVIN_ROW 1      /* *row holds the next record */
#define CSVIN_EOF 0      /* no more input */
#define CSVIN_TIMEOUT 2  /* no complete line arrived within the timeout */
#define CSVIN_IOERR (-1) /* read error; message in err */

/* Reads the next non-blank line into *row. The row's pointers stay valid until the next call.
 * A line longer than max_line comes back with error "line longer than N bytes" and its first
 * max_line bytes as raw. timeout_ms < 0 waits for input indefinitely; otherwise CSVIN_TIMEOUT
 * is returned when no complete line is available after that long (for pipes that trickle). */
int csvin_next(csvin *r, csvin_row *row, int timeout_ms, char *err, size_t errlen);

/* Bytes consumed from the input so far. */
uint64_t csvin_bytes_read(const csvin *r);

/* Releases r. NULL-safe. */
void csvin_free(csvin *r);

#endif
