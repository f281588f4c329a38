/* serve_feed_query: what the live feed asks the database and publishes — the `robots`,
 * `anomaly` and `fleet` events of docs/api.md ("The live push"). Each is one statement; the
 * server builds each robot's and each episode's JSON, this file keeps the watermarks (last_ts
 * per robot, the newest anomaly.updated_at) that decide what is new, and frames the events.
 *
 * Runs on the feed's thread only (and in serve_feed_start before the thread exists), except
 * that the fleet JSON is handed to other threads under f->mu. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "pgconn.h"
#include "serve_feed_int.h"
#include "util.h"

/* A timestamptz as ISO 8601 UTC with microseconds, in SQL. */
#define FEED_ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* A timestamptz as µs since the epoch, in SQL. */
#define FEED_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"
/* A number as JSON: null for NaN and the infinities (which JSON cannot carry). The band goes as
 * real (7 significant digits, what a chart draws): a third of the bytes of float8's 17. */
#define FEED_FINITE(x) "CASE WHEN " x " IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE " x " END"

/* Robots whose last_ts differs from the map sent as $1 (ids) and $2 (µs); $3: the consumer
 * (whose band). The commit column is the commit time of the reading (robot_id, last_ts): the
 * loader's transaction (the live stage's own row is written by the stage's transaction). */
#define FEED_ROBOTS_SQL(COMMIT)                                                                    \
    "SELECT l.robot_id, " FEED_US("l.last_ts") ", json_build_object('id', l.robot_id, 'ts', "     \
    FEED_ISO("l.last_ts") ", 'state', l.state, 'axes', json_build_array(l.axis1, l.axis2, "       \
    "l.axis3, l.axis4, l.axis5, l.axis6, l.axis7, l.axis8), 'band', CASE WHEN b.robot_id IS NOT " \
    "NULL THEN (SELECT json_agg(json_build_array(" FEED_FINITE("u.p::real") ", "                   \
    FEED_FINITE("u.s::real") ") ORDER BY u.i) FROM unnest(b.pred, b.sigma) WITH ORDINALITY AS u(p, s, i)) END, "            \
    "'band_ts', " FEED_ISO("b.ts") ")::text, " COMMIT " FROM live_robot_status l "                 \
    "LEFT JOIN unnest($1::int[], $2::bigint[]) AS k(id, us) ON k.id = l.robot_id "                \
    "LEFT JOIN detect_band b ON b.consumer = $3 AND b.robot_id = l.robot_id "                     \
    "WHERE k.us IS DISTINCT FROM " FEED_US("l.last_ts") " ORDER BY l.robot_id"

static const char feed_robots_sql[] = FEED_ROBOTS_SQL("NULL::bigint");
static const char feed_robots_commit_sql[] = FEED_ROBOTS_SQL(
    "(SELECT " FEED_US("pg_xact_commit_timestamp(r.xmin)") " FROM reading r WHERE r.robot_id = "
    "l.robot_id AND r.ts = l.last_ts)");

/* The consumer's ($1) episodes updated after the watermark $2 less the overlap; $2 NULL: the
 * baseline, from the newest update less the overlap. */
static const char feed_anomaly_sql[] =
    "SELECT a.id, " FEED_US("a.updated_at") ", json_build_object('id', a.id, 'robot_id', "
    "a.robot_id, 'axis', a.axis, 'level', a.level, 'detector', a.detector, 'reason', a.reason, "
    "'ts_start', " FEED_ISO("a.ts_start") ", 'ts_end', " FEED_ISO("a.ts_end") ", 'open', a.open, "
    "'peak_score', a.peak_score, 'readings', a.readings, 'updated_at', " FEED_ISO("a.updated_at")
    ")::text FROM anomaly a WHERE a.consumer = $1 AND a.updated_at > coalesce($2::timestamptz, "
    "(SELECT max(updated_at) FROM anomaly WHERE consumer = $1)) - $3::bigint * interval "
    "'1 microsecond' ORDER BY a.updated_at, a.id";

/* The fleet, for consumer $1: the time, the consumer's rows (for rows_per_s), its newest
 * episode update (µs), and the rest of the `fleet` object. Lag as `pgpulse status` computes it
 * (stream_status): 0 when the slot has confirmed everything or the poller is past every
 * finished transaction, else the age of the last applied commit. */
