/* readingcsv: header recognition and line decoding for the reading CSV formats. */
#include "readingcsv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "numparse.h"
#include "tstamp.h"
#include "util.h"

/* Compares a header field with a lower-case name, ignoring case and surrounding space. */
static int readingcsv_name_is(const csvin_field *f, const char *name)
{
    const char *p = f->p;
    size_t n = f->len;
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    size_t k = strlen(name);
    if (n != k) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != name[i]) return 0;
    }
    return 1;
}

static void readingcsv_note_ignored(readingcsv *f, const csvin_field *fld)
{
    size_t used = strlen(f->ignored);
    if (used + fld->len + 3 >= sizeof f->ignored) return;
    snprintf(f->ignored + used, sizeof f->ignored - used, "%s%.*s", used ? ", " : "",
             (int)fld->len, fld->p);
}

/* Sets *slot to column i, or fails if the name appeared before. */
static int readingcsv_claim(int *slot, int i, const char *name, char *err, size_t errlen)
{
    if (*slot >= 0)
        return util_err(err, errlen, "header: column %s appears twice (columns %d and %d)", name,
                        *slot + 1, i + 1);
    *slot = i;
    return 0;
}

int readingcsv_detect(readingcsv *f, const csvin_row *h, int32_t robot_id, char *err,
                      size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->col_robot = f->col_ts = f->col_trait = -1;
    for (int a = 0; a < READING_AXES; a++) f->col_axis[a] = -1;
    for (int a = 0; a < 6; a++) f->col_extra[a] = -1;
    if (h->error) return util_err(err, errlen, "header: %s", h->error);

    /* Which format: the time column's name decides. */
    int native = 0, workshop = 0;
    for (size_t i = 0; i < h->nfields; i++) {
        native |= readingcsv_name_is(&h->fields[i], "ts");
        workshop |= readingcsv_name_is(&h->fields[i], "time");
    }
    if (native == workshop)
        return util_err(err, errlen,
                        "header not recognised: expected pgpulse's "
                        "robot_id,ts,axis1,...,axis8 or a robot export with \"Axis #1\"..\"Axis "
                        "#8\" and \"Time\" columns");
    f->format = native ? READINGCSV_NATIVE : READINGCSV_WORKSHOP;
    f->ncols = h->nfields;

    for (size_t i = 0; i < h->nfields; i++) {
        const csvin_field *fld = &h->fields[i];
        char name[24]; /* "Axis #N"; sized for any int so -O1 range analysis is satisfied */
        int matched = 0;
        if (native) {
            if (readingcsv_name_is(fld, "robot_id")) {
                if (readingcsv_claim(&f->col_robot, (int)i, "robot_id", err, errlen)) return -1;
                matched = 1;
            } else if (readingcsv_name_is(fld, "ts")) {
                if (readingcsv_claim(&f->col_ts, (int)i, "ts", err, errlen)) return -1;
                matched = 1;
            }
            for (int a = 0; a < READING_AXES && !matched; a++) {
                snprintf(name, sizeof name, "axis%d", a + 1);
                if (readingcsv_name_is(fld, name)) {
                    if (readingcsv_claim(&f->col_axis[a], (int)i, name, err, errlen)) return -1;
                    matched = 1;
                }
            }
        } else {
            if (readingcsv_name_is(fld, "time")) {
                if (readingcsv_claim(&f->col_ts, (int)i, "Time", err, errlen)) return -1;
                matched = 1;
            } else if (readingcsv_name_is(fld, "trait")) {
                if (readingcsv_claim(&f->col_trait, (int)i, "Trait", err, errlen)) return -1;
                matched = 1;
            }
            for (int a = 0; a < READING_AXES + 6 && !matched; a++) {
                snprintf(name, sizeof name, "axis #%d", a + 1);
                if (readingcsv_name_is(fld, name)) {
                    int *slot = a < READING_AXES ? &f->col_axis[a] : &f->col_extra[a - READING_AXES];
                    snprintf(name, sizeof name, "Axis #%d", a + 1);
                    if (readingcsv_claim(slot, (int)i, name, err, errlen)) return -1;
                    matched = 1;
                }
            }
        }
        if (!matched) readingcsv_note_ignored(f, fld);
    }

    char missing[128] = "";
    if (native && f->col_robot < 0) strcat(missing, " robot_id");
    for (int a = 0; a < READING_AXES; a++) {
        if (f->col_axis[a] >= 0) continue;
        size_t n = strlen(missing);
        snprintf(missing + n, sizeof missing - n, native ? " axis%d" : " \"Axis #%d\"", a + 1);
    }
    if (missing[0]) return util_err(err, errlen, "header: missing column(s):%s", missing);
    if (!native) {
        if (robot_id <= 0)
            return util_err(err, errlen,
                            "this is a robot export (one robot per file, no robot_id column): "
                            "say which robot it belongs to with --robot ID");
        f->robot_id = robot_id;
    }
    return 0;
}

