-- utilisation: how much of the time the robots ran, by plant, shop and hour (UTC).
--
-- Reads dw.fact_reading_hour (readings, and active readings: some axis non-zero, per robot and
-- hour) and the asset tables (robot, shop, plant as they are now; a robot without a shop is
-- under "(none)").
-- Columns: plant, shop, hour, robots, readings, active_share (active readings / readings),
-- idle_share (1 - active_share).
SELECT coalesce(p.name, '(none)') AS plant, coalesce(s.name, '(none)') AS shop, h.hour,
       count(DISTINCT h.robot_id) AS robots, sum(h.rows) AS readings,
       round(sum(h.active)::numeric / nullif(sum(h.rows), 0), 4) AS active_share,
       round(1 - sum(h.active)::numeric / nullif(sum(h.rows), 0), 4) AS idle_share
  FROM dw.fact_reading_hour h
  JOIN robot r ON r.robot_id = h.robot_id
  LEFT JOIN shop s ON s.shop_id = r.shop_id
  LEFT JOIN plant p ON p.plant_id = s.plant_id
 WHERE ($1::timestamptz IS NULL OR h.hour >= $1::timestamptz)
   AND ($2::timestamptz IS NULL OR h.hour < $2::timestamptz)
   AND ($3::integer IS NULL OR h.robot_id = $3::integer)
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3
