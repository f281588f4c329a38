/* xidset: sets of transaction ids, as a stream consumer keeps them to know which transactions it
 * has applied in terms that survive its replication slot (docs/streaming.md, "A lost slot").
 *
 * A snapshot (PostgreSQL's pg_snapshot, text "xmin:xmax:xip,xip,...") divides the 64-bit
 * transaction ids into those that had ended when it was taken (below xmin, or below xmax and not
 * listed in xip) and the rest. A consumer's *accounted* set is the union of one such snapshot (the
 * "covered" one) and a short sorted list of ids applied since (the "applied" list). Pure: no I/O,
 * no libpq. */
#ifndef PGPULSE_XIDSET_H
#define PGPULSE_XIDSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A snapshot in 64-bit ids (epoch included). */
typedef struct xidset_snap {
    uint64_t xmin; /* every id below has ended */
    uint64_t xmax; /* no id from here on had ended */
    uint64_t *xip; /* ids in [xmin, xmax) that had not ended: ascending, no duplicates */
    size_t nxip;
} xidset_snap;

/* A sorted list of 64-bit ids without duplicates. */
typedef struct xidset_list {
    uint64_t *v;
    size_t n, cap;
} xidset_list;

/* Parses pg_snapshot text ("10:20:12,15"; xip may be empty, "10:10:"), strictly: decimal ids,
 * each xip in [xmin, xmax). xip is sorted and deduplicated. xmin above xmax (a slot's exported
 * snapshot can be so) means what PostgreSQL's visibility test makes of it, every id below xmin
 * ended and no other: it is kept as xmin:xmin: with no xip. Returns 0 and fills
 * *out (free with xidset_snap_free), or -1 with a message naming the bad part (*out is then
 * empty). */
int xidset_snap_parse(const char *text, xidset_snap *out, char *err, size_t errlen);

/* Appends the snapshot's text form (as pg_snapshot prints it, no terminator). */
void xidset_snap_format(const xidset_snap *s, buf *out);

/* Appends xip as a PostgreSQL array literal ("{12,15}", "{}"; no terminator). */
void xidset_snap_format_xip(const xidset_snap *s, buf *out);

/* True if the transaction had ended when the snapshot was taken (for a snapshot exported by a
 * new replication slot: it had committed, or aborted, before the slot's consistent point). */
int xidset_snap_ended(const xidset_snap *s, uint64_t xid);

/* Deep copy into dst (whose old contents are freed). */
void xidset_snap_copy(xidset_snap *dst, const xidset_snap *src);

/* Releases xip; the snapshot is empty (0:0:) afterwards. NULL-safe. */
void xidset_snap_free(xidset_snap *s);

/* The 64-bit id whose low 32 bits are xid and which is closest to ref (within 2^31 either way;
 * never below 0). pgoutput's Begin carries 32-bit ids: ref is a recent 64-bit id, e.g. the
 * covered snapshot's xmax. */
uint64_t xidset_widen(uint32_t xid, uint64_t ref);

/* Adds an id (no-op if present). */
void xidset_list_add(xidset_list *l, uint64_t xid);

/* True if the id is in the list. */
int xidset_list_has(const xidset_list *l, uint64_t xid);

/* Adds every id of src. */
void xidset_list_merge(xidset_list *l, const xidset_list *src);

/* Removes every id the snapshot shows as ended. */
void xidset_list_drop_ended(xidset_list *l, const xidset_snap *s);

/* Parses a PostgreSQL bigint array literal ("{1,2}", "{}") into *out, which it initialises
 * (free with xidset_list_free). Returns 0, or -1 with a message (the list is then empty). */
int xidset_list_parse(const char *text, xidset_list *out, char *err, size_t errlen);

/* Appends the list as an array literal ("{1,2}", no terminator). */
void xidset_list_format(const xidset_list *l, buf *out);

void xidset_list_copy(xidset_list *dst, const xidset_list *src);
void xidset_list_clear(xidset_list *l);

/* Releases the list's storage; it is empty and reusable. NULL-safe. */
void xidset_list_free(xidset_list *l);

/* True if the id is accounted for: ended in covered, or in applied. */
int xidset_accounted(const xidset_snap *covered, const xidset_list *applied, uint64_t xid);

#endif
