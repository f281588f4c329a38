/* stage_live: the `live` stage — what a live dashboard needs, so that the server never scans
 * readings per request:
 *   live_robot              per robot: last reading, its state (running: a non-zero axis; idle:
 *                           every axis 0), rows today (of the UTC day of its last reading),
 *                           rows in all;
 *   live_fleet_second_part  per second of reading time and shard: rows, and robots active in
 *                           that second (the view live_fleet_second adds the shards up);
 * and a NOTIFY on channel pgpulse_live after each commit, with a small JSON payload.
 *
 * Everything is a function of the rows in the order the source delivers them, not of where
 * batches end, so a consumer killed and restarted writes the same tables as one that was not.
 * The per-robot state lives in live_robot itself (read back at open), so the stage saves no
 * blob. A robot counts as active in a second when one of its readings is the first of that
 * second in its own time order; a reading that arrives after a later one of the same robot
 * adds to rows but not to active_robots. Rows of the fleet table older than 24 h of reading
 * time are deleted. */
#include "stage_live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"
#include "pgconn.h"
#include "tstamp.h"
#include "util.h"

#define LIVE_RETENTION_US (INT64_C(24) * 3600 * 1000000)
#define LIVE_CHANNEL "pgpulse_live"

typedef struct live_robot {
    int32_t id;            /* 0: empty slot */
    int dirty;             /* changed since the last commit */
    int64_t last_ts;       /* newest reading's time, INT64_MIN if none */
    double axis[READING_AXES];
    int64_t day;           /* UTC day of last_ts */
    int64_t rows_today;
    int64_t rows_total;
} live_robot;

typedef struct live_second {
    int64_t second;        /* µs, whole second; INT64_MIN: empty slot */
    int64_t rows;          /* added since the last commit */
    int64_t active;
} live_second;

typedef struct live_stage {
    stream_ctx ctx;
    live_robot *robots;    /* open addressing on id */
    size_t robots_cap, nrobots;
    live_second *seconds;  /* open addressing on second, cleared at each commit */
    size_t seconds_cap, nseconds;
    int64_t newest;        /* newest reading time seen */
    int64_t batch_rows;
    int64_t last_purge;    /* newest at the last retention delete */
} live_stage;

static live_robot *live_robot_slot(live_stage *s, int32_t id);

static void live_robots_grow(live_stage *s)
{
    live_robot *old = s->robots;
    size_t oldcap = s->robots_cap;
    s->robots_cap = oldcap ? oldcap * 2 : 1024;
    s->robots = xcalloc(s->robots_cap, sizeof *s->robots);
    s->nrobots = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id) {
            live_robot *n = live_robot_slot(s, old[i].id);
            *n = old[i];
        }
    free(old);
}

/* The robot's entry, created (empty) if new. */
static live_robot *live_robot_slot(live_stage *s, int32_t id)
{
    if ((s->nrobots + 1) * 2 > s->robots_cap) live_robots_grow(s);
    size_t mask = s->robots_cap - 1;
    for (size_t i = util_hash64((uint64_t)(uint32_t)id) & mask;; i = (i + 1) & mask) {
        live_robot *r = &s->robots[i];
        if (r->id == id) return r;
        if (!r->id) {
            memset(r, 0, sizeof *r);
            r->id = id;
            r->last_ts = INT64_MIN;
            r->day = INT64_MIN;
            s->nrobots++;
            return r;
        }
    }
}

static live_second *live_second_slot(live_stage *s, int64_t second)
{
    if ((s->nseconds + 1) * 2 > s->seconds_cap) {
        live_second *old = s->seconds;
        size_t oldcap = s->seconds_cap;
        s->seconds_cap = oldcap ? oldcap * 2 : 256;
        s->seconds = xmalloc(sizeof *s->seconds * s->seconds_cap);
        for (size_t i = 0; i < s->seconds_cap; i++) s->seconds[i].second = INT64_MIN;
        s->nseconds = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].second != INT64_MIN) *live_second_slot(s, old[i].second) = old[i];
        free(old);
    }
    size_t mask = s->seconds_cap - 1;
    for (size_t i = util_hash64((uint64_t)second) & mask;; i = (i + 1) & mask) {
        live_second *e = &s->seconds[i];
        if (e->second == second) return e;
        if (e->second == INT64_MIN) {
            *e = (live_second){second, 0, 0};
            s->nseconds++;
            return e;
        }
    }
}

static int64_t live_second_of(int64_t us)
{
    int64_t s = us / 1000000;
    if (us % 1000000 < 0) s--;
    return s * 1000000;
}

