/* Unit tests for csvin: csvin_split on its own, and csvin_next over temporary files and pipes
 * (byte-order mark, CRLF, blank lines, a last line without a newline, lines across the 1 MiB
 * buffer's edge, over-long lines, the timeout for pipes, line numbers and offsets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "csvin.h"

static uint64_t rng_state = UINT64_C(0x853C49E6748FEA9B);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* ---- csvin_split ---- */

static csvin_row split_row;
static char split_buf[8192];

/* Splits a copy of s; returns csvin_split's result. */
static int split(const char *s)
{
    size_t n = strlen(s);
    assert_true(n < sizeof split_buf);
    memcpy(split_buf, s, n);
    return csvin_split(split_buf, n, &split_row);
}

static void expect_fields(const char *line, int nfields, ...)
{
    if (split(line) != 0) fail_msg("'%s': error %s", line, split_row.error);
    assert_null(split_row.error);
    if ((int)split_row.nfields != nfields)
        fail_msg("'%s': %zu fields, want %d", line, split_row.nfields, nfields);
    va_list ap;
    va_start(ap, nfields);
    for (int i = 0; i < nfields; i++) {
        const char *want = va_arg(ap, const char *);
        const csvin_field *f = &split_row.fields[i];
        if (f->len != strlen(want) || memcmp(f->p, want, f->len) != 0)
            fail_msg("'%s': field %d is '%.*s', want '%s'", line, i, (int)f->len, f->p, want);
    }
    va_end(ap);
}

static void expect_split_error(const char *line, const char *want)
{
    assert_int_equal(split(line), -1);
    assert_non_null(split_row.error);
    assert_string_equal(split_row.error, want);
    assert_int_equal(split_row.nfields, 0);
}

static void test_split_fields(void **state)
{
    (void)state;
    expect_fields("a,b,c", 3, "a", "b", "c");
    expect_fields("", 1, "");
    expect_fields(",,", 3, "", "", "");
    expect_fields("a,", 2, "a", "");
    expect_fields(" a , b ", 2, " a ", " b "); /* spaces are data */
    expect_fields("\"a,b\",c", 2, "a,b", "c");
    expect_fields("\"a\"\"b\"", 1, "a\"b");
    expect_fields("\"\"", 1, "");
    expect_fields("\"\"\"\"", 1, "\"");
    expect_fields("\"\",\"\"", 2, "", "");
    expect_fields("x,\"\"\"q\"\"\",y", 3, "x", "\"q\"", "y");
    expect_fields("a\"b,c", 2, "a\"b", "c"); /* a quote inside an unquoted field is data */
    expect_fields("\"Axis #1\",\"Time\"", 2, "Axis #1", "Time");
    expect_fields("\"a\r\"", 1, "a\r");
    expect_fields("a\tb", 1, "a\tb");
    expect_fields("\"x\",", 2, "x", "");
    /* Quoted fields are unescaped in place; the field points into the line. */
    split("1,\"a\"\"b\"");
    assert_ptr_equal(split_row.fields[1].p, split_buf + 3);
    assert_memory_equal(split_buf + 3, "a\"b", 3);
    /* Bytes after len are never looked at. */
    memcpy(split_buf, "a,b,\"c", 6);
    assert_int_equal(csvin_split(split_buf, 3, &split_row), 0);
    assert_int_equal(split_row.nfields, 2);
    assert_int_equal(split_row.fields[1].len, 1);
}

static void test_split_errors(void **state)
{
    (void)state;
    expect_split_error("\"abc", "unterminated quoted field");
    expect_split_error("a,\"b", "unterminated quoted field");
    expect_split_error("\"", "unterminated quoted field");
    expect_split_error("\"a\"\"", "unterminated quoted field");
    expect_split_error("\"abc\"x", "text after closing quote");
    expect_split_error("\"abc\" ,d", "text after closing quote");
    expect_split_error("\"a\"\"b\"c", "text after closing quote");

    char line[512];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%d", i ? "," : "", i);
    assert_int_equal(split(line), 0);
    assert_int_equal(split_row.nfields, 64);
    assert_memory_equal(split_row.fields[63].p, "63", 2);
    char more[520];
    snprintf(more, sizeof more, "%s,64", line);
    expect_split_error(more, "more than 64 fields");
    snprintf(more, sizeof more, "%s,", line);
    expect_split_error(more, "more than 64 fields");
    snprintf(more, sizeof more, "%s,\"x\"", line);
    expect_split_error(more, "more than 64 fields");
}

