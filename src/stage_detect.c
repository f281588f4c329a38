/* stage_detect: the `detect` stage — the detectors (detect.h) over every robot's readings, in
 * the order the source delivers them, merged into episodes (detect_episode.h) that are written
 * to the anomaly table while they grow, and a NOTIFY on channel pgpulse_anomaly for every
 * episode that opens or rises from ALERT to ERROR.
 *
 * Exactly once: the episodes, each changed robot's detector state (detect_robot_state, one
 * binary block per robot) and the consumer's position commit in one transaction; open reads
 * the states back, so a consumer killed and restarted continues from the last commit as if it
 * had never stopped. Everything is a function of the rows in delivery order, not of where the
 * batches end. */
#include "stage_detect.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "detect_episode.h"
#include "detect_keys.h"
#include "pgarray.h"
#include "pgconn.h"
#include "stagestate.h"
#include "tstamp.h"
#include "util.h"

#define DETECT_CHANNEL "pgpulse_anomaly"
#define DETECT_NOTIFY_MAX 20        /* episodes listed in one NOTIFY payload (the rest counted) */

/* An episode to write at the commit: one that closed since the last commit (kept as it
 * closes), or one still open that grew since (read from its robot's block at the commit). */
typedef struct detect_change {
    int32_t robot_id;
    int closed;
    int notify;                     /* it opened, or rose to ERROR, since the last commit */
    detect_episode e;
} detect_change;

typedef struct detect_stage {
    stream_ctx ctx;
    detect_cfg cfg;
    detect_keys robots;             /* the detectors' state per robot_id */
    detect_change *changes;         /* what the next commit writes (see detect_change) */
    size_t nchanges, changes_cap;
    detect_key *cur;                /* robot being stepped (episode callback) */
} detect_stage;

static void detect_free_stage(detect_stage *s)
{
    if (!s) return;
    detect_keys_free(&s->robots);
    free(s->changes);
    free(s);
}

/* The blob of one robot: n, open episodes, then the detectors' state. */
static void detect_robot_save(const detect_key *r, buf *b)
{
    buf_append(b, &r->n, sizeof r->n);
    buf_append(b, &r->ep, sizeof r->ep);
    detect_state_save(&r->st, b);
}

/* Restores robot r from its detect_robot_state row. Returns 0; 1 when the detectors' state was
 * saved by an earlier pgpulse and r starts afresh (its open episodes kept); -1 with a message. */
static int detect_robot_load(detect_key *r, const detect_cfg *cfg, const uint8_t *p, size_t len,
                             char *err, size_t errlen)
{
    if (len < sizeof r->n + sizeof r->ep) {
        snprintf(err, errlen, "detect_robot_state of robot %d: %zu bytes, too short", (int)r->key, len);
        return -1;
    }
    memcpy(&r->n, p, sizeof r->n);
    memcpy(&r->ep, p + sizeof r->n, sizeof r->ep);
    for (int i = 0; i <= DETECT_MAX_CH; i++) {
        const detect_episode *e = &r->ep.ep[i];
        int want = i == DETECT_MAX_CH ? DETECT_EPISODE_MULTI : i;
        if (e->level < 0 || e->level > DETECT_ERROR || (e->level && e->channel != want)) {
            snprintf(err, errlen, "detect_robot_state of robot %d: corrupt open episode "
                     "(drop the consumer to start afresh)", (int)r->key);
            return -1;
        }
    }
    size_t off = sizeof r->n + sizeof r->ep;
    char e2[256];
    long used = detect_state_load(&r->st, p + off, len - off, e2, sizeof e2);
    if (used == -2) { /* an older pgpulse's layout: this robot's detectors learn afresh */
        detect_state_init(&r->st, cfg, READING_AXES);
        return 1;
    }
    if (used < 0 || (size_t)used != len - off) {
        snprintf(err, errlen, "detect_robot_state of robot %d: %s (drop the consumer to start afresh)",
                 (int)r->key, used < 0 ? e2 : "trailing bytes");
        return -1;
    }
    return 0;
}

