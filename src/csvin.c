/* csvin: streaming CSV reader. A fixed buffer of 4 x max_line (at least 1 MiB) holds the
 * input; complete lines are handed out in place and the tail is moved to the front before the
 * next read, so memory does not depend on the input's size. */
#include "csvin.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct csvin {
    int fd;             /* input */
    char *buf;          /* buffer of cap bytes */
    size_t cap;         /* buffer size */
    size_t start;       /* first unconsumed byte */
    size_t end;         /* one past the last byte read */
    size_t max_line;    /* longest line parsed */
    uint64_t consumed;  /* bytes before buf[start] */
    uint64_t line_no;   /* lines consumed so far */
    int eof;            /* read() returned 0 */
    int bom_checked;    /* the start of input was checked for a byte-order mark */
    int skipping;       /* discarding the rest of an over-long line up to its newline */
    int keep_blank;     /* return blank lines as "empty line" rows */
    char *scratch;      /* max_line + 1 bytes: row->raw when the line itself is rewritten */
    char too_long[48];  /* "line longer than N bytes": row->error for over-long lines */
};

int csvin_split(char *line, size_t len, csvin_row *row)
{
    row->nfields = 0;
    row->error = NULL;
    size_t i = 0;
    for (;;) {
        if (row->nfields == CSVIN_MAX_FIELDS) {
            row->error = "more than 64 fields";
            row->nfields = 0;
            return -1;
        }
        csvin_field *f = &row->fields[row->nfields++];
        if (i < len && line[i] == '"') {
            /* Quoted: unescape "" in place, writing at o while reading at i. */
            size_t o = ++i;
            f->p = line + o;
            for (;;) {
                if (i >= len) {
                    row->error = "unterminated quoted field";
                    row->nfields = 0;
                    return -1;
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        line[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                line[o++] = line[i++];
            }
            f->len = (size_t)(line + o - f->p);
            if (i < len && line[i] != ',') {
                row->error = "text after closing quote";
                row->nfields = 0;
                return -1;
            }
        } else {
            const char *comma = i < len ? memchr(line + i, ',', len - i) : NULL;
            size_t stop = comma ? (size_t)(comma - line) : len;
            f->p = line + i;
            f->len = stop - i;
            i = stop;
        }
        if (i >= len) return 0;
        i++; /* the comma */
    }
}

csvin *csvin_new(int fd, size_t max_line)
{
    csvin *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    r->max_line = max_line ? max_line : CSVIN_DEFAULT_MAX_LINE;
    r->cap = r->max_line * 4 < (1u << 20) ? (1u << 20) : r->max_line * 4;
    r->buf = xmalloc(r->cap);
    r->scratch = xmalloc(r->max_line + 1);
    snprintf(r->too_long, sizeof r->too_long, "line longer than %zu bytes", r->max_line);
    return r;
}

void csvin_free(csvin *r)
{
    if (!r) return;
    free(r->buf);
    free(r->scratch);
    free(r);
}

void csvin_keep_blank_lines(csvin *r, int keep)
{
    r->keep_blank = keep;
}

uint64_t csvin_bytes_read(const csvin *r)
{
    return r->consumed + r->start;
}

/* Reads more input after moving the unconsumed tail to the front. Returns bytes read, 0 at
 * EOF, CSVIN_TIMEOUT, or CSVIN_IOERR. */
static int csvin_fill(csvin *r, int timeout_ms, char *err, size_t errlen)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->consumed += r->start;
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) return 1; /* full: the caller handles the over-long line */
    if (timeout_ms >= 0) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int n;
        while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
        }
        if (n == 0) return CSVIN_TIMEOUT;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n > 0) {
            r->end += (size_t)n;
            return 1;
        }
        if (n == 0) {
            r->eof = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return CSVIN_TIMEOUT;
        util_err(err, errlen, "read error: %s", strerror(errno));
        return CSVIN_IOERR;
    }
}

static int csvin_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t') return 0;
    return 1;
}

int csvin_next(csvin *r, csvin_row *row, int timeout_ms, char *err, size_t errlen)
{
    for (;;) {
        if (!r->bom_checked) {
            /* Wait for more only while what arrived could still be the start of a byte-order
             * mark: a short first line ("1\n") must not wait for a third byte. */
            size_t have = r->end - r->start;
            if (have < 3 && !r->eof && memcmp(r->buf + r->start, "\xEF\xBB\xBF", have) == 0) {
                int f = csvin_fill(r, timeout_ms, err, errlen);
                if (f < 0 || f == CSVIN_TIMEOUT) return f;
                continue;
            }
            if (have >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0) r->start += 3;
            r->bom_checked = 1;
        }
        if (r->skipping) {
            /* The rest of an over-long line already reported: drop it, honouring the timeout
             * like any other wait for input. */
            char *q = memchr(r->buf + r->start, '\n', r->end - r->start);
            if (q) {
                r->start = (size_t)(q - r->buf) + 1;
                r->skipping = 0;
            } else {
                r->start = r->end;
                if (r->eof) {
                    r->skipping = 0;
                } else {
                    int f = csvin_fill(r, timeout_ms, err, errlen);
                    if (f < 0 || f == CSVIN_TIMEOUT) return f;
                    continue;
                }
            }
        }
        char *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = avail ? memchr(p, '\n', avail) : NULL;
        size_t len;
        size_t advance;
        if (nl) {
            len = (size_t)(nl - p);
            advance = len + 1;
        } else if (r->eof) {
            if (avail == 0) return CSVIN_EOF;
            len = advance = avail; /* last line without a terminator */
        } else if (avail > r->max_line && avail - (p[avail - 1] == '\r') > r->max_line) {
            /* Over-long (a CR at the end may be half of the CRLF ending a line of exactly
             * max_line bytes): report its head now; the next call skips to the line's end. */
            memcpy(r->scratch, p, r->max_line);
            row->line_no = ++r->line_no;
            row->offset = csvin_bytes_read(r);
            row->raw = r->scratch;
            row->raw_len = r->max_line;
            row->nfields = 0;
            row->error = r->too_long;
            r->start = r->end;
            r->skipping = 1;
            return CSVIN_ROW;
        } else {
            int f = csvin_fill(r, timeout_ms, err, errlen);
            if (f < 0 || f == CSVIN_TIMEOUT) return f;
            continue;
        }
        row->offset = csvin_bytes_read(r);
        r->start += advance;
        r->line_no++;
        if (len > 0 && p[len - 1] == '\r') len--;
        if (len > r->max_line) {
            row->line_no = r->line_no;
            row->raw = p;
            row->raw_len = r->max_line;
            row->nfields = 0;
            row->error = r->too_long;
            return CSVIN_ROW;
        }
        int blank = csvin_blank(p, len);
        if (blank && !r->keep_blank) continue;
        row->line_no = r->line_no;
        row->raw = p;
        row->raw_len = len;
        if (blank) {
            row->nfields = 0;
            row->error = "empty line";
            return CSVIN_ROW;
        }
        /* csvin_split unquotes in place; keep the line as read for reject messages. */
        if (memchr(p, '"', len)) {
            memcpy(r->scratch, p, len);
            row->raw = r->scratch;
        }
        csvin_split(p, len, row);
        return CSVIN_ROW;
    }
}