static const char feed_fleet_sql[] =
    "WITH c AS (SELECT c.consumer, coalesce(k.rows, 0) AS rows, CASE WHEN c.source_kind = 'cdc' "
    "AND (s.confirmed_flush_lsn IS NULL OR pg_wal_lsn_diff(pg_current_wal_lsn(), "
    "s.confirmed_flush_lsn) <= 0) THEN 0 WHEN c.source_kind = 'poll' AND k.poll_xid >= "
    "txid_snapshot_xmin(txid_current_snapshot()) THEN 0 ELSE round(extract(epoch FROM now() - "
    "coalesce(k.last_commit, k.updated_at))::numeric, 3) END AS lag_s FROM stream_consumer c "
    "LEFT JOIN stream_checkpoint k ON k.consumer = c.consumer AND k.source = 'local' "
    "LEFT JOIN pg_replication_slots s ON s.slot_name = c.slot_name) "
    "SELECT " FEED_ISO("now()") ", (SELECT coalesce(sum(rows), 0)::bigint FROM stream_checkpoint "
    "WHERE consumer = $1), (SELECT " FEED_US("max(updated_at)") " FROM anomaly WHERE consumer = "
    "$1), json_build_object('robots', (SELECT json_build_object('running', count(*) FILTER "
    "(WHERE state = 'running'), 'idle', count(*) FILTER (WHERE state = 'idle'), 'stale', "
    "count(*) FILTER (WHERE state = 'stale')) FROM live_robot_status), 'episodes_open', (SELECT "
    "json_build_object('ALERT', count(*) FILTER (WHERE level = 'ALERT'), 'ERROR', count(*) "
    "FILTER (WHERE level = 'ERROR')) FROM anomaly WHERE consumer = $1 AND open), 'lag_s', "
    "(SELECT lag_s FROM c WHERE consumer = $1), 'stages', (SELECT coalesce(json_agg("
    "json_build_object('name', consumer, 'rows', rows, 'lag_s', lag_s) ORDER BY consumer), "
    "'[]') FROM c))::text";

/* us as ISO 8601 UTC with six fraction digits (as the server's FEED_ISO). */
static void feed_iso(int64_t us, char *out, size_t len)
{
    int64_t sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%06" PRId64 "Z", day, frac);
}

/* ---- the per-robot map ---------------------------------------------------------------- */

static feed_robot *feed_robot_slot(serve_feed *f, int32_t id);

static void feed_robots_grow(serve_feed *f)
{
    feed_robot *old = f->robots;
    size_t oldcap = f->robots_cap;
    f->robots_cap = oldcap ? oldcap * 2 : 256;
    f->robots = xcalloc(f->robots_cap, sizeof *f->robots);
    f->nrobots = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id) feed_robot_slot(f, old[i].id)->ts = old[i].ts;
    free(old);
}

/* The robot's entry, created (ts INT64_MIN) if new. */
static feed_robot *feed_robot_slot(serve_feed *f, int32_t id)
{
    if ((f->nrobots + 1) * 2 > f->robots_cap) feed_robots_grow(f);
    size_t mask = f->robots_cap - 1;
    for (size_t i = util_hash64((uint64_t)(uint32_t)id) & mask;; i = (i + 1) & mask) {
        feed_robot *r = &f->robots[i];
        if (r->id == id) return r;
        if (!r->id) {
            r->id = id;
            r->ts = INT64_MIN;
            f->nrobots++;
            return r;
        }
    }
}

/* The baseline: every robot's last_ts, nothing published. */
static int feed_robots_baseline(serve_feed *f, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = feed_query(f, "SELECT robot_id, " FEED_US("last_ts") " FROM live_robot", 0, NULL,
                        PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++)
        feed_robot_slot(f, (int32_t)strtol(PQgetvalue(r, i, 0), NULL, 10))->ts =
            strtoll(PQgetvalue(r, i, 1), NULL, 10);
    PQclear(r);
    return 0;
}

