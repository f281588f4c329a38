-- detection_quality: the detector against the simulator's truth: recall and precision.
--
-- Per fault kind and level: how many injected faults an anomaly episode caught (recall), and
-- how many episodes a fault explains (precision).
--
-- Reads fault (what `pgpulse gen` injected: robot, axis or the whole robot, kind, level, time
-- range) and anomaly (the detect stage's episodes). A fault is caught when an episode of the
-- same robot (and axis, unless either is robot-wide) overlaps its time range widened by 60 s
-- each side; an episode is explained when it overlaps such a widened fault. Kinds the detector
-- is not meant to see (duplicate, late, clock_jump: handled by ingest and the stream) are listed
-- with their counts too. Range: faults and episodes starting in [from, to).
-- Columns: kind, level, faults, caught, recall; on the last rows, one per level, kind "(all)":
-- the same over every kind, and episodes (of that level), explained, precision.
WITH f AS (
    SELECT * FROM fault
     WHERE ($1::timestamptz IS NULL OR ts_start >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR ts_start < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
), a AS (
    SELECT * FROM anomaly
     WHERE ($1::timestamptz IS NULL OR ts_start >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR ts_start < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
), caught AS (
    SELECT f.kind, f.level, f.fault_id,
           EXISTS (SELECT 1 FROM a WHERE a.robot_id = f.robot_id
                      AND (a.axis IS NULL OR f.axis IS NULL OR a.axis = f.axis)
                      AND a.ts_start <= f.ts_end + interval '60 s'
                      AND a.ts_end >= f.ts_start - interval '60 s') AS hit
      FROM f
), explained AS (
    SELECT a.level,
           EXISTS (SELECT 1 FROM f WHERE f.robot_id = a.robot_id
                      AND (a.axis IS NULL OR f.axis IS NULL OR a.axis = f.axis)
                      AND a.ts_start <= f.ts_end + interval '60 s'
                      AND a.ts_end >= f.ts_start - interval '60 s') AS hit
      FROM a
)
SELECT * FROM (
    SELECT kind, level, count(*) AS faults, count(*) FILTER (WHERE hit) AS caught,
           round(count(*) FILTER (WHERE hit)::numeric / count(*), 3) AS recall,
           NULL::bigint AS episodes, NULL::bigint AS explained, NULL::numeric AS precision
      FROM caught GROUP BY kind, level
    UNION ALL
    SELECT '(all)', coalesce(c.level, e.level), c.faults, c.caught, c.recall, e.episodes, e.explained, e.precision
      FROM (SELECT level, count(*) AS faults, count(*) FILTER (WHERE hit) AS caught,
                   round(count(*) FILTER (WHERE hit)::numeric / count(*), 3) AS recall
              FROM caught GROUP BY level) c
      FULL JOIN (SELECT level, count(*) AS episodes, count(*) FILTER (WHERE hit) AS explained,
                        round(count(*) FILTER (WHERE hit)::numeric / count(*), 3) AS precision
                   FROM explained GROUP BY level) e ON e.level = c.level
) u
ORDER BY kind = '(all)', kind, level
