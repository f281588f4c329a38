-- 015: the warehouse's commit made cheaper (issue 12): its histograms compressed with lz4
-- where the server has it, and the prediction feed planned as it should.
--
-- The stage rewrites the hour and day rows it touches at every commit, and their histograms
-- (h1..h8, a few hundred entries each) are most of those rows' bytes: with PostgreSQL's default
-- pglz, compressing them was a large share of the stage's commit, and decompressing them of the
-- analyses that read them. lz4 does both several times faster. A server built without lz4
-- (PostgreSQL 14+ reports feature_not_supported) keeps pglz: nothing else changes, and values
-- already stored keep their method until rewritten.
DO $$
DECLARE
    t text;
    a integer;
BEGIN
    FOREACH t IN ARRAY ARRAY['dw.fact_reading_minute', 'dw.fact_reading_hour', 'dw.fact_reading_day'] LOOP
        FOR a IN 1..8 LOOP
            EXECUTE format('ALTER TABLE %s ALTER COLUMN h%s SET COMPRESSION lz4', t, a);
        END LOOP;
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: the warehouse histograms stay pglz';
END $$;

-- The prediction feed recomputed each touched hour group with a join the planner estimated at
-- one row: with a few thousand groups touched it chose a merge join over the whole of
-- prediction's primary key (5 s a sync at 3 M predictions, growing with the table). Each group
-- is now aggregated on its own (LATERAL: an index range scan of the group's hour), which costs
-- what the commit wrote, not what the table holds. Same result, same contract as 013.
CREATE OR REPLACE FUNCTION dw.feed_prediction(consumer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    who  text := consumer;
    w    xid8 := dw.watermark(who, 'prediction');
    upto xid8 := pg_snapshot_xmin(pg_current_snapshot());   -- see feed_anomaly
BEGIN
    PERFORM dw.ensure_time(h, h + interval '1 minute')
       FROM (SELECT DISTINCT date_trunc('hour', p.ts, 'UTC') AS h
               FROM prediction p WHERE p.rev >= w) s;
    WITH touched AS (
        SELECT p.consumer, p.robot_id, p.kind, p.axis, p.horizon,
               date_trunc('hour', p.ts, 'UTC') AS hour
          FROM prediction p WHERE p.rev >= w
        UNION
        SELECT g.consumer, g.robot_id, g.kind, g.axis, g.horizon, g.hour
          FROM dw.prediction_gone g WHERE g.rev >= w
    ), agg AS (
        SELECT t.consumer, t.robot_id, t.kind, t.axis, t.horizon, t.hour, a.n, a.sum, a.min, a.max
          FROM touched t
         CROSS JOIN LATERAL (
               SELECT count(*)::integer AS n, sum(p.value::numeric) AS sum,
                      min(p.value) AS min, max(p.value) AS max
                 FROM prediction p
                WHERE p.consumer = t.consumer AND p.robot_id = t.robot_id
                  AND p.kind = t.kind AND p.axis = t.axis AND p.horizon = t.horizon
                  AND p.ts >= t.hour AND p.ts < t.hour + interval '1 hour') a
         WHERE a.n > 0
    ), up AS (
        INSERT INTO dw.fact_prediction_hour AS f (consumer, robot_id, kind, axis, horizon, hour,
                                                  robot_key, n, sum, mean, min, max)
        SELECT a.consumer, a.robot_id, a.kind, a.axis, a.horizon, a.hour,
               dw.robot_key_at(a.robot_id, a.hour), a.n, a.sum, (a.sum / a.n)::double precision,
               a.min, a.max
          FROM agg a
        ON CONFLICT ON CONSTRAINT fact_prediction_hour_pkey DO UPDATE SET
               robot_key = EXCLUDED.robot_key, n = EXCLUDED.n, sum = EXCLUDED.sum,
               mean = EXCLUDED.mean, min = EXCLUDED.min, max = EXCLUDED.max
         WHERE (f.robot_key, f.n, f.sum, f.min, f.max)
               IS DISTINCT FROM (EXCLUDED.robot_key, EXCLUDED.n, EXCLUDED.sum, EXCLUDED.min,
                                 EXCLUDED.max)
    )
    DELETE FROM dw.fact_prediction_hour f USING touched t
     WHERE f.consumer = t.consumer AND f.robot_id = t.robot_id AND f.kind = t.kind
       AND f.axis = t.axis AND f.horizon = t.horizon AND f.hour = t.hour
       -- (probing prediction's primary key: an anti-join on agg, a CTE, would compare every
       -- touched group with every other)
       AND NOT EXISTS (SELECT 1 FROM prediction p
                        WHERE p.consumer = t.consumer AND p.robot_id = t.robot_id
                          AND p.kind = t.kind AND p.axis = t.axis AND p.horizon = t.horizon
                          AND p.ts >= t.hour AND p.ts < t.hour + interval '1 hour');
    PERFORM dw.set_watermark(who, 'prediction', upto);
END $$;
