/* faultproxy: a framing-aware TCP proxy that injects one connection fault (see faultproxy.h).
 *
 * One thread runs a poll loop over the listening socket and both sockets of every relayed
 * connection. Each direction of a connection has an input buffer (bytes read, not yet framed)
 * and an output buffer (whole messages decided on, waiting to be written); the rule is checked
 * as a message moves from one to the other. Existing connections are served before new ones are
 * accepted, so a client that closes one connection and opens the next is seen in that order.
 * The test thread talks to the loop through a mutex and a wake-up pipe. */
#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

#define FP_MAX_STARTUP 10000        /* longest untyped startup packet accepted (as the server) */
#define FP_MAX_MESSAGE (1u << 30)   /* longest typed message framed */
#define FP_READ_CHUNK 65536         /* bytes read per call */
#define FP_CLOSE_GRACE_US 2000000   /* a dying connection's queued bytes get this long */
#define FP_STALL_HELD INT64_MAX     /* stall_until of a stall held until released */

static const char *const fp_kind_names[FAULTPROXY_NKINDS] = {
    [FAULTPROXY_ANY] = "any",
#define FAULTPROXY_NAME(name, text) [FAULTPROXY_##name] = text,
    FAULTPROXY_X(FAULTPROXY_NAME)
#undef FAULTPROXY_NAME
};

const char *faultproxy_kind_name(faultproxy_kind kind)
{
    return kind >= 0 && kind < FAULTPROXY_NKINDS ? fp_kind_names[kind] : "?";
}

static uint32_t fp_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static faultproxy_kind fp_frontend_kind(uint8_t type)
{
    switch (type) {
    case 'Q': return FAULTPROXY_QUERY;
    case 'P': return FAULTPROXY_PARSE;
    case 'B': return FAULTPROXY_BIND;
    case 'D': return FAULTPROXY_DESCRIBE;
    case 'E': return FAULTPROXY_EXECUTE;
    case 'S': return FAULTPROXY_SYNC;
    case 'H': return FAULTPROXY_FLUSH;
    case 'C': return FAULTPROXY_CLOSE;
    case 'p': return FAULTPROXY_PASSWORD;
    case 'F': return FAULTPROXY_FUNCTION_CALL;
    case 'X': return FAULTPROXY_TERMINATE;
    case 'd': return FAULTPROXY_COPY_DATA;
    case 'c': return FAULTPROXY_COPY_DONE;
    case 'f': return FAULTPROXY_COPY_FAIL;
    default: return FAULTPROXY_OTHER;
    }
}

static faultproxy_kind fp_backend_kind(uint8_t type)
{
    switch (type) {
    case 'R': return FAULTPROXY_AUTH;
    case 'S': return FAULTPROXY_PARAMETER_STATUS;
    case 'K': return FAULTPROXY_BACKEND_KEY;
    case 'Z': return FAULTPROXY_READY;
    case 'T': return FAULTPROXY_ROW_DESCRIPTION;
    case 'D': return FAULTPROXY_DATA_ROW;
    case 'C': return FAULTPROXY_COMMAND_COMPLETE;
    case 'E': return FAULTPROXY_ERROR;
    case 'N': return FAULTPROXY_NOTICE;
    case 'A': return FAULTPROXY_NOTIFICATION;
    case 'G': return FAULTPROXY_COPY_IN;
    case 'H': return FAULTPROXY_COPY_OUT;
    case 'W': return FAULTPROXY_COPY_BOTH;
    case 'd': return FAULTPROXY_COPY_DATA;
    case 'c': return FAULTPROXY_COPY_DONE;
    case '1': return FAULTPROXY_PARSE_COMPLETE;
    case '2': return FAULTPROXY_BIND_COMPLETE;
    case '3': return FAULTPROXY_CLOSE_COMPLETE;
    case 'n': return FAULTPROXY_NO_DATA;
    case 'I': return FAULTPROXY_EMPTY_QUERY;
    case 't': return FAULTPROXY_PARAMETER_DESCRIPTION;
    case 's': return FAULTPROXY_PORTAL_SUSPENDED;
    case 'v': return FAULTPROXY_NEGOTIATE_PROTOCOL;
    case 'V': return FAULTPROXY_FUNCTION_RESULT;
    default: return FAULTPROXY_OTHER;
    }
}

