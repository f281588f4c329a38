-- ingest_health: what loading accepted and refused, per day and source, and why.
--
-- Reads ingest_batch (every committed batch of `pgpulse ingest` and the simulator: rows read,
-- inserted, already stored, rejected) and ingest_reject (each refused line with its reason;
-- reasons are grouped by their kind, the text before the quoted value: "axis3: not a number").
-- The range is of load time (committed_at, at), not stream time; robot does not apply.
-- Columns: day, source, batches, rows_read, inserted, already_stored, rejected, reject_reason,
-- reason_lines (one row per reason; the batch columns repeat).
WITH b AS (
    SELECT date_trunc('day', committed_at) AS day, source, count(*) AS batches,
           sum(rows_read) AS rows_read, sum(rows_inserted) AS inserted,
           sum(rows_present) AS already_stored, sum(rows_rejected) AS rejected
      FROM ingest_batch
     WHERE ($1::timestamptz IS NULL OR committed_at >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR committed_at < $2::timestamptz)
     GROUP BY 1, 2
), r AS (
    SELECT date_trunc('day', at) AS day, source, regexp_replace(reason, ': ''.*$', '') AS reject_reason,
           count(*) AS reason_lines
      FROM ingest_reject
     WHERE ($1::timestamptz IS NULL OR at >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR at < $2::timestamptz)
       AND ($3::integer IS NULL OR true)
     GROUP BY 1, 2, 3
)
SELECT coalesce(b.day, r.day)::date AS day, coalesce(b.source, r.source) AS source,
       coalesce(b.batches, 0) AS batches, coalesce(b.rows_read, 0) AS rows_read,
       coalesce(b.inserted, 0) AS inserted, coalesce(b.already_stored, 0) AS already_stored,
       coalesce(b.rejected, 0) AS rejected, r.reject_reason, coalesce(r.reason_lines, 0) AS reason_lines
  FROM b FULL JOIN r ON r.day = b.day AND r.source = b.source
 ORDER BY 1, 2, r.reason_lines DESC NULLS LAST, r.reject_reason