/* ---- csvin_next ---- */

/* A temporary file holding data[0..len), opened for reading at its start (already unlinked). */
static int temp_file(const void *data, size_t len)
{
    char path[] = "/tmp/test_csvin.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        assert_true(w > 0);
        p += w;
        len -= (size_t)w;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* A pipe fed by a writer thread that writes data[0..len) in chunks of chunk bytes, then closes
 * its end. A thread rather than a child process, so valgrind's leak check sees one process. */
typedef struct pipe_writer {
    pthread_t thread;
    int fd;           /* write end, closed by the thread */
    const char *data; /* what to write */
    size_t len;
    size_t chunk;
    int ok; /* every byte was written */
} pipe_writer;

static void *pipe_writer_main(void *arg)
{
    pipe_writer *w = arg;
    const char *p = w->data;
    size_t len = w->len;
    while (len > 0) {
        ssize_t n = write(w->fd, p, len < w->chunk ? len : w->chunk);
        if (n <= 0) break;
        p += n;
        len -= (size_t)n;
    }
    w->ok = len == 0;
    close(w->fd);
    return NULL;
}

/* Starts w and returns the pipe's read end. */
static int pipe_from_writer(pipe_writer *w, const void *data, size_t len, size_t chunk)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    *w = (pipe_writer){.fd = fds[1], .data = data, .len = len, .chunk = chunk};
    assert_int_equal(pthread_create(&w->thread, NULL, pipe_writer_main, w), 0);
    return fds[0];
}

static void pipe_writer_join(pipe_writer *w)
{
    assert_int_equal(pthread_join(w->thread, NULL), 0);
    assert_true(w->ok);
}

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

static int next(csvin *r, csvin_row *row, int timeout_ms)
{
    char err[256] = "";
    int rc = csvin_next(r, row, timeout_ms, err, sizeof err);
    if (rc == CSVIN_IOERR) fail_msg("csvin_next: %s", err);
    return rc;
}

static void expect_row(csvin *r, int timeout_ms, uint64_t line_no, uint64_t offset, const char *raw,
                       int nfields, ...)
{
    csvin_row row;
    int rc = next(r, &row, timeout_ms);
    if (rc != CSVIN_ROW) fail_msg("line %llu: rc %d", (unsigned long long)line_no, rc);
    assert_null(row.error);
    assert_int_equal(row.line_no, line_no);
    assert_int_equal(row.offset, offset);
    assert_int_equal(row.raw_len, strlen(raw));
    assert_memory_equal(row.raw, raw, row.raw_len);
    assert_int_equal(row.nfields, nfields);
    va_list ap;
    va_start(ap, nfields);
    for (int i = 0; i < nfields; i++) {
        const char *want = va_arg(ap, const char *);
        const csvin_field *f = &row.fields[i];
        if (f->len != strlen(want) || memcmp(f->p, want, f->len) != 0)
            fail_msg("line %llu: field %d is '%.*s', want '%s'", (unsigned long long)line_no, i,
                     (int)f->len, f->p, want);
    }
    va_end(ap);
}

