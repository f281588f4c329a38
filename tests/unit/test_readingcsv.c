/* Unit tests for readingcsv: header recognition for both formats, the header messages, and the
 * decoding of data lines with every reject reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "readingcsv.h"

#define NOW INT64_C(1700000000000000) /* 2023-11-14T22:13:20Z */
#define DAY_US (INT64_C(86400) * 1000000)

/* Splits text into a row; each call uses its own slot so earlier rows stay valid. */
static csvin_row *row_of(const char *text)
{
    static char lines[4][2048];
    static csvin_row rows[4];
    static int next;
    int k = next++ % 4;
    size_t n = strlen(text);
    assert_true(n < sizeof lines[k]);
    memcpy(lines[k], text, n);
    csvin_split(lines[k], n, &rows[k]);
    rows[k].raw = text;
    rows[k].raw_len = n;
    rows[k].line_no = 1;
    return &rows[k];
}

static const char native_header[] = "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8";
static const char workshop_header[] =
    "\"Trait\",\"Axis #1\",\"Axis #2\",\"Axis #3\",\"Axis #4\",\"Axis #5\",\"Axis #6\",\"Axis "
    "#7\",\"Axis #8\",\"Axis #9\",\"Axis #10\",\"Axis #11\",\"Axis #12\",\"Axis #13\",\"Axis "
    "#14\",\"Time\"";

static int detect(readingcsv *f, const char *header, int32_t robot, char *err)
{
    err[0] = '\0';
    return readingcsv_detect(f, row_of(header), robot, err, 512);
}

static void test_detect_native(void **state)
{
    (void)state;
    readingcsv f;
    char err[512];
    assert_int_equal(detect(&f, native_header, 0, err), 0);
    assert_int_equal(f.format, READINGCSV_NATIVE);
    assert_string_equal(readingcsv_format_name(f.format), "native");
    assert_int_equal(f.ncols, 10);
    assert_int_equal(f.col_robot, 0);
    assert_int_equal(f.col_ts, 1);
    for (int a = 0; a < READING_AXES; a++)
        assert_int_equal(f.col_axis[a], 2 + a);
    assert_int_equal(f.col_trait, -1);
    for (int a = 0; a < 6; a++)
        assert_int_equal(f.col_extra[a], -1);
    assert_string_equal(f.ignored, "");

    /* Any order, any case, surrounding space, quoted names, extra columns noted. */
    assert_int_equal(detect(&f,
                            "AXIS8, Axis7 ,\"axis6\",note,axis5,axis4,Axis3,aXis2,axis1,\tTS,"
                            "Robot_ID,\"Axis #9\"",
                            0, err),
                     0);
    assert_int_equal(f.format, READINGCSV_NATIVE);
    assert_int_equal(f.ncols, 12);
    assert_int_equal(f.col_robot, 10);
    assert_int_equal(f.col_ts, 9);
    assert_int_equal(f.col_axis[0], 8);
    assert_int_equal(f.col_axis[2], 6);
    assert_int_equal(f.col_axis[4], 4);
    assert_int_equal(f.col_axis[5], 2);
    assert_int_equal(f.col_axis[7], 0);
    assert_string_equal(f.ignored, "note, Axis #9");
}

