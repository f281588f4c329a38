/* Unit tests for maintlog: CSV headers (case, aliases, BOM, extra and missing columns), CSV and
 * JSON lines records with every field's reject reason, and the same orders from both formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "maintlog.h"

#define T0 INT64_C(1704103200000000) /* 2024-01-01T10:00:00Z */
#define HOUR INT64_C(3600000000)

typedef struct fed {
    int rc;
    maintlog_order o;
    char reason[256];
} fed;

/* Feeds a NUL-terminated line. The line is copied to an exact-size heap block, so reading past
 * its end is caught by the sanitizers and valgrind. */
static fed feed(maintlog *p, const char *line, uint64_t line_no)
{
    fed f;
    memset(&f, 0, sizeof f);
    size_t n = strlen(line);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, line, n);
    f.rc = maintlog_line(p, copy, n, line_no, &f.o, f.reason, sizeof f.reason);
    free(copy);
    return f;
}

/* The reason a record line is rejected, under a given CSV header (or JSON lines: header NULL). */
static char *reject_reason(const char *header, const char *line)
{
    static char out[256];
    maintlog *p = maintlog_new();
    if (header) assert_int_equal(feed(p, header, 1).rc, MAINTLOG_SKIP);
    fed f = feed(p, line, 2);
    if (f.rc != MAINTLOG_REJECT) fail_msg("'%s' was not rejected (rc %d)", line, f.rc);
    snprintf(out, sizeof out, "%s", f.reason);
    maintlog_free(p);
    return out;
}

static void assert_order_text(const maintlog_order *o, const char *order, const char *text)
{
    assert_int_equal(o->order_len, strlen(order));
    assert_memory_equal(o->order, order, o->order_len);
    assert_int_equal(o->text_len, strlen(text));
    if (o->text_len) assert_memory_equal(o->text, text, o->text_len);
}

static void test_csv_basic(void **state)
{
    (void)state;
    maintlog *p = maintlog_new();
    assert_int_equal(maintlog_get_format(p), MAINTLOG_UNKNOWN);
    fed f = feed(p, "robot,start,end,kind,text,work_order", 1);
    assert_int_equal(f.rc, MAINTLOG_SKIP);
    assert_int_equal(maintlog_get_format(p), MAINTLOG_CSV);
    assert_string_equal(maintlog_ignored(p), "");

    f = feed(p, "7,2024-01-01T10:00:00Z,2024-01-01T12:30:00Z,repair,\"gearbox, axis 3\",WO-1", 2);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_int_equal(f.o.line_no, 2);
    assert_int_equal(f.o.robot_id, 7);
    assert_int_equal(f.o.axis, 0);
    assert_int_equal(f.o.kind, MAINTLOG_REPAIR);
    assert_string_equal(maintlog_kind_name(f.o.kind), "repair");
    assert_true(f.o.start_us == T0);
    assert_true(f.o.end_us == T0 + 5 * HOUR / 2);
    assert_int_equal(f.o.has_end, 1);
    assert_order_text(&f.o, "WO-1", "gearbox, axis 3");

    /* No end: instantaneous; no text; epoch seconds; kind in any case; spaces trimmed. */
    f = feed(p, " 8 , 1704103200 ,, FAILURE ,, 17 ", 3);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_int_equal(f.o.robot_id, 8);
    assert_true(f.o.start_us == T0);
    assert_true(f.o.end_us == T0);
    assert_int_equal(f.o.has_end, 0);
    assert_int_equal(f.o.kind, MAINTLOG_FAILURE);
    assert_order_text(&f.o, "17", "");

    /* Blank lines are skipped; a CR before the newline is dropped; an offset zone converts. */
    assert_int_equal(feed(p, "", 4).rc, MAINTLOG_SKIP);
    assert_int_equal(feed(p, "   ", 5).rc, MAINTLOG_SKIP);
    f = feed(p, "9,2024-01-01 12:00:00+02:00,,inspection,ok,WO-3\r", 6);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_true(f.o.start_us == T0);
    assert_int_equal(f.o.kind, MAINTLOG_INSPECTION);
    assert_order_text(&f.o, "WO-3", "ok");
    maintlog_free(p);
}

/* Column names: any case, aliases, spaces and underscores alike; extra columns ignored; a BOM;
 * columns in any order; the optional axis. */