static void test_next_small_file(void **state)
{
    (void)state;
    /* BOM, CRLF, a blank CRLF line, a line of blanks, quotes, a last line without newline.
     * Offsets: BOM 0-2, "a,b\r\n" 3-7, "\r\n" 8-9, "  \t\n" 10-13, line 4 at 14 (12 bytes),
     * line 5 at 26 (6 bytes): 32 in all. */
    static const char data[] = "\xEF\xBB\xBF"
                               "a,b\r\n"
                               "\r\n"
                               "  \t\n"
                               "c,\"d,\"\"e\"\"\"\n"
                               "last,1";
    int fd = temp_file(data, sizeof data - 1);
    csvin *r = csvin_new(fd, 0);
    expect_row(r, -1, 1, 3, "a,b", 2, "a", "b");
    expect_row(r, -1, 4, 14, "c,\"d,\"\"e\"\"\"", 2, "c", "d,\"e\"");
    expect_row(r, -1, 5, 26, "last,1", 2, "last", "1");
    csvin_row row;
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    assert_int_equal(next(r, &row, -1), CSVIN_EOF); /* and stays there */
    assert_int_equal(csvin_bytes_read(r), 32);
    csvin_free(r);
    close(fd);
}

static void test_next_keep_blank_lines(void **state)
{
    (void)state;
    static const char data[] = "h1,h2\n\r\na,b\n  \t\n\nc,d\n";
    int fd = temp_file(data, sizeof data - 1);
    csvin *r = csvin_new(fd, 0);
    csvin_keep_blank_lines(r, 1);
    expect_row(r, -1, 1, 0, "h1,h2", 2, "h1", "h2");
    csvin_row row;
    const uint64_t blank_lines[] = {2, 4, 5};
    int k = 0;
    while (next(r, &row, -1) == CSVIN_ROW) {
        if (row.line_no == 3 || row.line_no == 6) {
            assert_null(row.error);
            assert_int_equal(row.nfields, 2);
            continue;
        }
        assert_true(k < 3);
        assert_int_equal(row.line_no, blank_lines[k++]);
        assert_string_equal(row.error, "empty line");
        assert_int_equal(row.nfields, 0);
    }
    assert_int_equal(k, 3);
    csvin_free(r);
    close(fd);
}

static void test_next_edge_inputs(void **state)
{
    (void)state;
    csvin_row row;
    static const struct {
        const char *data;
        size_t len;
    } empty[] = {{"", 0}, {"\xEF\xBB\xBF", 3}, {"\n\n\r\n \n", 6}, {"\xEF\xBB\xBF\r\n\t", 6}};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        int fd = temp_file(empty[i].data, empty[i].len);
        csvin *r = csvin_new(fd, 0);
        assert_int_equal(next(r, &row, -1), CSVIN_EOF);
        assert_int_equal(csvin_bytes_read(r), empty[i].len);
        csvin_free(r);
        close(fd);
    }
    /* A BOM only counts at the very start; a partial one is data. */
    static const char mid[] = "x\n\xEF\xBB\xBFy\n\xEF\xBBz";
    int fd = temp_file(mid, sizeof mid - 1);
    csvin *r = csvin_new(fd, 0);
    expect_row(r, -1, 1, 0, "x", 1, "x");
    expect_row(r, -1, 2, 2, "\xEF\xBB\xBFy", 1, "\xEF\xBB\xBFy");
    expect_row(r, -1, 3, 7, "\xEF\xBBz", 1, "\xEF\xBBz");
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    csvin_free(r);
    close(fd);
    /* Short inputs: one byte, a lone CR, a line with only a newline then data. */
    fd = temp_file("1", 1);
    r = csvin_new(fd, 0);
    expect_row(r, -1, 1, 0, "1", 1, "1");
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    csvin_free(r);
    close(fd);
    fd = temp_file("\n1\r", 3);
    r = csvin_new(fd, 0);
    expect_row(r, -1, 2, 1, "1", 1, "1");
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    csvin_free(r);
    close(fd);
}

