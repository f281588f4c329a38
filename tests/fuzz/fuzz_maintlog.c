/* libFuzzer target: maintlog_line over every line of the input, as a file would be read (the
 * first line a CSV header, or JSON lines), then the same lines again under a fixed CSV header.
 * Each line is passed from an exact-size heap copy. Accepted orders must keep the module's
 * promises; rejects must say why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maintlog.h"
#include "tstamp.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, const maintlog_order *o, const char *reason, size_t reasonlen)
{
    if (rc == MAINTLOG_REJECT || rc == MAINTLOG_BADHEADER) {
        if (reason[0] == '\0' || !memchr(reason, '\0', reasonlen)) abort();
        return;
    }
    if (rc == MAINTLOG_SKIP) return;
    if (rc != MAINTLOG_ORDER) abort();
    if (o->robot_id < 1 || o->axis < 0 || o->axis > 8) abort();
    if (o->kind < MAINTLOG_FAILURE || o->kind > MAINTLOG_REPLACEMENT) abort();
    if (o->start_us < TSTAMP_MIN_US || o->start_us > TSTAMP_MAX_US) abort();
    if (o->end_us < o->start_us || o->end_us > TSTAMP_MAX_US) abort();
    if (!o->has_end && o->end_us != o->start_us) abort();
    if (o->order_len < 1 || o->order_len > MAINTLOG_ORDER_MAX) abort();
    if (!utf8_valid(o->order, o->order_len)) abort();
    if (o->text_len && !utf8_valid(o->text, o->text_len)) abort();
}

static void run(maintlog *p, const uint8_t *data, size_t size)
{
    size_t start = 0;
    uint64_t line_no = 1;
    while (start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
        char *line = malloc(len ? len : 1);
        if (!line) return;
        memcpy(line, data + start, len);
        maintlog_order o;
        char reason[256];
        check(maintlog_line(p, line, len, line_no++, &o, reason, sizeof reason), &o, reason,
              sizeof reason);
        free(line);
        if (!nl) break;
        start += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    maintlog *p = maintlog_new();
    run(p, data, size);
    maintlog_free(p);

    p = maintlog_new();
    static const char header[] = "robot,start,end,kind,text,work_order,axis";
    maintlog_order o;
    char reason[256];
    if (maintlog_line(p, header, sizeof header - 1, 1, &o, reason, sizeof reason) != MAINTLOG_SKIP)
        abort();
    run(p, data, size);
    maintlog_free(p);
    return 0;
}