int feed_robots(serve_feed *f, int publish, char *err, size_t errlen)
{
    if (!publish) return feed_robots_baseline(f, err, errlen);
    buf ids = {0}, tss = {0};
    buf_puts(&ids, "{");
    buf_puts(&tss, "{");
    for (size_t i = 0, n = 0; i < f->robots_cap; i++) {
        const feed_robot *r = &f->robots[i];
        if (!r->id) continue;
        buf_printf(&ids, "%s%" PRId32, n ? "," : "", r->id);
        buf_printf(&tss, "%s%" PRId64, n ? "," : "", r->ts);
        n++;
    }
    buf_append(&ids, "}", 2);
    buf_append(&tss, "}", 2);
    const char *p[] = {(const char *)ids.data, (const char *)tss.data, f->consumer};
    PGresult *r = NULL;
    int rc = feed_query(f, f->commit_ts ? feed_robots_commit_sql : feed_robots_sql, 3, p,
                        PGRES_TUPLES_OK, &r, err, errlen);
    buf_free(&ids);
    buf_free(&tss);
    if (rc) return rc;
    buf ev = {0};
    int64_t commit = INT64_MIN;
    int n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        feed_robot *rb = feed_robot_slot(f, (int32_t)strtol(PQgetvalue(r, i, 0), NULL, 10));
        rb->ts = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        buf_puts(&ev, n++ ? "," : "{\"robots\":[");
        buf_puts(&ev, PQgetvalue(r, i, 2));
        if (!PQgetisnull(r, i, 3)) {
            int64_t c = strtoll(PQgetvalue(r, i, 3), NULL, 10);
            if (c > commit) commit = c;
        }
    }
    PQclear(r);
    if (n) {
        char t[40];
        buf_puts(&ev, "],\"commit\":");
        if (commit != INT64_MIN) {
            feed_iso(commit, t, sizeof t);
            buf_printf(&ev, "\"%s\"", t);
        } else {
            buf_puts(&ev, "null");
        }
        feed_iso(util_now_us(), t, sizeof t);
        buf_printf(&ev, ",\"published\":\"%s\"}", t);
        sse_publish(f->hub, "robots", (const char *)ev.data, ev.len);
    }
    buf_free(&ev);
    return 0;
}

/* ---- the episodes near the watermark ------------------------------------------------------ */

static feed_episode *feed_episode_slot(serve_feed *f, int64_t id);

/* Rebuilds the table (at twice the size when grow), keeping only the episodes updated within
 * the overlap below the watermark: older ones cannot come back but updated, and so new. */
static void feed_episodes_rebuild(serve_feed *f, int grow)
{
    feed_episode *old = f->episodes;
    size_t oldcap = f->episodes_cap;
    f->episodes_cap = !oldcap ? 64 : grow ? oldcap * 2 : oldcap;
    f->episodes = xcalloc(f->episodes_cap, sizeof *f->episodes);
    f->nepisodes = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].id && (f->anomaly_mark == INT64_MIN ||
                          old[i].updated >= f->anomaly_mark - FEED_OVERLAP_US))
            feed_episode_slot(f, old[i].id)->updated = old[i].updated;
    free(old);
}

/* The episode's entry, created (updated INT64_MIN) if new. */
static feed_episode *feed_episode_slot(serve_feed *f, int64_t id)
{
    if ((f->nepisodes + 1) * 2 > f->episodes_cap) feed_episodes_rebuild(f, 1);
    size_t mask = f->episodes_cap - 1;
    for (size_t i = util_hash64((uint64_t)id) & mask;; i = (i + 1) & mask) {
        feed_episode *e = &f->episodes[i];
        if (e->id == id) return e;
        if (!e->id) {
            e->id = id;
            e->updated = INT64_MIN;
            f->nepisodes++;
            return e;
        }
    }
}