static void test_next_split_errors_keep_raw(void **state)
{
    (void)state;
    char data[600];
    size_t n = 0;
    n += (size_t)snprintf(data + n, sizeof data - n, "\"open,1\n\"q\"x,2\n");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(data + n, sizeof data - n, "%s%d", i ? "," : "", i);
    n += (size_t)snprintf(data + n, sizeof data - n, "\nok\n");
    int fd = temp_file(data, n);
    csvin *r = csvin_new(fd, 0);
    csvin_row row;
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_string_equal(row.error, "unterminated quoted field");
    assert_int_equal(row.nfields, 0);
    assert_int_equal(row.line_no, 1);
    assert_int_equal(row.raw_len, 7);
    assert_memory_equal(row.raw, "\"open,1", 7);
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_string_equal(row.error, "text after closing quote");
    assert_int_equal(row.line_no, 2);
    assert_int_equal(row.offset, 8);
    assert_memory_equal(row.raw, "\"q\"x,2", 6); /* as read, not as partly unquoted */
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_string_equal(row.error, "more than 64 fields");
    assert_int_equal(row.line_no, 3);
    assert_int_equal(row.offset, 15);
    assert_int_equal(row.nfields, 0);
    expect_row(r, -1, 4, n - 3, "ok", 1, "ok");
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    csvin_free(r);
    close(fd);
}

/* Builds about 3 MiB of lines "k,<random text>" with lengths up to 400 (some quoted, some
 * CRLF, some blank lines between), reads them back and checks every line's number, offset and
 * content. With a file, reads are 1 MiB at a time; with a pipe, whatever the pipe gives. */
static void check_many_lines(int use_pipe, size_t chunk)
{
    size_t cap = 3u << 20;
    char *data = malloc(cap + 1024);
    size_t n = 0;
    size_t nlines = 0;
    uint64_t line_no = 0;
    size_t max_lines = 40000;
    uint64_t *offs = malloc(max_lines * sizeof *offs);
    uint64_t *nos = malloc(max_lines * sizeof *nos);
    size_t *lens = malloc(max_lines * sizeof *lens);
    while (n < cap && nlines < max_lines) {
        if (rng() % 50 == 0) {
            data[n++] = '\n';
            line_no++;
            continue;
        }
        offs[nlines] = n;
        nos[nlines] = ++line_no;
        size_t start = n;
        n += (size_t)sprintf(data + n, "%zu,", nlines);
        size_t len = 1 + rng() % 400;
        for (size_t k = 0; k < len; k++)
            data[n++] = (char)('a' + rng() % 26);
        lens[nlines] = n - start;
        if (rng() % 3 == 0) data[n++] = '\r';
        data[n++] = '\n';
        nlines++;
    }

    pipe_writer w;
    int fd = use_pipe ? pipe_from_writer(&w, data, n, chunk) : temp_file(data, n);
    csvin *r = csvin_new(fd, 0);
    csvin_row row;
    int straddled = 0;
    for (size_t i = 0; i < nlines; i++) {
        int rc = next(r, &row, -1);
        if (rc != CSVIN_ROW) fail_msg("line %zu: rc %d", i, rc);
        if (row.error) fail_msg("line %zu: %s", i, row.error);
        if (row.line_no != nos[i] || row.offset != offs[i] || row.raw_len != lens[i])
            fail_msg("row %zu: line %llu offset %llu len %zu, want %llu %llu %zu", i,
                     (unsigned long long)row.line_no, (unsigned long long)row.offset, row.raw_len,
                     (unsigned long long)nos[i], (unsigned long long)offs[i], lens[i]);
        if (memcmp(row.raw, data + offs[i], lens[i]) != 0) fail_msg("row %zu: wrong text", i);
        assert_int_equal(row.nfields, 2);
        char idx[24];
        int il = snprintf(idx, sizeof idx, "%zu", i);
        assert_int_equal(row.fields[0].len, (size_t)il);
        assert_memory_equal(row.fields[0].p, idx, (size_t)il);
        if (offs[i] < (1u << 20) && offs[i] + lens[i] >= (1u << 20)) straddled = 1;
    }
    assert_true(straddled); /* some line ran across the first 1 MiB read */
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    assert_int_equal(csvin_bytes_read(r), n);
    csvin_free(r);
    close(fd);
    if (use_pipe) pipe_writer_join(&w);
    free(data);
    free(offs);
    free(nos);
    free(lens);
}

static void test_next_across_buffer_boundary_file(void **state)
{
    (void)state;
    check_many_lines(0, 0);
}

