/* detect_replay: the detectors over a CSV file (see detect_replay.h). */
#include "detect_replay.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "csvin.h"
#include "detect_episode.h"
#include "detect_keys.h"
#include "numparse.h"
#include "tstamp.h"
#include "util.h"

#define REPLAY_FLUSH_BYTES (1u << 20)

typedef struct replay {
    const detect_replay_opts *o;
    detect_replay_stats *st;
    size_t ncols;
    char **names;            /* header names, NUL-terminated copies */
    int col_time, col_key;
    int nch;                 /* 0 until decided */
    int ch_col[DETECT_MAX_CH];
    detect_keys keys;        /* the state per key (robot_id value; 0 without the column) */
    detect_key *cur;         /* the key being stepped (for the episode callback) */
    buf out;
    buf ep;
    int bridge;
    int64_t max_keys;
} replay;

/* Appends a CSV field, quoted when it must be. */
static void replay_put_field(buf *b, const char *p, size_t len)
{
    int quote = 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r') {
            quote = 1;
            break;
        }
    if (!quote) {
        buf_append(b, p, len);
        return;
    }
    buf_append(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"') buf_append(b, "\"", 1);
        buf_append(b, &p[i], 1);
    }
    buf_append(b, "\"", 1);
}

static void replay_put_row(buf *b, const csvin_row *row)
{
    for (size_t i = 0; i < row->nfields; i++) {
        if (i) buf_append(b, ",", 1);
        replay_put_field(b, row->fields[i].p, row->fields[i].len);
    }
}

/* ",0.123456789" without printf (nine decimals: a threshold sweep, as NAB's, tells apart
 * scores near 1 that six would round together); the score is in 0..1. */
static void replay_put_score(buf *b, double score)
{
    if (!(score > 0)) score = 0;
    if (score > 1) score = 1;
    long long nano = llround(score * 1e9);
    char *p = (char *)buf_reserve(b, 12);
    p[0] = ',';
    p[1] = nano >= 1000000000 ? '1' : '0';
    p[2] = '.';
    if (nano >= 1000000000) nano = 0;
    for (int i = 11; i >= 3; i--) {
        p[i] = (char)('0' + nano % 10);
        nano /= 10;
    }
    buf_commit(b, 12);
}

static void replay_put_explain(replay *r, buf *b, const detect_result *res)
{
    if (!res->level) {
        buf_append(b, ",,,", 3);
        return;
    }
    int best = -1;
    double bz = -1;
    for (int i = 0; i < r->nch; i++)
        if (res->ch_level[i] == res->level && res->ch_z[i] > bz) {
            best = i;
            bz = res->ch_z[i];
        }
    const char *chname = "multi";
    unsigned det = res->multi_detector;
    if (!(res->multi_level == res->level && res->multi_z >= bz) && best >= 0) {
        chname = r->names[r->ch_col[best]];
        det = res->ch_detector[best];
    }
    buf_printf(b, ",%s,", detect_level_name(res->level));
    replay_put_field(b, chname, strlen(chname));
    buf_printf(b, ",%s", detect_kind_name((detect_kind)det));
}

static void replay_on_episode(void *arg, const detect_episode *e, detect_episode_event ev)
{
    replay *r = arg;
    if (ev != DETECT_EPISODE_CLOSE) return;
    r->st->episodes++;
    if (!r->o->episodes) return;
    buf *b = &r->ep;
    if (r->col_key >= 0) buf_printf(b, "%lld", (long long)r->cur->key);
    buf_append(b, ",", 1);
    const char *ch = e->channel == DETECT_EPISODE_MULTI ? "multi" : r->names[r->ch_col[e->channel]];
    replay_put_field(b, ch, strlen(ch));
    char t0[32], t1[32], reason[128];
    tstamp_format(e->ts_start, t0, sizeof t0);
    tstamp_format(e->ts_end, t1, sizeof t1);
    detect_reason_format(e->reason, reason, sizeof reason);
    buf_printf(b, ",%s,%s,%s,%.6f,%s,", detect_level_name(e->level), t0, t1, e->peak_score,
               detect_kind_name((detect_kind)e->detector));
    replay_put_field(b, reason, strlen(reason));
    buf_printf(b, ",%lld\n", (long long)e->points);
}

static int replay_flush(replay *r, FILE *out, int force, char *err, size_t errlen)
{
    if (r->out.len && (force || r->out.len >= REPLAY_FLUSH_BYTES)) {
        if (fwrite(r->out.data, 1, r->out.len, out) != r->out.len) {
            snprintf(err, errlen, "writing the output: %s", strerror(errno));
            return -1;
        }
        buf_reset(&r->out);
    }
    if (r->o->episodes && r->ep.len && (force || r->ep.len >= REPLAY_FLUSH_BYTES)) {
        if (fwrite(r->ep.data, 1, r->ep.len, r->o->episodes) != r->ep.len) {
            snprintf(err, errlen, "writing the episodes: %s", strerror(errno));
            return -1;
        }
        buf_reset(&r->ep);
    }
    return 0;
}

static int replay_name_is(const char *name, const char *want)
{
    return !strcasecmp(name, want);
}

