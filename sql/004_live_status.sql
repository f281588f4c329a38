-- 004: live_robot_status — live_robot with the state a dashboard shows right now: 'stale' when
-- a robot's last reading is more than 60 s old by the server's clock (it stopped sending),
-- else the state of its last reading ('running' or 'idle'). A view, so the stage's tables stay
-- a pure function of the readings (docs/streaming.md).
CREATE VIEW live_robot_status AS
    SELECT robot_id, last_ts,
           CASE WHEN last_ts < now() - interval '60 seconds' THEN 'stale' ELSE state END AS state,
           round(extract(epoch FROM now() - last_ts)::numeric, 3) AS seconds_since,
           axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8, day, rows_today, rows_total
      FROM live_robot;