static void test_csv_header_names(void **state)
{
    (void)state;
    maintlog *p = maintlog_new();
    fed f = feed(p,
                 "\xEF\xBB\xBF\"Work Order ID\",Site,Robot_ID,Type,Start Time,End Time,"
                 "Description,AXIS,Technician",
                 1);
    assert_int_equal(f.rc, MAINTLOG_SKIP);
    assert_string_equal(maintlog_ignored(p), "Site, Technician");
    f = feed(p, "A-100,Hall 2,3,Replacement,2024-01-01T10:00Z,2024-01-01T11:00Z,new motor,4,Kim", 2);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_int_equal(f.o.robot_id, 3);
    assert_int_equal(f.o.axis, 4);
    assert_int_equal(f.o.kind, MAINTLOG_REPLACEMENT);
    assert_true(f.o.end_us - f.o.start_us == HOUR);
    assert_order_text(&f.o, "A-100", "new motor");
    /* Reasons name the field as the file does. */
    f = feed(p, "A-101,Hall 2,3,repair,yesterday,,x,,Kim", 3);
    assert_int_equal(f.rc, MAINTLOG_REJECT);
    assert_string_equal(f.reason, "Start Time: not an ISO 8601 timestamp or epoch seconds: 'yesterday'");
    f = feed(p, "A-102,Hall 2,3,repair,2024-01-01T10:00Z,,x,9,Kim", 4);
    assert_int_equal(f.rc, MAINTLOG_REJECT);
    assert_string_equal(f.reason, "AXIS: out of range: '9'");
    maintlog_free(p);
}

static void test_csv_bad_headers(void **state)
{
    (void)state;
    maintlog *p = maintlog_new();
    fed f = feed(p, "robot,start,text", 1);
    assert_int_equal(f.rc, MAINTLOG_BADHEADER);
    assert_non_null(strstr(f.reason, "missing column(s) kind, work_order"));
    /* Sticky: the file cannot be read. */
    f = feed(p, "1,2024-01-01T10:00Z,x", 2);
    assert_int_equal(f.rc, MAINTLOG_BADHEADER);
    assert_non_null(strstr(f.reason, "missing column(s)"));
    maintlog_free(p);

    p = maintlog_new();
    f = feed(p, "robot,robot_id,start,kind,wo", 1);
    assert_int_equal(f.rc, MAINTLOG_BADHEADER);
    assert_string_equal(f.reason,
                        "header: columns 1 ('robot') and 2 ('robot_id') both give the robot");
    maintlog_free(p);

    p = maintlog_new();
    f = feed(p, "robot,\"start,kind,wo", 1);
    assert_int_equal(f.rc, MAINTLOG_BADHEADER);
    assert_string_equal(f.reason, "header: unterminated quoted field");
    maintlog_free(p);
}

static void test_csv_rejects(void **state)
{
    (void)state;
    const char *h = "robot,start,end,kind,text,work_order";
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,,failure,x"), "5 fields, the header has 6");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,,failure,\"x,WO"),
                        "unterminated quoted field");
    assert_string_equal(reject_reason(h, ",2024-01-01T10:00Z,,failure,x,WO"), "robot: empty");
    assert_string_equal(reject_reason(h, "R7,2024-01-01T10:00Z,,failure,x,WO"),
                        "robot: not a robot id (an integer from 1): 'R7'");
    assert_string_equal(reject_reason(h, "0,2024-01-01T10:00Z,,failure,x,WO"),
                        "robot: out of range: '0'");
    assert_string_equal(reject_reason(h, "3000000000,2024-01-01T10:00Z,,failure,x,WO"),
                        "robot: out of range: '3000000000'");
    assert_string_equal(reject_reason(h, "1,,,failure,x,WO"), "start: empty");
    assert_string_equal(reject_reason(h, "1,2024-01-01 10:00,,failure,x,WO"),
                        "start: no time zone (add Z or +HH:MM): '2024-01-01 10:00'");
    assert_string_equal(reject_reason(h, "1,2024-02-30T10:00Z,,failure,x,WO"),
                        "start: a field is out of range: '2024-02-30T10:00Z'");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,soon,failure,x,WO"),
                        "end: not an ISO 8601 timestamp or epoch seconds: 'soon'");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,2024-01-01T09:00Z,failure,x,WO"),
                        "end: 2024-01-01T09:00:00Z is before the start, 2024-01-01T10:00:00Z");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,,,x,WO"), "kind: empty");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,,breakdown,x,WO"),
                        "kind: not failure, repair, inspection or replacement: 'breakdown'");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,,failure,x,  "),
                        "work_order: empty");
    assert_string_equal(reject_reason(h, "1,2024-01-01T10:00Z,,failure,x,W\xff"),
                        "work_order: not valid UTF-8: 'W?'");
    char line[512], want[256];
    snprintf(line, sizeof line, "1,2024-01-01T10:00Z,,failure,x,%0201d", 0);
    snprintf(want, sizeof want, "work_order: longer than 200 bytes: '%040d...'", 0);
    assert_string_equal(reject_reason(h, line), want);
}

