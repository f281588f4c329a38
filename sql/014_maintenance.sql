-- 014: maintenance work orders and reliability (issue 12) — see docs/warehouse.md, "Maintenance:
-- MTBF and MTTR".
--
-- maintenance_event holds both the simulator's events (instantaneous: a failure at ts, a repair
-- completed at ts; no work order) and work orders loaded by `pgpulse import-maintenance` (start
-- ts, an end ts_end or none, the order's id, its text in detail). A work order's id is unique
-- within its source (the system that numbered it), so a file imported twice stores each order
-- once, and an order exported again with changes updates its row.
--
-- rev is the id of the transaction that last wrote the row (on insert and update): the
-- warehouse's maintenance feed reads the rows at or above its watermark (docs/warehouse.md).

ALTER TABLE maintenance_event
    ADD COLUMN ts_end     timestamptz,        -- NULL: an instantaneous event
    ADD COLUMN work_order text,               -- the order's id in its source; NULL: not an order
    ADD COLUMN rev        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    ADD CONSTRAINT maintenance_event_end_after_start CHECK (ts_end >= ts),
    ADD CONSTRAINT maintenance_event_order_has_source CHECK (work_order IS NULL OR source IS NOT NULL);

-- NULL work orders (the simulator's events) are distinct: they keep their own identity,
-- maintenance_event_identity (robot_id, kind, ts).
CREATE UNIQUE INDEX maintenance_event_work_order ON maintenance_event (source, work_order);
CREATE INDEX maintenance_event_rev ON maintenance_event (rev);

-- On insert too, so that no writer can give a row a revision in the past (the feed would miss it).
CREATE FUNCTION maintenance_event_set_rev() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.rev := pg_current_xact_id();
    RETURN NEW;
END $$;

CREATE TRIGGER maintenance_event_rev BEFORE INSERT OR UPDATE ON maintenance_event
    FOR EACH ROW EXECUTE FUNCTION maintenance_event_set_rev();

-- ---------------------------------------------------------------------------------------
-- The warehouse's maintenance facts: one row per maintenance_event row, a function of it.
-- ---------------------------------------------------------------------------------------

CREATE TABLE dw.fact_maintenance (
    event_id   bigint PRIMARY KEY,                 -- maintenance_event.event_id
    robot_id   integer NOT NULL,
    axis       smallint,                           -- NULL: the whole robot
    kind       text NOT NULL,                      -- failure, repair, inspection, replacement
    ts_start   timestamptz NOT NULL,
    ts_end     timestamptz,                        -- NULL: instantaneous
    duration_s double precision NOT NULL,          -- ts_end - ts_start in seconds; 0 if instantaneous
    source     text,
    work_order text
);
CREATE INDEX fact_maintenance_robot_start ON dw.fact_maintenance (robot_id, ts_start);

-- The feed: upserts the facts of the rows written since this consumer's watermark, then moves
-- the watermark to the xmin of a snapshot taken before they were read (docs/warehouse.md).
CREATE FUNCTION dw.feed_maintenance(consumer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    -- Taken first: every row the read below does not see was written by a transaction at or
    -- above this xmin, so the next call reads it.
    next_wm xid8 := pg_snapshot_xmin(pg_current_snapshot());
    wm xid8;
    minutes bigint;
BEGIN
    SELECT w.rev INTO wm FROM dw.feed_watermark w
     WHERE w.consumer = $1 AND w.feed = 'maintenance' FOR UPDATE;
    IF NOT FOUND THEN
        wm := '0'::xid8;
    END IF;
    WITH changed AS (
        INSERT INTO dw.fact_maintenance AS f
               (event_id, robot_id, axis, kind, ts_start, ts_end, duration_s, source, work_order)
        SELECT e.event_id, e.robot_id, e.axis, e.kind, e.ts, e.ts_end,
               coalesce(extract(epoch FROM e.ts_end - e.ts)::double precision, 0),
               e.source, e.work_order
          FROM maintenance_event e
         WHERE e.rev >= wm
        ON CONFLICT (event_id) DO UPDATE
           SET robot_id = EXCLUDED.robot_id, axis = EXCLUDED.axis, kind = EXCLUDED.kind,
               ts_start = EXCLUDED.ts_start, ts_end = EXCLUDED.ts_end,
               duration_s = EXCLUDED.duration_s, source = EXCLUDED.source,
               work_order = EXCLUDED.work_order
         WHERE (f.robot_id, f.axis, f.kind, f.ts_start, f.ts_end, f.duration_s, f.source,
                f.work_order)
               IS DISTINCT FROM
               (EXCLUDED.robot_id, EXCLUDED.axis, EXCLUDED.kind, EXCLUDED.ts_start,
                EXCLUDED.ts_end, EXCLUDED.duration_s, EXCLUDED.source, EXCLUDED.work_order)
        RETURNING f.ts_start, f.ts_end)
    SELECT count(dw.ensure_time(m, m + interval '1 minute')) INTO minutes
      FROM (SELECT DISTINCT date_trunc('minute', x) AS m
              FROM changed, LATERAL (VALUES (ts_start), (ts_end)) AS v(x)
             WHERE x IS NOT NULL) t;
    INSERT INTO dw.feed_watermark (consumer, feed, rev) VALUES ($1, 'maintenance', next_wm)
    ON CONFLICT ON CONSTRAINT feed_watermark_pkey DO UPDATE SET rev = EXCLUDED.rev;
END $$;

INSERT INTO dw.feed (name, fn, ord) VALUES ('maintenance', 'dw.feed_maintenance', 110);

-- ---------------------------------------------------------------------------------------
-- Reliability (definitions: docs/warehouse.md, "Maintenance: MTBF and MTTR"), from the facts.
-- ---------------------------------------------------------------------------------------

-- Each failure with the moment its robot was restored: the failure's own end if it has one,
-- else the completion (end, or the instant of an instantaneous event) of the first repair or
-- replacement of the same robot that starts at or after the failure and concerns the whole
-- robot, or the failed axis, or any axis when the failure concerns the whole robot. NULL while
-- no repair is recorded.
CREATE VIEW dw.failure_repair AS
SELECT f.event_id, f.robot_id, f.axis, f.ts_start AS failed_at,
       coalesce(f.ts_end, r.restored_at) AS restored_at,
       CASE WHEN f.ts_end IS NULL THEN r.event_id END AS repair_event_id,
       extract(epoch FROM coalesce(f.ts_end, r.restored_at) - f.ts_start)::double precision AS ttr_s
  FROM dw.fact_maintenance f
  LEFT JOIN LATERAL (
        SELECT m.event_id, coalesce(m.ts_end, m.ts_start) AS restored_at
          FROM dw.fact_maintenance m
         WHERE m.robot_id = f.robot_id AND m.kind IN ('repair', 'replacement')
           AND m.ts_start >= f.ts_start
           AND (m.axis IS NULL OR f.axis IS NULL OR m.axis = f.axis)
         ORDER BY m.ts_start, m.event_id
         LIMIT 1) r ON f.ts_end IS NULL
 WHERE f.kind = 'failure';

-- Per robot over [t_from, t_to): failures that started in it, those of them restored, their mean
-- time to repair; the robot's running time in it (per minute of dw.fact_reading_minute starting
-- in it: 60 s x active / rows, the active readings times the minute's sampling interval) and
-- the mean running time between failures (running time / failures; NULL without failures, and
-- running time and MTBF are NULL for a robot without minute facts in the range: unknown, not 0).
-- Robots with neither failures nor readings in the range are not listed.
CREATE FUNCTION dw.reliability(t_from timestamptz, t_to timestamptz)
RETURNS TABLE (robot_id integer, failures bigint, repaired bigint, running_s double precision,
               mtbf_s double precision, mttr_s double precision)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT fr.robot_id, count(*) AS failures, count(fr.restored_at) AS repaired,
               avg(fr.ttr_s) AS mttr_s
          FROM dw.failure_repair fr
         WHERE fr.failed_at >= t_from AND fr.failed_at < t_to
         GROUP BY fr.robot_id),
    run AS (
        SELECT m.robot_id, sum(60.0 * m.active / m.rows)::double precision AS running_s
          FROM dw.fact_reading_minute m
         WHERE m.minute >= t_from AND m.minute < t_to AND m.rows > 0
         GROUP BY m.robot_id)
    SELECT coalesce(f.robot_id, run.robot_id), coalesce(f.failures, 0), coalesce(f.repaired, 0),
           run.running_s, run.running_s / f.failures,
           f.mttr_s
      FROM f FULL JOIN run ON run.robot_id = f.robot_id
     ORDER BY 1
$$;