static void *detect_open(const uint8_t *state, size_t len, const stream_ctx *ctx, PGconn *conn,
                         char *err, size_t errlen)
{
    (void)state;
    (void)len;
    detect_stage *s = xcalloc(1, sizeof *s);
    s->ctx = *ctx;
    detect_cfg_default(&s->cfg);
    detect_keys_init(&s->robots, &s->cfg, READING_AXES);
    const char *p[] = {ctx->consumer};
    PGresult *r = PQexecParams(conn,
                               "SELECT robot_id, state FROM detect_robot_state WHERE consumer = $1",
                               1, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        detect_free_stage(s);
        return NULL;
    }
    int afresh = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        uint32_t id;
        memcpy(&id, PQgetvalue(r, i, 0), 4);
        detect_key *rb = detect_keys_get(&s->robots, (int32_t)ntohl(id));
        int rc = detect_robot_load(rb, &s->cfg, (const uint8_t *)PQgetvalue(r, i, 1),
                                   (size_t)PQgetlength(r, i, 1), err, errlen);
        if (rc < 0) {
            PQclear(r);
            detect_free_stage(s);
            return NULL;
        }
        afresh += rc;
    }
    PQclear(r);
    if (afresh)
        fprintf(stderr, "pgpulse detect: %s: the detector state of %d robot%s was saved by an "
                "earlier version of pgpulse: %s afresh (warm-up again), open episodes kept\n",
                ctx->consumer, afresh, afresh == 1 ? "" : "s", afresh == 1 ? "it starts" : "they start");
    return s;
}

static void detect_change_add(detect_stage *s, const detect_key *k, const detect_episode *e,
                              int closed)
{
    if (s->nchanges == s->changes_cap) {
        s->changes_cap = s->changes_cap ? s->changes_cap * 2 : 64;
        s->changes = xrealloc(s->changes, s->changes_cap * sizeof *s->changes);
    }
    s->changes[s->nchanges++] = (detect_change){
        .robot_id = (int32_t)k->key, .closed = closed,
        .notify = e->first_n >= k->batch_n || e->rose_n >= k->batch_n, .e = *e};
}

/* Keeps the episodes that close; the open ones stay in their robot's block. */
static void detect_on_episode(void *arg, const detect_episode *e, detect_episode_event ev)
{
    detect_stage *s = arg;
    if (ev == DETECT_EPISODE_CLOSE) detect_change_add(s, s->cur, e, 1);
}

static void detect_rows(void *stage, const reading *rows, size_t n)
{
    detect_stage *s = stage;
    detect_result res;
    for (size_t i = 0; i < n; i++) {
        const reading *x = &rows[i];
        s->cur = detect_keys_get(&s->robots, x->robot_id);
        detect_key_step(s->cur, &s->cfg, DETECT_EPISODE_DEFAULT_BRIDGE, x->ts_us, x->axis, &res,
                        detect_on_episode, s);
    }
}

static void detect_save_one(const void *robot, buf *out)
{
    detect_robot_save(robot, out);
}

static int detect_write_states(detect_stage *s, PGconn *conn, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < s->robots.cap; i++) n += s->robots.slots[i] && s->robots.slots[i]->dirty;
    int32_t *ids = xcalloc(n + 1, sizeof *ids);
    const void **robots = xcalloc(n + 1, sizeof *robots);
    n = 0;
    for (size_t i = 0; i < s->robots.cap; i++) {
        const detect_key *rb = s->robots.slots[i];
        if (!rb || !rb->dirty) continue;
        ids[n] = (int32_t)rb->key;
        robots[n++] = rb;
    }
    int rc = stagestate_write(conn, "detect_robot_state", s->ctx.consumer, ids, robots, n,
                              detect_save_one, err, errlen);
    free(ids);
    free(robots);
    return rc;
}

/* The expected band (detect_band) of every robot touched by the batch: its newest point's
 * prediction and sigma per axis (NULL where the regress detector expects nothing), in one
 * statement. */