long faultproxy_frame(const faultproxy_framing *st, faultproxy_dir dir, const uint8_t *b,
                      size_t len, faultproxy_kind *kind)
{
    if (st->opaque) return -1;
    if (dir == FAULTPROXY_TO_CLIENT && st->answer_pending) {
        if (len < 1) return 0;
        *kind = FAULTPROXY_SSL_ANSWER;
        return 1;
    }
    if (dir == FAULTPROXY_TO_SERVER && !st->typed) {
        /* Int32 length (including itself), Int32 request code or protocol version. */
        if (len < 8) return 0;
        uint32_t n = fp_get32(b), code = fp_get32(b + 4);
        if (n < 8 || n > FP_MAX_STARTUP) return -1;
        if (len < n) return 0;
        if (code == 80877103)
            *kind = FAULTPROXY_SSL_REQUEST;
        else if (code == 80877104)
            *kind = FAULTPROXY_GSS_REQUEST;
        else if (code == 80877102)
            *kind = FAULTPROXY_CANCEL;
        else if (code >> 16 == 3)
            *kind = FAULTPROXY_STARTUP;
        else
            return -1;
        return (long)n;
    }
    /* Byte1 type, Int32 length (including itself, not the type). */
    if (len < 5) return 0;
    uint32_t n = fp_get32(b + 1);
    if (n < 4 || n > FP_MAX_MESSAGE) return -1;
    if (len < (size_t)n + 1) return 0;
    *kind = dir == FAULTPROXY_TO_SERVER ? fp_frontend_kind(b[0]) : fp_backend_kind(b[0]);
    if (*kind == FAULTPROXY_COPY_DATA && st->copy_both && n > 4) {
        uint8_t sub = b[5];
        if (dir == FAULTPROXY_TO_CLIENT && sub == 'w') *kind = FAULTPROXY_XLOG_DATA;
        if (dir == FAULTPROXY_TO_CLIENT && sub == 'k') *kind = FAULTPROXY_KEEPALIVE;
        if (dir == FAULTPROXY_TO_SERVER && sub == 'r') *kind = FAULTPROXY_STANDBY_STATUS;
        if (dir == FAULTPROXY_TO_SERVER && sub == 'h') *kind = FAULTPROXY_HOT_STANDBY_FEEDBACK;
    }
    return (long)n + 1;
}

void faultproxy_framing_note(faultproxy_framing *st, faultproxy_dir dir, faultproxy_kind kind,
                             const uint8_t *msg, size_t len)
{
    switch (kind) {
    case FAULTPROXY_STARTUP: st->typed = 1; break;
    case FAULTPROXY_SSL_REQUEST:
    case FAULTPROXY_GSS_REQUEST: st->answer_pending = 1; break;
    case FAULTPROXY_SSL_ANSWER:
        st->answer_pending = 0;
        /* 'S' (SSL) or 'G' (GSS) accepted: encrypted from here on. 'N': a StartupMessage (or
         * another request) follows, still untyped. */
        if (len >= 1 && (msg[0] == 'S' || msg[0] == 'G')) st->opaque = 1;
        break;
    case FAULTPROXY_COPY_BOTH: st->copy_both = 1; break;
    case FAULTPROXY_READY: st->copy_both = 0; break;
    default: break;
    }
    (void)dir;
}

/* ---------------------------------------------------------------------------------------- */

/* One direction of a relayed connection. */
typedef struct fp_side {
    buf in;              /* bytes read from the source, not yet framed */
    size_t in_off;       /* start of the unframed bytes in `in` */
    buf out;             /* bytes decided on, to be written to the destination */
    size_t out_off;      /* start of the unwritten bytes in `out` */
    int eof;             /* the source closed (or failed) */
    int held;            /* the head message was counted and is held by a stall */
    int64_t stall_until; /* monotonic us until which nothing is framed; 0: none */
    int64_t write_after; /* monotonic us before which nothing is written (CUT_LATE); 0 */
} fp_side;

typedef struct fp_conn {
    int id;                 /* from 1, in accept order */
    int fd[2];              /* fd[TO_SERVER] is the client's socket, fd[TO_CLIENT] the server's:
                               side d reads fd[d] and writes fd[!d]; -1 once closed */
    fp_side side[2];        /* indexed by faultproxy_dir */
    faultproxy_framing fr;
    int dying;              /* cut or ended: write what is queued, then close */
    int64_t dying_deadline; /* monotonic us after which a dying connection closes regardless */
    int broken;             /* a write failed: close now */
    struct fp_conn *next;
} fp_conn;