static void test_detect_workshop(void **state)
{
    (void)state;
    readingcsv f;
    char err[512];
    assert_int_equal(detect(&f, workshop_header, 42, err), 0);
    assert_int_equal(f.format, READINGCSV_WORKSHOP);
    assert_string_equal(readingcsv_format_name(f.format), "workshop");
    assert_int_equal(f.ncols, 16);
    assert_int_equal(f.col_robot, -1);
    assert_int_equal(f.col_trait, 0);
    assert_int_equal(f.col_ts, 15);
    for (int a = 0; a < READING_AXES; a++)
        assert_int_equal(f.col_axis[a], 1 + a);
    for (int a = 0; a < 6; a++)
        assert_int_equal(f.col_extra[a], 9 + a);
    assert_int_equal(f.robot_id, 42);
    assert_string_equal(f.ignored, "");

    /* Lower case, another order, no Trait, no #9..#14, an unknown column. */
    assert_int_equal(detect(&f,
                            "time,axis #8,AXIS #7,axis #6, axis #5 ,axis #4,axis #3,axis #2,"
                            "axis #1,Comment",
                            7, err),
                     0);
    assert_int_equal(f.format, READINGCSV_WORKSHOP);
    assert_int_equal(f.col_ts, 0);
    assert_int_equal(f.col_trait, -1);
    assert_int_equal(f.col_axis[0], 8);
    assert_int_equal(f.col_axis[7], 1);
    for (int a = 0; a < 6; a++)
        assert_int_equal(f.col_extra[a], -1);
    assert_string_equal(f.ignored, "Comment");

    /* A robot export needs --robot. */
    assert_int_equal(detect(&f, workshop_header, 0, err), -1);
    assert_string_equal(err, "this is a robot export (one robot per file, no robot_id column): "
                             "say which robot it belongs to with --robot ID");
    assert_int_equal(f.format, READINGCSV_WORKSHOP);
    assert_int_equal(detect(&f, workshop_header, -3, err), -1);
}

static void test_detect_errors(void **state)
{
    (void)state;
    readingcsv f;
    char err[512];
    assert_int_equal(detect(&f, "a,b,c", 1, err), -1);
    assert_string_equal(err, "header not recognised: expected pgpulse's robot_id,ts,axis1,...,"
                             "axis8 or a robot export with \"Axis #1\"..\"Axis #8\" and \"Time\" "
                             "columns");
    /* Both time columns: ambiguous, so not recognised either. */
    assert_int_equal(detect(&f, "robot_id,ts,time,axis1", 1, err), -1);
    assert_non_null(strstr(err, "header not recognised"));
    /* A data line where the header should be. */
    assert_int_equal(detect(&f, "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8", 1, err), -1);
    assert_non_null(strstr(err, "header not recognised"));

    assert_int_equal(
        detect(&f, "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8,AXIS3", 0, err),
        -1);
    assert_string_equal(err, "header: column axis3 appears twice (columns 5 and 11)");
    assert_int_equal(detect(&f, "ts,robot_id,TS", 0, err), -1);
    assert_string_equal(err, "header: column ts appears twice (columns 1 and 3)");
    assert_int_equal(detect(&f,
                            "robot_id,ts,axis1,axis2,axis3,axis4,axis5,axis6,axis7,axis8,"
                            "Robot_Id",
                            0, err),
                     -1);
    assert_string_equal(err, "header: column robot_id appears twice (columns 1 and 11)");

    assert_int_equal(detect(&f, "ts,axis1,axis3,axis4,axis5,axis6,axis8", 0, err), -1);
    assert_string_equal(err, "header: missing column(s): robot_id axis2 axis7");
    assert_int_equal(detect(&f, "ts", 0, err), -1);
    assert_string_equal(err, "header: missing column(s): robot_id axis1 axis2 axis3 axis4 axis5 "
                             "axis6 axis7 axis8");

    assert_int_equal(
        detect(&f, "Time,Axis #1,Axis #2,Axis #3,Axis #4,Axis #6,Axis #7,Axis #8", 5, err), -1);
    assert_string_equal(err, "header: missing column(s): \"Axis #5\"");
    assert_int_equal(detect(&f, "Time", 5, err), -1);
    assert_string_equal(err, "header: missing column(s): \"Axis #1\" \"Axis #2\" \"Axis #3\" "
                             "\"Axis #4\" \"Axis #5\" \"Axis #6\" \"Axis #7\" \"Axis #8\"");
    assert_int_equal(detect(&f, "Time,time", 5, err), -1);
    assert_string_equal(err, "header: column Time appears twice (columns 1 and 2)");
    assert_int_equal(detect(&f, "Trait,Time,trait", 5, err), -1);
    assert_string_equal(err, "header: column Trait appears twice (columns 1 and 3)");
    assert_int_equal(detect(&f, "Time,Axis #12,axis #12", 5, err), -1);
    assert_string_equal(err, "header: column Axis #12 appears twice (columns 2 and 3)");

    /* A header the CSV reader could not split. */
    assert_int_equal(detect(&f, "robot_id,\"ts", 0, err), -1);
    assert_string_equal(err, "header: unterminated quoted field");
}