static int detect_write_bands(detect_stage *s, PGconn *conn, char *err, size_t errlen)
{
    pgarray ids = {0}, ts = {0}, pred = {0}, sd = {0};
    size_t n = 0;
    int nch = s->robots.nch;
    char t[40], nchs[16];
    for (size_t i = 0; i < s->robots.cap; i++) {
        const detect_key *k = s->robots.slots[i];
        if (!k || !k->dirty || k->band_ts == INT64_MIN) continue;
        pgarray_int(&ids, k->key);
        tstamp_format(k->band_ts, t, sizeof t);
        pgarray_str(&ts, t);
        for (int a = 0; a < nch; a++) {
            double pr, sg;
            detect_regress_band_units(&k->st.regress, &s->cfg.regress, &k->band, a, &pr, &sg);
            if (isfinite(pr) && isfinite(sg)) {
                pgarray_float(&pred, pr);
                pgarray_float(&sd, sg);
            } else {
                pgarray_null(&pred);
                pgarray_null(&sd);
            }
        }
        n++;
    }
    int rc = 0;
    if (n) {
        snprintf(nchs, sizeof nchs, "%d", nch);
        const char *p[] = {s->ctx.consumer, pgarray_end(&ids), pgarray_end(&ts), pgarray_end(&pred),
                           pgarray_end(&sd), nchs};
        rc = pgconn_query(conn,
                          "INSERT INTO detect_band (consumer, robot_id, ts, pred, sigma) "
                          "SELECT $1, u.r, u.t, a.p[(u.i - 1) * $6::int + 1 : u.i * $6::int], "
                          "a.q[(u.i - 1) * $6::int + 1 : u.i * $6::int] "
                          "FROM unnest($2::int[], $3::timestamptz[]) WITH ORDINALITY AS u(r, t, i), "
                          "(SELECT $4::float8[] AS p, $5::float8[] AS q) a "
                          "ON CONFLICT (consumer, robot_id) DO UPDATE SET ts = EXCLUDED.ts, "
                          "pred = EXCLUDED.pred, sigma = EXCLUDED.sigma",
                          6, p, PGRES_COMMAND_OK, NULL, err, errlen);
    }
    pgarray_free(&ids);
    pgarray_free(&ts);
    pgarray_free(&pred);
    pgarray_free(&sd);
    return rc;
}

static int detect_write_episodes(detect_stage *s, PGconn *conn, char *err, size_t errlen)
{
    pgarray rid = {0}, axis = {0}, level = {0}, first = {0}, t0 = {0}, t1 = {0}, peak = {0},
            pz = {0}, det = {0}, reason = {0}, pts = {0}, open = {0};
    char t[40], rs[128];
    for (size_t i = 0; i < s->nchanges; i++) {
        const detect_change *pd = &s->changes[i];
        const detect_episode *e = &pd->e;
        pgarray_int(&rid, pd->robot_id);
        if (e->channel == DETECT_EPISODE_MULTI)
            pgarray_null(&axis);
        else
            pgarray_int(&axis, e->channel + 1);
        pgarray_str(&level, detect_level_name(e->level));
        tstamp_format(e->ts_first, t, sizeof t);
        pgarray_str(&first, t);
        tstamp_format(e->ts_start, t, sizeof t);
        pgarray_str(&t0, t);
        tstamp_format(e->ts_end, t, sizeof t);
        pgarray_str(&t1, t);
        double sc = e->peak_score < 0 ? 0 : e->peak_score > 1 ? 1 : e->peak_score;
        pgarray_float(&peak, sc);
        pgarray_float(&pz, e->peak_z);
        pgarray_str(&det, detect_kind_name((detect_kind)e->detector));
        detect_reason_format(e->reason, rs, sizeof rs);
        pgarray_str(&reason, rs);
        pgarray_int(&pts, e->points);
        pgarray_str(&open, pd->closed ? "f" : "t");
    }
    const char *p[] = {s->ctx.consumer,   pgarray_end(&rid),  pgarray_end(&axis),
                       pgarray_end(&level), pgarray_end(&first), pgarray_end(&t0),
                       pgarray_end(&t1),  pgarray_end(&peak), pgarray_end(&pz),
                       pgarray_end(&det), pgarray_end(&reason), pgarray_end(&pts),
                       pgarray_end(&open)};
    int rc = pgconn_query(conn,
                          "INSERT INTO anomaly AS a (consumer, robot_id, axis, level, ts_first, "
                          "ts_start, ts_end, peak_score, peak_z, detector, reason, readings, open) "
                          "SELECT $1, * FROM unnest($2::int[], $3::smallint[], $4::text[], "
                          "$5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::float8[], "
                          "$9::float8[], $10::text[], $11::text[], $12::int[], $13::bool[]) "
                          "ON CONFLICT (consumer, robot_id, axis_key, ts_first) DO UPDATE SET "
                          "level = EXCLUDED.level, ts_start = EXCLUDED.ts_start, ts_end = "
                          "EXCLUDED.ts_end, peak_score = EXCLUDED.peak_score, peak_z = "
                          "EXCLUDED.peak_z, detector = EXCLUDED.detector, reason = "
                          "EXCLUDED.reason, readings = EXCLUDED.readings, open = EXCLUDED.open, "
                          "updated_at = clock_timestamp()",
                          13, p, PGRES_COMMAND_OK, NULL, err, errlen);
    pgarray_free(&rid);
    pgarray_free(&axis);
    pgarray_free(&level);
    pgarray_free(&first);
    pgarray_free(&t0);
    pgarray_free(&t1);
    pgarray_free(&peak);
    pgarray_free(&pz);
    pgarray_free(&det);
    pgarray_free(&reason);
    pgarray_free(&pts);
    pgarray_free(&open);
    return rc;
}

