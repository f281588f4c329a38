/* Unit tests for detect_replay: the output keeps one line per input line, in order, with the
 * input's fields and two more; bad lines (field count, time, key, value, broken quote) are
 * reported with their line numbers and written with score 0 and label 0, as are empty lines and
 * the lines of keys beyond --max-keys; whole-file errors
 * (empty input, no time column, no numeric column, too many channels, an unknown --channels
 * name) stop with a message naming the file; time in epoch seconds; robot_id keys separate
 * states; a spike in a steady series is flagged and makes an episode; the workshop's real
 * export (22 h of one robot in normal operation, ../shared: skipped without it) opens at most
 * 5 episodes with every detector on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>

#include <cmocka.h>

#include "detect_replay.h"
#include "util.h"

typedef struct run {
    int rc;
    char *out;      /* the scored CSV */
    char *msgs;     /* reports of bad lines */
    char *episodes; /* the episodes CSV */
    char err[1024];
    detect_replay_stats st;
} run;

/* Replays text with opts (cfg default unless given). */
static run replay_keys(const char *text, const char *channels, int explain, int64_t max_keys)
{
    run r;
    memset(&r, 0, sizeof r);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    FILE *in = fdopen(fds[1], "w");
    /* Small texts fit in the pipe's buffer: write all, close, then read. */
    fputs(text, in);
    fclose(in);
    size_t olen = 0, mlen = 0, elen = 0;
    FILE *out = open_memstream(&r.out, &olen);
    FILE *msgs = open_memstream(&r.msgs, &mlen);
    FILE *ep = open_memstream(&r.episodes, &elen);
    detect_cfg cfg;
    detect_cfg_default(&cfg);
    detect_replay_opts o = {.cfg = &cfg, .in_name = "in.csv", .channels = channels,
                            .explain = explain, .episodes = ep, .msgs = msgs,
                            .max_keys = max_keys};
    r.rc = detect_replay_run(fds[0], out, &o, &r.st, r.err, sizeof r.err);
    close(fds[0]);
    fclose(out);
    fclose(msgs);
    fclose(ep);
    return r;
}

static run replay_text(const char *text, const char *channels, int explain)
{
    return replay_keys(text, channels, explain, 0);
}

static void run_free(run *r)
{
    free(r->out);
    free(r->msgs);
    free(r->episodes);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Line k (1-based) of s, copied into dst. */
static const char *line_of(const char *s, int k, char *dst, size_t len)
{
    for (int i = 1; i < k && s; i++) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    if (!s) return "";
    size_t n = strcspn(s, "\n");
    if (n >= len) n = len - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
    return dst;
}

static void test_bad_lines_are_reported_and_kept_aligned(void **state)
{
    (void)state;
    const char *in = "timestamp,value,note\n"
                     "2024-01-01 00:00:00,1.5,a\n"
                     "2024-01-01 00:01:00,x1,b\n"          /* 3: not a number */
                     "2024-13-01 00:02:00,1.5,c\n"         /* 4: bad time */
                     "2024-01-01 00:03:00,1.5\n"           /* 5: field count */
                     "2024-01-01 00:04:00,\"1.5,d\n"       /* 6: broken quote */
                     "2024-01-01 00:05:00,nan,e\n"         /* 7: not finite */
                     "2024-01-01 00:06:00,2.5,\"f, g\"\n"  /* 8: good, quoted note */
                     "\n"                                     /* 9: empty */
                     "2024-01-01 00:07:00,2.5,h\n";           /* 10 */
    run r = replay_text(in, NULL, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 10);
    char b[256];
    assert_string_equal(line_of(r.out, 1, b, sizeof b), "timestamp,value,note,anomaly_score,label");
    assert_string_equal(line_of(r.out, 3, b, sizeof b), "2024-01-01 00:01:00,x1,b,0.000000000,0");
    assert_string_equal(line_of(r.out, 5, b, sizeof b), "2024-01-01 00:03:00,1.5,0.000000000,0");
    assert_string_equal(line_of(r.out, 6, b, sizeof b), "2024-01-01 00:04:00,\"1.5,d,0.000000000,0");
    assert_true(!strncmp(line_of(r.out, 8, b, sizeof b), "2024-01-01 00:06:00,2.5,\"f, g\",", 31));
    assert_non_null(strstr(r.msgs, "in.csv:3: skipped: value: not a number: 'x1'"));
    assert_non_null(strstr(r.msgs, "in.csv:4: skipped: timestamp:"));
    assert_non_null(strstr(r.msgs, "in.csv:5: skipped: 2 fields, the header has 3"));
    assert_non_null(strstr(r.msgs, "in.csv:6: skipped: unterminated quoted field"));
    assert_non_null(strstr(r.msgs, "in.csv:7: skipped: value:"));
    assert_null(strstr(r.msgs, "in.csv:2:"));
    assert_null(strstr(r.msgs, "in.csv:8:"));
    assert_non_null(strstr(r.msgs, "in.csv:9: skipped: empty line"));
    assert_string_equal(line_of(r.out, 9, b, sizeof b), ",0.000000000,0");
    assert_true(!strncmp(line_of(r.out, 10, b, sizeof b), "2024-01-01 00:07:00,2.5,h,", 26));
    assert_int_equal(r.st.lines, 9);
    assert_int_equal(r.st.bad, 6);
    assert_int_equal(r.st.channels, 1); /* note is text: carried, not a channel */
    run_free(&r);
}

static void test_whole_file_errors(void **state)
{
    (void)state;
    run r = replay_text("", NULL, 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "in.csv: empty input"));
    run_free(&r);

    r = replay_text("date,value\n2024-01-01,1\n", NULL, 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "in.csv:1: no time column"));
    run_free(&r);

    r = replay_text("ts,name\n2024-01-01T00:00:00Z,abc\n", NULL, 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "no line has a numeric column"));
    run_free(&r);

    buf h = {0}, l = {0};
    buf_puts(&h, "ts");
    buf_puts(&l, "2024-01-01T00:00:00Z");
    for (int i = 0; i < DETECT_MAX_CH + 1; i++) {
        buf_printf(&h, ",c%d", i);
        buf_printf(&l, ",%d", i);
    }
    buf_puts(&h, "\n");
    buf_puts(&l, "\n");
    buf_append(&h, l.data, l.len);
    buf_append(&h, "", 1);
    r = replay_text((const char *)h.data, NULL, 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "more than 16 numeric columns (also c16)"));
    run_free(&r);
    /* Naming the channels is the way out. */
    r = replay_text((const char *)h.data, "c3,c5", 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.channels, 2);
    run_free(&r);
    r = replay_text((const char *)h.data, "c3,nope", 0);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "--channels: no channel column 'nope'"));
    run_free(&r);
    buf_free(&h);
    buf_free(&l);
}