static int decode(const readingcsv *f, const char *line, reading *out, char *reason)
{
    reason[0] = '\0';
    memset(out, 0, sizeof *out);
    return readingcsv_decode(f, row_of(line), NOW, out, reason, 256);
}

static void expect_reject(const readingcsv *f, const char *line, const char *want)
{
    reading r;
    char reason[256];
    int rc = decode(f, line, &r, reason);
    if (rc != READINGCSV_REJECT) fail_msg("'%s': accepted (rc %d)", line, rc);
    if (strcmp(reason, want) != 0)
        fail_msg("'%s':\n  reason '%s'\n  want   '%s'", line, reason, want);
}

static void test_decode_native(void **state)
{
    (void)state;
    readingcsv f;
    char err[512];
    assert_int_equal(detect(&f, native_header, 0, err), 0);
    reading r;
    char reason[256];
    assert_int_equal(decode(&f, "7,2022-10-17T12:18:23.66Z,1,-2.5,3e1,0.125,5,6,7,-0", &r, reason),
                     READINGCSV_OK);
    assert_int_equal(r.robot_id, 7);
    assert_true(r.ts_us == INT64_C(1666009103660000));
    const double want[8] = {1, -2.5, 30, 0.125, 5, 6, 7, 0};
    for (int a = 0; a < 8; a++)
        assert_true(r.axis[a] == want[a]);
    /* Epoch seconds, spaces, quoting, the largest robot id. */
    assert_int_equal(decode(&f, "\"2147483647\", 1666009103.5 ,1,2,3,4,5,6,7,\" 8 \"", &r, reason),
                     READINGCSV_OK);
    assert_int_equal(r.robot_id, INT32_MAX);
    assert_true(r.ts_us == INT64_C(1666009103500000));
    assert_true(r.axis[7] == 8.0);
    /* A day ahead of now is still accepted; the first instant of 1970 too. */
    assert_int_equal(decode(&f, "1,1700086400,1,2,3,4,5,6,7,8", &r, reason), READINGCSV_OK);
    assert_true(r.ts_us == NOW + DAY_US);
    assert_int_equal(decode(&f, "1,1970-01-01T00:00:00Z,1,2,3,4,5,6,7,8", &r, reason),
                     READINGCSV_OK);
    assert_true(r.ts_us == 0);

    /* Columns in another order. */
    assert_int_equal(
        detect(&f, "axis8,axis7,axis6,axis5,axis4,axis3,axis2,axis1,ts,robot_id,x", 0, err), 0);
    assert_int_equal(decode(&f, "8,7,6,5,4,3,2,1,2022-10-17 14:18:23+02,99,ignored", &r, reason),
                     READINGCSV_OK);
    assert_int_equal(r.robot_id, 99);
    assert_true(r.ts_us == INT64_C(1666009103000000));
    for (int a = 0; a < 8; a++)
        assert_true(r.axis[a] == a + 1);
}

