/* api: the JSON endpoints of `pgpulse serve` that answer from the database (docs/api.md):
 *
 *   GET  /api/health                       the server and its database (503 when unreachable)
 *   GET  /api/robots                       every robot, its state and latest values
 *   GET  /api/robots/{id}/readings         one robot's readings, downsampled on the server
 *   GET  /api/anomalies                    episodes, newest first, with their acknowledgement
 *   POST /api/anomalies/{id}/ack           acknowledge an episode (bearer token when one is set)
 *   GET  /api/pipeline                     what `pgpulse status --json` says, plus ingest rejects
 *   GET  /api/robots/{id}/predictions      one robot's forecasts or failure risk, downsampled
 *   GET  /api/models                       the learn stage's models: aliases, runs, metric keys
 *   GET  /api/models/{name}/versions       a model's versions, newest first
 *   GET  /api/models/{name}/metrics        a metric's history per run, downsampled
 *
 * /api/fleet and /api/stream come from the live feed (serve_feed.h) and /metrics from the
 * server itself (serve.c); everything else under /api/ is answered here.
 *
 * Every answer is JSON; a bad request gets a 4xx {"error","status"} naming the parameter, header
 * or path segment at fault (unknown query parameters included); a database failure gets 503
 * {"error":"database: ..."}. Each endpoint is at most a few statements over indexes, never a
 * scan of `reading` beyond the asked range. */
#ifndef PGPULSE_API_H
#define PGPULSE_API_H

#include <libpq-fe.h>

#include "http.h"

typedef struct api_ctx {
    PGconn *conn;          /* the calling pool thread's own connection (serve.c reconnects it
                              when PQstatus says it is bad after a call) */
    const char *consumer;  /* whose outputs are shown (anomaly, detect_band, stream status) */
    const char *token;     /* PGPULSE_TOKEN, or NULL: acknowledging needs no token */
    double started;        /* the server's start (util_now seconds), for uptime */
} api_ctx;

/* Answers one request whose path starts with /api/ (except /api/fleet and /api/stream).
 * Unknown path: 404; a known path with another method: 405. Returns 0 (the response is always
 * filled in, errors included). */
int api_handle(const api_ctx *ctx, const http_request *req, http_response *resp);

#endif
