-- 016: running time rolled up with the readings (issue 12), so that MTBF reads day rows.
--
-- dw.reliability summed 60 s x active / rows over every minute fact of its range: ~500,000 rows
-- for a week of 50 robots, a quarter of a second or more. The running time is now held at every
-- grain, exactly, as an integer number of microseconds:
--   minute: run_us = round(6 x 10^7 x active / rows) (half up), generated from the row, so any
--           writer of a minute row (the stage, refresh, a test fixture) gets it right;
--   hour, day: the sum of their minutes' run_us — the stage adds to an hour and a day the change
--           of each minute it rewrites (new run_us - stored), so the sums stay equal to a
--           recomputation in any merge order; refresh and dw.rollup sum the minutes.
-- dw.running_us(from, to) gives per robot the running time of the minutes starting in
-- [from, to), read from day rows for whole days, hour rows for whole hours at the ends and
-- minute rows for the rest; dw.reliability uses it. Existing hours and days are filled here.
ALTER TABLE dw.fact_reading_minute ADD COLUMN run_us bigint NOT NULL
    GENERATED ALWAYS AS (CASE WHEN rows > 0 THEN (120000000 * active::bigint + rows) / (2 * rows) ELSE 0 END) STORED;
ALTER TABLE dw.fact_reading_hour ADD COLUMN run_us bigint NOT NULL DEFAULT 0;
ALTER TABLE dw.fact_reading_day ADD COLUMN run_us bigint NOT NULL DEFAULT 0;

UPDATE dw.fact_reading_hour h SET run_us = m.run_us
  FROM (SELECT robot_id, date_trunc('hour', minute, 'UTC') AS hour, sum(run_us)::bigint AS run_us
          FROM dw.fact_reading_minute GROUP BY 1, 2) m
 WHERE m.robot_id = h.robot_id AND m.hour = h.hour;
UPDATE dw.fact_reading_day d SET run_us = h.run_us
  FROM (SELECT robot_id, (hour AT TIME ZONE 'UTC')::date AS day, sum(run_us)::bigint AS run_us
          FROM dw.fact_reading_hour GROUP BY 1, 2) h
 WHERE h.robot_id = d.robot_id AND h.day = d.day;

-- dw.rollup (the SQL recomputation of hours and days from minutes, 012) keeps its sums and now
-- also sums run_us.
ALTER FUNCTION dw.rollup(integer[], timestamptz[]) RENAME TO rollup_sums;
CREATE FUNCTION dw.rollup(robot_ids integer[], hours timestamptz[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dw.rollup_sums(robot_ids, hours);
    UPDATE dw.fact_reading_hour h SET run_us = m.run_us
      FROM (SELECT t.robot_id, t.hour, sum(m.run_us)::bigint AS run_us
              FROM (SELECT DISTINCT r AS robot_id, date_trunc('hour', x, 'UTC') AS hour
                      FROM unnest(robot_ids, hours) AS u(r, x)) t
              JOIN dw.fact_reading_minute m ON m.robot_id = t.robot_id
                   AND m.minute >= t.hour AND m.minute < t.hour + interval '1 hour'
             GROUP BY 1, 2) m
     WHERE h.robot_id = m.robot_id AND h.hour = m.hour;
    UPDATE dw.fact_reading_day d SET run_us = h.run_us
      FROM (SELECT t.robot_id, t.day, sum(h.run_us)::bigint AS run_us
              FROM (SELECT DISTINCT r AS robot_id, (x AT TIME ZONE 'UTC')::date AS day
                      FROM unnest(robot_ids, hours) AS u(r, x)) t
              JOIN dw.fact_reading_hour h ON h.robot_id = t.robot_id
                   AND h.hour >= (t.day::timestamp AT TIME ZONE 'UTC')
                   AND h.hour < ((t.day + 1)::timestamp AT TIME ZONE 'UTC')
             GROUP BY 1, 2) h
     WHERE d.robot_id = h.robot_id AND d.day = h.day;
END $$;

-- Running time per robot of the minutes starting in [t_from, t_to) (either may be infinite):
-- whole UTC days from the day facts, whole hours outside them from the hour facts, the minutes
-- left at the ends from the minute facts. A robot without readings there has no row.
CREATE FUNCTION dw.running_us(t_from timestamptz, t_to timestamptz)
RETURNS TABLE (robot_id integer, run_us bigint)
LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT t_from AS lo, t_to AS hi,
               -- the first hour (day) starting at or after lo, the last ending at or before hi
               date_trunc('hour', t_from, 'UTC')
                   + CASE WHEN date_trunc('hour', t_from, 'UTC') < t_from THEN interval '1 hour' ELSE interval '0' END AS hlo,
               date_trunc('hour', t_to, 'UTC') AS hhi,
               date_trunc('day', t_from, 'UTC')
                   + CASE WHEN date_trunc('day', t_from, 'UTC') < t_from THEN interval '1 day' ELSE interval '0' END AS dlo,
               date_trunc('day', t_to, 'UTC') AS dhi
    ), w AS (
        -- [lo, hlo) minutes, [hlo, hhi) whole hours (empty when none), [hhi, hi) minutes: the
        -- three partition [lo, hi); whole days [dlo, dhi) lie within the hours when there are any
        SELECT lo, hi, least(hlo, hi) AS hlo, greatest(hhi, least(hlo, hi)) AS hhi,
               CASE WHEN dlo < dhi THEN dlo END AS dlo, CASE WHEN dlo < dhi THEN dhi END AS dhi
          FROM b
    ), parts AS (
        -- (each part a plain range of its table's period column, so that an index serves it
        -- whatever the table holds: infinite bounds become infinite dates)
        SELECT d.robot_id, d.run_us FROM dw.fact_reading_day d, w
         WHERE w.dlo IS NOT NULL
           AND d.day >= (w.dlo AT TIME ZONE 'UTC')::date AND d.day < (w.dhi AT TIME ZONE 'UTC')::date
        UNION ALL
        SELECT h.robot_id, h.run_us FROM dw.fact_reading_hour h, w
         WHERE h.hour >= w.hlo AND h.hour < coalesce(w.dlo, w.hhi)
        UNION ALL
        SELECT h.robot_id, h.run_us FROM dw.fact_reading_hour h, w
         WHERE w.dlo IS NOT NULL AND h.hour >= w.dhi AND h.hour < w.hhi
        UNION ALL
        SELECT m.robot_id, m.run_us FROM dw.fact_reading_minute m, w
         WHERE m.minute >= w.lo AND m.minute < w.hlo
        UNION ALL
        SELECT m.robot_id, m.run_us FROM dw.fact_reading_minute m, w
         WHERE m.minute >= w.hhi AND m.minute < w.hi
    )
    SELECT robot_id, sum(run_us)::bigint FROM parts GROUP BY robot_id
$$;

-- dw.reliability (014) with its running time from dw.running_us: the same definition (docs/
-- warehouse.md), each minute's share rounded to the microsecond.
CREATE OR REPLACE FUNCTION dw.reliability(t_from timestamptz, t_to timestamptz)
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
        SELECT r.robot_id, (r.run_us / 1e6)::double precision AS running_s
          FROM dw.running_us(t_from, t_to) r)
    SELECT coalesce(f.robot_id, run.robot_id), coalesce(f.failures, 0), coalesce(f.repaired, 0),
           run.running_s, run.running_s / f.failures,
           f.mttr_s
      FROM f FULL JOIN run ON run.robot_id = f.robot_id
     ORDER BY 1
$$;