static void test_decode_native_rejects(void **state)
{
    (void)state;
    readingcsv f;
    char err[512];
    assert_int_equal(detect(&f, native_header, 0, err), 0);
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7", "expected 10 fields, found 9");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8,9", "expected 10 fields, found 11");
    expect_reject(&f, "", "expected 10 fields, found 1");
    expect_reject(&f, "1,\"2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8", "unterminated quoted field");
    expect_reject(&f, "1,\"x\"y,1,2,3,4,5,6,7,8", "text after closing quote");

    expect_reject(&f, "x,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8", "robot_id: not an integer: 'x'");
    expect_reject(&f, ",2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8", "robot_id: not an integer: ''");
    expect_reject(&f, "1.0,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8",
                  "robot_id: not an integer: '1.0'");
    expect_reject(&f, "0,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8",
                  "robot_id: not a robot id (1..2147483647): '0'");
    expect_reject(&f, "-4,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8",
                  "robot_id: not a robot id (1..2147483647): '-4'");
    expect_reject(&f, "2147483648,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8",
                  "robot_id: not a robot id (1..2147483647): '2147483648'");

    expect_reject(&f, "1,yesterday,1,2,3,4,5,6,7,8",
                  "ts: not an ISO 8601 timestamp or epoch seconds: 'yesterday'");
    expect_reject(&f, "1,,1,2,3,4,5,6,7,8", "ts: empty: ''");
    expect_reject(&f, "1,2022-10-17T12:00:00,1,2,3,4,5,6,7,8",
                  "ts: no time zone (add Z or an offset such as +00:00): '2022-10-17T12:00:00'");
    expect_reject(&f, "1,2022-02-30T12:00:00Z,1,2,3,4,5,6,7,8",
                  "ts: a field is out of range: '2022-02-30T12:00:00Z'");
    expect_reject(&f, "1,1700086400.000001,1,2,3,4,5,6,7,8",
                  "ts: more than a day in the future: '1700086400.000001'");
    expect_reject(&f, "1,2099-01-01T00:00:00Z,1,2,3,4,5,6,7,8",
                  "ts: more than a day in the future: '2099-01-01T00:00:00Z'");
    expect_reject(&f, "1,1969-12-31T23:59:59.999999Z,1,2,3,4,5,6,7,8",
                  "ts: before 1970: '1969-12-31T23:59:59.999999Z'");
    expect_reject(&f, "1,-1,1,2,3,4,5,6,7,8", "ts: before 1970: '-1'");

    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,,4,5,6,7,8", "axis3: missing value: ''");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2, ,4,5,6,7,8", "axis3: missing value: ' '");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,x1,4,5,6,7,8", "axis3: not a number: 'x1'");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,\"1,5\"", "axis8: not a number: '1,5'");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,nan,2,3,4,5,6,7,8",
                  "axis1: not a finite number: 'nan'");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,-inf,3,4,5,6,7,8",
                  "axis2: not a finite number: '-inf'");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,3,4,5,1e999,7,8",
                  "axis6: not a finite number: '1e999'");
    /* The first bad field is the one named. */
    expect_reject(&f, "x,bad,1,2,x,4,5,6,7,8", "robot_id: not an integer: 'x'");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,x,4,y,6,7,8", "axis3: not a number: 'x'");
    /* Long and unprintable values are shown shortened and made printable. */
    expect_reject(&f,
                  "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,"
                  "x23456789012345678901234567890123456789012345",
                  "axis8: not a number: 'x234567890123456789012345678901234567890...'");
    expect_reject(&f,
                  "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,"
                  "x234567890123456789012345678901234567890",
                  "axis8: not a number: 'x234567890123456789012345678901234567890'");
    expect_reject(&f, "1,2022-10-17T12:00:00Z,1,2,3,4,5,6,7,a\tb\x01\xc3\xa9",
                  "axis8: not a number: 'a?b??"
                  "?'");

    /* A line the reader flagged keeps its reason. */
    csvin_row bad = {.error = "line longer than 10 bytes", .line_no = 3};
    reading r;
    char reason[256];
    assert_int_equal(readingcsv_decode(&f, &bad, NOW, &r, reason, sizeof reason),
                     READINGCSV_REJECT);
    assert_string_equal(reason, "line longer than 10 bytes");
    /* A small reason buffer truncates, terminated. */
    char tiny[8];
    assert_int_equal(
        readingcsv_decode(&f, row_of("x,a,1,2,3,4,5,6,7,8"), NOW, &r, tiny, sizeof tiny),
        READINGCSV_REJECT);
    assert_string_equal(tiny, "robot_i");
}