/* One NOTIFY for the episodes that opened or rose to ERROR in this batch. */
static int detect_notify(detect_stage *s, PGconn *conn, char *err, size_t errlen)
{
    size_t count = 0;
    buf b = {0};
    buf_printf(&b, "{\"consumer\":\"%s\",\"anomalies\":[", s->ctx.consumer);
    char t[40];
    for (size_t i = 0; i < s->nchanges; i++) {
        const detect_change *pd = &s->changes[i];
        if (!pd->notify) continue;
        if (count++ >= DETECT_NOTIFY_MAX) continue;
        tstamp_format(pd->e.ts_first, t, sizeof t);
        char axis[16] = "null";
        if (pd->e.channel != DETECT_EPISODE_MULTI) snprintf(axis, sizeof axis, "%d", pd->e.channel + 1);
        buf_printf(&b, "%s{\"robot_id\":%d,\"axis\":%s,\"level\":\"%s\",\"ts\":\"%s\",\"detector\":\"%s\",\"score\":%.4f}",
                   count > 1 ? "," : "", (int)pd->robot_id, axis, detect_level_name(pd->e.level), t,
                   detect_kind_name((detect_kind)pd->e.detector), pd->e.peak_score);
    }
    int rc = 0;
    if (count) {
        buf_printf(&b, "],\"count\":%zu}", count);
        buf_append(&b, "", 1);
        const char *p[] = {DETECT_CHANNEL, (const char *)b.data};
        rc = pgconn_query(conn, "SELECT pg_notify($1, $2)", 2, p, PGRES_TUPLES_OK, NULL, err, errlen);
    }
    buf_free(&b);
    return rc;
}

static int detect_commit(void *stage, PGconn *conn, buf *state, char *err, size_t errlen)
{
    (void)state;
    detect_stage *s = stage;
    /* With the closed ones: the open episodes that grew since the last commit. */
    for (size_t i = 0; i < s->robots.cap; i++) {
        const detect_key *k = s->robots.slots[i];
        if (!k || !k->dirty) continue;
        for (int j = 0; j <= DETECT_MAX_CH; j++)
            if (k->ep.ep[j].level && k->ep.ep[j].last_n >= k->batch_n)
                detect_change_add(s, k, &k->ep.ep[j], 0);
    }
    if (s->nchanges && detect_write_episodes(s, conn, err, errlen)) return -1;
    if (detect_write_states(s, conn, err, errlen)) return -1;
    if (detect_write_bands(s, conn, err, errlen)) return -1;
    if (s->nchanges && detect_notify(s, conn, err, errlen)) return -1;
    /* Written; on failure the consumer reopens the stage from the committed state instead. */
    for (size_t i = 0; i < s->robots.cap; i++)
        if (s->robots.slots[i]) s->robots.slots[i]->dirty = 0;
    s->nchanges = 0;
    return 0;
}

static void detect_free(void *stage)
{
    detect_free_stage(stage);
}

const stream_stage_ops stage_detect_ops = {
    .name = "detect",
    .open = detect_open,
    .rows = detect_rows,
    .commit = detect_commit,
    .free = detect_free,
};
