-- percentiles: each robot's current per axis while it runs: mean, p50, p90, p99, max.
--
-- Reads dw.fact_reading_hour: the sums and the histograms (bins 2 % wide: a percentile is
-- within 1 % of the exact one) of the hours in range. Running readings only: an axis reading
-- exactly 0 is idle, and idle_share says how often that was.
-- Columns: robot_id, axis, readings, running, idle_share, mean, p50, p90, p99, max (A).
WITH h AS (
    SELECT * FROM dw.fact_reading_hour
     WHERE ($1::timestamptz IS NULL OR hour >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR hour < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
), x AS (
    SELECT h.robot_id, v.axis, h.rows, v.n, v.s, v.mx, v.hist
      FROM h, LATERAL (VALUES (1, n1, s1, mx1, h1), (2, n2, s2, mx2, h2), (3, n3, s3, mx3, h3),
                              (4, n4, s4, mx4, h4), (5, n5, s5, mx5, h5), (6, n6, s6, mx6, h6),
                              (7, n7, s7, mx7, h7), (8, n8, s8, mx8, h8)) AS v(axis, n, s, mx, hist)
), g AS (
    SELECT robot_id, axis, sum(rows) AS readings, sum(n) AS running, sum(s) AS s, max(mx) AS mx,
           dw.hist_nonzero(dw.hist_sum(hist)) AS hist
      FROM x GROUP BY robot_id, axis
)
SELECT robot_id, axis, readings, running,
       round(1 - running::numeric / nullif(readings, 0), 4) AS idle_share,
       round(s / 1e6 / nullif(running, 0), 4) AS mean,
       round(dw.hist_quantile(hist, 0.5)::numeric, 4) AS p50,
       round(dw.hist_quantile(hist, 0.9)::numeric, 4) AS p90,
       round(dw.hist_quantile(hist, 0.99)::numeric, 4) AS p99,
       mx AS max
  FROM g
 ORDER BY robot_id, axis
