/* sse: one hub of Server-Sent Events, a bounded ring of framed events that every client reads
 * by sequence number (see sse.h). Publishing frames an event once; a client copies bytes out of
 * the ring under the hub's mutex and keeps only its next sequence number (and, for an event
 * larger than what one read may write, that event's bytes until they are sent). */
#include "sse.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "util.h"

typedef struct sse_event {
    uint64_t seq;
    char *text; /* "id: ...\nevent: ...\ndata: ...\n\n" */
    size_t len;
} sse_event;

struct sse_hub {
    pthread_mutex_t mu;
    char boot[9];                    /* 8 hex digits, NUL */
    sse_event ring[SSE_RING_EVENTS]; /* seq s lives in ring[s % SSE_RING_EVENTS] */
    uint64_t oldest;                 /* oldest seq held (newest + 1 when empty) */
    uint64_t newest;                 /* 0: none published yet */
    size_t bytes;                    /* text bytes held */
    int clients;
    void (*wake)(void *);
    void *wake_arg;
};

struct sse_client {
    sse_hub *hub;
    uint64_t next; /* the next seq to send */
    buf pend;      /* bytes to send before the ring's (hello, reset, a large event's rest) */
    size_t pend_off;
};

sse_hub *sse_hub_new(void (*wake)(void *), void *wake_arg)
{
    sse_hub *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)h;
    snprintf(h->boot, sizeof h->boot, "%08" PRIx32, r);
    h->oldest = 1;
    h->wake = wake;
    h->wake_arg = wake_arg;
    return h;
}

void sse_hub_set_wake(sse_hub *h, void (*wake)(void *), void *wake_arg)
{
    pthread_mutex_lock(&h->mu);
    h->wake = wake;
    h->wake_arg = wake_arg;
    pthread_mutex_unlock(&h->mu);
}

void sse_hub_free(sse_hub *h)
{
    if (!h) return;
    for (uint64_t s = h->oldest; s <= h->newest && h->newest; s++) free(h->ring[s % SSE_RING_EVENTS].text);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Drops the oldest event (mutex held). */
static void sse_evict(sse_hub *h)
{
    sse_event *e = &h->ring[h->oldest % SSE_RING_EVENTS];
    h->bytes -= e->len;
    free(e->text);
    e->text = NULL;
    h->oldest++;
}

uint64_t sse_publish(sse_hub *h, const char *type, const char *data, size_t len)
{
    buf b = {0};
    pthread_mutex_lock(&h->mu);
    uint64_t seq = h->newest + 1;
    buf_printf(&b, "id: %s-%" PRIu64 "\nevent: %s\ndata: ", h->boot, seq, type);
    buf_append(&b, data, len);
    buf_append(&b, "\n\n", 2);
    while (h->newest && h->oldest <= h->newest &&
           (h->newest - h->oldest + 1 >= SSE_RING_EVENTS || h->bytes + b.len > SSE_RING_BYTES))
        sse_evict(h);
    sse_event *e = &h->ring[seq % SSE_RING_EVENTS];
    e->seq = seq;
    e->text = (char *)b.data; /* the ring owns the bytes now */
    e->len = b.len;
    h->bytes += b.len;
    h->newest = seq;
    void (*wake)(void *) = h->wake;
    void *arg = h->wake_arg;
    pthread_mutex_unlock(&h->mu);
    if (wake) wake(arg);
    return seq;
}

/* Queues a `reset` and moves the client past everything held (mutex held). */
static void sse_client_reset(sse_client *c)
{
    buf_printf(&c->pend, "event: reset\ndata: {}\n\n");
    c->next = c->hub->newest + 1;
}

sse_client *sse_client_new(sse_hub *h, const char *last_event_id)
{
    sse_client *c = xcalloc(1, sizeof *c);
    c->hub = h;
    pthread_mutex_lock(&h->mu);
    h->clients++;
    if (!last_event_id || !*last_event_id) {
        c->next = h->newest + 1;
        buf_printf(&c->pend, "event: hello\ndata: {\"boot\":\"%s\",\"newest\":\"%s-%" PRIu64 "\"}\n\n",
                   h->boot, h->boot, h->newest);
    } else {
        /* "<boot>-<seq>": of this boot, and still held (or the newest, with nothing missed). */
        const char *dash = strchr(last_event_id, '-');
        char *end = NULL;
        unsigned long long seq = 0;
        int ok = dash && (size_t)(dash - last_event_id) == strlen(h->boot) &&
                 strncmp(last_event_id, h->boot, strlen(h->boot)) == 0 && dash[1] >= '0' && dash[1] <= '9';
        if (ok) seq = strtoull(dash + 1, &end, 10);
        ok = ok && end && *end == '\0' && seq <= h->newest && seq + 1 >= h->oldest;
        if (ok)
            c->next = (uint64_t)seq + 1;
        else
            sse_client_reset(c);
    }
    pthread_mutex_unlock(&h->mu);
    return c;
}

ssize_t sse_client_read(void *client, char *out, size_t max)
{
    sse_client *c = client;
    sse_hub *h = c->hub;
    size_t n = 0;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        if (c->pend_off < c->pend.len) {
            size_t k = c->pend.len - c->pend_off;
            if (k > max - n) k = max - n;
            memcpy(out + n, c->pend.data + c->pend_off, k);
            n += k;
            c->pend_off += k;
            if (c->pend_off < c->pend.len) break; /* out is full */
            c->pend.len = 0;
            c->pend_off = 0;
        }
        if (c->next > h->newest) break; /* nothing more yet */
        if (c->next < h->oldest) {      /* it fell behind the ring */
            sse_client_reset(c);
            continue;
        }
        const sse_event *e = &h->ring[c->next % SSE_RING_EVENTS];
        if (e->len <= max - n) {
            memcpy(out + n, e->text, e->len);
            n += e->len;
            c->next++;
        } else if (n == 0) {
            /* Larger than one read may write: keep its bytes and send them in pieces. */
            buf_append(&c->pend, e->text, e->len);
            c->next++;
        } else {
            break; /* next call */
        }
        if (n == max) break;
    }
    pthread_mutex_unlock(&h->mu);
    return (ssize_t)n;
}

void sse_client_free(void *client)
{
    sse_client *c = client;
    if (!c) return;
    pthread_mutex_lock(&c->hub->mu);
    c->hub->clients--;
    pthread_mutex_unlock(&c->hub->mu);
    buf_free(&c->pend);
    free(c);
}

void sse_hub_counts(sse_hub *h, int *clients, uint64_t *newest)
{
    pthread_mutex_lock(&h->mu);
    if (clients) *clients = h->clients;
    if (newest) *newest = h->newest;
    pthread_mutex_unlock(&h->mu);
}