static void test_next_across_buffer_boundary_pipe(void **state)
{
    (void)state;
    check_many_lines(1, 7777);
}

static void test_next_long_lines(void **state)
{
    (void)state;
    char data[2048];
    size_t n = 0;
    memset(data + n, 'a', 100); /* exactly max_line: fine */
    n += 100;
    data[n++] = '\n';
    memset(data + n, 'b', 100); /* exactly max_line plus CRLF: fine */
    n += 100;
    data[n++] = '\r';
    data[n++] = '\n';
    memset(data + n, 'c', 101); /* one too many */
    n += 101;
    data[n++] = '\n';
    memcpy(data + n, "ok,1\n", 5);
    n += 5;
    memset(data + n, 'd', 150); /* over-long last line without newline */
    n += 150;

    int fd = temp_file(data, n);
    csvin *r = csvin_new(fd, 100);
    csvin_row row;
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_null(row.error);
    assert_int_equal(row.raw_len, 100);
    assert_int_equal(row.line_no, 1);
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_null(row.error);
    assert_int_equal(row.raw_len, 100);
    assert_int_equal(row.offset, 101);
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_string_equal(row.error, "line longer than 100 bytes");
    assert_int_equal(row.nfields, 0);
    assert_int_equal(row.line_no, 3);
    assert_int_equal(row.offset, 203);
    assert_int_equal(row.raw_len, 100);
    assert_int_equal(row.raw[0], 'c');
    assert_int_equal(row.raw[99], 'c');
    expect_row(r, -1, 4, 305, "ok,1", 2, "ok", "1");
    assert_int_equal(next(r, &row, -1), CSVIN_ROW);
    assert_string_equal(row.error, "line longer than 100 bytes");
    assert_int_equal(row.line_no, 5);
    assert_int_equal(row.offset, 310);
    assert_int_equal(row.raw_len, 100);
    assert_int_equal(row.raw[0], 'd');
    assert_int_equal(next(r, &row, -1), CSVIN_EOF);
    assert_int_equal(csvin_bytes_read(r), n);
    csvin_free(r);
    close(fd);
}

/* A line longer than the whole buffer (3 MiB against 1 MiB), from a file and from a pipe. */
static void test_next_line_longer_than_buffer(void **state)
{
    (void)state;
    size_t big = 3u << 20;
    char *data = malloc(big + 64);
    memcpy(data, "first\n", 6);
    for (size_t i = 0; i < big; i++)
        data[6 + i] = (char)('0' + i % 10);
    size_t n = 6 + big;
    memcpy(data + n, "\nnext,2\n", 8);
    n += 8;
    for (int use_pipe = 0; use_pipe < 2; use_pipe++) {
        pipe_writer w;
        int fd = use_pipe ? pipe_from_writer(&w, data, n, 65536) : temp_file(data, n);
        csvin *r = csvin_new(fd, 0);
        csvin_row row;
        expect_row(r, -1, 1, 0, "first", 1, "first");
        assert_int_equal(next(r, &row, -1), CSVIN_ROW);
        assert_string_equal(row.error, "line longer than 65536 bytes");
        assert_int_equal(row.line_no, 2);
        assert_int_equal(row.offset, 6);
        assert_int_equal(row.raw_len, CSVIN_DEFAULT_MAX_LINE);
        assert_memory_equal(row.raw, data + 6, CSVIN_DEFAULT_MAX_LINE);
        expect_row(r, -1, 3, 6 + big + 1, "next,2", 2, "next", "2");
        assert_int_equal(next(r, &row, -1), CSVIN_EOF);
        assert_int_equal(csvin_bytes_read(r), n);
        csvin_free(r);
        close(fd);
        if (use_pipe) pipe_writer_join(&w);
    }
    free(data);
}

