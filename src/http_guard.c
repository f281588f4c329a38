/* http_guard: the parts of the HTTP server that protect it from its clients below the level of
 * a request — the listen socket (bound where it is told, loopback by default), the descriptor
 * budget (RLIMIT_NOFILE), and the header deadline: a connection that has not sent its headers
 * in time is shut down by a thread of its own, so a slow-loris client holds no slot for long.
 *
 * The deadline lists are FIFOs: a connection is appended with now + a fixed timeout, so each
 * list is ordered by deadline and the guard only ever looks at the heads. It sleeps until the
 * earliest deadline, or without a timeout when no connection is waiting (no CPU when idle). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"
#include "util.h"

/* Descriptors kept back from connections for everything else (database connections, files). */
#define HTTP_FD_MARGIN 64
#define HTTP_MAX_CONNECTIONS_DEFAULT 10000

int http_guard_listen(const char *listen_addr, char *err, size_t errlen)
{
    if (!listen_addr || !*listen_addr) return util_err(err, errlen, "listen address is empty");
    char host[256], port[16];
    const char *colon;
    size_t hlen;
    if (listen_addr[0] == '[') {
        const char *close = strchr(listen_addr, ']');
        if (!close || close[1] != ':')
            return util_err(err, errlen, "listen address '%s': expected [address]:port", listen_addr);
        hlen = (size_t)(close - listen_addr - 1);
        if (hlen >= sizeof host) return util_err(err, errlen, "listen address '%s': too long", listen_addr);
        memcpy(host, listen_addr + 1, hlen);
        colon = close + 1;
    } else {
        colon = strrchr(listen_addr, ':');
        if (!colon) return util_err(err, errlen, "listen address '%s': expected address:port", listen_addr);
        hlen = (size_t)(colon - listen_addr);
        if (hlen >= sizeof host) return util_err(err, errlen, "listen address '%s': too long", listen_addr);
        memcpy(host, listen_addr, hlen);
    }
    host[hlen] = '\0';
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (hlen == 0 || plen == 0 || plen > 5 || strspn(p, "0123456789") != plen || atoi(p) > 65535)
        return util_err(err, errlen, "listen address '%s': expected address:port with a port 0..65535",
                        listen_addr);
    memcpy(port, p, plen + 1);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) return util_err(err, errlen, "listen address '%s': %s", listen_addr, gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        util_err(err, errlen, "listen address '%s': socket: %s", listen_addr, strerror(errno));
        goto cleanup;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        util_err(err, errlen, "cannot listen on %s: %s", listen_addr, strerror(errno));
        close(fd);
        fd = -1;
    }
cleanup:
    freeaddrinfo(res);
    return fd;
}

int http_guard_fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024 - HTTP_FD_MARGIN;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = rl;
        /* An unlimited hard limit cannot be the soft one on Linux (nr_open caps it). */
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
    rlim_t n = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
    if (n <= 2 * HTTP_FD_MARGIN) return (int)(n / 2 > 0 ? n / 2 : 1);
    n -= HTTP_FD_MARGIN;
    return n > HTTP_MAX_CONNECTIONS_DEFAULT ? HTTP_MAX_CONNECTIONS_DEFAULT : (int)n;
}

static void list_append(http_conn_list *l, http_conn *c)
{
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c;
    else l->head = c;
    l->tail = c;
}

static void list_remove(http_conn_list *l, http_conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else l->tail = c->prev;
    c->prev = c->next = NULL;
}

/* Takes c out of whichever list holds it (under s->mu). */
static void unlist(http_server *s, http_conn *c)
{
    if (c->listed == 1) list_remove(&s->first, c);
    else if (c->listed == 2) list_remove(&s->again, c);
    c->listed = 0;
}

/* Appends c to list (1 first, 2 again) due after timeout_us (under s->mu). */
static void enlist(http_server *s, http_conn *c, int which, int64_t timeout_us)
{
    http_conn_list *l = which == 1 ? &s->first : &s->again;
    unlist(s, c);
    int was_empty = !l->head;
    c->deadline_us = util_mono_us() + timeout_us;
    c->listed = which;
    list_append(l, c);
    /* The guard sleeps until the earliest head: only a list that was empty can bring it nearer. */
    if (was_empty) pthread_cond_signal(&s->guard_cond);
}

void http_guard_conn_opened(http_server *s, http_conn *c)
{
    pthread_mutex_lock(&s->mu);
    enlist(s, c, 1, (int64_t)s->cfg.header_timeout_ms * 1000);
    pthread_mutex_unlock(&s->mu);
}

void http_guard_headers_in(http_server *s, http_conn *c)
{
    pthread_mutex_lock(&s->mu);
    unlist(s, c);
    pthread_mutex_unlock(&s->mu);
}

void http_guard_request_done(http_server *s, http_conn *c)
{
    pthread_mutex_lock(&s->mu);
    enlist(s, c, 2, (int64_t)s->cfg.idle_timeout_s * 1000000);
    pthread_mutex_unlock(&s->mu);
}

void http_guard_conn_closed(http_server *s, http_conn *c)
{
    pthread_mutex_lock(&s->mu);
    unlist(s, c);
    pthread_mutex_unlock(&s->mu);
}

/* Shuts down the connections of l past their deadline; returns the next deadline or INT64_MAX.
 * Under s->mu: MHD reports a connection closed (http_guard_conn_closed, which takes s->mu)
 * before it closes its socket, so the descriptor shut down here is still that connection's. */
static int64_t expire(http_server *s, http_conn_list *l, int64_t now)
{
    http_conn *c;
    while ((c = l->head) && c->deadline_us <= now) {
        /* The worker thread sees end of file on its next poll and closes the connection. */
        shutdown(c->fd, SHUT_RDWR);
        unlist(s, c);
    }
    return c ? c->deadline_us : INT64_MAX;
}

static void *guard_main(void *arg)
{
    http_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->guard_stop) {
        int64_t now = util_mono_us();
        int64_t a = expire(s, &s->first, now), b = expire(s, &s->again, now);
        int64_t next = a < b ? a : b;
        if (next == INT64_MAX) {
            pthread_cond_wait(&s->guard_cond, &s->mu);
            continue;
        }
        /* util_mono_us reads CLOCK_MONOTONIC, the clock the condition variable waits on. */
        struct timespec ts = {.tv_sec = (time_t)(next / 1000000), .tv_nsec = (long)(next % 1000000) * 1000};
        pthread_cond_timedwait(&s->guard_cond, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int http_guard_start(http_server *s, char *err, size_t errlen)
{
    int rc = pthread_create(&s->guard, NULL, guard_main, s);
    if (rc != 0) return util_err(err, errlen, "http: cannot start the header guard: %s", strerror(rc));
    s->guard_started = 1;
    return 0;
}

void http_guard_stop(http_server *s)
{
    if (!s->guard_started) return;
    pthread_mutex_lock(&s->mu);
    s->guard_stop = 1;
    pthread_cond_signal(&s->guard_cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->guard, NULL);
    s->guard_started = 0;
}
