/* api_models: the learn stage's outputs through the API (docs/api.md) — the tracked models
 * (GET /api/models), a model's versions (GET /api/models/{name}/versions), a metric's history
 * per run (GET /api/models/{name}/metrics) and a robot's predictions
 * (GET /api/robots/{id}/predictions). Each answers in one statement that PostgreSQL turns into
 * the JSON body, over the tables of sql/010_learn.sql and their primary keys.
 *
 * A model is a (consumer, name) pair: the name of its versions (model_version.name) or of the
 * experiment its runs learn (experiment.name). Its runs are the consumer's runs of that
 * experiment and the runs its versions were taken from. */
#include <stdio.h>
#include <string.h>

#include "api_int.h"

#define API_MODELS_NAME_MAX 100         /* a model's name in a path */
#define API_MODELS_TEXT_MAX 200         /* consumer and key parameters */
#define API_METRICS_DEFAULT_POINTS 500
#define API_METRICS_MAX_POINTS 5000
#define API_VERSIONS_DEFAULT_LIMIT 100
#define API_VERSIONS_MAX_LIMIT 1000
#define API_PREDICTIONS_DEFAULT_POINTS 1000
#define API_PREDICTIONS_MAX_POINTS 10000

/* SQL: the runs of model ($1 name, $2 consumer or NULL for any) as a condition on run r. */
#define API_MODEL_RUNS(r)                                                                        \
    "(($2::text IS NULL OR " r ".consumer = $2::text) AND ("                                     \
    "  " r ".experiment_id IN (SELECT experiment_id FROM experiment WHERE name = $1::text)"      \
    "  OR " r ".run_id IN (SELECT run_id FROM model_version WHERE name = $1::text"               \
    "                       AND ($2::text IS NULL OR consumer = $2::text))))"

/* SQL: the alias (champion, challenger) that a version of run r holds in model (c, n), or
 * NULL. */
#define API_RUN_ALIAS(r, c, n)                                                                   \
    "(SELECT min(v.alias) FROM model_version v WHERE v.run_id = " r ".run_id AND v.consumer = "  \
    c " AND v.name = " n " AND v.alias IS NOT NULL)"

/* SQL: version v as the /api/models entry of an alias. */
#define API_VERSION_JSON(v)                                                                      \
    "json_build_object('version', " v ".version, 'model', " v ".model, 'run_id', " v ".run_id,"  \
    " 'metrics', " v ".metrics, 'stream_ts', " API_ISO(v ".stream_ts") ","                       \
    " 'created_at', " API_ISO(v ".created_at") ")"

/* A value parameter that is free text (consumer, key): 0 and *out (NULL when absent), or -1
 * with resp holding the 400. */
static int api_models_text(const http_request *req, const char *name, const char **out,
                           http_response *resp)
{
    const char *v = httpq_get(req->query, name);
    *out = v;
    if (!v) return 0;
    size_t n = strlen(v);
    if (n == 0 || n > API_MODELS_TEXT_MAX) {
        http_response_error(resp, 400, "query parameter '%s': expected 1 to %d bytes", name,
                            API_MODELS_TEXT_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20) {
            http_response_error(resp, 400, "query parameter '%s': holds a control character",
                                name);
            return -1;
        }
    }
    return 0;
}

/* Runs sql (parameters as text) that returns one row of booleans, into out[0..n-1]. Returns 0,
 * or -1 with resp holding the 503. */
static int api_models_bools(const api_ctx *ctx, const char *sql, int np,
                            const char *const *params, int *out, int n, http_response *resp)
{
    if (!ctx->conn || PQstatus(ctx->conn) != CONNECTION_OK) {
        http_response_error(resp, 503, "database: unreachable");
        return -1;
    }
    PGresult *r = PQexecParams(ctx->conn, sql, np, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < n) {
        const char *msg = PQresultErrorMessage(r);
        size_t len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
        http_response_error(resp, 503, "database: %.*s", (int)len, msg);
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++) out[i] = PQgetvalue(r, 0, i)[0] == 't';
    PQclear(r);
    return 0;
}

