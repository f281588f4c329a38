-- mtbf_mttr: mean running time between failures and mean time to repair, per robot.
--
-- Reads dw.reliability (sql/014_maintenance.sql, defined in docs/warehouse.md): failures from
-- dw.fact_maintenance (the simulator's events and imported work orders) paired with their
-- repairs, and running time from dw.fact_reading_minute (60 s x active readings / readings per
-- minute). Failures starting in [from, to); MTBF is empty for a robot with no readings in range,
-- MTTR for one whose failures were not repaired.
-- Columns: robot_id, name, failures, repaired, running_h, mtbf_h, mttr_h.
SELECT r.robot_id, rb.name, r.failures, r.repaired,
       round((r.running_s / 3600)::numeric, 3) AS running_h,
       round((r.mtbf_s / 3600)::numeric, 3) AS mtbf_h,
       round((r.mttr_s / 3600)::numeric, 3) AS mttr_h
  FROM dw.reliability(coalesce($1::timestamptz, '-infinity'), coalesce($2::timestamptz, 'infinity')) AS r
  LEFT JOIN robot rb ON rb.robot_id = r.robot_id
 WHERE $3::integer IS NULL OR r.robot_id = $3::integer
 ORDER BY r.failures DESC, r.robot_id