int feed_anomaly(serve_feed *f, int publish, char *err, size_t errlen)
{
    char mark[40], overlap[32];
    if (f->anomaly_mark != INT64_MIN) feed_iso(f->anomaly_mark, mark, sizeof mark);
    snprintf(overlap, sizeof overlap, "%" PRId64, FEED_OVERLAP_US);
    const char *p[] = {f->consumer, f->anomaly_mark != INT64_MIN ? mark : NULL, overlap};
    PGresult *r = NULL;
    int rc = feed_query(f, feed_anomaly_sql, 3, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        int64_t updated = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        feed_episode *e = feed_episode_slot(f, id);
        if (e->updated >= updated) continue; /* seen in an earlier query's overlap */
        e->updated = updated;
        if (updated > f->anomaly_mark) f->anomaly_mark = updated;
        if (publish) sse_publish(f->hub, "anomaly", PQgetvalue(r, i, 2), strlen(PQgetvalue(r, i, 2)));
    }
    PQclear(r);
    /* No episode at all yet: everything to come is new. */
    if (f->anomaly_mark == INT64_MIN) f->anomaly_mark = 0;
    if (f->nepisodes > 64) feed_episodes_rebuild(f, 0);
    return 0;
}

/* ---- the fleet ------------------------------------------------------------------------- */

/* Adds the consumer's rows at this tick and returns the rate over the last FEED_RATE_WINDOW_US
 * (0 until two ticks; a count that went down, a consumer recreated, starts over). */
static double feed_rate(serve_feed *f, int64_t now, int64_t rows)
{
    if (f->nrate) {
        const feed_sample *last = &f->rate[(f->rate_next + FEED_RATE_SAMPLES - 1) % FEED_RATE_SAMPLES];
        if (rows < last->rows) f->nrate = 0;
    }
    f->rate[f->rate_next] = (feed_sample){now, rows};
    f->rate_next = (f->rate_next + 1) % FEED_RATE_SAMPLES;
    if (f->nrate < FEED_RATE_SAMPLES) f->nrate++;
    const feed_sample *oldest = NULL;
    for (int k = f->nrate - 1; k >= 1; k--) {
        const feed_sample *s = &f->rate[(f->rate_next + FEED_RATE_SAMPLES - 1 - k) % FEED_RATE_SAMPLES];
        if (now - s->mono <= FEED_RATE_WINDOW_US) {
            oldest = s;
            break;
        }
    }
    if (!oldest || now <= oldest->mono) return 0;
    return (double)(rows - oldest->rows) * 1e6 / (double)(now - oldest->mono);
}

void feed_publish_fleet(serve_feed *f, int reachable)
{
    if (!f->fleet_rest || f->fleet_rest[0] != '{') return;
    char *text = xasprintf("{\"t\":\"%s\",\"database\":\"%s\",\"rows_per_s\":%.1f,%s", f->fleet_t,
                           reachable ? "ok" : "unreachable", f->rows_per_s, f->fleet_rest + 1);
    sse_publish(f->hub, "fleet", text, strlen(text));
    pthread_mutex_lock(&f->mu);
    free(f->fleet);
    f->fleet = text;
    pthread_mutex_unlock(&f->mu);
}

int feed_fleet(serve_feed *f, char *err, size_t errlen)
{
    const char *p[] = {f->consumer};
    PGresult *r = NULL;
    int rc = feed_query(f, feed_fleet_sql, 1, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return util_err(err, errlen, "the fleet query returned %d rows", PQntuples(r));
    }
    snprintf(f->fleet_t, sizeof f->fleet_t, "%s", PQgetvalue(r, 0, 0));
    f->rows_per_s = feed_rate(f, util_mono_us(), strtoll(PQgetvalue(r, 0, 1), NULL, 10));
    if (!PQgetisnull(r, 0, 2) && strtoll(PQgetvalue(r, 0, 2), NULL, 10) > f->anomaly_mark)
        f->want_anomaly = 1;
    free(f->fleet_rest);
    f->fleet_rest = xstrdup(PQgetvalue(r, 0, 3));
    PQclear(r);
    feed_publish_fleet(f, 1);
    return 0;
}

void feed_free(serve_feed *f)
{
    if (!f) return;
    if (f->wake[0] >= 0) close(f->wake[0]);
    if (f->wake[1] >= 0) close(f->wake[1]);
    pthread_mutex_destroy(&f->mu);
    free(f->conninfo);
    free(f->consumer);
    free(f->fleet);
    free(f->fleet_rest);
    free(f->robots);
    free(f->episodes);
    free(f);
}