/* 0 when model (name, consumer) has versions or runs; else -1 with resp holding the 404 (or
 * the 503). */
static int api_models_known(const api_ctx *ctx, const char *name, const char *consumer,
                            http_response *resp)
{
    static const char sql[] =
        "SELECT EXISTS (SELECT 1 FROM model_version WHERE name = $1::text"
        "               AND ($2::text IS NULL OR consumer = $2::text))"
        "    OR EXISTS (SELECT 1 FROM run r WHERE " API_MODEL_RUNS("r") ")";
    const char *p[] = {name, consumer};
    int known;
    if (api_models_bools(ctx, sql, 2, p, &known, 1, resp)) return -1;
    if (!known) {
        if (consumer)
            http_response_error(resp, 404, "model '%s': no such model in consumer '%s'", name,
                                consumer);
        else
            http_response_error(resp, 404, "model '%s': no such model", name);
        return -1;
    }
    return 0;
}

/* GET /api/models: every model, by name then consumer, with its aliases, runs and metric keys. */
static int api_models_list(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (api_only(req, NULL, 0, resp)) return 0;
    /* keys: the distinct metric keys of its runs, one index probe per key (a loose scan of
     * run_metric's primary key), not a read of every logged value. */
    static const char sql[] =
        "WITH m AS (SELECT consumer, name FROM model_version"
        "           UNION SELECT r.consumer, e.name FROM run r JOIN experiment e USING (experiment_id)),"
        " rm AS (SELECT m.consumer AS mc, m.name AS mn, r.*"
        "          FROM m JOIN run r ON r.consumer = m.consumer"
        "           AND (r.experiment_id IN (SELECT experiment_id FROM experiment e WHERE e.name = m.name)"
        "                OR r.run_id IN (SELECT v.run_id FROM model_version v"
        "                                 WHERE v.consumer = m.consumer AND v.name = m.name))),"
        " ks AS (SELECT rm.mc, rm.mn, z.key FROM rm CROSS JOIN LATERAL ("
        "          WITH RECURSIVE k AS ("
        "            (SELECT key FROM run_metric WHERE run_id = rm.run_id ORDER BY key LIMIT 1)"
        "            UNION ALL"
        "            SELECT (SELECT key FROM run_metric WHERE run_id = rm.run_id AND key > k.key"
        "                     ORDER BY key LIMIT 1) FROM k WHERE k.key IS NOT NULL)"
        "          SELECT key FROM k WHERE key IS NOT NULL) z)"
        " SELECT json_build_object('models', coalesce(json_agg(json_build_object("
        "   'consumer', m.consumer, 'name', m.name,"
        "   'versions', (SELECT count(*) FROM model_version v"
        "                 WHERE v.consumer = m.consumer AND v.name = m.name),"
        "   'champion', (SELECT " API_VERSION_JSON("v") " FROM model_version v"
        "                 WHERE v.consumer = m.consumer AND v.name = m.name AND v.alias = 'champion'),"
        "   'challenger', (SELECT " API_VERSION_JSON("v") " FROM model_version v"
        "                 WHERE v.consumer = m.consumer AND v.name = m.name AND v.alias = 'challenger'),"
        "   'runs', (SELECT coalesce(json_agg(json_build_object('run_id', rm.run_id, 'name', rm.name,"
        "              'model', rm.model, 'alias', " API_RUN_ALIAS("rm", "rm.mc", "rm.mn") ","
        "              'status', rm.status, 'records', rm.records,"
        "              'stream_start', " API_ISO("rm.stream_start") ","
        "              'stream_end', " API_ISO("rm.stream_end") ","
        "              'updated_at', " API_ISO("rm.updated_at") ") ORDER BY rm.name, rm.run_id), '[]')"
        "              FROM rm WHERE rm.mc = m.consumer AND rm.mn = m.name),"
        "   'keys', (SELECT coalesce(json_agg(DISTINCT ks.key ORDER BY ks.key), '[]') FROM ks"
        "             WHERE ks.mc = m.consumer AND ks.mn = m.name)"
        " ) ORDER BY m.name, m.consumer), '[]'::json)) FROM m";
    api_json_query(ctx, sql, 0, NULL, resp);
    return 0;
}