static void test_epoch_seconds_and_keys(void **state)
{
    (void)state;
    const char *in = "robot_id,time,a,b\n"
                     "1,1700000000,1,2\n"
                     "2,1700000000.5,1,2\n"
                     "1,1700000001,1,2\n"
                     "x,1700000002,1,2\n"; /* 5: bad key */
    run r = replay_text(in, NULL, 1);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.keys, 2);
    assert_int_equal(r.st.channels, 2);
    assert_int_equal(r.st.bad, 1);
    assert_non_null(strstr(r.msgs, "in.csv:5: skipped: robot_id:"));
    char b[256];
    assert_string_equal(line_of(r.out, 1, b, sizeof b),
                        "robot_id,time,a,b,anomaly_score,label,level,channel,detector");
    assert_string_equal(line_of(r.out, 5, b, sizeof b), "x,1700000002,1,2,0.000000000,0,,,");
    run_free(&r);
    /* At most max_keys states: a further key's lines are bad lines; known keys go on. */
    r = replay_keys("robot_id,ts,a\n1,1700000000,1\n2,1700000001,1\n3,1700000002,1\n1,1700000003,1\n",
                    NULL, 0, 2);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.keys, 2);
    assert_int_equal(r.st.bad, 1);
    assert_non_null(strstr(r.msgs, "in.csv:4: skipped: robot_id 3: more than 2 keys (raise --max-keys)"));
    assert_int_equal(count_lines(r.out), 5);
    run_free(&r);
}

/* A steady series with noise, then one huge spike: flagged, and one episode on its channel. */
static void test_spike_is_flagged(void **state)
{
    (void)state;
    buf b = {0};
    buf_puts(&b, "timestamp,value\n");
    uint64_t x = 88172645463325252u;
    int spike = 1500;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v = 10 + (double)(x % 1000) / 1000.0;
        if (i == spike) v = 60;
        buf_printf(&b, "2024-01-%02d %02d:%02d:00,%.3f\n", 1 + i / 1440, i / 60 % 24, i % 60, v);
    }
    buf_append(&b, "", 1);
    run r = replay_text((const char *)b.data, NULL, 1);
    assert_int_equal(r.rc, 0);
    char line[256];
    const char *l = line_of(r.out, spike + 2, line, sizeof line);
    assert_true(!strncmp(l, "2024-01-02 01:00:00,60.000,", 27));
    const char *label = strstr(l, "60.000,") + 7;
    double score = strtod(label, NULL);
    assert_true(score > 0.5);
    assert_non_null(strstr(l, ",1,"));
    assert_non_null(strstr(r.episodes, ",value,"));
    assert_non_null(strstr(r.episodes, "2024-01-02T01:00:00Z"));
    run_free(&r);
    buf_free(&b);
}

/* The real robot in normal operation (no known fault, 39,672 readings over 22 h): the issue's
 * bar is at most 5 episodes, the detectors' defaults, every detector on. Before the idle break
 * was judged with its neighbours it opened 321 (319 idle breaks at the rests' edges, 2 stuck
 * on a quantised axis); now none. */
static void test_real_export_is_quiet(void **state)
{
    (void)state;
    const char *shared = getenv("PGPULSE_SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/data/workshop/RMBR4-2_export_test.csv", shared ? shared : "");
    int fd = shared && *shared ? open(path, O_RDONLY) : -1;
    if (fd < 0) {
        print_message("PGPULSE_SHARED is not set or has no workshop export: skipped\n");
        skip();
    }
    char *eps = NULL;
    size_t elen = 0;
    FILE *ep = open_memstream(&eps, &elen);
    FILE *out = fopen("/dev/null", "w");
    assert_non_null(out);
    detect_cfg cfg;
    detect_cfg_default(&cfg);
    detect_replay_opts o = {.cfg = &cfg, .in_name = path, .episodes = ep, .msgs = stderr};
    detect_replay_stats st;
    char err[512];
    int rc = detect_replay_run(fd, out, &o, &st, err, sizeof err);
    close(fd);
    fclose(out);
    fclose(ep);
    assert_int_equal(rc, 0);
    print_message("real export: %lld lines, %d channels, %lld flagged, %lld episodes\n%s",
                  (long long)st.lines, st.channels, (long long)st.flagged, (long long)st.episodes,
                  eps);
    assert_int_equal(st.lines, 39672);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.channels, 8);
    assert_true(st.episodes <= 5);
    free(eps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_lines_are_reported_and_kept_aligned),
        cmocka_unit_test(test_whole_file_errors),
        cmocka_unit_test(test_epoch_seconds_and_keys),
        cmocka_unit_test(test_spike_is_flagged),
        cmocka_unit_test(test_real_export_is_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