struct faultproxy {
    pthread_t thread;
    pthread_mutex_t mu;     /* guards everything below */
    int lfd;                /* listening socket */
    int wake[2];            /* the test thread writes a byte to wake the loop */
    int port;
    struct sockaddr_in server;
    int stop;

    fp_conn *conns;         /* open connections, oldest first */
    int accepted, open;
    buf *params;            /* params[id]: the connection's StartupMessage pairs "k\0v\0..." */
    size_t params_cap;

    int armed;              /* a rule is armed */
    faultproxy_rule rule;   /* its strings point into key and value */
    char *key, *value;
    long count;             /* messages counted for it */
    int fired;
    faultproxy_event fired_at;

    faultproxy_event *trace;
    size_t ntrace, trace_cap;
};

static void fp_wake(faultproxy *p)
{
    char c = 1;
    ssize_t w = write(p->wake[1], &c, 1);
    (void)w; /* the pipe is non-blocking: a full pipe already wakes the loop */
}

static int fp_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Does connection id have match_key = match_value among its startup parameters? */
static int fp_matches(const faultproxy *p, int id, const char *key, const char *value)
{
    if (!key) return 1;
    if ((size_t)id >= p->params_cap) return 0;
    const buf *b = &p->params[id];
    const char *s = (const char *)b->data, *end = s + b->len;
    while (s && s < end && *s) {
        const char *v = memchr(s, '\0', (size_t)(end - s));
        if (!v || v + 1 >= end) break;
        v++;
        const char *next = memchr(v, '\0', (size_t)(end - v));
        if (!next) break;
        if (!strcmp(s, key)) return !strcmp(v, value);
        s = next + 1;
    }
    return 0;
}

static void fp_keep_params(faultproxy *p, int id, const uint8_t *msg, size_t len)
{
    if ((size_t)id >= p->params_cap) {
        size_t cap = p->params_cap ? p->params_cap : 16;
        while (cap <= (size_t)id) cap *= 2;
        p->params = xrealloc(p->params, cap * sizeof *p->params);
        memset(p->params + p->params_cap, 0, (cap - p->params_cap) * sizeof *p->params);
        p->params_cap = cap;
    }
    buf_reset(&p->params[id]);
    if (len > 8) buf_append(&p->params[id], msg + 8, len - 8);
    buf_append(&p->params[id], "\0", 1); /* a truncated packet still ends its pairs */
}

static void fp_note_trace(faultproxy *p, int id, faultproxy_dir dir, faultproxy_kind kind)
{
    if (p->ntrace == p->trace_cap) {
        p->trace_cap = p->trace_cap ? p->trace_cap * 2 : 256;
        p->trace = xrealloc(p->trace, p->trace_cap * sizeof *p->trace);
    }
    p->trace[p->ntrace++] = (faultproxy_event){id, dir, kind};
}

/* Counts the message for the armed rule; returns 1 if the rule fires on it. */
static int fp_rule_hits(faultproxy *p, const fp_conn *c, faultproxy_dir dir, faultproxy_kind kind)
{
    const faultproxy_rule *r = &p->rule;
    if (!p->armed || p->fired || r->dir != dir) return 0;
    if (r->kind != FAULTPROXY_ANY && r->kind != kind) return 0;
    if (!fp_matches(p, c->id, r->match_key, r->match_value)) return 0;
    if (++p->count != r->n) return 0;
    p->fired = 1;
    p->fired_at = (faultproxy_event){c->id, dir, kind};
    return 1;
}

static void fp_die(fp_conn *c)
{
    if (c->dying) return;
    c->dying = 1;
    c->dying_deadline = util_mono_us() + FP_CLOSE_GRACE_US;
}

/* CUT_LATE: the client's socket goes now; what is queued for the server waits until `until`
 * (FP_STALL_HELD: until released). */
static void fp_cut_late(fp_conn *c, int64_t until)
{
    close(c->fd[FAULTPROXY_TO_SERVER]);
    c->fd[FAULTPROXY_TO_SERVER] = -1;
    buf_reset(&c->side[FAULTPROXY_TO_CLIENT].out);
    c->side[FAULTPROXY_TO_CLIENT].out_off = 0;
    c->side[FAULTPROXY_TO_SERVER].write_after = until;
    fp_die(c);
    c->dying_deadline = until == FP_STALL_HELD ? INT64_MAX : until + FP_CLOSE_GRACE_US;
}