/* Writes "field: what: 'text'" into reason, showing at most 40 printable bytes of the text. */
static int readingcsv_reject(char *reason, size_t len, const char *field, const char *what,
                             const csvin_field *val)
{
    char shown[48];
    size_t n = val->len < 40 ? val->len : 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)val->p[i];
        shown[i] = c >= 0x20 && c < 0x7F ? (char)c : '?';
    }
    shown[n] = '\0';
    snprintf(reason, len, "%s: %s: '%s%s'", field, what, shown, val->len > 40 ? "..." : "");
    return READINGCSV_REJECT;
}

int readingcsv_decode(const readingcsv *f, const csvin_row *row, int64_t now_us, reading *out,
                      char *reason, size_t reasonlen)
{
    int native = f->format == READINGCSV_NATIVE;
    if (row->error) {
        snprintf(reason, reasonlen, "%s", row->error);
        return READINGCSV_REJECT;
    }
    if (row->nfields != f->ncols) {
        snprintf(reason, reasonlen, "expected %zu fields, found %zu", f->ncols, row->nfields);
        return READINGCSV_REJECT;
    }
    if (f->col_trait >= 0) {
        const csvin_field *t = &row->fields[f->col_trait];
        if (!readingcsv_name_is(t, "current"))
            return readingcsv_reject(reason, reasonlen, "Trait", "not 'current'", t);
    }
    if (native) {
        const csvin_field *rf = &row->fields[f->col_robot];
        int64_t id;
        int rc = numparse_int64(rf->p, rf->len, 1, INT32_MAX, &id);
        if (rc != NUMPARSE_OK)
            return readingcsv_reject(reason, reasonlen, "robot_id",
                                     rc == NUMPARSE_RANGE ? "not a robot id (1..2147483647)"
                                                          : "not an integer",
                                     rf);
        out->robot_id = (int32_t)id;
    } else {
        out->robot_id = f->robot_id;
    }

    const char *ts_name = native ? "ts" : "Time";
    const csvin_field *tf = &row->fields[f->col_ts];
    int rc = tstamp_parse(tf->p, tf->len, TSTAMP_ZONE_REQUIRED | (native ? TSTAMP_EPOCH_OK : 0),
                          &out->ts_us);
    if (rc != TSTAMP_OK)
        return readingcsv_reject(reason, reasonlen, ts_name, tstamp_strerror(rc), tf);
    if (out->ts_us > now_us + READINGCSV_MAX_FUTURE_US)
        return readingcsv_reject(reason, reasonlen, ts_name, "more than a day in the future", tf);
    if (out->ts_us < 0)
        return readingcsv_reject(reason, reasonlen, ts_name, "before 1970", tf);

    for (int a = 0; a < READING_AXES; a++) {
        const csvin_field *af = &row->fields[f->col_axis[a]];
        rc = numparse_double(af->p, af->len, &out->axis[a]);
        if (rc != NUMPARSE_OK) {
            char name[16];
            snprintf(name, sizeof name, native ? "axis%d" : "Axis #%d", a + 1);
            return readingcsv_reject(reason, reasonlen, name,
                                     rc == NUMPARSE_EMPTY ? "missing value" : numparse_strerror(rc),
                                     af);
        }
    }
    /* Axis #9..#14 are not stored, but a value there must still be a number: text in a
     * numeric column means the line is damaged. */
    int extra = READINGCSV_OK;
    for (int a = 0; a < 6; a++) {
        int c = f->col_extra[a];
        if (c < 0 || row->fields[c].len == 0) continue;
        double ignored;
        rc = numparse_double(row->fields[c].p, row->fields[c].len, &ignored);
        if (rc == NUMPARSE_EMPTY) continue; /* only spaces */
        if (rc != NUMPARSE_OK) {
            char name[24];
            snprintf(name, sizeof name, "Axis #%d", a + READING_AXES + 1);
            return readingcsv_reject(reason, reasonlen, name, numparse_strerror(rc),
                                     &row->fields[c]);
        }
        extra = READINGCSV_OK_EXTRA;
    }
    return extra;
}

