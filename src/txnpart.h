/* txnpart: which rows of one transaction a consumer has applied, when it applies a transaction
 * too large for one batch in parts. The stream gives them in the transaction's own order; what
 * was applied must be described in terms of the table (robot_id, ts — a reading's identity) so
 * that, if the slot is lost before the transaction is complete, its other rows can be read from
 * the table exactly (docs/streaming.md).
 *
 * Per robot it keeps `last`, the latest ts applied, and a list `skip` of the transaction's rows at
 * or before their robot's last that are not applied yet. A row (robot, ts) of the transaction is
 * applied iff its robot has a last, ts <= last, and (robot, ts) is not in skip. Rows in time order
 * per robot (what the loader and the simulator write) leave skip empty; any order stays exact.
 *
 * Each part is recorded in two steps: txnpart_ranges says which of the transaction's rows the
 * caller must look up in the table (per robot: ts in (old last, new last]), and txnpart_advance
 * takes the part and what the lookup found. Pure: no I/O. */
#ifndef PGPULSE_TXNPART_H
#define PGPULSE_TXNPART_H

#include <stddef.h>
#include <stdint.h>

#include "readingcsv.h"

typedef struct txnpart_robot {
    int32_t robot;
    int64_t last; /* latest ts applied (µs since 1970) */
} txnpart_robot;

typedef struct txnpart_key {
    int32_t robot;
    int64_t ts;
} txnpart_key;

typedef struct txnpart {
    txnpart_robot *robots; /* sorted by robot */
    size_t nrobots, robots_cap;
    txnpart_key *skip; /* sorted by (robot, ts) */
    size_t nskip, skip_cap;
} txnpart;

/* Rows of the transaction to look up for one robot: lo < ts <= hi (has_lo 0: ts <= hi). */
typedef struct txnpart_range {
    int32_t robot;
    int has_lo;
    int64_t lo, hi;
} txnpart_range;

/* The ranges to look up before recording the part rows[0..n) (the transaction's rows, in the
 * order applied): one per robot whose last would move. Returns their count and a newly allocated
 * array in *out (NULL when 0; the caller frees it). */
size_t txnpart_ranges(const txnpart *p, const reading *rows, size_t n, txnpart_range **out);

/* Records the part rows[0..n) as applied. found[0..nfound) are the transaction's rows the
 * lookup of txnpart_ranges returned (any order; rows outside the ranges are ignored). */
void txnpart_advance(txnpart *p, const reading *rows, size_t n, const txnpart_key *found,
                     size_t nfound);

/* True if the transaction's row (robot, ts) is applied. */
int txnpart_applied(const txnpart *p, int32_t robot, int64_t ts);

/* Adds a robot's last, or a skipped row, as read back from a checkpoint (any order; call
 * txnpart_sort after the last one). */
void txnpart_put_robot(txnpart *p, int32_t robot, int64_t last);
void txnpart_put_skip(txnpart *p, int32_t robot, int64_t ts);
void txnpart_sort(txnpart *p);

void txnpart_copy(txnpart *dst, const txnpart *src);

/* Forgets everything (storage kept). */
void txnpart_clear(txnpart *p);

/* Releases the storage. NULL-safe. */
void txnpart_free(txnpart *p);

#endif
