-- alert_rate: ALERT and ERROR episodes per robot and axis, per day of data.
--
-- Reads anomaly (the detect stage's episodes, per consumer) and dw.fact_reading_hour (the hours
-- each robot sent readings in: the rate's denominator, so that a robot that was silent is not
-- flattered). Axis 0 is an episode of the whole robot (a data-quality finding). Episodes and
-- hours in [from, to).
-- Columns: consumer, robot_id, axis, alerts, errors, hours (with readings), alerts_per_day,
-- errors_per_day (episodes per 24 hours with readings); worst first.
WITH e AS (
    SELECT consumer, robot_id, coalesce(axis, 0) AS axis,
           count(*) FILTER (WHERE level = 'ALERT') AS alerts, count(*) FILTER (WHERE level = 'ERROR') AS errors
      FROM anomaly
     WHERE ($1::timestamptz IS NULL OR ts_start >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR ts_start < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
     GROUP BY 1, 2, 3
), h AS (
    SELECT robot_id, count(*) AS hours
      FROM dw.fact_reading_hour
     WHERE ($1::timestamptz IS NULL OR hour >= $1::timestamptz)
       AND ($2::timestamptz IS NULL OR hour < $2::timestamptz)
       AND ($3::integer IS NULL OR robot_id = $3::integer)
     GROUP BY 1
)
SELECT e.consumer, e.robot_id, e.axis, e.alerts, e.errors, coalesce(h.hours, 0) AS hours,
       round(e.alerts * 24.0 / nullif(h.hours, 0), 3) AS alerts_per_day,
       round(e.errors * 24.0 / nullif(h.hours, 0), 3) AS errors_per_day
  FROM e LEFT JOIN h ON h.robot_id = e.robot_id
 ORDER BY errors_per_day DESC NULLS LAST, alerts_per_day DESC NULLS LAST, e.consumer, e.robot_id, e.axis