const char *readingcsv_format_name(readingcsv_format format)
{
    return format == READINGCSV_NATIVE ? "native" : "workshop";
}

void readingcsv_writer_init(readingcsv_writer *w)
{
    w->day = INT64_MIN;
    w->date[0] = '\0';
}

/* Writes v >= 0 in decimal at p; returns the length. */
static size_t readingcsv_put_uint(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

static size_t readingcsv_put_value(char *p, double v)
{
    size_t n = 0;
    double r = v * 1000.0;
    if (!(r > -9.2e18 && r < 9.2e18)) return (size_t)snprintf(p, 40, "%.17g", v); /* huge */
    int64_t k = llround(r);
    if (k < 0) {
        p[n++] = '-';
        k = -k;
    }
    n += readingcsv_put_uint(p + n, (uint64_t)k / 1000);
    int frac = (int)((uint64_t)k % 1000);
    if (frac) {
        p[n++] = '.';
        p[n++] = (char)('0' + frac / 100);
        if (frac % 100) {
            p[n++] = (char)('0' + frac / 10 % 10);
            if (frac % 10) p[n++] = (char)('0' + frac % 10);
        }
    }
    return n;
}

size_t readingcsv_write_row(readingcsv_writer *w, const reading *r, char *out)
{
    size_t n = readingcsv_put_uint(out, (uint64_t)(uint32_t)r->robot_id);
    out[n++] = ',';
    int64_t day = tstamp_day_of(r->ts_us);
    if (day != w->day) {
        char full[40];
        tstamp_format(day * TSTAMP_US_PER_DAY, full, sizeof full);
        memcpy(w->date, full, 11);
        w->date[11] = '\0';
        w->day = day;
    }
    memcpy(out + n, w->date, 11);
    n += 11;
    int64_t ms = (r->ts_us - day * TSTAMP_US_PER_DAY) / 1000;
    int h = (int)(ms / 3600000), mi = (int)(ms / 60000 % 60), sec = (int)(ms / 1000 % 60);
    int frac = (int)(ms % 1000);
    char *q = out + n;
    q[0] = (char)('0' + h / 10);
    q[1] = (char)('0' + h % 10);
    q[2] = ':';
    q[3] = (char)('0' + mi / 10);
    q[4] = (char)('0' + mi % 10);
    q[5] = ':';
    q[6] = (char)('0' + sec / 10);
    q[7] = (char)('0' + sec % 10);
    q[8] = '.';
    q[9] = (char)('0' + frac / 100);
    q[10] = (char)('0' + frac / 10 % 10);
    q[11] = (char)('0' + frac % 10);
    q[12] = 'Z';
    n += 13;
    for (int a = 0; a < READING_AXES; a++) {
        out[n++] = ',';
        n += readingcsv_put_value(out + n, r->axis[a]);
    }
    out[n++] = '\n';
    return n;
}
