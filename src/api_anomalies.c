/* api_anomalies: GET /api/anomalies (the consumer's episodes, newest first, with their
 * acknowledgement) and POST /api/anomalies/{id}/ack (docs/api.md). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api_int.h"

#define API_ANOMALIES_DEFAULT_LIMIT 100
#define API_ANOMALIES_MAX_LIMIT 1000
#define API_ACK_NOTE_MAX 1000

int api_anomalies(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    static const char *const names[] = {"from", "to", "level", "robot", "limit", "open"};
    if (api_only(req, names, 6, resp)) return 0;
    char from[48] = "", to[48] = "", err[256];
    int has_from, has_to;
    if (api_range(req, from, to, sizeof from, &has_from, &has_to, resp)) return 0;
    static const char *const levels[] = {"ALERT", "ERROR"};
    static const char *const bools[] = {"false", "true"};
    int level = -1, open = -1;
    int64_t robot = 0, limit = API_ANOMALIES_DEFAULT_LIMIT;
    if (httpq_choice(req->query, "level", levels, 2, &level, err, sizeof err) < 0 ||
        httpq_choice(req->query, "open", bools, 2, &open, err, sizeof err) < 0 ||
        httpq_int(req->query, "robot", 1, INT32_MAX, &robot, err, sizeof err) < 0 ||
        httpq_int(req->query, "limit", 1, API_ANOMALIES_MAX_LIMIT, &limit, err, sizeof err) < 0) {
        http_response_error(resp, 400, "%s", err);
        return 0;
    }
    char rb[24], lim[24];
    snprintf(rb, sizeof rb, "%lld", (long long)robot);
    snprintf(lim, sizeof lim, "%lld", (long long)limit);
    /* An episode is in [from, to) when it overlaps it. */
    static const char sql[] =
        "SELECT json_build_object('anomalies', coalesce(json_agg(json_build_object("
        "  'id', a.id, 'robot_id', a.robot_id, 'axis', a.axis, 'level', a.level,"
        "  'detector', a.detector, 'reason', a.reason,"
        "  'ts_start', " API_ISO("a.ts_start") ", 'ts_end', " API_ISO("a.ts_end") ","
        "  'open', a.open, 'peak_score', a.peak_score, 'peak_z', a.peak_z,"
        "  'readings', a.readings, 'updated_at', " API_ISO("a.updated_at") ","
        "  'ack', CASE WHEN k.anomaly_id IS NULL THEN NULL ELSE json_build_object("
        "      'at', " API_ISO("k.acked_at") ", 'by', k.acked_by, 'note', k.note) END)"
        "  ORDER BY a.ts_start DESC, a.id DESC), '[]'::json))"
        " FROM (SELECT * FROM anomaly"
        "        WHERE consumer = $1"
        "          AND ($2::timestamptz IS NULL OR ts_end >= $2::timestamptz)"
        "          AND ($3::timestamptz IS NULL OR ts_start < $3::timestamptz)"
        "          AND ($4::text IS NULL OR level = $4::text)"
        "          AND ($5::int IS NULL OR robot_id = $5::int)"
        "          AND ($7::boolean IS NULL OR open = $7::boolean)"
        "        ORDER BY ts_start DESC, id DESC LIMIT $6::int) a"
        " LEFT JOIN anomaly_ack k ON k.robot_id = a.robot_id AND k.anomaly_id = a.id";
    const char *p[] = {ctx->consumer,
                       has_from ? from : NULL,
                       has_to ? to : NULL,
                       level >= 0 ? levels[level] : NULL,
                       robot ? rb : NULL,
                       lim,
                       open >= 0 ? bools[open] : NULL};
    api_json_query(ctx, sql, 7, p, resp);
    return 0;
}

/* Equal in time independent of where they differ (the token). */
static int api_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* The bearer token, when the server has one: 0 when the request may acknowledge, -1 when resp
 * holds the 401. */
static int api_authorized(const api_ctx *ctx, const http_request *req, http_response *resp)
{
    if (!ctx->token) return 0;
    static const char bearer[] = "Bearer ";
    const char *h = req->authorization;
    if (!h) {
        http_response_error(resp, 401, "Authorization: missing: acknowledging needs "
                                       "'Authorization: Bearer <token>' (PGPULSE_TOKEN)");
        return -1;
    }
    if (strncmp(h, bearer, sizeof bearer - 1) != 0) {
        http_response_error(resp, 401, "Authorization: expected 'Bearer <token>'");
        return -1;
    }
    if (!api_token_equal(h + sizeof bearer - 1, ctx->token)) {
        http_response_error(resp, 401, "Authorization: the token is wrong");
        return -1;
    }
    return 0;
}

/* The body's note: "" when the body is empty; -1 when resp holds the 400. */
static int api_ack_note(const http_request *req, char **note, json_t **root,
                        http_response *resp)
{
    *note = "";
    *root = NULL;
    size_t i = 0;
    while (i < req->body_len && strchr(" \t\r\n", req->body[i])) i++;
    if (i == req->body_len) return 0;
    json_error_t je;
    *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!*root || !json_is_object(*root)) {
        if (*root)
            http_response_error(resp, 400, "body: expected a JSON object like {\"note\": \"...\"}");
        else
            http_response_error(resp, 400, "body: not JSON (line %d, column %d: %s)", je.line,
                                je.column, je.text);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(*root, k, v)
    {
        if (strcmp(k, "note") != 0) {
            http_response_error(resp, 400, "body: unknown field '%s' (only \"note\")", k);
            return -1;
        }
        if (!json_is_string(v)) {
            http_response_error(resp, 400, "body: note: expected a string");
            return -1;
        }
        if (json_string_length(v) > API_ACK_NOTE_MAX) {
            http_response_error(resp, 400, "body: note: longer than %d bytes", API_ACK_NOTE_MAX);
            return -1;
        }
        if (memchr(json_string_value(v), '\0', json_string_length(v))) {
            http_response_error(resp, 400, "body: note: holds a NUL character");
            return -1;
        }
        *note = (char *)json_string_value(v);
    }
    return 0;
}

int api_ack(const api_ctx *ctx, const http_request *req, int64_t id, http_response *resp)
{
    if (api_only(req, NULL, 0, resp) || api_authorized(ctx, req, resp)) return 0;
    char *note;
    json_t *root;
    if (api_ack_note(req, &note, &root, resp)) {
        json_decref(root);
        return 0;
    }
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    /* Acknowledging again replaces the note and keeps the first time and address. */
    static const char sql[] =
        "WITH a AS (INSERT INTO anomaly_ack (robot_id, anomaly_id, acked_by, note)"
        "           SELECT robot_id, id, left($2, 200), $3 FROM anomaly WHERE id = $1::bigint"
        "           ON CONFLICT (robot_id, anomaly_id) DO UPDATE SET note = excluded.note"
        "           RETURNING anomaly_id, acked_at, acked_by, note)"
        " SELECT json_build_object('id', anomaly_id, 'ack', json_build_object("
        "   'at', " API_ISO("acked_at") ", 'by', acked_by, 'note', note)) FROM a";
    const char *p[] = {ids, req->client ? req->client : "", note};
    if (api_json_query(ctx, sql, 3, p, resp) == 0)
        http_response_error(resp, 404, "episode %lld: no such episode", (long long)id);
    json_decref(root);
    return 0;
}