static void test_decode_workshop(void **state)
{
    (void)state;
    readingcsv f;
    char err[512];
    assert_int_equal(detect(&f, workshop_header, 12, err), 0);
    reading r;
    char reason[256];
    assert_int_equal(
        decode(&f, "current,1,2,3,4,5,6,7,8,,,,,,,2022-10-17T12:18:23.66Z", &r, reason),
        READINGCSV_OK);
    assert_int_equal(r.robot_id, 12);
    assert_true(r.ts_us == INT64_C(1666009103660000));
    for (int a = 0; a < 8; a++)
        assert_true(r.axis[a] == a + 1);
    assert_int_equal(
        decode(&f, " Current ,1,2,3,4,5,6,7,8,,,,,,,2022-10-17 12:18:23+00", &r, reason),
        READINGCSV_OK);
    /* Values in Axis #9..#14: accepted, and said so. */
    for (int k = 9; k <= 14; k++) {
        char line[128];
        char extra[6][12] = {"", "", "", "", "", ""};
        snprintf(extra[k - 9], sizeof extra[0], "%d", k);
        snprintf(line, sizeof line,
                 "current,1,2,3,4,5,6,7,8,%s,%s,%s,%s,%s,%s,2022-10-17T12:00:00Z", extra[0],
                 extra[1], extra[2], extra[3], extra[4], extra[5]);
        memset(&r, 0, sizeof r);
        assert_int_equal(decode(&f, line, &r, reason), READINGCSV_OK_EXTRA);
        assert_int_equal(r.robot_id, 12);
        assert_true(r.axis[7] == 8.0);
    }

    /* ...but text that is not a number there marks a damaged line. */
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,abc,,,,2022-10-17T12:00:00Z",
                  "Axis #11: not a number: 'abc'");
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,,,,nan,2022-10-17T12:00:00Z",
                  "Axis #14: not a finite number: 'nan'");
    assert_int_equal(decode(&f, "current,1,2,3,4,5,6,7,8, ,,,,,,2022-10-17T12:00:00Z", &r, reason),
                     READINGCSV_OK);
    expect_reject(&f, "voltage,1,2,3,4,5,6,7,8,,,,,,,2022-10-17T12:00:00Z",
                  "Trait: not 'current': 'voltage'");
    expect_reject(&f, ",1,2,3,4,5,6,7,8,,,,,,,2022-10-17T12:00:00Z", "Trait: not 'current': ''");
    /* Epoch seconds are not a workshop time; a zone is required. */
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,,,,,1666009103",
                  "Time: not an ISO 8601 timestamp or epoch seconds: '1666009103'");
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,,,,,2022-10-17T12:00:00",
                  "Time: no time zone (add Z or an offset such as +00:00): '2022-10-17T12:00:00'");
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,,,,,1960-01-01T00:00:00Z",
                  "Time: before 1970: '1960-01-01T00:00:00Z'");
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,,,,,2030-01-01T00:00:00Z",
                  "Time: more than a day in the future: '2030-01-01T00:00:00Z'");
    expect_reject(&f, "current,1,2,3,4,,6,7,8,,,,,,,2022-10-17T12:00:00Z",
                  "Axis #5: missing value: ''");
    expect_reject(&f, "current,1,2,3,4,5,6,7,NaN,,,,,,,2022-10-17T12:00:00Z",
                  "Axis #8: not a finite number: 'NaN'");
    expect_reject(&f, "current,1,2,3,4,5,6,7,8,,,,,,2022-10-17T12:00:00Z",
                  "expected 16 fields, found 15");

    /* Without a Trait column any line is "current". */
    assert_int_equal(
        detect(&f, "Time,Axis #1,Axis #2,Axis #3,Axis #4,Axis #5,Axis #6,Axis #7,Axis #8", 3, err),
        0);
    assert_int_equal(decode(&f, "2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8", &r, reason), READINGCSV_OK);
    assert_int_equal(r.robot_id, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_native),         cmocka_unit_test(test_detect_workshop),
        cmocka_unit_test(test_detect_errors),         cmocka_unit_test(test_decode_native),
        cmocka_unit_test(test_decode_native_rejects), cmocka_unit_test(test_decode_workshop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