/* Invalid UTF-8 in the text is replaced, not a reason to lose the order. */
static void test_csv_text_cleaned(void **state)
{
    (void)state;
    maintlog *p = maintlog_new();
    assert_int_equal(feed(p, "robot,start,kind,wo,text", 1).rc, MAINTLOG_SKIP);
    fed f = feed(p, "1,2024-01-01T10:00Z,repair,W1,Stra\xdf" "e", 2);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_order_text(&f.o, "W1", "Stra\xEF\xBF\xBD" "e");
    maintlog_free(p);
}

static void test_jsonl_basic(void **state)
{
    (void)state;
    maintlog *p = maintlog_new();
    fed f = feed(p,
                 "\xEF\xBB\xBF{\"robot\": 7, \"start\": \"2024-01-01T10:00:00Z\", \"end\": "
                 "\"2024-01-01T12:30:00Z\", \"kind\": \"repair\", \"text\": \"gearbox, axis 3\", "
                 "\"work_order\": \"WO-1\", \"extra\": [1, 2]}",
                 1);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_int_equal(maintlog_get_format(p), MAINTLOG_JSONL);
    assert_int_equal(f.o.line_no, 1);
    assert_int_equal(f.o.robot_id, 7);
    assert_int_equal(f.o.kind, MAINTLOG_REPAIR);
    assert_true(f.o.start_us == T0);
    assert_true(f.o.end_us == T0 + 5 * HOUR / 2);
    assert_int_equal(f.o.has_end, 1);
    assert_order_text(&f.o, "WO-1", "gearbox, axis 3");

    /* Numbers where numbers make sense; null end and text; keys in any case, aliases. */
    f = feed(p,
             "{\"Robot_ID\": \"8\", \"Start Time\": 1704103200.5, \"END\": null, \"Type\": "
             "\"Failure\", \"description\": null, \"WO\": 42, \"axis\": 2}\r",
             2);
    assert_int_equal(f.rc, MAINTLOG_ORDER);
    assert_int_equal(f.o.robot_id, 8);
    assert_true(f.o.start_us == T0 + 500000);
    assert_int_equal(f.o.has_end, 0);
    assert_int_equal(f.o.kind, MAINTLOG_FAILURE);
    assert_int_equal(f.o.axis, 2);
    assert_order_text(&f.o, "42", "");
    assert_int_equal(feed(p, "", 3).rc, MAINTLOG_SKIP);
    maintlog_free(p);
}

