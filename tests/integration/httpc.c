/* httpc: the integration tests' HTTP client (httpc.h). */
#define _GNU_SOURCE /* memmem */
#include "httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"


void httpc_free(httpc_reply *r)
{
    buf_free(&r->head);
    buf_free(&r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* A header's value (case-insensitive name), copied into out; 0 if found. */
int httpc_header(const httpc_reply *r, const char *name, char *out, size_t len)
{
    const char *h = (const char *)r->head.data;
    size_t n = strlen(name);
    for (const char *line = strstr(h, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (!strncasecmp(l, name, n) && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ') v++;
            const char *end = strstr(v, "\r\n");
            snprintf(out, len, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
            return 0;
        }
    }
    return -1;
}

/* Sends raw (a whole request) to the server on port and reads the answer: the connection is
 * closed by the request's "Connection: close", or, for a stream, reading ends at until or after
 * max_ms. Chunked bodies are decoded. */
httpc_reply httpc_raw(int port, const char *raw, size_t len, const char *until, int max_ms)
{
    httpc_reply r = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = max_ms / 1000, .tv_usec = (max_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, raw + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    buf all = {0};
    char chunk[65536];
    int64_t t0 = util_mono_us();
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) break;
        buf_append(&all, chunk, (size_t)n);
        if ((util_mono_us() - t0) / 1000 > max_ms) break;
        /* Searched in the bytes as they came (a chunk's size line could split it: then reading
         * goes on to max_ms, never ends early). */
        if (until && memmem(all.data, all.len, until, strlen(until))) break;
    }
    close(fd);
    buf_append(&all, "", 1);
    const char *s = (const char *)all.data, *end = strstr(s, "\r\n\r\n");
    if (!end) fail_msg("no complete answer to %.*s: %s", (int)len, raw, s);
    sscanf(s, "HTTP/1.%*d %d", &r.status);
    buf_append(&r.head, s, (size_t)(end - s) + 2);
    buf_append(&r.head, "", 1);
    const char *b = end + 4;
    size_t blen = all.len - 1 - (size_t)(b - s);
    char te[64] = "";
    if (httpc_header(&r, "Transfer-Encoding", te, sizeof te) == 0 && strstr(te, "chunked")) {
        while (blen > 0) {
            unsigned long n = strtoul(b, NULL, 16);
            const char *crlf = strstr(b, "\r\n");
            if (!crlf || n == 0) break;
            size_t take = n;
            const char *data = crlf + 2;
            size_t avail = blen - (size_t)(data - b);
            if (take > avail) take = avail;
            buf_append(&r.body, data, take);
            if (take < n || avail < take + 2) break;
            blen -= (size_t)(data + take + 2 - b);
            b = data + take + 2;
        }
    } else {
        buf_append(&r.body, b, blen);
    }
    buf_append(&r.body, "", 1);
    r.body.len--;
    r.json = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    buf_free(&all);
    return r;
}

/* method path on server s, with extra header lines (each ending in \r\n) and a body. */
httpc_reply httpc_request(serve *s, const char *method, const char *path, const char *headers,
                  const char *body)
{
    char *req = xasprintf("%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s"
                          "Content-Length: %zu\r\n\r\n%s",
                          method, path, headers ? headers : "", body ? strlen(body) : 0,
                          body ? body : "");
    httpc_reply r = httpc_raw(serve_port(s), req, strlen(req), NULL, 10000);
    free(req);
    return r;
}

/* A 4xx/5xx answer: the status, and a JSON body {"error": "...", "status": N} whose message
 * holds `names`. */
void httpc_expect_error(httpc_reply *r, int status, const char *names)
{
    if (r->status != status || !r->json)
        fail_msg("expected %d with a JSON error, got %d: %s", status, r->status,
                 (const char *)r->body.data);
    const char *e = json_string_value(json_object_get(r->json, "error"));
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(r->json, "status")), status);
    if (names && !strstr(e, names)) fail_msg("error '%s' does not name '%s'", e, names);
    httpc_free(r);
}