static void fp_forward(fp_side *s, const uint8_t *p, size_t n)
{
    buf_append(&s->out, p, n);
}

/* Frames what direction dir has buffered and moves whole messages to its output, applying the
 * rule on the way. */
static void fp_frame_side(faultproxy *p, fp_conn *c, faultproxy_dir dir, int64_t now)
{
    fp_side *s = &c->side[dir];
    while (!c->dying) {
        if (s->stall_until) {
            if (now < s->stall_until) break;
            s->stall_until = 0;
        }
        size_t avail = s->in.len - s->in_off;
        if (avail == 0) break;
        const uint8_t *msg = s->in.data + s->in_off;
        faultproxy_kind kind = FAULTPROXY_OTHER;
        long m = c->fr.opaque ? -1 : faultproxy_frame(&c->fr, dir, msg, avail, &kind);
        if (m < 0) { /* unframed: relay the rest as it is */
            c->fr.opaque = 1;
            fp_forward(s, msg, avail);
            s->in_off += avail;
            break;
        }
        if (m == 0) {
            if (s->eof) { /* a partial message and then nothing: pass it on and end */
                fp_forward(s, msg, avail);
                s->in_off += avail;
            }
            break;
        }
        if (!s->held) {
            faultproxy_framing_note(&c->fr, dir, kind, msg, (size_t)m);
            if (dir == FAULTPROXY_TO_SERVER && kind == FAULTPROXY_STARTUP)
                fp_keep_params(p, c->id, msg, (size_t)m);
            fp_note_trace(p, c->id, dir, kind);
            if (fp_rule_hits(p, c, dir, kind)) {
                const faultproxy_rule *r = &p->rule;
                int64_t until = r->stall_ms == FAULTPROXY_UNTIL_RELEASED
                                    ? FP_STALL_HELD
                                    : now + (int64_t)r->stall_ms * 1000;
                if (r->when == FAULTPROXY_AFTER) {
                    fp_forward(s, msg, (size_t)m);
                    s->in_off += (size_t)m;
                }
                if (r->action == FAULTPROXY_CUT) {
                    fp_die(c);
                    break;
                }
                if (r->action == FAULTPROXY_CUT_LATE) {
                    fp_cut_late(c, until);
                    break;
                }
                s->held = r->when == FAULTPROXY_BEFORE;
                s->stall_until = until;
                continue;
            }
        }
        s->held = 0;
        fp_forward(s, msg, (size_t)m);
        s->in_off += (size_t)m;
    }
    if (s->in_off == s->in.len) {
        buf_reset(&s->in);
        s->in_off = 0;
    }
    /* The source has closed and everything it sent has gone through: end the connection. */
    if (s->eof && s->in.len == s->in_off && !s->stall_until) fp_die(c);
}