/* Reads the header into r. */
static int replay_header(replay *r, const csvin_row *row, char *err, size_t errlen)
{
    r->ncols = row->nfields;
    r->names = xcalloc(r->ncols, sizeof *r->names);
    r->col_time = r->col_key = -1;
    for (size_t i = 0; i < r->ncols; i++) {
        const csvin_field *f = &row->fields[i];
        size_t a = 0, z = f->len;
        while (a < z && (f->p[a] == ' ' || f->p[a] == '\t')) a++;
        while (z > a && (f->p[z - 1] == ' ' || f->p[z - 1] == '\t')) z--;
        char *name = xmalloc(z - a + 1);
        memcpy(name, f->p + a, z - a);
        name[z - a] = 0;
        r->names[i] = name;
        if (r->col_time < 0 && (replay_name_is(name, "timestamp") || replay_name_is(name, "ts") ||
                                replay_name_is(name, "time")))
            r->col_time = (int)i;
        else if (r->col_key < 0 && replay_name_is(name, "robot_id"))
            r->col_key = (int)i;
    }
    if (r->col_time < 0) {
        snprintf(err, errlen, "%s:%llu: no time column (a column named timestamp, ts or time)",
                 r->o->in_name, (unsigned long long)row->line_no);
        return -1;
    }
    if (r->o->channels) {
        const char *p = r->o->channels;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            size_t i;
            for (i = 0; i < r->ncols; i++)
                if (strlen(r->names[i]) == len && !strncasecmp(r->names[i], p, len)) break;
            if (i == r->ncols || (int)i == r->col_time || (int)i == r->col_key) {
                snprintf(err, errlen, "%s: --channels: no channel column '%.*s' in the header",
                         r->o->in_name, (int)len, p);
                return -1;
            }
            if (r->nch == DETECT_MAX_CH) {
                snprintf(err, errlen, "%s: --channels: at most %d channels", r->o->in_name, DETECT_MAX_CH);
                return -1;
            }
            r->ch_col[r->nch++] = (int)i;
            if (!e) break;
            p = e + 1;
        }
        detect_keys_init(&r->keys, r->o->cfg, r->nch);
    }
    return 0;
}

/* Decides the channels from the first good line: every other column holding a number. */
static int replay_pick_channels(replay *r, const csvin_row *row, char *err, size_t errlen)
{
    char extra[512];
    size_t used = 0;
    extra[0] = 0;
    for (size_t i = 0; i < r->ncols; i++) {
        if ((int)i == r->col_time || (int)i == r->col_key) continue;
        double v;
        if (numparse_double(row->fields[i].p, row->fields[i].len, &v) != NUMPARSE_OK) continue;
        if (r->nch == DETECT_MAX_CH) {
            int w = snprintf(extra + used, sizeof extra - used, "%s%s", used ? ", " : "", r->names[i]);
            if (w > 0 && (size_t)w < sizeof extra - used) used += (size_t)w;
            continue;
        }
        r->ch_col[r->nch++] = (int)i;
    }
    if (used) {
        snprintf(err, errlen, "%s: more than %d numeric columns (also %.300s): name the channels with --channels",
                 r->o->in_name, DETECT_MAX_CH, extra);
        return -1; /* with r->nch set: fatal */
    }
    if (!r->nch) {
        snprintf(err, errlen, "no value is a number (the channels are the numeric columns of the first line that has one)");
        return -1;
    }
    detect_keys_init(&r->keys, r->o->cfg, r->nch);
    return 0;
}

/* Decodes one data line: 0, or -1 with a reason. */
static int replay_decode(replay *r, const csvin_row *row, int64_t *ts, int64_t *key, double *x,
                         char *reason, size_t rlen)
{
    if (row->error) {
        snprintf(reason, rlen, "%s", row->error);
        return -1;
    }
    if (row->nfields != r->ncols) {
        snprintf(reason, rlen, "%zu fields, the header has %zu", row->nfields, r->ncols);
        return -1;
    }
    const csvin_field *f = &row->fields[r->col_time];
    int rc = tstamp_parse(f->p, f->len, TSTAMP_EPOCH_OK, ts);
    if (rc != TSTAMP_OK) {
        snprintf(reason, rlen, "%s: %s: '%.*s'", r->names[r->col_time], tstamp_strerror(rc),
                 (int)(f->len > 64 ? 64 : f->len), f->p);
        return -1;
    }
    *key = 0;
    if (r->col_key >= 0) {
        f = &row->fields[r->col_key];
        rc = numparse_int64(f->p, f->len, INT64_MIN, INT64_MAX, key);
        if (rc != NUMPARSE_OK) {
            snprintf(reason, rlen, "%s: %s: '%.*s'", r->names[r->col_key], numparse_strerror(rc),
                     (int)(f->len > 64 ? 64 : f->len), f->p);
            return -1;
        }
        if (r->nch && (int64_t)r->keys.count >= r->max_keys && !detect_keys_find(&r->keys, *key)) {
            snprintf(reason, rlen, "%s %lld: more than %lld keys (raise --max-keys)",
                     r->names[r->col_key], (long long)*key, (long long)r->max_keys);
            return -1;
        }
    }
    if (!r->nch) {
        int p = replay_pick_channels(r, row, reason, rlen);
        if (p) return r->nch ? -2 : -1;
    }
    for (int i = 0; i < r->nch; i++) {
        f = &row->fields[r->ch_col[i]];
        rc = numparse_double(f->p, f->len, &x[i]);
        if (rc != NUMPARSE_OK) {
            snprintf(reason, rlen, "%s: %s: '%.*s'", r->names[r->ch_col[i]], numparse_strerror(rc),
                     (int)(f->len > 64 ? 64 : f->len), f->p);
            return -1;
        }
    }
    return 0;
}