static void *live_open(const uint8_t *state, size_t len, const stream_ctx *ctx, PGconn *conn,
                       char *err, size_t errlen)
{
    (void)state;
    (void)len;
    live_stage *s = xcalloc(1, sizeof *s);
    s->ctx = *ctx;
    s->newest = INT64_MIN;
    s->last_purge = INT64_MIN;
    /* The robots of this shard, as the last commit left them. */
    char shard[16], shards[16];
    snprintf(shard, sizeof shard, "%d", ctx->shard);
    snprintf(shards, sizeof shards, "%d", ctx->shards);
    const char *p[] = {shards, shard};
    PGresult *r = PQexecParams(conn,
                               "SELECT robot_id, (extract(epoch FROM last_ts) * 1000000)::bigint, "
                               "axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8, "
                               "(day - date '1970-01-01'), rows_today, rows_total FROM live_robot "
                               "WHERE robot_id % $1::int = $2::int",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        free(s);
        return NULL;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        live_robot *rb = live_robot_slot(s, (int32_t)atoi(PQgetvalue(r, i, 0)));
        rb->last_ts = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        for (int a = 0; a < READING_AXES; a++) rb->axis[a] = strtod(PQgetvalue(r, i, 2 + a), NULL);
        rb->day = strtoll(PQgetvalue(r, i, 10), NULL, 10);
        rb->rows_today = strtoll(PQgetvalue(r, i, 11), NULL, 10);
        rb->rows_total = strtoll(PQgetvalue(r, i, 12), NULL, 10);
        if (rb->last_ts > s->newest) s->newest = rb->last_ts;
    }
    PQclear(r);
    return s;
}

static void live_rows(void *stage, const reading *rows, size_t n)
{
    live_stage *s = stage;
    for (size_t i = 0; i < n; i++) {
        const reading *x = &rows[i];
        live_robot *rb = live_robot_slot(s, x->robot_id);
        int64_t sec = live_second_of(x->ts_us);
        live_second *fs = live_second_slot(s, sec);
        fs->rows++;
        rb->rows_total++;
        int64_t day = tstamp_day_of(x->ts_us);
        if (day > rb->day) {
            rb->day = day;
            rb->rows_today = 1;
        } else if (day == rb->day) {
            rb->rows_today++;
        }
        if (x->ts_us > rb->last_ts) {
            if (rb->last_ts == INT64_MIN || sec > live_second_of(rb->last_ts)) fs->active++;
            rb->last_ts = x->ts_us;
            memcpy(rb->axis, x->axis, sizeof rb->axis);
        }
        rb->dirty = 1;
        if (x->ts_us > s->newest) s->newest = x->ts_us;
    }
    s->batch_rows += (int64_t)n;
}

static void live_ts_text(int64_t us, char *out, size_t len)
{
    tstamp_format(us, out, len);
}

