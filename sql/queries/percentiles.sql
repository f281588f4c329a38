-- percentiles: each robot's current per axis while it runs: mean, p50, p90, p99, max.
--
-- Reads dw.fact_reading_day for the whole days in range and dw.fact_reading_hour for the hours
-- at its ragged ends: the sums and the histograms (bins 2 % wide: a percentile is within 1 % of
-- the exact one), merged bin by bin. Running readings only: an axis reading exactly 0 is idle,
-- and idle_share says how often that was.
-- Columns: robot_id, axis, readings, running, idle_share, mean, p50, p90, p99, max (A).
WITH b AS (
    SELECT coalesce($1::timestamptz, '-infinity') AS lo, coalesce($2::timestamptz, 'infinity') AS hi
), days AS (
    SELECT d.* FROM dw.fact_reading_day d, b
     WHERE (d.day::timestamp AT TIME ZONE 'UTC') >= b.lo AND ((d.day + 1)::timestamp AT TIME ZONE 'UTC') <= b.hi
       AND ($3::integer IS NULL OR d.robot_id = $3::integer)
), hours AS (
    SELECT h.* FROM dw.fact_reading_hour h, b
     WHERE h.hour >= b.lo AND h.hour < b.hi
       AND NOT ((date_trunc('day', h.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') >= b.lo
                AND (date_trunc('day', h.hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') + interval '1 day' <= b.hi)
       AND ($3::integer IS NULL OR h.robot_id = $3::integer)
), src AS (
    SELECT robot_id, rows, n1, s1, mx1, h1, n2, s2, mx2, h2, n3, s3, mx3, h3, n4, s4, mx4, h4,
           n5, s5, mx5, h5, n6, s6, mx6, h6, n7, s7, mx7, h7, n8, s8, mx8, h8 FROM days
    UNION ALL
    SELECT robot_id, rows, n1, s1, mx1, h1, n2, s2, mx2, h2, n3, s3, mx3, h3, n4, s4, mx4, h4,
           n5, s5, mx5, h5, n6, s6, mx6, h6, n7, s7, mx7, h7, n8, s8, mx8, h8 FROM hours
), x AS (
    SELECT src.robot_id, v.axis, src.rows, v.n, v.s, v.mx, v.h
      FROM src CROSS JOIN LATERAL (VALUES (1, n1, s1, mx1, h1), (2, n2, s2, mx2, h2), (3, n3, s3, mx3, h3),
                                          (4, n4, s4, mx4, h4), (5, n5, s5, mx5, h5), (6, n6, s6, mx6, h6),
                                          (7, n7, s7, mx7, h7), (8, n8, s8, mx8, h8)) AS v(axis, n, s, mx, h)
), g AS (
    SELECT robot_id, axis, sum(rows) AS readings, sum(n) AS running, sum(s) AS s, max(mx) AS mx
      FROM x GROUP BY robot_id, axis
), bins AS (
    SELECT x.robot_id, x.axis, array_agg(e ORDER BY e) AS es
      FROM x CROSS JOIN LATERAL unnest(x.h) AS u(e)
     WHERE e >> 32 <> 0
     GROUP BY 1, 2
), q AS (
    SELECT robot_id, axis, dw.hist_quantiles(es, '{0.5, 0.9, 0.99}') AS v FROM bins
)
SELECT g.robot_id, g.axis, g.readings, g.running,
       round(1 - g.running::numeric / nullif(g.readings, 0), 4) AS idle_share,
       round(g.s / 1e6 / nullif(g.running, 0), 4) AS mean,
       round(q.v[1]::numeric, 4) AS p50,
       round(q.v[2]::numeric, 4) AS p90,
       round(q.v[3]::numeric, 4) AS p99,
       g.mx AS max
  FROM g LEFT JOIN q ON q.robot_id = g.robot_id AND q.axis = g.axis
 ORDER BY g.robot_id, g.axis