int detect_replay_run(int in_fd, FILE *out, const detect_replay_opts *o, detect_replay_stats *st,
                      char *err, size_t errlen)
{
    replay r;
    memset(&r, 0, sizeof r);
    memset(st, 0, sizeof *st);
    r.o = o;
    r.st = st;
    r.bridge = o->bridge > 0 ? o->bridge : DETECT_EPISODE_DEFAULT_BRIDGE;
    r.max_keys = o->max_keys > 0 ? o->max_keys : DETECT_REPLAY_MAX_KEYS;
    csvin *in = csvin_new(in_fd, 0);
    csvin_keep_blank_lines(in, 1); /* a blank line is a line: reported, and kept in OUT */
    csvin_row row;
    int rc = -1, got;
    char reason[512];

    got = csvin_next(in, &row, -1, err, errlen);
    if (got == CSVIN_IOERR) goto cleanup;
    if (got == CSVIN_EOF) {
        snprintf(err, errlen, "%s: empty input (expected a header line)", o->in_name);
        goto cleanup;
    }
    if (row.error) {
        snprintf(err, errlen, "%s:%llu: header: %s", o->in_name, (unsigned long long)row.line_no, row.error);
        goto cleanup;
    }
    if (replay_header(&r, &row, err, errlen)) goto cleanup;
    replay_put_row(&r.out, &row);
    buf_puts(&r.out, o->explain ? ",anomaly_score,label,level,channel,detector\n" : ",anomaly_score,label\n");
    if (o->episodes) buf_puts(&r.ep, "key,channel,level,ts_start,ts_end,peak_score,detector,reason,points\n");

    for (;;) {
        got = csvin_next(in, &row, -1, err, errlen);
        if (got == CSVIN_IOERR) goto cleanup;
        if (got == CSVIN_EOF) break;
        st->lines++;
        int64_t ts, key;
        double x[DETECT_MAX_CH];
        int d = replay_decode(&r, &row, &ts, &key, x, reason, sizeof reason);
        if (d == -2) {
            snprintf(err, errlen, "%s", reason);
            goto cleanup;
        }
        if (row.error)
            buf_append(&r.out, row.raw, row.raw_len);
        else
            replay_put_row(&r.out, &row);
        if (d) {
            st->bad++;
            if (st->bad <= DETECT_REPLAY_MAX_REPORTS && o->msgs)
                fprintf(o->msgs, "%s:%llu: skipped: %s\n", o->in_name, (unsigned long long)row.line_no, reason);
            buf_puts(&r.out, o->explain ? ",0.000000000,0,,,\n" : ",0.000000000,0\n");
        } else {
            r.cur = detect_keys_get(&r.keys, key);
            detect_result res;
            detect_key_step(r.cur, o->cfg, r.bridge, ts, x, &res, replay_on_episode, &r);
            replay_put_score(&r.out, res.score);
            buf_append(&r.out, res.level ? ",1" : ",0", 2);
            if (res.level) st->flagged++;
            if (o->explain) replay_put_explain(&r, &r.out, &res);
            buf_append(&r.out, "\n", 1);
        }
        if (replay_flush(&r, out, 0, err, errlen)) goto cleanup;
    }
    for (size_t i = 0; i < r.keys.cap; i++)
        if (r.keys.slots[i]) {
            r.cur = r.keys.slots[i];
            detect_episodes_flush(&r.cur->ep, r.nch, replay_on_episode, &r);
        }
    if (replay_flush(&r, out, 1, err, errlen)) goto cleanup;
    if (!r.nch && st->lines) {
        snprintf(err, errlen, "%s: no line has a numeric column besides the time%s", o->in_name,
                 r.col_key >= 0 ? " and robot_id" : "");
        goto cleanup;
    }
    if (st->bad > DETECT_REPLAY_MAX_REPORTS && o->msgs)
        fprintf(o->msgs, "%s: %lld bad lines in all (the first %d shown)\n", o->in_name,
                (long long)st->bad, DETECT_REPLAY_MAX_REPORTS);
    st->keys = (int64_t)r.keys.count;
    st->channels = r.nch;
    rc = 0;

cleanup:
    csvin_free(in);
    detect_keys_free(&r.keys);
    for (size_t i = 0; i < r.ncols; i++) free(r.names[i]);
    free(r.names);
    buf_free(&r.out);
    buf_free(&r.ep);
    return rc;
}