static void fp_read_side(fp_conn *c, faultproxy_dir dir)
{
    fp_side *s = &c->side[dir];
    for (;;) {
        if (s->in_off > 0 && s->in_off == s->in.len) {
            buf_reset(&s->in);
            s->in_off = 0;
        }
        uint8_t *dst = buf_reserve(&s->in, FP_READ_CHUNK);
        ssize_t n = recv(c->fd[dir], dst, FP_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            buf_commit(&s->in, (size_t)n);
            if (n < FP_READ_CHUNK) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        s->eof = 1; /* 0: closed; other errors (a reset): the same for the relay */
        return;
    }
}

static void fp_write_side(fp_conn *c, faultproxy_dir dir, int64_t now)
{
    fp_side *s = &c->side[dir];
    if (c->fd[!dir] < 0) { /* its destination is gone (CUT_LATE) */
        buf_reset(&s->out);
        s->out_off = 0;
        return;
    }
    if (now < s->write_after) return;
    while (s->out_off < s->out.len) {
        ssize_t n = send(c->fd[!dir], s->out.data + s->out_off, s->out.len - s->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            s->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        c->broken = 1;
        return;
    }
    buf_reset(&s->out);
    s->out_off = 0;
}

static void fp_conn_free(fp_conn *c)
{
    for (int d = 0; d < 2; d++) {
        if (c->fd[d] >= 0) close(c->fd[d]);
        buf_free(&c->side[d].in);
        buf_free(&c->side[d].out);
    }
    free(c);
}

static int fp_pending_out(const fp_conn *c)
{
    return c->side[0].out_off < c->side[0].out.len || c->side[1].out_off < c->side[1].out.len;
}

/* Accepts one connection and connects it to the server. */
static void fp_accept(faultproxy *p)
{
    int cfd = accept(p->lfd, NULL, NULL);
    if (cfd < 0) return;
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    if (sfd < 0 || connect(sfd, (const struct sockaddr *)&p->server, sizeof p->server) != 0) {
        if (sfd >= 0) close(sfd);
        close(cfd);
        return;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fp_nonblock(cfd);
    fp_nonblock(sfd);
    fp_conn *c = xcalloc(1, sizeof *c);
    c->id = ++p->accepted;
    c->fd[FAULTPROXY_TO_SERVER] = cfd;
    c->fd[FAULTPROXY_TO_CLIENT] = sfd;
    fp_keep_params(p, c->id, NULL, 0);
    fp_conn **tail = &p->conns;
    while (*tail) tail = &(*tail)->next;
    *tail = c;
    p->open++;
}

static void *fp_main(void *arg)
{
    faultproxy *p = arg;
    struct pollfd *pfd = NULL;
    size_t pcap = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        size_t need = 2 + 2 * (size_t)p->open;
        if (need > pcap) {
            pcap = need * 2;
            pfd = xrealloc(pfd, pcap * sizeof *pfd);
        }
        pfd[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        size_t n = 2;
        int64_t now = util_mono_us(), next = INT64_MAX;
        for (fp_conn *c = p->conns; c; c = c->next, n += 2) {
            for (int d = 0; d < 2; d++) {
                /* fd[d] is read by side d and written by side !d. */
                short ev = 0;
                if (!c->dying && !c->side[d].eof) ev |= POLLIN;
                if (c->side[!d].out_off < c->side[!d].out.len && now >= c->side[!d].write_after)
                    ev |= POLLOUT;
                pfd[n + (size_t)d] = (struct pollfd){.fd = ev ? c->fd[d] : -1, .events = ev};
                int64_t until = c->side[d].stall_until;
                if (until && until != FP_STALL_HELD && until < next) next = until;
                if (c->side[d].write_after > now && c->side[d].write_after < next)
                    next = c->side[d].write_after;
            }
            if (c->dying && c->dying_deadline < next) next = c->dying_deadline;
        }
        int timeout = next == INT64_MAX ? 1000
                      : next <= now    ? 0
                                       : (int)((next - now + 999) / 1000);
        if (timeout > 1000) timeout = 1000;
        pthread_mutex_unlock(&p->mu);
        int rc = poll(pfd, n, timeout);
        pthread_mutex_lock(&p->mu);
        if (rc < 0 && errno != EINTR) break;
        if (pfd[0].revents) {
            char drain[64];
            while (read(p->wake[0], drain, sizeof drain) > 0) {
            }
        }
        now = util_mono_us();
        size_t i = 2;
        for (fp_conn **pc = &p->conns; *pc; i += 2) {
            fp_conn *c = *pc;
            for (int d = 0; d < 2; d++)
                if (rc > 0 && (pfd[i + (size_t)d].revents & (POLLIN | POLLHUP | POLLERR)) &&
                    !c->dying)
                    fp_read_side(c, (faultproxy_dir)d);
            for (int d = 0; d < 2; d++) fp_frame_side(p, c, (faultproxy_dir)d, now);
            for (int d = 0; d < 2; d++) fp_write_side(c, (faultproxy_dir)d, now);
            if (c->broken || (c->dying && (!fp_pending_out(c) || now >= c->dying_deadline))) {
                *pc = c->next;
                fp_conn_free(c);
                p->open--;
            } else {
                pc = &c->next;
            }
        }
        if (rc > 0 && (pfd[1].revents & POLLIN)) fp_accept(p);
    }
    pthread_mutex_unlock(&p->mu);
    free(pfd);
    return NULL;
}

faultproxy *faultproxy_start(const char *host, int port, char *err, size_t errlen)
{
    faultproxy *p = xcalloc(1, sizeof *p);
    p->lfd = p->wake[0] = p->wake[1] = -1;
    p->server.sin_family = AF_INET;
    p->server.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &p->server.sin_addr) != 1) {
        util_err(err, errlen, "faultproxy: not a numeric IPv4 address: %s", host);
        goto failed;
    }
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(p->lfd, 64) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        fp_nonblock(p->lfd) != 0 || pipe(p->wake) != 0 || fp_nonblock(p->wake[0]) != 0 ||
        fp_nonblock(p->wake[1]) != 0) {
        util_err(err, errlen, "faultproxy: cannot listen: %s", strerror(errno));
        goto failed;
    }
    p->port = ntohs(a.sin_port);
    pthread_mutex_init(&p->mu, NULL);
    if (pthread_create(&p->thread, NULL, fp_main, p) != 0) {
        util_err(err, errlen, "faultproxy: cannot start its thread");
        pthread_mutex_destroy(&p->mu);
        goto failed;
    }
    return p;
failed:
    if (p->lfd >= 0) close(p->lfd);
    if (p->wake[0] >= 0) close(p->wake[0]);
    if (p->wake[1] >= 0) close(p->wake[1]);
    free(p);
    return NULL;
}

