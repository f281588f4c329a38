/* httpc: the integration tests' HTTP client — one request on a fresh connection to the server
 * under test (in-process, serve.h), the answer parsed (status, headers, body, JSON). Test support
 * code: failures end the test (cmocka). */
#ifndef PGPULSE_HTTPC_H
#define PGPULSE_HTTPC_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "serve.h"

/* One answer. */
typedef struct httpc_reply {
    int status;
    buf head;   /* the status line and headers, NUL-terminated */
    buf body;   /* NUL-terminated */
    json_t *json;
} httpc_reply;

/* Frees r's buffers and JSON, and zeroes it. */
void httpc_free(httpc_reply *r);

/* A header's value (case-insensitive name), copied into out (len bytes); 0 if found, -1 if not. */
int httpc_header(const httpc_reply *r, const char *name, char *out, size_t len);

/* Sends raw (a whole request, len bytes) to the server on port and reads the answer: the
 * connection is closed by the request's "Connection: close", or, for a stream, reading ends once
 * the bytes read hold until (NULL: never) or after max_ms. Chunked bodies are decoded; a JSON
 * body is parsed into json (NULL otherwise). */
httpc_reply httpc_raw(int port, const char *raw, size_t len, const char *until, int max_ms);

/* method path on server s, with extra header lines (each ending in \r\n, or NULL) and a body
 * (or NULL). */
httpc_reply httpc_request(serve *s, const char *method, const char *path, const char *headers, const char *body);

/* A 4xx/5xx answer: the status, and a JSON body {"error": "...", "status": N} whose message
 * holds names (unless NULL); frees r. */
void httpc_expect_error(httpc_reply *r, int status, const char *names);

#endif
