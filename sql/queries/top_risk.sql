-- top_risk: the robots most likely to fail within the learn stage's horizon, riskiest first.
--
-- Reads prediction (kind 'risk': the learn stage's failure probability per robot, every 10 min
-- of its time), maintenance_event (each robot's latest failure) and robot (names). For each
-- consumer and robot, the newest risk made in [from, to); the ten highest.
-- Columns: consumer, robot_id, name, risk (probability of a failure within horizon_h hours),
-- horizon_h, as_of (stream time it was made at), model_version, last_failure.
WITH latest AS (
    SELECT DISTINCT ON (consumer, robot_id) consumer, robot_id, value, horizon, ts, model_version
      FROM prediction
     WHERE kind = 'risk'
       AND ($1::timestamptz IS NULL OR ts >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR ts < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
     ORDER BY consumer, robot_id, ts DESC
)
SELECT l.consumer, l.robot_id, r.name, round(l.value::numeric, 4) AS risk, round(l.horizon / 3600.0, 1) AS horizon_h,
       l.ts AS as_of, l.model_version,
       (SELECT max(m.ts) FROM maintenance_event m WHERE m.robot_id = l.robot_id AND m.kind = 'failure') AS last_failure
  FROM latest l
  LEFT JOIN robot r ON r.robot_id = l.robot_id
 ORDER BY l.value DESC, l.consumer, l.robot_id
 LIMIT 10