/* GET /api/models/{name}/versions?consumer=&limit= */
static int api_models_versions(const api_ctx *ctx, const http_request *req, const char *name,
                               http_response *resp)
{
    static const char *const names[] = {"consumer", "limit"};
    if (api_only(req, names, 2, resp)) return 0;
    const char *consumer;
    char err[256];
    int64_t limit = API_VERSIONS_DEFAULT_LIMIT;
    if (api_models_text(req, "consumer", &consumer, resp)) return 0;
    if (httpq_int(req->query, "limit", 1, API_VERSIONS_MAX_LIMIT, &limit, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    if (api_models_known(ctx, name, consumer, resp)) return 0;
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)limit);
    /* Newest first; the state's size, never its bytes (octet_length does not detoast). */
    static const char sql[] =
        "SELECT json_build_object('name', $1::text, 'versions', coalesce(json_agg(json_build_object("
        "   'consumer', v.consumer, 'version', v.version, 'run_id', v.run_id, 'model', v.model,"
        "   'alias', v.alias, 'metrics', v.metrics, 'state_bytes', v.state_bytes,"
        "   'stream_ts', " API_ISO("v.stream_ts") ", 'created_at', " API_ISO("v.created_at") ")"
        "   ORDER BY v.version DESC, v.consumer), '[]'::json))"
        " FROM (SELECT consumer, version, run_id, model, alias, metrics, octet_length(state) AS state_bytes,"
        "              stream_ts, created_at FROM model_version"
        "        WHERE name = $1::text AND ($2::text IS NULL OR consumer = $2::text)"
        "        ORDER BY version DESC, consumer LIMIT $3::int) v";
    const char *p[] = {name, consumer, lim};
    api_json_query(ctx, sql, 3, p, resp);
    return 0;
}

/* A run id: 32 lowercase hex digits (run.run_id's check). */
static int api_models_run_id(const char *s)
{
    if (strlen(s) != 32) return -1;
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return -1;
    return 0;
}

