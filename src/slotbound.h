/* slotbound: how close a replication slot is to the server's bound on the WAL it may hold
 * (max_slot_wal_keep_size), in the words `pgpulse status` prints. A slot past the bound is
 * invalidated at the next checkpoint (wal_status 'lost'); its consumer then recovers by reading
 * what it missed from the table (docs/streaming.md). Pure: no I/O. */
#ifndef PGPULSE_SLOTBOUND_H
#define PGPULSE_SLOTBOUND_H

#include <stddef.h>
#include <stdint.h>

#define SLOTBOUND_NEAR_FRACTION 0.2 /* warn when less than this share of the bound is left */

typedef enum slotbound_level {
    SLOTBOUND_OK = 0,     /* no bound, or plenty left */
    SLOTBOUND_NEAR,       /* less than SLOTBOUND_NEAR_FRACTION of the bound left */
    SLOTBOUND_UNRESERVED, /* past the bound: lost at the next checkpoint */
    SLOTBOUND_LOST,       /* invalidated */
    SLOTBOUND_MISSING     /* the consumer's slot does not exist */
} slotbound_level;

/* A slot as pg_replication_slots and pg_settings describe it. */
typedef struct slotbound_slot {
    const char *wal_status; /* reserved, extended, unreserved, lost; NULL: no slot */
    int has_safe;           /* safe_wal_size is not NULL */
    int64_t safe_wal_bytes; /* safe_wal_size: WAL that may still be written (< 0 past the bound) */
    int64_t max_bytes;      /* max_slot_wal_keep_size in bytes; -1: unbounded */
} slotbound_slot;

/* Assesses a slot. Writes into msg a warning sentence (empty for SLOTBOUND_OK) and into *left
 * the share of the bound still free (0..1; -1 when unknown or unbounded). Returns the level. */
slotbound_level slotbound_assess(const slotbound_slot *s, double *left, char *msg, size_t len);

#endif
