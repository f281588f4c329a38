/* Unit tests for sse: framing, hello, replay from Last-Event-ID, reset for an id the hub no
 * longer holds (evicted, another boot, malformed), a client that falls behind the ring, the
 * byte bound, an event larger than one read, and publishers and readers on several threads
 * (every reader sees every sequence number once, in order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sse.h"

static int wakes;
static void count_wake(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&wakes, 1, __ATOMIC_RELAXED);
}

/* Everything the client has to read now, NUL-terminated (caller frees). */
static char *drain(sse_client *c, size_t chunk)
{
    size_t cap = 1 << 16, n = 0;
    char *all = malloc(cap + 1);
    char *tmp = malloc(chunk);
    for (;;) {
        ssize_t k = sse_client_read(c, tmp, chunk);
        assert_true(k >= 0);
        if (k == 0) break;
        while (n + (size_t)k > cap) all = realloc(all, (cap *= 2) + 1);
        memcpy(all + n, tmp, (size_t)k);
        n += (size_t)k;
    }
    all[n] = '\0';
    free(tmp);
    return all;
}

static void boot_of(sse_hub *h, char *boot)
{
    sse_client *c = sse_client_new(h, NULL);
    char *s = drain(c, 4096);
    const char *b = strstr(s, "\"boot\":\"");
    assert_non_null(b);
    memcpy(boot, b + 8, 8);
    boot[8] = '\0';
    free(s);
    sse_client_free(c);
}

static void test_framing_hello_and_replay(void **st)
{
    (void)st;
    wakes = 0;
    sse_hub *h = sse_hub_new(count_wake, NULL);
    char boot[9];
    boot_of(h, boot);
    sse_client *c = sse_client_new(h, NULL);
    char *s = drain(c, 4096);
    char want[256];
    snprintf(want, sizeof want, "event: hello\ndata: {\"boot\":\"%s\",\"newest\":\"%s-0\"}\n\n", boot, boot);
    assert_string_equal(s, want);
    free(s);
    assert_int_equal(sse_publish(h, "fleet", "{\"a\":1}", 7), 1);
    assert_int_equal(sse_publish(h, "anomaly", "{\"b\":2}", 7), 2);
    assert_int_equal(wakes, 2);
    s = drain(c, 4096);
    snprintf(want, sizeof want, "id: %s-1\nevent: fleet\ndata: {\"a\":1}\n\nid: %s-2\nevent: anomaly\ndata: {\"b\":2}\n\n", boot, boot);
    assert_string_equal(s, want);
    free(s);
    /* Reconnecting after id 1 replays 2 only. */
    char id[32];
    snprintf(id, sizeof id, "%s-1", boot);
    sse_client *r = sse_client_new(h, id);
    s = drain(r, 4096);
    snprintf(want, sizeof want, "id: %s-2\nevent: anomaly\ndata: {\"b\":2}\n\n", boot);
    assert_string_equal(s, want);
    free(s);
    int clients;
    uint64_t newest;
    sse_hub_counts(h, &clients, &newest);
    assert_int_equal(clients, 2);
    assert_int_equal(newest, 2);
    sse_client_free(r);
    sse_client_free(c);
    sse_hub_counts(h, &clients, NULL);
    assert_int_equal(clients, 0);
    sse_hub_free(h);
}

static void test_reset_for_ids_not_held(void **st)
{
    (void)st;
    sse_hub *h = sse_hub_new(NULL, NULL);
    char boot[9], id[64];
    boot_of(h, boot);
    for (int i = 0; i < SSE_RING_EVENTS + 10; i++) sse_publish(h, "x", "{}", 2);
    const char *bad[] = {"deadbeef-5", "nonsense", "-3", "", NULL};
    snprintf(id, sizeof id, "%s-3", boot); /* evicted */
    bad[3] = id;
    for (int i = 0; i < 4; i++) {
        sse_client *c = sse_client_new(h, bad[i]);
        char *s = drain(c, 4096);
        assert_string_equal(s, "event: reset\ndata: {}\n\n");
        free(s);
        sse_publish(h, "y", "{}", 2); /* then what comes next */
        s = drain(c, 4096);
        assert_non_null(strstr(s, "event: y"));
        free(s);
        sse_client_free(c);
    }
    /* A future id of this boot is not held either. */
    snprintf(id, sizeof id, "%s-999999", boot);
    sse_client *c = sse_client_new(h, id);
    char *s = drain(c, 4096);
    assert_string_equal(s, "event: reset\ndata: {}\n\n");
    free(s);
    sse_client_free(c);
    sse_hub_free(h);
}

