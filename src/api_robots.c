/* api_robots: GET /api/robots and GET /api/robots/{id}/readings (docs/api.md). Both answer in
 * one statement that PostgreSQL turns into the JSON body. */
#include <stdio.h>
#include <string.h>

#include "api_int.h"

#define API_READINGS_DEFAULT_POINTS 1000
#define API_READINGS_MAX_POINTS 10000

/* SQL: one column of the buckets as a JSON array in time order ([] when none). */
#define API_AGG(c) "coalesce(json_agg(" c " ORDER BY k), '[]')"

int api_robots(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (api_only(req, NULL, 0, resp)) return 0;
    /* Robots known to the asset table or seen by the live stage; open episodes of the consumer
     * by level; its expected band (pred, sigma per axis; null where not warm); its failure
     * risk (the learn stage's, null without one). */
    static const char sql[] =
        "WITH o AS (SELECT robot_id, count(*) FILTER (WHERE level = 'ALERT') AS a,"
        "                  count(*) FILTER (WHERE level = 'ERROR') AS e"
        "             FROM anomaly WHERE consumer = $1 AND open GROUP BY robot_id)"
        " SELECT json_build_object('robots', coalesce(json_agg(json_build_object("
        "   'id', x.robot_id, 'name', coalesce(r.name, 'robot ' || x.robot_id), 'shop', sh.name,"
        "   'state', s.state, 'last_ts', " API_ISO("s.last_ts") ","
        "   'seconds_since', s.seconds_since,"
        "   'axes', CASE WHEN s.robot_id IS NULL THEN NULL ELSE json_build_array(s.axis1, s.axis2,"
        "           s.axis3, s.axis4, s.axis5, s.axis6, s.axis7, s.axis8) END,"
        "   'rows_today', s.rows_today, 'rows_total', s.rows_total,"
        "   'open', json_build_object('ALERT', coalesce(o.a, 0), 'ERROR', coalesce(o.e, 0)),"
        "   'band', (SELECT json_agg(json_build_array(u.p::real, u.s::real) ORDER BY u.i)"
        "              FROM unnest(b.pred, b.sigma) WITH ORDINALITY AS u(p, s, i)),"
        "   'risk', k.value, 'risk_ts', " API_ISO("k.ts") ""
        " ) ORDER BY x.robot_id), '[]'::json))"
        " FROM (SELECT robot_id FROM robot UNION SELECT robot_id FROM live_robot) x"
        " LEFT JOIN robot r USING (robot_id)"
        " LEFT JOIN shop sh ON sh.shop_id = r.shop_id"
        " LEFT JOIN live_robot_status s ON s.robot_id = x.robot_id"
        " LEFT JOIN o ON o.robot_id = x.robot_id"
        " LEFT JOIN detect_band b ON b.consumer = $1 AND b.robot_id = x.robot_id"
        /* The newest failure risk (of the longest horizon, should there be several): a
         * backward probe of prediction's primary key. */
        " LEFT JOIN LATERAL (SELECT value, ts FROM prediction"
        "                     WHERE consumer = $1 AND robot_id = x.robot_id AND kind = 'risk'"
        "                       AND axis = 0 ORDER BY horizon DESC, ts DESC LIMIT 1) k ON true";
    const char *p[] = {ctx->consumer};
    api_json_query(ctx, sql, 1, p, resp);
    return 0;
}

