/* api_int: what the API's endpoint files share (api.c routes to them). Not for other modules. */
#ifndef PGPULSE_API_INT_H
#define PGPULSE_API_INT_H

#include <stdint.h>

#include <libpq-fe.h>

#include "api.h"
#include "http.h"

/* SQL: a timestamptz expression as ISO 8601 UTC with microseconds ("...T10:00:00.000000Z"). */
#define API_ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Refuses query parameters outside names (n): 400 naming the first unknown one. Returns 0, or
 * -1 when resp now holds the error. */
int api_only(const http_request *req, const char *const *names, int n, http_response *resp);

/* Runs sql (parameters as text) and, when it returns one row whose first column is JSON text,
 * makes that the body. Returns 1 (body set), 0 (no row: resp untouched), or -1 (a database
 * error: resp is 503 {"error":"database: ..."}). */
int api_json_query(const api_ctx *ctx, const char *sql, int n, const char *const *params,
                   http_response *resp);

/* A time parameter as the text PostgreSQL reads ("2026-12-05T10:00:00.000000Z") in out (≥ 40
 * bytes): 0 present, 1 absent, -1 bad (resp holds the 400). */
int api_time_param(const http_request *req, const char *name, char *out, size_t len,
                   http_response *resp);

/* The parameters from and to (api_time_param) into from and to (≥ 40 bytes each); *has_from
 * and *has_to: 1 when given. Returns 0, or -1 when resp holds the 400. */
int api_range(const http_request *req, char *from, char *to, size_t len, int *has_from,
              int *has_to, http_response *resp);

/* A robot's time range for a chart: runs range_sql (n text parameters), whose one row is (the
 * robot exists, from, to), copying from and to into lo and hi (len bytes each). Returns 0, or
 * -1 when resp holds the 503 (database) or the 404 (no such robot). */
int api_robot_range(const api_ctx *ctx, int64_t robot, const char *range_sql, int n,
                    const char *const *params, char *lo, char *hi, size_t len, http_response *resp);

/* 0 when req's method is want (HEAD answers for GET), else -1 with resp holding the 405. */
int api_method(const http_request *req, const char *want, http_response *resp);

/* The endpoints (api_robots.c, api_anomalies.c, api_status.c, api_models.c). */
int api_robots(const api_ctx *ctx, const http_request *req, http_response *resp);
int api_readings(const api_ctx *ctx, const http_request *req, int64_t robot,
                 http_response *resp);
int api_anomalies(const api_ctx *ctx, const http_request *req, http_response *resp);
int api_ack(const api_ctx *ctx, const http_request *req, int64_t id, http_response *resp);
int api_health(const api_ctx *ctx, const http_request *req, http_response *resp);
int api_pipeline(const api_ctx *ctx, const http_request *req, http_response *resp);
int api_predictions(const api_ctx *ctx, const http_request *req, int64_t robot,
                    http_response *resp);
/* POST /api/predict (api_predict.c). */
int api_predict(const api_ctx *ctx, const http_request *req, http_response *resp);
/* Answers every path under /api/models (req->path is /api/models or starts /api/models/). */
int api_models_route(const api_ctx *ctx, const http_request *req, http_response *resp);
/* Answers /api/query and /api/query/{name} (api_query.c). */
int api_query_route(const api_ctx *ctx, const http_request *req, http_response *resp);

#endif
