/* loader: writes readings into PostgreSQL in batches, exactly once.
 *
 * Each batch is one transaction: COPY ... (FORMAT binary) of its rows, its rejected lines into
 * ingest_reject, and its ingest_batch row. Rows stream to the server as they are added, so
 * parsing overlaps the server's work; the encoded batch is also kept until COMMIT succeeds, so
 * it can be sent again.
 *
 * Exactly once: (robot_id, ts) is the primary key of `reading`. The fast path COPYs straight
 * into `reading`; if a row is already there the COPY fails with a unique violation, the batch
 * is rolled back and sent again through a staging table with INSERT ... ON CONFLICT DO NOTHING,
 * which stores the new rows and counts the others as already present. Later batches stay on
 * that path until one finds no duplicate (duplicates come in runs: a file loaded twice, an
 * overlapping export), so a load with no duplicates never pays for them.
 *
 * A lost connection is re-established with backoff for up to retry_seconds; a batch whose
 * COMMIT outcome is unknown is looked up in ingest_batch by (load_id, seq) before anything is
 * sent again. If that COMMIT reaches the server only after the lookup, the batch sent again
 * waits for its rows, then finds its ingest_batch row taken: it rolls back and counts the batch
 * as the first attempt committed it. Rows for a robot that does not exist are rejected. The daily partitions a batch
 * needs are created before its COPY starts. */
#ifndef PGPULSE_LOADER_H
#define PGPULSE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "readingcsv.h"

#define LOADER_DEFAULT_BATCH 10000
#define LOADER_DEFAULT_RETRY_SECONDS 300
#define LOADER_RAW_MAX 1000 /* bytes of a rejected line kept in ingest_reject */

typedef struct loader_opts {
    const char *source;  /* names the input in ingest_batch and ingest_reject */
    int batch_rows;      /* rows (and rejects) per transaction; 0: LOADER_DEFAULT_BATCH */
    int retry_seconds;   /* how long to keep reconnecting; 0: LOADER_DEFAULT_RETRY_SECONDS */
} loader_opts;

typedef struct loader_stats {
    uint64_t inserted;   /* rows stored by this load */
    uint64_t present;    /* rows that were already stored (not stored twice) */
    uint64_t rejected;   /* lines recorded in ingest_reject */
    uint64_t batches;    /* committed transactions */
    uint64_t reconnects; /* connections re-established after a loss */
    uint64_t slow_batches; /* batches that went through the staging table */
} loader_stats;

typedef struct loader loader;

/* Connects (with retries) and prepares a load with a new load id. Returns NULL with a message
 * in err on failure. */
loader *loader_new(const char *conninfo, const loader_opts *opts, char *err, size_t errlen);

/* Adds one reading from line line_no (raw is the line, recorded if the row is rejected because
 * its robot does not exist). May commit a batch. Returns 0, or -1 with a message when the
 * database fails in a way retrying cannot fix (batches committed before stay committed). */
int loader_add(loader *l, const reading *r, uint64_t line_no, const char *raw, size_t rawlen,
               char *err, size_t errlen);

/* Records a rejected line (raw is cut at LOADER_RAW_MAX bytes and made valid UTF-8). It is
 * committed with the batch it falls in. Returns 0 or -1 as loader_add. */
int loader_reject(loader *l, uint64_t line_no, const char *raw, size_t rawlen,
                  const char *reason, char *err, size_t errlen);

/* Commits the pending batch, if any. Returns 0 or -1 as loader_add. */
int loader_flush(loader *l, char *err, size_t errlen);

/* Milliseconds since the oldest pending row or reject was added; -1 if nothing is pending. */
int64_t loader_pending_age_ms(const loader *l);

/* Counters so far (committed batches only). */
const loader_stats *loader_get_stats(const loader *l);

/* The load id (a UUID, as text). */
const char *loader_load_id(const loader *l);

/* Releases the loader; an unflushed batch is rolled back. NULL-safe. */
void loader_free(loader *l);

#endif