int api_readings(const api_ctx *ctx, const http_request *req, int64_t robot,
                 http_response *resp)
{
    static const char *const names[] = {"from", "to", "points"};
    if (api_only(req, names, 3, resp)) return 0;
    char from[48] = "", to[48] = "", err[256];
    int has_from, has_to;
    if (api_range(req, from, to, sizeof from, &has_from, &has_to, resp)) return 0;
    int64_t points = API_READINGS_DEFAULT_POINTS;
    if (httpq_int(req->query, "points", 1, API_READINGS_MAX_POINTS, &points, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    char id[24], pts[24];
    snprintf(id, sizeof id, "%lld", (long long)robot);
    snprintf(pts, sizeof pts, "%lld", (long long)points);
    /* The range: to defaults to just after the robot's last reading (so a robot replayed from
     * the past shows its data), from to 15 minutes before to. */
    static const char range_sql[] =
        "WITH t AS (SELECT coalesce($3::timestamptz,"
        "       (SELECT last_ts FROM live_robot WHERE robot_id = $1::int) + interval '1 microsecond',"
        "       (SELECT max(ts) FROM reading WHERE robot_id = $1::int) + interval '1 microsecond',"
        "       now()) AS hi)"
        " SELECT EXISTS (SELECT 1 FROM robot WHERE robot_id = $1::int)"
        "        OR EXISTS (SELECT 1 FROM live_robot WHERE robot_id = $1::int),"
        "        coalesce($2::timestamptz, t.hi - interval '15 minutes'), t.hi FROM t";
    const char *rp[] = {id, has_from ? from : NULL, has_to ? to : NULL};
    char lo[64], hi[64];
    if (api_robot_range(ctx, robot, range_sql, 3, rp, lo, hi, sizeof lo, resp)) return 0;
    /* One pass over the primary key (robot_id, ts) in [from, to): points buckets of equal
     * width; per bucket the time of its first reading, its count, and per axis min, max and
     * mean (real: 7 significant digits are what a chart draws). A bucket of one reading is that
     * reading; when the range holds no more readings than points (counted up to points + 1),
     * each reading is its own bucket, however close in time. */
    static const char sql[] =
        "WITH p AS (SELECT $2::timestamptz AS lo, $3::timestamptz AS hi,"
        "                  greatest(extract(epoch FROM $3::timestamptz - $2::timestamptz)::float8"
        "                           / $4::int, 1e-6) AS w),"
        " chk AS (SELECT CASE WHEN hi <= lo THEN 'to must be after from'"
        "                     WHEN hi - lo > interval '366 days' THEN"
        "                          'the range is longer than 366 days' END AS bad FROM p),"
        " raw AS (SELECT count(*) <= $4::int AS raw FROM (SELECT 1 FROM reading x, p, chk"
        "          WHERE chk.bad IS NULL AND x.robot_id = $1::int AND x.ts >= p.lo AND x.ts < p.hi"
        "          LIMIT $4::int + 1) z),"
        " b AS (SELECT CASE WHEN raw.raw THEN (extract(epoch FROM x.ts - p.lo) * 1000000)::bigint"
        "                   ELSE floor(extract(epoch FROM x.ts - p.lo) / p.w)::bigint END AS k,"
        "              extract(epoch FROM min(x.ts)) AS t, count(*) AS n,"
        "              min(axis1)::real mn1, min(axis2)::real mn2, min(axis3)::real mn3, min(axis4)::real mn4,"
        "              min(axis5)::real mn5, min(axis6)::real mn6, min(axis7)::real mn7, min(axis8)::real mn8,"
        "              max(axis1)::real mx1, max(axis2)::real mx2, max(axis3)::real mx3, max(axis4)::real mx4,"
        "              max(axis5)::real mx5, max(axis6)::real mx6, max(axis7)::real mx7, max(axis8)::real mx8,"
        "              avg(axis1)::real av1, avg(axis2)::real av2, avg(axis3)::real av3, avg(axis4)::real av4,"
        "              avg(axis5)::real av5, avg(axis6)::real av6, avg(axis7)::real av7, avg(axis8)::real av8"
        "         FROM reading x, p, chk, raw"
        "        WHERE chk.bad IS NULL AND x.robot_id = $1::int AND x.ts >= p.lo AND x.ts < p.hi"
        "        GROUP BY 1)"
        " SELECT CASE WHEN chk.bad IS NOT NULL THEN json_build_object('bad', chk.bad)"
        " ELSE json_build_object('robot_id', $1::int, 'from', " API_ISO("p.lo") ","
        "   'to', " API_ISO("p.hi") ", 'points', $4::int, 'bucket_s', p.w,"
        "   'rows', coalesce((SELECT sum(n) FROM b), 0),"
        "   't', coalesce((SELECT json_agg(t ORDER BY k) FROM b), '[]'),"
        "   'n', coalesce((SELECT json_agg(n ORDER BY k) FROM b), '[]'),"
        "   'min', (SELECT json_build_array(" API_AGG("mn1") ", " API_AGG("mn2") ","
        "           " API_AGG("mn3") ", " API_AGG("mn4") ", " API_AGG("mn5") ","
        "           " API_AGG("mn6") ", " API_AGG("mn7") ", " API_AGG("mn8") ") FROM b),"
        "   'max', (SELECT json_build_array(" API_AGG("mx1") ", " API_AGG("mx2") ","
        "           " API_AGG("mx3") ", " API_AGG("mx4") ", " API_AGG("mx5") ","
        "           " API_AGG("mx6") ", " API_AGG("mx7") ", " API_AGG("mx8") ") FROM b),"
        "   'mean', (SELECT json_build_array(" API_AGG("av1") ", " API_AGG("av2") ","
        "           " API_AGG("av3") ", " API_AGG("av4") ", " API_AGG("av5") ","
        "           " API_AGG("av6") ", " API_AGG("av7") ", " API_AGG("av8") ") FROM b))"
        " END FROM p, chk";
    const char *qp[] = {id, lo, hi, pts};
    if (api_json_query(ctx, sql, 4, qp, resp) != 1) return 0;
    if (resp->body.len > 8 && !strncmp((const char *)resp->body.data, "{\"bad\" : ", 9)) {
        char why[128] = "";
        sscanf((const char *)resp->body.data + 9, "\"%127[^\"]", why);
        resp->body.len = 0;
        http_response_error(resp, 400, "from, to: %s", why);
    }
    return 0;
}
