/* api_status: GET /api/health and GET /api/pipeline (docs/api.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_int.h"
#include "status_json.h"
#include "stream.h"
#include "util.h"

int api_health(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (api_only(req, NULL, 0, resp)) return 0;
    double up = (double)util_mono_us() / 1e6 - ctx->started;
    char upt[32];
    snprintf(upt, sizeof upt, "%.0f", up);
    static const char sql[] =
        "SELECT json_build_object('status', 'ok', 'database', 'ok',"
        " 'schema_version', (SELECT max(version) FROM schema_migration),"
        " 'consumer', $1::text, 'uptime_s', $2::bigint, 'server_version', current_setting('server_version'))";
    const char *p[] = {ctx->consumer, upt};
    if (api_json_query(ctx, sql, 2, p, resp) < 0) {
        /* 503 with what the checks found. */
        json_t *o = json_pack("{s:s,s:s,s:s,s:i}", "status", "unavailable", "database",
                              "unreachable", "consumer", ctx->consumer, "status_code", 503);
        json_t *prev = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
        if (prev) json_object_set(o, "error", json_object_get(prev, "error"));
        json_object_set_new(o, "uptime_s", json_integer((json_int_t)up));
        json_object_del(o, "status_code");
        char *s = json_dumps(o, JSON_COMPACT);
        resp->body.len = 0;
        buf_append(&resp->body, s, strlen(s));
        free(s);
        json_decref(o);
        json_decref(prev);
        resp->status = 503;
    }
    return 0;
}

int api_pipeline(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (api_only(req, NULL, 0, resp)) return 0;
    if (!ctx->conn || PQstatus(ctx->conn) != CONNECTION_OK) {
        http_response_error(resp, 503, "database: unreachable");
        return 0;
    }
    char err[1024];
    PGresult *r = stream_status(ctx->conn, err, sizeof err);
    if (!r) {
        http_response_error(resp, 503, "database: %s", err);
        return 0;
    }
    json_t *root = status_json(r);
    PQclear(r);
    /* Ingest rejects by reason (the first 50 reasons by count), and in all. */
    static const char sql[] =
        "SELECT json_build_object('total', (SELECT count(*) FROM ingest_reject),"
        " 'by_reason', coalesce((SELECT json_agg(json_build_object('reason', reason, 'count', n,"
        "   'last_at', " API_ISO("last_at") ", 'last_source', src) ORDER BY n DESC, reason)"
        "   FROM (SELECT reason, count(*) AS n, max(at) AS last_at,"
        "                (array_agg(source ORDER BY at DESC))[1] AS src"
        "           FROM ingest_reject GROUP BY reason ORDER BY n DESC, reason LIMIT 50) x),"
        "   '[]'::json))";
    if (api_json_query(ctx, sql, 0, NULL, resp) != 1) {
        json_decref(root);
        return 0;
    }
    json_t *rej = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
    json_object_set_new(root, "rejects", rej ? rej : json_null());
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    resp->body.len = 0;
    buf_append(&resp->body, s, strlen(s));
    free(s);
    json_decref(root);
    return 0;
}
