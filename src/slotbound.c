/* slotbound: a slot's distance to max_slot_wal_keep_size, as a level and a sentence. */
#include "slotbound.h"

#include <stdio.h>
#include <string.h>

/* n bytes in MB with one decimal. */
static double slotbound_mb(int64_t n)
{
    return (double)n / (1024.0 * 1024.0);
}

slotbound_level slotbound_assess(const slotbound_slot *s, double *left, char *msg, size_t len)
{
    *left = -1;
    if (len) msg[0] = '\0';
    if (!s->wal_status) {
        snprintf(msg, len,
                 "its replication slot is missing: when it next runs the consumer "
                 "reads what it missed from the table (docs/streaming.md)");
        return SLOTBOUND_MISSING;
    }
    if (!strcmp(s->wal_status, "lost")) {
        *left = 0;
        snprintf(msg, len,
                 "its replication slot was invalidated (wal_status lost: it held more "
                 "WAL than max_slot_wal_keep_size allows): when it next runs the "
                 "consumer reads what it missed from the table");
        return SLOTBOUND_LOST;
    }
    int bounded = s->max_bytes > 0 && s->has_safe;
    /* safe_wal_size turns negative once the slot is past the bound. */
    if (!strcmp(s->wal_status, "unreserved") || (bounded && s->safe_wal_bytes < 0)) {
        *left = 0;
        snprintf(msg, len,
                 "its replication slot holds more WAL than max_slot_wal_keep_size "
                 "(%.1f MB) allows (wal_status %s): the next checkpoint invalidates it",
                 slotbound_mb(s->max_bytes), s->wal_status);
        return SLOTBOUND_UNRESERVED;
    }
    if (bounded) {
        *left = (double)s->safe_wal_bytes / (double)s->max_bytes;
        if (*left > 1) *left = 1;
    }
    if (*left >= 0 && *left < SLOTBOUND_NEAR_FRACTION) {
        snprintf(msg, len,
                 "its replication slot is near max_slot_wal_keep_size: %.1f MB of "
                 "%.1f MB (%.0f %%) left before the server invalidates it",
                 slotbound_mb(s->safe_wal_bytes), slotbound_mb(s->max_bytes), *left * 100);
        return SLOTBOUND_NEAR;
    }
    return SLOTBOUND_OK;
}
