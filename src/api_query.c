/* api_query: GET /api/query (the canned analyses, each with its summary and documentation) and
 * GET /api/query/{name}?from=&to=&robot=&format=json|csv — what `pgpulse query` answers
 * (query.h), over HTTP. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api_int.h"
#include "httpq.h"
#include "query.h"

static int api_query_list(http_response *resp)
{
    json_t *a = json_array();
    for (int i = 0; i < query_ndefs; i++) {
        char s[256];
        buf doc = {0};
        query_summary(&query_defs[i], s, sizeof s);
        query_doc(&query_defs[i], &doc);
        buf_append(&doc, "", 1);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "name", query_defs[i].name, "summary", s,
                                           "doc", (const char *)doc.data));
        buf_free(&doc);
    }
    char *t = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    resp->body.len = 0;
    buf_append(&resp->body, t, strlen(t));
    free(t);
    json_decref(a);
    return 0;
}

int api_query_route(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (api_method(req, "GET", resp)) return 0;
    const char *p = req->path + strlen("/api/query");
    if (*p == '\0') {
        static const char *const none[] = {NULL};
        if (api_only(req, none, 0, resp)) return 0;
        return api_query_list(resp);
    }
    const query_def *q = query_find(p + 1);
    if (!q) {
        http_response_error(resp, 404, "%s: no analysis named '%s' (GET /api/query lists them)", req->path, p + 1);
        return 0;
    }
    static const char *const names[] = {"from", "to", "robot", "format"};
    if (api_only(req, names, 4, resp)) return 0;
    char from[40], to[40], err[512];
    int has_from, has_to;
    if (api_range(req, from, to, sizeof from, &has_from, &has_to, resp)) return 0;
    int64_t robot = 0;
    if (httpq_int(req->query, "robot", 1, 2147483647, &robot, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    static const char *const formats[] = {"json", "csv"};
    int f = 0;
    if (httpq_choice(req->query, "format", formats, 2, &f, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    if (!ctx->conn || PQstatus(ctx->conn) != CONNECTION_OK) {
        http_response_error(resp, 503, "database: unreachable");
        return 0;
    }
    query_args a = {.from = has_from ? from : NULL, .to = has_to ? to : NULL, .robot = (int)robot};
    buf out = {0};
    if (query_run(ctx->conn, q, &a, f == 1 ? QUERY_CSV : QUERY_JSON, &out, err, sizeof err) < 0) {
        http_response_error(resp, 503, "database: %s", err);
        buf_free(&out);
        return 0;
    }
    resp->body.len = 0;
    buf_append(&resp->body, out.data, out.len);
    buf_free(&out);
    if (f == 1) resp->content_type = "text/csv; charset=utf-8";
    return 0;
}