static int live_commit(void *stage, PGconn *conn, buf *state, char *err, size_t errlen)
{
    (void)state;
    live_stage *s = stage;
    int rc = 0;
    /* Robots: absolute values (the stage holds each robot's whole state). */
    pgarray id = {0}, ts = {0}, st = {0}, day = {0}, today = {0}, total = {0};
    pgarray ax[READING_AXES];
    memset(ax, 0, sizeof ax);
    size_t nrob = 0;
    char t[40];
    for (size_t i = 0; i < s->robots_cap; i++) {
        live_robot *rb = &s->robots[i];
        if (!rb->id || !rb->dirty) continue;
        pgarray_int(&id, rb->id);
        live_ts_text(rb->last_ts, t, sizeof t);
        pgarray_str(&ts, t);
        int running = 0;
        for (int a = 0; a < READING_AXES; a++) {
            pgarray_float(&ax[a], rb->axis[a]);
            running |= rb->axis[a] != 0;
        }
        pgarray_str(&st, running ? "running" : "idle");
        tstamp_format(rb->day * TSTAMP_US_PER_DAY, t, sizeof t);
        t[10] = '\0';
        pgarray_str(&day, t);
        pgarray_int(&today, rb->rows_today);
        pgarray_int(&total, rb->rows_total);
        nrob++;
    }
    if (nrob) {
        const char *p[] = {pgarray_end(&id),    pgarray_end(&ts),     pgarray_end(&ax[0]),
                           pgarray_end(&ax[1]), pgarray_end(&ax[2]),  pgarray_end(&ax[3]),
                           pgarray_end(&ax[4]), pgarray_end(&ax[5]),  pgarray_end(&ax[6]),
                           pgarray_end(&ax[7]), pgarray_end(&st),     pgarray_end(&day),
                           pgarray_end(&today), pgarray_end(&total)};
        rc = pgconn_query(conn,
                       "INSERT INTO live_robot (robot_id, last_ts, axis1, axis2, axis3, axis4, "
                       "axis5, axis6, axis7, axis8, state, day, rows_today, rows_total) "
                       "SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::float8[], "
                       "$4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], "
                       "$9::float8[], $10::float8[], $11::text[], $12::date[], $13::bigint[], "
                       "$14::bigint[]) ON CONFLICT (robot_id) DO UPDATE SET last_ts = "
                       "EXCLUDED.last_ts, axis1 = EXCLUDED.axis1, axis2 = EXCLUDED.axis2, axis3 = "
                       "EXCLUDED.axis3, axis4 = EXCLUDED.axis4, axis5 = EXCLUDED.axis5, axis6 = "
                       "EXCLUDED.axis6, axis7 = EXCLUDED.axis7, axis8 = EXCLUDED.axis8, state = "
                       "EXCLUDED.state, day = EXCLUDED.day, rows_today = EXCLUDED.rows_today, "
                       "rows_total = EXCLUDED.rows_total",
                       14, p, PGRES_COMMAND_OK, NULL, err, errlen);
    }
    pgarray_free(&id);
    pgarray_free(&ts);
    for (int a = 0; a < READING_AXES; a++) pgarray_free(&ax[a]);
    pgarray_free(&st);
    pgarray_free(&day);
    pgarray_free(&today);
    pgarray_free(&total);
    if (rc) return -1;

    /* The fleet's seconds: increments. */
    if (s->nseconds) {
        pgarray sec = {0}, rows = {0}, act = {0};
        for (size_t i = 0; i < s->seconds_cap; i++) {
            live_second *e = &s->seconds[i];
            if (e->second == INT64_MIN) continue;
            live_ts_text(e->second, t, sizeof t);
            pgarray_str(&sec, t);
            pgarray_int(&rows, e->rows);
            pgarray_int(&act, e->active);
        }
        char shard[16];
        snprintf(shard, sizeof shard, "%d", s->ctx.shard);
        const char *p[] = {pgarray_end(&sec), pgarray_end(&rows), pgarray_end(&act), shard};
        rc = pgconn_query(conn,
                       "INSERT INTO live_fleet_second_part AS f (second, shard, rows, "
                       "active_robots) SELECT s, $4::int, r, a FROM unnest($1::timestamptz[], "
                       "$2::bigint[], $3::int[]) AS x(s, r, a) ON CONFLICT (second, shard) DO "
                       "UPDATE SET rows = f.rows + EXCLUDED.rows, active_robots = "
                       "f.active_robots + EXCLUDED.active_robots",
                       4, p, PGRES_COMMAND_OK, NULL, err, errlen);
        pgarray_free(&sec);
        pgarray_free(&rows);
        pgarray_free(&act);
        if (rc) return -1;
    }
    /* Retention: 24 h of reading time, checked once a minute of it. */
    if (s->newest != INT64_MIN &&
        (s->last_purge == INT64_MIN || s->newest - s->last_purge > 60 * INT64_C(1000000))) {
        char cut[40], shard[16];
        live_ts_text(s->newest - LIVE_RETENTION_US, cut, sizeof cut);
        snprintf(shard, sizeof shard, "%d", s->ctx.shard);
        const char *p[] = {cut, shard};
        if (pgconn_query(conn,
                         "DELETE FROM live_fleet_second_part WHERE shard = $2::int AND second < $1",
                         2, p, PGRES_COMMAND_OK, NULL, err, errlen))
            return -1;
        s->last_purge = s->newest;
    }
    /* Tell listeners (delivered when the consumer's transaction commits). */
    if (s->batch_rows) {
        char payload[256], newest[40];
        live_ts_text(s->newest, newest, sizeof newest);
        snprintf(payload, sizeof payload,
                 "{\"consumer\":\"%s\",\"rows\":%lld,\"robots\":%zu,\"newest\":\"%s\"}",
                 s->ctx.consumer, (long long)s->batch_rows, nrob, newest);
        const char *p[] = {LIVE_CHANNEL, payload};
        if (pgconn_query(conn, "SELECT pg_notify($1, $2)", 2, p, PGRES_TUPLES_OK, NULL, err, errlen))
            return -1;
    }
    /* What was written is no longer pending. (On failure the consumer reopens the stage.) */
    for (size_t i = 0; i < s->robots_cap; i++) s->robots[i].dirty = 0;
    for (size_t i = 0; i < s->seconds_cap; i++) s->seconds[i].second = INT64_MIN;
    s->nseconds = 0;
    s->batch_rows = 0;
    return 0;
}

static void live_free(void *stage)
{
    live_stage *s = stage;
    if (!s) return;
    free(s->robots);
    free(s->seconds);
    free(s);
}

const stream_stage_ops stage_live_ops = {
    .name = "live",
    .open = live_open,
    .rows = live_rows,
    .commit = live_commit,
    .free = live_free,
};
