/* api: routing of the JSON endpoints and the helpers they share (api.h, api_int.h). */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "tstamp.h"

int api_only(const http_request *req, const char *const *names, int n, http_response *resp)
{
    char err[256];
    if (httpq_only(req->query, names, n, err, sizeof err) == 0) return 0;
    http_response_error(resp, 400, "%s", err);
    return -1;
}

int api_json_query(const api_ctx *ctx, const char *sql, int n, const char *const *params,
                   http_response *resp)
{
    if (!ctx->conn || PQstatus(ctx->conn) != CONNECTION_OK) {
        const char *msg = ctx->conn ? PQerrorMessage(ctx->conn) : "";
        size_t len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
        http_response_error(resp, 503, "database: unreachable%s%.*s", len ? ": " : "", (int)len,
                            msg);
        return -1;
    }
    PGresult *r = PQexecParams(ctx->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(r);
        size_t len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
        http_response_error(resp, 503, "database: %.*s", (int)len, msg);
        PQclear(r);
        return -1;
    }
    int got = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    if (got) {
        resp->body.len = 0;
        buf_append(&resp->body, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
    }
    PQclear(r);
    return got;
}

int api_time_param(const http_request *req, const char *name, char *out, size_t len,
                   http_response *resp)
{
    char err[256];
    int64_t us;
    int rc = httpq_time(req->query, name, &us, err, sizeof err);
    if (rc < 0) {
        http_response_error(resp, 400, "%s", err);
        return -1;
    }
    if (rc == 0) tstamp_format(us, out, len);
    return rc;
}

int api_range(const http_request *req, char *from, char *to, size_t len, int *has_from,
              int *has_to, http_response *resp)
{
    int f = api_time_param(req, "from", from, len, resp);
    if (f < 0) return -1;
    int t = api_time_param(req, "to", to, len, resp);
    if (t < 0) return -1;
    *has_from = f == 0;
    *has_to = t == 0;
    return 0;
}

/* An id in a path segment: digits only, 1..2^53. Returns 0 or -1. */
static int api_id(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 16) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1) return -1;
    *out = v;
    return 0;
}

int api_robot_range(const api_ctx *ctx, int64_t robot, const char *range_sql, int n,
                    const char *const *params, char *lo, char *hi, size_t len, http_response *resp)
{
    if (!ctx->conn || PQstatus(ctx->conn) != CONNECTION_OK) {
        http_response_error(resp, 503, "database: unreachable");
        return -1;
    }
    PGresult *r = PQexecParams(ctx->conn, range_sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        const char *msg = PQresultErrorMessage(r);
        size_t ml = strlen(msg);
        while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == ' ')) ml--;
        http_response_error(resp, 503, "database: %.*s", (int)ml, msg);
        PQclear(r);
        return -1;
    }
    int known = PQgetvalue(r, 0, 0)[0] == 't';
    snprintf(lo, len, "%s", PQgetvalue(r, 0, 1));
    snprintf(hi, len, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    if (!known) {
        http_response_error(resp, 404, "robot %lld: no such robot", (long long)robot);
        return -1;
    }
    return 0;
}

int api_method(const http_request *req, const char *want, http_response *resp)
{
    int ok = !strcmp(req->method, want) || (!strcmp(want, "GET") && !strcmp(req->method, "HEAD"));
    if (!ok) http_response_error(resp, 405, "%s %s: this path takes %s", req->method, req->path, want);
    return ok ? 0 : -1;
}

int api_handle(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    const char *p = req->path;
    if (!strcmp(p, "/api/health")) return api_method(req, "GET", resp) ? 0 : api_health(ctx, req, resp);
    if (!strcmp(p, "/api/robots")) return api_method(req, "GET", resp) ? 0 : api_robots(ctx, req, resp);
    if (!strcmp(p, "/api/anomalies"))
        return api_method(req, "GET", resp) ? 0 : api_anomalies(ctx, req, resp);
    if (!strcmp(p, "/api/pipeline"))
        return api_method(req, "GET", resp) ? 0 : api_pipeline(ctx, req, resp);
    if (!strcmp(p, "/api/predict"))
        return api_method(req, "POST", resp) ? 0 : api_predict(ctx, req, resp);
    if (!strncmp(p, "/api/models", 11) && (p[11] == '\0' || p[11] == '/'))
        return api_models_route(ctx, req, resp);
    if (!strncmp(p, "/api/query", 10) && (p[10] == '\0' || p[10] == '/'))
        return api_query_route(ctx, req, resp);
    /* /api/robots/{id}/readings, /api/robots/{id}/predictions */
    static const char robots[] = "/api/robots/", readings[] = "/readings";
    if (!strncmp(p, robots, sizeof robots - 1)) {
        const char *id = p + sizeof robots - 1, *slash = strchr(id, '/');
        int64_t v;
        if (slash && (!strcmp(slash, readings) || !strcmp(slash, "/predictions"))) {
            if (api_id(id, (size_t)(slash - id), &v)) {
                http_response_error(resp, 404, "%s: '%.*s' is not a robot id", p,
                                    (int)(slash - id), id);
                return 0;
            }
            if (api_method(req, "GET", resp)) return 0;
            return slash[1] == 'r' ? api_readings(ctx, req, v, resp)
                                   : api_predictions(ctx, req, v, resp);
        }
    }
    /* /api/anomalies/{id}/ack */
    static const char anomalies[] = "/api/anomalies/", ack[] = "/ack";
    if (!strncmp(p, anomalies, sizeof anomalies - 1)) {
        const char *id = p + sizeof anomalies - 1, *slash = strchr(id, '/');
        int64_t v;
        if (slash && !strcmp(slash, ack)) {
            if (api_id(id, (size_t)(slash - id), &v)) {
                http_response_error(resp, 404, "%s: '%.*s' is not an episode id", p,
                                    (int)(slash - id), id);
                return 0;
            }
            return api_method(req, "POST", resp) ? 0 : api_ack(ctx, req, v, resp);
        }
    }
    http_response_error(resp, 404, "%s: no such endpoint (see docs/api.md)", p);
    return 0;
}