/* GET /api/models/{name}/metrics?key=&run=&consumer=&from=&to=&points= */
static int api_models_metrics(const api_ctx *ctx, const http_request *req, const char *name,
                              http_response *resp)
{
    static const char *const names[] = {"key", "run", "consumer", "from", "to", "points"};
    if (api_only(req, names, 6, resp)) return 0;
    const char *key, *run, *consumer;
    char from[48] = "", to[48] = "", err[256];
    int has_from, has_to;
    int64_t points = API_METRICS_DEFAULT_POINTS;
    if (api_models_text(req, "key", &key, resp) || api_models_text(req, "consumer", &consumer, resp))
        return 0;
    if (!key) {
        http_response_error(resp, 400, "query parameter 'key': missing (a metric's key, e.g. "
                                       "roc_auc: GET /api/models lists each model's keys)");
        return 0;
    }
    run = httpq_get(req->query, "run");
    if (run && api_models_run_id(run)) {
        http_response_error(resp, 400, "query parameter 'run': '%.64s' is not a run id "
                                       "(32 hex digits)", run);
        return 0;
    }
    if (api_range(req, from, to, sizeof from, &has_from, &has_to, resp)) return 0;
    if (httpq_int(req->query, "points", 1, API_METRICS_MAX_POINTS, &points, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    if (has_from && has_to) {
        const char *p[] = {from, to};
        int after;
        if (api_models_bools(ctx, "SELECT $2::timestamptz > $1::timestamptz", 2, p, &after, 1,
                             resp))
            return 0;
        if (!after) {
            http_response_error(resp, 400, "from, to: to must be after from");
            return 0;
        }
    }
    if (api_models_known(ctx, name, consumer, resp)) return 0;
    if (run) {
        static const char sql[] = "SELECT EXISTS (SELECT 1 FROM run r WHERE r.run_id = $3 AND "
                                  API_MODEL_RUNS("r") ")";
        const char *p[] = {name, consumer, run};
        int ok;
        if (api_models_bools(ctx, sql, 3, p, &ok, 1, resp)) return 0;
        if (!ok) {
            http_response_error(resp, 404, "run %s: not a run of model '%s'", run, name);
            return 0;
        }
    }
    char pts[24];
    snprintf(pts, sizeof pts, "%lld", (long long)points);
    /* Per run, its n values of the key in [from, to). When n <= points, all of them (an index
     * range scan). Else the steps lo..hi of those values are cut into points buckets of equal
     * width, (lo - 1 + W j / points, lo - 1 + W (j + 1) / points] with W = hi - lo + 1, and
     * each non-empty bucket gives its last value: one backward probe of the primary key
     * (run_id, key, step) per bucket, never a read of every value. A point is thus always a
     * figure the stage logged (not an average of cumulative ones), the newest among them. */
#define API_METRIC_RANGE(m)                                                                      \
    " AND (" m ".ts >= $5::timestamptz OR $5::timestamptz IS NULL)"                              \
    " AND (" m ".ts < $6::timestamptz OR $6::timestamptz IS NULL)"
    static const char sql[] =
        "WITH rs AS (SELECT r.* FROM run r WHERE " API_MODEL_RUNS("r")
        "             AND ($4::text IS NULL OR r.run_id = $4::text)),"
        " e AS (SELECT rs.run_id,"
        "         (SELECT count(*) FROM run_metric m WHERE m.run_id = rs.run_id AND m.key = $3::text"
        "            " API_METRIC_RANGE("m") ") AS n,"
        "         (SELECT min(step) FROM run_metric m WHERE m.run_id = rs.run_id AND m.key = $3::text"
        "            " API_METRIC_RANGE("m") ") AS lo,"
        "         (SELECT max(step) FROM run_metric m WHERE m.run_id = rs.run_id AND m.key = $3::text"
        "            " API_METRIC_RANGE("m") ") AS hi FROM rs),"
        " b AS (SELECT e.run_id, e.n, z.step, z.ts, z.value FROM e CROSS JOIN LATERAL ("
        "         SELECT m.step, m.ts, m.value FROM run_metric m"
        "          WHERE e.n <= $7::int AND m.run_id = e.run_id AND m.key = $3::text"
        "                " API_METRIC_RANGE("m") ""
        "         UNION ALL"
        "         SELECT y.step, y.ts, y.value FROM generate_series(0, $7::int - 1) j"
        "          CROSS JOIN LATERAL (SELECT m.step, m.ts, m.value FROM run_metric m"
        "           WHERE e.n > $7::int AND m.run_id = e.run_id AND m.key = $3::text"
        "             AND m.step > e.lo - 1 + (e.hi - e.lo + 1) * j / $7::int"
        "             AND m.step <= e.lo - 1 + (e.hi - e.lo + 1) * (j + 1) / $7::int"
        "             " API_METRIC_RANGE("m") " ORDER BY m.step DESC LIMIT 1) y) z)"
        " SELECT json_build_object('name', $1::text, 'key', $3::text, 'points', $7::int,"
        "   'runs', coalesce(json_agg(json_build_object("
        "     'run_id', rs.run_id, 'name', rs.name, 'consumer', rs.consumer, 'model', rs.model,"
        "     'alias', " API_RUN_ALIAS("rs", "rs.consumer", "$1::text") ", 'status', rs.status,"
        "     'rows', (SELECT n FROM e WHERE e.run_id = rs.run_id),"
        "     'step', coalesce((SELECT json_agg(step ORDER BY step) FROM b WHERE b.run_id = rs.run_id), '[]'),"
        "     't', coalesce((SELECT json_agg(extract(epoch FROM ts) ORDER BY step) FROM b"
        "                     WHERE b.run_id = rs.run_id), '[]'),"
        "     'value', coalesce((SELECT json_agg(value ORDER BY step) FROM b WHERE b.run_id = rs.run_id), '[]'))"
        "   ORDER BY rs.name, rs.run_id), '[]'::json)) FROM rs";
#undef API_METRIC_RANGE
    const char *p[] = {name, consumer, key, run, has_from ? from : NULL, has_to ? to : NULL, pts};
    api_json_query(ctx, sql, 7, p, resp);
    return 0;
}

int api_predictions(const api_ctx *ctx, const http_request *req, int64_t robot,
                    http_response *resp)
{
    static const char *const names[] = {"kind", "from", "to", "points", "axis", "horizon"};
    if (api_only(req, names, 6, resp)) return 0;
    static const char *const kinds[] = {"forecast", "risk"};
    char from[48] = "", to[48] = "", err[256];
    int has_from, has_to, kind = -1;
    int64_t points = API_PREDICTIONS_DEFAULT_POINTS, axis = -1, horizon = -1;
    if (httpq_choice(req->query, "kind", kinds, 2, &kind, err, sizeof err) < 0 ||
        httpq_int(req->query, "points", 1, API_PREDICTIONS_MAX_POINTS, &points, err, sizeof err) < 0 ||
        httpq_int(req->query, "axis", 0, 8, &axis, err, sizeof err) < 0 ||
        httpq_int(req->query, "horizon", 0, INT32_MAX, &horizon, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    if (kind < 0) {
        http_response_error(resp, 400, "query parameter 'kind': missing (forecast or risk)");
        return 0;
    }
    if (api_range(req, from, to, sizeof from, &has_from, &has_to, resp)) return 0;
    char id[24], pts[24], ax[24], hz[24];
    snprintf(id, sizeof id, "%lld", (long long)robot);
    snprintf(pts, sizeof pts, "%lld", (long long)points);
    snprintf(ax, sizeof ax, "%lld", (long long)axis);
    snprintf(hz, sizeof hz, "%lld", (long long)horizon);
    /* The range, as the readings endpoint takes it: to defaults to just after the robot's last
     * reading (then its newest prediction of the kind), from to 15 minutes before to for
     * forecasts (the readings' default) and 7 days for risk (one every 10 minutes). */
    static const char range_sql[] =
        "WITH t AS (SELECT coalesce($3::timestamptz,"
        "       (SELECT last_ts FROM live_robot WHERE robot_id = $1::int) + interval '1 microsecond',"
        "       (SELECT max(ts) FROM reading WHERE robot_id = $1::int) + interval '1 microsecond',"
        "       (SELECT max(ts) FROM prediction WHERE consumer = $4 AND robot_id = $1::int"
        "          AND kind = $5) + interval '1 microsecond',"
        "       now()) AS hi)"
        " SELECT EXISTS (SELECT 1 FROM robot WHERE robot_id = $1::int)"
        "        OR EXISTS (SELECT 1 FROM live_robot WHERE robot_id = $1::int),"
        "        coalesce($2::timestamptz, t.hi - CASE WHEN $5 = 'risk' THEN interval '7 days'"
        "                                              ELSE interval '15 minutes' END), t.hi FROM t";
    const char *rp[] = {id, has_from ? from : NULL, has_to ? to : NULL, ctx->consumer, kinds[kind]};
    char lo[64], hi[64];
    if (api_robot_range(ctx, robot, range_sql, 5, rp, lo, hi, sizeof lo, resp)) return 0;
    /* One pass over the primary key (consumer, robot_id, kind, axis, horizon, ts) in
     * [from, to): per series (axis, horizon) at most points buckets of equal width, each the
     * time of its first prediction, the time that one is for, the mean value and the newest
     * model version. A bucket of one prediction is that prediction; when the range holds no
     * more predictions (all series) than points, each is its own bucket. */
    static const char sql[] =
        "WITH p AS (SELECT $2::timestamptz AS lo, $3::timestamptz AS hi,"
        "                  greatest(extract(epoch FROM $3::timestamptz - $2::timestamptz)::float8"
        "                           / $4::int, 1e-6) AS w),"
        " chk AS (SELECT CASE WHEN hi <= lo THEN 'to must be after from'"
        "                     WHEN hi - lo > interval '366 days' THEN"
        "                          'the range is longer than 366 days' END AS bad FROM p),"
        " raw AS (SELECT count(*) <= $4::int AS raw FROM (SELECT 1 FROM prediction x, p, chk"
        "          WHERE chk.bad IS NULL AND x.consumer = $5 AND x.robot_id = $1::int AND x.kind = $6"
        "            AND ($7::int < 0 OR x.axis = $7::int) AND ($8::int < 0 OR x.horizon = $8::int)"
        "            AND x.ts >= p.lo AND x.ts < p.hi LIMIT $4::int + 1) z),"
        " b AS (SELECT x.axis, x.horizon,"
        "              CASE WHEN raw.raw THEN (extract(epoch FROM x.ts - p.lo) * 1000000)::bigint"
        "                   ELSE floor(extract(epoch FROM x.ts - p.lo) / p.w)::bigint END AS k,"
        "              extract(epoch FROM min(x.ts)) AS t, extract(epoch FROM min(x.target_ts)) AS g,"
        "              avg(x.value) AS v, max(x.model_version) AS mv, count(*) AS n"
        "         FROM prediction x, p, chk, raw"
        "        WHERE chk.bad IS NULL AND x.consumer = $5 AND x.robot_id = $1::int AND x.kind = $6"
        "          AND ($7::int < 0 OR x.axis = $7::int) AND ($8::int < 0 OR x.horizon = $8::int)"
        "          AND x.ts >= p.lo AND x.ts < p.hi"
        "        GROUP BY 1, 2, 3),"
        " s AS (SELECT axis, horizon, sum(n) AS rows, json_agg(t ORDER BY k) AS t,"
        "              json_agg(g ORDER BY k) AS target, json_agg(v ORDER BY k) AS value,"
        "              json_agg(mv ORDER BY k) AS version FROM b GROUP BY 1, 2)"
        " SELECT CASE WHEN chk.bad IS NOT NULL THEN json_build_object('bad', chk.bad)"
        " ELSE json_build_object('robot_id', $1::int, 'kind', $6::text, 'from', " API_ISO("p.lo") ","
        "   'to', " API_ISO("p.hi") ", 'points', $4::int, 'bucket_s', p.w,"
        "   'series', coalesce((SELECT json_agg(json_build_object('axis', axis, 'horizon', horizon,"
        "       'rows', rows, 't', t, 'target', target, 'value', value, 'version', version)"
        "       ORDER BY axis, horizon) FROM s), '[]'))"
        " END FROM p, chk";
    const char *qp[] = {id, lo, hi, pts, ctx->consumer, kinds[kind], ax, hz};
    if (api_json_query(ctx, sql, 8, qp, resp) != 1) return 0;
    if (resp->body.len > 8 && !strncmp((const char *)resp->body.data, "{\"bad\" : ", 9)) {
        char why[128] = "";
        sscanf((const char *)resp->body.data + 9, "\"%127[^\"]", why);
        resp->body.len = 0;
        http_response_error(resp, 400, "from, to: %s", why);
    }
    return 0;
}

int api_models_route(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    static const char base[] = "/api/models";
    const char *p = req->path + sizeof base - 1;
    if (*p == '\0') return api_method(req, "GET", resp) ? 0 : api_models_list(ctx, req, resp);
    /* /api/models/{name}/versions, /api/models/{name}/metrics */
    const char *name = p + 1, *slash = strchr(name, '/');
    if (*p != '/' || !slash || (strcmp(slash, "/versions") && strcmp(slash, "/metrics"))) {
        http_response_error(resp, 404, "%s: no such endpoint (see docs/api.md)", req->path);
        return 0;
    }
    size_t n = (size_t)(slash - name);
    int ok = n > 0 && n <= API_MODELS_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || strchr("_-.:", name[i]);
    if (!ok) {
        http_response_error(resp, 404, "%s: '%.*s' is not a model name (letters, digits, _-.:)",
                            req->path, (int)(n > API_MODELS_NAME_MAX ? API_MODELS_NAME_MAX : n),
                            name);
        return 0;
    }
    char nm[API_MODELS_NAME_MAX + 1];
    memcpy(nm, name, n);
    nm[n] = '\0';
    if (api_method(req, "GET", resp)) return 0;
    if (slash[1] == 'v') return api_models_versions(ctx, req, nm, resp);
    return api_models_metrics(ctx, req, nm, resp);
}
