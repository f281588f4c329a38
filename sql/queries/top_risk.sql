-- top_risk: the robots most likely to fail within the learn stage's horizon, riskiest first.
--
-- Reads prediction (kind 'risk': the learn stage's failure probability per robot, every 10 min
-- of its time), dw.fact_maintenance (each robot's latest failure, as of the warehouse's last
-- sync: the warehouse's copy of maintenance_event, which on Citus is distributed and cannot be
-- read in the same statement as this recursion over the coordinator's prediction) and robot
-- (names). For each
-- consumer and robot, the newest risk made in [from, to); the ten highest.
-- Columns: consumer, robot_id, name, risk (probability of a failure within horizon_h hours),
-- horizon_h, as_of (stream time it was made at), model_version, last_failure.
--
-- (How: the (consumer, robot) pairs are found by skipping through prediction's primary key,
-- one probe each; the risk horizons in use come from dw.fact_prediction_hour (the warehouse's
-- prediction feed), and each pair's newest risk per horizon is one backward step of the same
-- key: no pair's history is read.)
WITH RECURSIVE cr AS (
    (SELECT consumer, robot_id FROM prediction
      WHERE $3::integer IS NULL OR robot_id = $3::integer
      ORDER BY consumer, robot_id LIMIT 1)
    UNION ALL
    SELECT n.consumer, n.robot_id
      FROM cr CROSS JOIN LATERAL (
          SELECT p.consumer, p.robot_id FROM prediction p
           WHERE (p.consumer, p.robot_id) > (cr.consumer, cr.robot_id)
             AND ($3::integer IS NULL OR p.robot_id = $3::integer)
           ORDER BY p.consumer, p.robot_id LIMIT 1) n
), hz AS (
    SELECT DISTINCT horizon FROM dw.fact_prediction_hour WHERE kind = 'risk' AND axis = 0
), latest AS (
    SELECT DISTINCT ON (cr.consumer, cr.robot_id) cr.consumer, cr.robot_id, p.value, p.horizon,
           p.ts, p.model_version
      FROM cr CROSS JOIN hz CROSS JOIN LATERAL (
          SELECT value, horizon, ts, model_version FROM prediction p
           WHERE p.consumer = cr.consumer AND p.robot_id = cr.robot_id AND p.kind = 'risk'
             AND p.axis = 0 AND p.horizon = hz.horizon
             AND ($1::timestamptz IS NULL OR p.ts >= $1::timestamptz)
             AND ($2::timestamptz IS NULL OR p.ts < $2::timestamptz)
           ORDER BY p.ts DESC LIMIT 1) p
     ORDER BY cr.consumer, cr.robot_id, p.ts DESC
)
SELECT l.consumer, l.robot_id, r.name, round(l.value::numeric, 4) AS risk, round(l.horizon / 3600.0, 1) AS horizon_h,
       l.ts AS as_of, l.model_version,
       (SELECT max(m.ts_start) FROM dw.fact_maintenance m
         WHERE m.robot_id = l.robot_id AND m.kind = 'failure') AS last_failure
  FROM latest l
  LEFT JOIN robot r ON r.robot_id = l.robot_id
 ORDER BY l.value DESC, l.consumer, l.robot_id
 LIMIT 10