static void test_next_pipe_timeout(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    csvin *r = csvin_new(fds[0], 0);
    csvin_row row;
    /* Nothing yet. */
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    write_all(fds[1], "1,2\n3,4");
    expect_row(r, 50, 1, 0, "1,2", 2, "1", "2");
    /* A partial line is held back until its newline arrives. */
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    assert_int_equal(next(r, &row, 0), CSVIN_TIMEOUT);
    write_all(fds[1], ",5");
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    write_all(fds[1], "\r\n\n6\n");
    expect_row(r, 50, 2, 4, "3,4,5", 3, "3", "4", "5");
    /* "1,2\n" 0-3, "3,4,5\r\n" 4-10, "\n" 11, "6\n" 12-13, "7,8" 14-16. */
    expect_row(r, 50, 4, 12, "6", 1, "6");
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    /* The writer closes with a line still unterminated: it is the last line. */
    write_all(fds[1], "7,8");
    close(fds[1]);
    expect_row(r, 50, 5, 14, "7,8", 2, "7", "8");
    assert_int_equal(next(r, &row, 20), CSVIN_EOF);
    assert_int_equal(csvin_bytes_read(r), 17);
    csvin_free(r);
    close(fds[0]);
}

/* A complete first line shorter than a byte-order mark is handed out at once. */
static void test_next_pipe_short_first_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    csvin *r = csvin_new(fds[0], 0);
    csvin_row row;
    write_all(fds[1], "x\n");
    expect_row(r, 50, 1, 0, "x", 1, "x");
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    /* A partial BOM waits for the rest. */
    csvin_free(r);
    r = csvin_new(fds[0], 0);
    write_all(fds[1], "\xEF\xBB");
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    write_all(fds[1], "\xBFy\n");
    expect_row(r, 50, 1, 3, "y", 1, "y");
    csvin_free(r);
    close(fds[1]);
    close(fds[0]);
}

/* A line of exactly max_line bytes whose CR has arrived but not its LF is not over-long. */
static void test_next_pipe_cr_at_max_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    csvin *r = csvin_new(fds[0], 10);
    csvin_row row;
    write_all(fds[1], "0123456789\r");
    assert_int_equal(next(r, &row, 20), CSVIN_TIMEOUT);
    write_all(fds[1], "\n");
    expect_row(r, 50, 1, 0, "0123456789", 1, "0123456789");
    /* 11 bytes without a newline yet: over-long as soon as it is seen; the rest is skipped. */
    write_all(fds[1], "0123456789A");
    assert_int_equal(next(r, &row, 20), CSVIN_ROW);
    assert_string_equal(row.error, "line longer than 10 bytes");
    assert_int_equal(row.line_no, 2);
    assert_int_equal(row.offset, 12);
    assert_int_equal(row.raw_len, 10);
    assert_memory_equal(row.raw, "0123456789", 10);
    write_all(fds[1], "BCD\nz\n");
    expect_row(r, 50, 3, 27, "z", 1, "z");
    close(fds[1]);
    assert_int_equal(next(r, &row, 20), CSVIN_EOF);
    csvin_free(r);
    close(fds[0]);
}

static void test_next_read_error(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_WRONLY);
    assert_true(fd >= 0);
    csvin *r = csvin_new(fd, 0);
    csvin_row row;
    char err[128] = "";
    assert_int_equal(csvin_next(r, &row, -1, err, sizeof err), CSVIN_IOERR);
    assert_string_equal(err, "read error: Bad file descriptor");
    csvin_free(r);
    csvin_free(NULL);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_fields),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_next_small_file),
        cmocka_unit_test(test_next_keep_blank_lines),
        cmocka_unit_test(test_next_edge_inputs),
        cmocka_unit_test(test_next_split_errors_keep_raw),
        cmocka_unit_test(test_next_across_buffer_boundary_file),
        cmocka_unit_test(test_next_across_buffer_boundary_pipe),
        cmocka_unit_test(test_next_long_lines),
        cmocka_unit_test(test_next_line_longer_than_buffer),
        cmocka_unit_test(test_next_pipe_timeout),
        cmocka_unit_test(test_next_pipe_short_first_line),
        cmocka_unit_test(test_next_pipe_cr_at_max_line),
        cmocka_unit_test(test_next_read_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
