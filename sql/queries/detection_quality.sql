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
--
-- (How: the overlaps are found by a hash join on robot and hour, not by a scan of one table per
-- row of the other: an episode is keyed by the UTC hour it starts in, a fault by the hours from
-- its widened start less the longest episode in range (where any episode overlapping it must
-- start) to its widened end when those are one or two; the few longer faults (wear) are joined
-- with their robot's episodes.)
WITH a AS MATERIALIZED (
    SELECT id, robot_id, axis, level, ts_start, ts_end, date_bin('1 hour', ts_start, 'epoch') AS h
      FROM anomaly
     WHERE ($1::timestamptz IS NULL OR ts_start >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR ts_start < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
), f AS MATERIALIZED (
    SELECT fault_id, robot_id, axis, kind, level, lo, hi,
           date_bin('1 hour', lo - greatest((SELECT max(ts_end - ts_start) FROM a), interval '0'), 'epoch') AS h_lo,
           date_bin('1 hour', hi, 'epoch') AS h_hi
      FROM (SELECT fault_id, robot_id, axis, kind, level,
                   ts_start - interval '60 s' AS lo, ts_end + interval '60 s' AS hi
              FROM fault
             WHERE ($1::timestamptz IS NULL OR ts_start >= $1::timestamptz)
               AND ($2::timestamptz IS NULL OR ts_start < $2::timestamptz)
               AND ($3::integer IS NULL OR robot_id = $3::integer)) f
), pairs AS MATERIALIZED (
    SELECT fh.fault_id, a.id
      FROM (SELECT fault_id, robot_id, axis, lo, hi, h_lo AS h FROM f WHERE h_hi <= h_lo + interval '1 hour'
            UNION ALL
            SELECT fault_id, robot_id, axis, lo, hi, h_hi FROM f WHERE h_hi = h_lo + interval '1 hour') fh
      JOIN a ON a.robot_id = fh.robot_id AND a.h = fh.h
     WHERE (a.axis IS NULL OR fh.axis IS NULL OR a.axis = fh.axis)
       AND a.ts_start <= fh.hi AND a.ts_end >= fh.lo
    UNION ALL
    SELECT f.fault_id, a.id
      FROM f JOIN a ON a.robot_id = f.robot_id
     WHERE f.h_hi > f.h_lo + interval '1 hour'
       AND (a.axis IS NULL OR f.axis IS NULL OR a.axis = f.axis)
       AND a.ts_start <= f.hi AND a.ts_end >= f.lo
), caught AS MATERIALIZED (
    SELECT f.kind, f.level, EXISTS (SELECT FROM pairs p WHERE p.fault_id = f.fault_id) AS hit FROM f
), explained AS MATERIALIZED (
    SELECT a.level, EXISTS (SELECT FROM pairs p WHERE p.id = a.id) AS hit FROM a
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