static void test_lagging_client_and_byte_bound(void **st)
{
    (void)st;
    sse_hub *h = sse_hub_new(NULL, NULL);
    sse_client *slow = sse_client_new(h, NULL);
    free(drain(slow, 4096));
    for (int i = 0; i < SSE_RING_EVENTS * 2; i++) sse_publish(h, "x", "{}", 2);
    char *s = drain(slow, 1 << 20);
    assert_true(strncmp(s, "event: reset\ndata: {}\n\n", 23) == 0);
    assert_null(strstr(s + 23, "event: x")); /* moved past what it missed */
    free(s);
    sse_client_free(slow);
    /* Large events: the ring keeps at most SSE_RING_BYTES. */
    size_t big = 1 << 20;
    char *data = malloc(big);
    memset(data, 'a', big);
    sse_client *c = sse_client_new(h, NULL);
    free(drain(c, 4096));
    for (int i = 0; i < 20; i++) sse_publish(h, "big", data, big);
    s = drain(c, 1000); /* more than one read per event */
    /* The first events were evicted before it read: a reset, then the newest ones whole. */
    assert_true(strncmp(s, "event: reset", 12) == 0);
    free(s);
    sse_publish(h, "big", data, big);
    s = drain(c, 1000);
    assert_true(strlen(s) > big);
    assert_non_null(strstr(s, "event: big\ndata: aaaa"));
    assert_true(s[strlen(s) - 1] == '\n' && s[strlen(s) - 2] == '\n');
    free(s);
    free(data);
    sse_client_free(c);
    sse_hub_free(h);
}

#define PUBLISHERS 4
#define PER_PUBLISHER 2000
#define READERS 50

static sse_hub *mt_hub;
static int mt_done;

static void *mt_publish(void *arg)
{
    char d[32];
    for (int i = 0; i < PER_PUBLISHER; i++) {
        int n = snprintf(d, sizeof d, "{\"p\":%d,\"i\":%d}", (int)(intptr_t)arg, i);
        sse_publish(mt_hub, "m", d, (size_t)n);
    }
    return NULL;
}

static int mt_errors; /* broken order seen by a reader (cmocka asserts only on the main thread) */

/* Reads until the publishers are done: every id is the one after the previous, except after a
 * reset (a reader starved for longer than the ring holds is moved on, by design). Returns the
 * ids seen. */
static void *mt_read(void *arg)
{
    (void)arg;
    sse_client *c = sse_client_new(mt_hub, NULL);
    char *out = malloc(8192);
    uint64_t last = 0;
    long got = 0;
    for (;;) {
        int done = __atomic_load_n(&mt_done, __ATOMIC_ACQUIRE);
        ssize_t k = sse_client_read(c, out, 8191);
        if (k == 0 && done) break;
        if (k == 0) sched_yield();
        out[k] = '\0';
        for (char *p = out; *p; ) {
            if (strncmp(p, "event: reset", 12) == 0) last = 0;
            if (strncmp(p, "id: ", 4) == 0) {
                uint64_t seq = strtoull(strchr(p, '-') + 1, NULL, 10);
                if (last && seq != last + 1) __atomic_add_fetch(&mt_errors, 1, __ATOMIC_RELAXED);
                last = seq;
                got++;
            }
            char *nl = strchr(p, '\n');
            if (!nl) break;
            p = nl + 1;
        }
    }
    free(out);
    sse_client_free(c);
    return (void *)got;
}

static void test_threads(void **st)
{
    (void)st;
    mt_hub = sse_hub_new(NULL, NULL);
    mt_done = 0;
    mt_errors = 0;
    pthread_t p[PUBLISHERS], r[READERS];
    for (int i = 0; i < READERS; i++) pthread_create(&r[i], NULL, mt_read, NULL);
    for (int i = 0; i < PUBLISHERS; i++) pthread_create(&p[i], NULL, mt_publish, (void *)(intptr_t)i);
    for (int i = 0; i < PUBLISHERS; i++) pthread_join(p[i], NULL);
    __atomic_store_n(&mt_done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++) {
        void *got;
        pthread_join(r[i], &got);
        assert_true((long)got <= PUBLISHERS * PER_PUBLISHER);
    }
    assert_int_equal(mt_errors, 0);
    uint64_t newest;
    sse_hub_counts(mt_hub, NULL, &newest);
    assert_int_equal(newest, PUBLISHERS * PER_PUBLISHER);
    sse_hub_free(mt_hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_hello_and_replay),
        cmocka_unit_test(test_reset_for_ids_not_held),
        cmocka_unit_test(test_lagging_client_and_byte_bound),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