static void test_jsonl_rejects(void **state)
{
    (void)state;
    const char *ok_rest = "\"kind\": \"failure\", \"work_order\": \"W\"";
    char line[512];
    assert_string_equal(reject_reason(NULL, "{\"robot\": 1,"), "not JSON: string or '}' expected near end of file (column 12)");
    /* Line 2 of a JSON lines file must be an object too. */
    maintlog *p = maintlog_new();
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": 0, %s}", ok_rest);
    assert_int_equal(feed(p, line, 1).rc, MAINTLOG_ORDER);
    fed f = feed(p, "[1, 2]", 2);
    assert_int_equal(f.rc, MAINTLOG_REJECT);
    assert_string_equal(f.reason, "not a JSON object");
    f = feed(p, "robot,start", 3);
    assert_int_equal(f.rc, MAINTLOG_REJECT);
    assert_non_null(strstr(f.reason, "not JSON: "));
    maintlog_free(p);

    snprintf(line, sizeof line, "{\"start\": \"2024-01-01T10:00Z\", %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "robot: missing");
    snprintf(line, sizeof line, "{\"robot\": null, \"start\": \"2024-01-01T10:00Z\", %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "robot: null");
    snprintf(line, sizeof line, "{\"robot\": 1.5, \"start\": \"2024-01-01T10:00Z\", %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line),
                        "robot: expected a robot id (an integer from 1), got a number");
    snprintf(line, sizeof line, "{\"robot\": [1], \"start\": \"2024-01-01T10:00Z\", %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line),
                        "robot: expected a robot id (an integer from 1), got an array");
    snprintf(line, sizeof line, "{\"robot\": -4, \"start\": \"2024-01-01T10:00Z\", %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "robot: out of range: '-4'");
    snprintf(line, sizeof line, "{\"robot\": 1, \"robot_id\": 2, \"start\": 0, %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "robot: given twice (keys 'robot' and 'robot_id')");
    snprintf(line, sizeof line, "{\"robot\": 1, \"robot\": 2, \"start\": 0, %s}", ok_rest);
    assert_non_null(strstr(reject_reason(NULL, line), "not JSON: duplicate object key"));
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": true, %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line),
                        "start: expected a timestamp (text or epoch seconds), got true");
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": 1e300, %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "start: epoch seconds out of range (years 1..9999)");
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": 10, \"end\": 5, %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line),
                        "end: 1970-01-01T00:00:05Z is before the start, 1970-01-01T00:00:10Z");
    snprintf(line, sizeof line,
             "{\"robot\": 1, \"start\": 0, \"kind\": 3, \"work_order\": \"W\"}");
    assert_string_equal(reject_reason(NULL, line), "kind: expected a kind (text), got a number");
    snprintf(line, sizeof line,
             "{\"robot\": 1, \"start\": 0, \"kind\": \"repair\", \"work_order\": {}}");
    assert_string_equal(reject_reason(NULL, line),
                        "work_order: expected a work order id (text), got an object");
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": 0, \"text\": 5, %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "text: expected text, got a number");
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": 0, \"axis\": \"x\", %s}", ok_rest);
    assert_string_equal(reject_reason(NULL, line), "axis: not an axis (1..8): 'x'");
    snprintf(line, sizeof line, "{\"robot\": 1, \"start\": 0, \"text\": \"a\\u0000b\", %s}", ok_rest);
    assert_non_null(strstr(reject_reason(NULL, line), "not JSON: "));
}

/* The same orders written as CSV and as JSON lines decode alike. */
static void test_formats_agree(void **state)
{
    (void)state;
    maintlog *c = maintlog_new(), *j = maintlog_new();
    assert_int_equal(feed(c, "robot,start,end,kind,text,work_order,axis", 1).rc, MAINTLOG_SKIP);
    fed a = feed(c, "5,2024-01-01T10:00:00+01:00,2024-01-01T10:45:00Z,Repair,  bolts  ,X 1 ,6", 2);
    fed b = feed(j,
                 "{\"robot\": 5, \"start\": \"2024-01-01T10:00:00+01:00\", \"end\": "
                 "\"2024-01-01T10:45:00Z\", \"kind\": \"Repair\", \"text\": \"  bolts  \", "
                 "\"work_order\": \"X 1 \", \"axis\": \"6\"}",
                 2);
    assert_int_equal(a.rc, MAINTLOG_ORDER);
    assert_int_equal(b.rc, MAINTLOG_ORDER);
    assert_int_equal(a.o.robot_id, b.o.robot_id);
    assert_int_equal(a.o.axis, 6);
    assert_int_equal(b.o.axis, 6);
    assert_true(a.o.start_us == T0 - HOUR && b.o.start_us == a.o.start_us);
    assert_true(a.o.end_us == b.o.end_us);
    assert_int_equal(a.o.kind, b.o.kind);
    assert_order_text(&a.o, "X 1", "bolts");
    assert_order_text(&b.o, "X 1", "bolts");
    maintlog_free(c);
    maintlog_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_basic),        cmocka_unit_test(test_csv_header_names),
        cmocka_unit_test(test_csv_bad_headers),  cmocka_unit_test(test_csv_rejects),
        cmocka_unit_test(test_csv_text_cleaned), cmocka_unit_test(test_jsonl_basic),
        cmocka_unit_test(test_jsonl_rejects),    cmocka_unit_test(test_formats_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