void faultproxy_stop(faultproxy *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    fp_wake(p);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    while (p->conns) {
        fp_conn *c = p->conns;
        p->conns = c->next;
        fp_conn_free(c);
    }
    for (size_t i = 0; i < p->params_cap; i++) buf_free(&p->params[i]);
    free(p->params);
    free(p->key);
    free(p->value);
    free(p->trace);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p);
}

int faultproxy_port(const faultproxy *p)
{
    return p->port;
}

/* Ends every stall held until released. Called with the mutex held. */
static void fp_release_held(faultproxy *p)
{
    for (fp_conn *c = p->conns; c; c = c->next)
        for (int d = 0; d < 2; d++) {
            if (c->side[d].stall_until == FP_STALL_HELD) c->side[d].stall_until = 1;
            if (c->side[d].write_after == FP_STALL_HELD) c->side[d].write_after = 1;
        }
}

void faultproxy_arm(faultproxy *p, const faultproxy_rule *rule)
{
    pthread_mutex_lock(&p->mu);
    free(p->key);
    free(p->value);
    p->key = p->value = NULL;
    p->armed = rule != NULL;
    p->count = 0;
    p->fired = 0;
    memset(&p->fired_at, 0, sizeof p->fired_at);
    if (rule) {
        p->rule = *rule;
        p->key = rule->match_key ? xstrdup(rule->match_key) : NULL;
        p->value = xstrdup(rule->match_value ? rule->match_value : "");
        p->rule.match_key = p->key;
        p->rule.match_value = p->value;
    }
    fp_release_held(p);
    fp_wake(p);
    pthread_mutex_unlock(&p->mu);
}

int faultproxy_fired(faultproxy *p, faultproxy_event *at)
{
    pthread_mutex_lock(&p->mu);
    int fired = p->armed && p->fired;
    if (fired && at) *at = p->fired_at;
    pthread_mutex_unlock(&p->mu);
    return fired;
}

void faultproxy_release(faultproxy *p)
{
    pthread_mutex_lock(&p->mu);
    fp_release_held(p);
    fp_wake(p);
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_trace_reset(faultproxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->ntrace = 0;
    pthread_mutex_unlock(&p->mu);
}

faultproxy_event *faultproxy_trace(faultproxy *p, const char *match_key, const char *match_value,
                                   size_t *n)
{
    pthread_mutex_lock(&p->mu);
    faultproxy_event *out = xmalloc((p->ntrace ? p->ntrace : 1) * sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < p->ntrace; i++)
        if (fp_matches(p, p->trace[i].conn, match_key, match_value ? match_value : ""))
            out[k++] = p->trace[i];
    pthread_mutex_unlock(&p->mu);
    *n = k;
    return out;
}

long faultproxy_ordinal(const faultproxy_event *ev, size_t i)
{
    long k = 0;
    for (size_t j = 0; j <= i; j++) k += ev[j].dir == ev[i].dir;
    return k;
}

void faultproxy_counts(faultproxy *p, int *accepted, int *open)
{
    pthread_mutex_lock(&p->mu);
    if (accepted) *accepted = p->accepted;
    if (open) *open = p->open;
    pthread_mutex_unlock(&p->mu);
}
