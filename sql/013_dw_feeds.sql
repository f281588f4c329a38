-- 013: the warehouse's robot dimension and the facts fed from tables other writers update
-- (issue 12; docs/warehouse.md, "Feeds").
--
-- Each feed is a function fn(consumer text) registered in dw.feed (012); the warehouse stage
-- calls dw.sync_feeds(consumer) in its commit. dim_robot compares robot's attributes with its
-- current versions; fact_anomaly and fact_prediction_hour read the source rows whose revision
-- (rev: the id of the transaction that last wrote the row) is at least the consumer's
-- watermark, and store the snapshot's xmin as the next one: a row of a transaction still
-- running is read again by a later sync, never missed, and reading a row twice changes nothing.

-- ---------------------------------------------------------------------------------------
-- Revisions. A row's rev is the top-level id of the transaction that inserted it (the column's
-- default) or last updated it (rev_touch). Rows present now get this migration's id.
-- ---------------------------------------------------------------------------------------
CREATE FUNCTION rev_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.rev := pg_current_xact_id();
    RETURN NEW;
END $$;

-- anomaly: the detect stage upserts an episode at every commit while it grows.
ALTER TABLE anomaly ADD COLUMN rev xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE TRIGGER anomaly_rev BEFORE UPDATE ON anomaly FOR EACH ROW EXECUTE FUNCTION rev_touch();
CREATE INDEX anomaly_rev ON anomaly (rev);

-- prediction: the learn stage only inserts (a row is never updated); the trigger keeps the
-- contract for anyone who does. (xid8 has no BRIN operator class; a btree over ids that grow
-- with insertion order appends to its rightmost page.)
ALTER TABLE prediction ADD COLUMN rev xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE TRIGGER prediction_rev BEFORE UPDATE ON prediction FOR EACH ROW EXECUTE FUNCTION rev_touch();
CREATE INDEX prediction_rev ON prediction (rev);

-- Deletions. pgpulse never deletes an anomaly or a prediction, but an operator may: the rows a
-- DELETE removes (and the groups an UPDATE moves predictions out of) leave a tombstone, read
-- by the same watermark. TRUNCATE leaves none: after one, rebuild the facts (docs/warehouse.md).
CREATE TABLE dw.anomaly_gone (
    anomaly_id bigint NOT NULL,
    rev        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX anomaly_gone_rev ON dw.anomaly_gone (rev);

CREATE TABLE dw.prediction_gone (
    consumer text NOT NULL,
    robot_id integer NOT NULL,
    kind     text NOT NULL,
    axis     smallint NOT NULL,
    horizon  integer NOT NULL,
    hour     timestamptz NOT NULL,
    rev      xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX prediction_gone_rev ON dw.prediction_gone (rev);

CREATE FUNCTION dw.anomaly_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dw.anomaly_gone (anomaly_id) SELECT id FROM old_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER anomaly_gone AFTER DELETE ON anomaly REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw.anomaly_gone();

CREATE FUNCTION dw.prediction_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dw.prediction_gone (consumer, robot_id, kind, axis, horizon, hour)
    SELECT DISTINCT consumer, robot_id, kind, axis, horizon, date_trunc('hour', ts, 'UTC')
      FROM old_rows;
    RETURN NULL;
END $$;
-- A trigger with a transition table has one event: one for each.
CREATE TRIGGER prediction_gone AFTER DELETE ON prediction REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw.prediction_gone();
CREATE TRIGGER prediction_moved AFTER UPDATE ON prediction REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw.prediction_gone();

-- ---------------------------------------------------------------------------------------
-- Watermarks (dw.feed_watermark, 012).
-- ---------------------------------------------------------------------------------------

-- The consumer's watermark for feed ('0' before its first sync: every row is read).
CREATE FUNCTION dw.watermark(consumer text, feed text) RETURNS xid8 LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT w.rev FROM dw.feed_watermark w
                      WHERE w.consumer = $1 AND w.feed = $2), '0'::xid8)
$$;

-- Stores rev as the consumer's watermark for feed (never moving it back).
CREATE FUNCTION dw.set_watermark(consumer text, feed text, rev xid8) RETURNS void LANGUAGE sql AS $$
    INSERT INTO dw.feed_watermark AS w (consumer, feed, rev) VALUES ($1, $2, $3)
    ON CONFLICT ON CONSTRAINT feed_watermark_pkey DO UPDATE SET rev = greatest(w.rev, EXCLUDED.rev)
$$;

-- ---------------------------------------------------------------------------------------
-- dim_robot: the robot dimension, type 2. A version per robot and stretch of time during which
-- its attributes (its own, its shop's, its plant's, its model's) did not change. The history is
-- in wall-clock time: valid_from is when the feed saw the change (its commit), not when the
-- change was made; valid_to is NULL for the current version.
-- ---------------------------------------------------------------------------------------
CREATE TABLE dw.dim_robot (
    robot_key  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    robot_id   integer NOT NULL,
    name       text,
    shop_id    integer,
    shop_name  text,
    plant_id   integer,
    plant_name text,
    model      text,             -- asset_detail.model_number
    serial     text,             -- asset_detail.serial_number
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,      -- NULL: current
    is_current boolean GENERATED ALWAYS AS (valid_to IS NULL) STORED,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX dim_robot_current ON dw.dim_robot (robot_id) WHERE valid_to IS NULL;
CREATE INDEX dim_robot_robot ON dw.dim_robot (robot_id, valid_from);

-- Each robot's attributes as they are now, as dim_robot holds them.
CREATE FUNCTION dw.robot_now() RETURNS TABLE (robot_id integer, name text, shop_id integer,
    shop_name text, plant_id integer, plant_name text, model text, serial text)
LANGUAGE sql STABLE AS $$
    SELECT r.robot_id, r.name, r.shop_id, s.name, s.plant_id, p.name, d.model_number,
           d.serial_number
      FROM robot r
      LEFT JOIN shop s ON s.shop_id = r.shop_id
      LEFT JOIN plant p ON p.plant_id = s.plant_id
      LEFT JOIN asset_detail d ON d.detail_id = r.detail_id
$$;

-- The dim_robot version of robot_id valid at time t: the latest that began at or before t, or
-- the robot's first version when t precedes them all (stream times may be older than the
-- dimension's history, which starts when the feed first saw the robot). NULL for a robot the
-- dimension has never seen.
CREATE FUNCTION dw.robot_key_at(robot_id integer, t timestamptz) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT d.robot_key FROM dw.dim_robot d
                      WHERE d.robot_id = $1 AND d.valid_from <= $2
                      ORDER BY d.valid_from DESC LIMIT 1),
                    (SELECT d.robot_key FROM dw.dim_robot d
                      WHERE d.robot_id = $1 ORDER BY d.valid_from LIMIT 1))
$$;

-- Closes the current version of every robot whose attributes differ from it or that no longer
-- exists, and opens a version for every robot without a current one (changed or new), valid
-- from now (the clock, once per call). Idempotent: with nothing changed it writes nothing.
-- consumer is unused (the dimension has no watermark: it is compared whole).
CREATE FUNCTION dw.feed_dim_robot(consumer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
BEGIN
    -- Two consumers syncing at once would both open a version; the second waits here and then
    -- sees the first's (each statement of a READ COMMITTED transaction takes a new snapshot).
    PERFORM pg_advisory_xact_lock(hashtext('pgpulse.dw.dim_robot'));
    -- After the lock, so that a version never begins before the one it follows.
    t := clock_timestamp();
    -- A join on robot_id, then the comparison: one hash join, whatever the estimates.
    UPDATE dw.dim_robot d SET valid_to = t
      FROM (SELECT v.robot_key
              FROM dw.dim_robot v
              LEFT JOIN dw.robot_now() r ON r.robot_id = v.robot_id
             WHERE v.valid_to IS NULL
               AND (r.robot_id IS NULL
                    OR (r.name, r.shop_id, r.shop_name, r.plant_id, r.plant_name, r.model, r.serial)
                       IS DISTINCT FROM
                       (v.name, v.shop_id, v.shop_name, v.plant_id, v.plant_name, v.model,
                        v.serial))) c
     WHERE d.robot_key = c.robot_key;
    INSERT INTO dw.dim_robot (robot_id, name, shop_id, shop_name, plant_id, plant_name, model,
                              serial, valid_from)
    SELECT r.robot_id, r.name, r.shop_id, r.shop_name, r.plant_id, r.plant_name, r.model,
           r.serial, t
      FROM dw.robot_now() r
     WHERE NOT EXISTS (SELECT 1 FROM dw.dim_robot d
                        WHERE d.robot_id = r.robot_id AND d.valid_to IS NULL);
END $$;

-- ---------------------------------------------------------------------------------------
-- fact_anomaly: one row per anomaly episode, a function of its anomaly row (and of dim_robot
-- for robot_key).
-- ---------------------------------------------------------------------------------------
CREATE TABLE dw.fact_anomaly (
    anomaly_id   bigint PRIMARY KEY,           -- anomaly.id
    consumer     text NOT NULL,                -- the detect consumer that found it
    robot_id     integer NOT NULL,
    robot_key    integer,                      -- dim_robot version valid at ts_start
    axis         smallint,                     -- NULL: the whole robot
    level        text NOT NULL,                -- ALERT, ERROR
    detector     text NOT NULL,
    reason       text NOT NULL,
    ts_first     timestamptz NOT NULL,
    ts_start     timestamptz NOT NULL,
    ts_end       timestamptz NOT NULL,
    start_minute timestamptz NOT NULL,         -- ts_start's minute (UTC), in dim_time
    duration_s   double precision NOT NULL,    -- ts_end - ts_start, seconds
    peak_score   double precision NOT NULL,
    peak_z       double precision NOT NULL,
    readings     integer NOT NULL,
    open         boolean NOT NULL
);
CREATE INDEX fact_anomaly_robot ON dw.fact_anomaly (robot_id, ts_start);
CREATE INDEX fact_anomaly_minute ON dw.fact_anomaly (start_minute);

-- Upserts the facts of the anomalies written since the consumer's watermark, deletes those of
-- anomalies deleted since, and moves the watermark to this snapshot's xmin.
CREATE FUNCTION dw.feed_anomaly(consumer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    who  text := consumer;
    w    xid8 := dw.watermark(who, 'anomaly');
    -- Taken before the rows are read: a transaction that the reads below do not see has an id
    -- at least this, so its rows are read by a later sync. The xmin counts the transaction
    -- taking the snapshot too (when it has an id): rows that a stage after this one writes in
    -- the same commit are read again.
    upto xid8 := pg_snapshot_xmin(pg_current_snapshot());
BEGIN
    DELETE FROM dw.fact_anomaly f USING dw.anomaly_gone g
     WHERE g.rev >= w AND f.anomaly_id = g.anomaly_id
       AND NOT EXISTS (SELECT 1 FROM anomaly a WHERE a.id = g.anomaly_id);
    PERFORM dw.ensure_time(m, m + interval '1 minute')
       FROM (SELECT DISTINCT date_trunc('minute', a.ts_start, 'UTC') AS m
               FROM anomaly a WHERE a.rev >= w) s;
    INSERT INTO dw.fact_anomaly AS f (anomaly_id, consumer, robot_id, robot_key, axis, level,
                                      detector, reason, ts_first, ts_start, ts_end, start_minute,
                                      duration_s, peak_score, peak_z, readings, open)
    SELECT a.id, a.consumer, a.robot_id, dw.robot_key_at(a.robot_id, a.ts_start), a.axis,
           a.level, a.detector, a.reason, a.ts_first, a.ts_start, a.ts_end,
           date_trunc('minute', a.ts_start, 'UTC'),
           extract(epoch FROM a.ts_end - a.ts_start)::double precision, a.peak_score, a.peak_z,
           a.readings, a.open
      FROM anomaly a
     WHERE a.rev >= w
    ON CONFLICT ON CONSTRAINT fact_anomaly_pkey DO UPDATE SET
           consumer = EXCLUDED.consumer, robot_id = EXCLUDED.robot_id,
           robot_key = EXCLUDED.robot_key, axis = EXCLUDED.axis, level = EXCLUDED.level,
           detector = EXCLUDED.detector, reason = EXCLUDED.reason, ts_first = EXCLUDED.ts_first,
           ts_start = EXCLUDED.ts_start, ts_end = EXCLUDED.ts_end,
           start_minute = EXCLUDED.start_minute, duration_s = EXCLUDED.duration_s,
           peak_score = EXCLUDED.peak_score, peak_z = EXCLUDED.peak_z,
           readings = EXCLUDED.readings, open = EXCLUDED.open
     -- A row read again unchanged is not rewritten.
     WHERE (f.consumer, f.robot_id, f.robot_key, f.axis, f.level, f.detector, f.reason,
            f.ts_first, f.ts_start, f.ts_end, f.peak_score, f.peak_z, f.readings, f.open)
           IS DISTINCT FROM
           (EXCLUDED.consumer, EXCLUDED.robot_id, EXCLUDED.robot_key, EXCLUDED.axis,
            EXCLUDED.level, EXCLUDED.detector, EXCLUDED.reason, EXCLUDED.ts_first,
            EXCLUDED.ts_start, EXCLUDED.ts_end, EXCLUDED.peak_score, EXCLUDED.peak_z,
            EXCLUDED.readings, EXCLUDED.open);
    PERFORM dw.set_watermark(who, 'anomaly', upto);
END $$;

-- ---------------------------------------------------------------------------------------
-- fact_prediction_hour: per consumer that made them, robot, kind, axis, horizon and hour (UTC)
-- of the time they were made at (prediction.ts): how many, their sum, mean, min and max value
-- (forecast: current in A; risk: failure probability, max being what a maintenance team
-- reads). Each row is recomputed from prediction, whole, when a sync sees one of its rows
-- written or deleted. sum is numeric (each value as PostgreSQL converts a double, 15
-- significant digits): exact, so the row does not depend on the order the rows were read in,
-- and hours roll up to days exactly (mean = sum / n).
-- ---------------------------------------------------------------------------------------
CREATE TABLE dw.fact_prediction_hour (
    consumer  text NOT NULL,                   -- the learn consumer that made them
    robot_id  integer NOT NULL,
    kind      text NOT NULL,                   -- forecast, risk
    axis      smallint NOT NULL,               -- 0: the whole robot (risk)
    horizon   integer NOT NULL,                -- forecast: readings ahead; risk: seconds
    hour      timestamptz NOT NULL,            -- in dim_time (its first minute)
    robot_key integer,                         -- dim_robot version valid at the hour's start
    n         integer NOT NULL,
    sum       numeric NOT NULL,
    mean      double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    PRIMARY KEY (consumer, robot_id, kind, axis, horizon, hour)
);
CREATE INDEX fact_prediction_hour_hour ON dw.fact_prediction_hour (hour);

-- Recomputes the groups (consumer, robot, kind, axis, horizon, hour) in which predictions were
-- written or deleted since the consumer's watermark (deleting those left empty), and moves the
-- watermark to this snapshot's xmin.
CREATE FUNCTION dw.feed_prediction(consumer text) RETURNS void LANGUAGE plpgsql AS $$
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
        SELECT t.consumer, t.robot_id, t.kind, t.axis, t.horizon, t.hour,
               count(*)::integer AS n, sum(p.value::numeric) AS sum,
               min(p.value) AS min, max(p.value) AS max
          FROM touched t
          JOIN prediction p ON p.consumer = t.consumer AND p.robot_id = t.robot_id
                           AND p.kind = t.kind AND p.axis = t.axis AND p.horizon = t.horizon
                           AND p.ts >= t.hour AND p.ts < t.hour + interval '1 hour'
         GROUP BY t.consumer, t.robot_id, t.kind, t.axis, t.horizon, t.hour
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

-- ---------------------------------------------------------------------------------------
-- The feeds, in order: the dimension first, so that the facts after it find the versions it
-- opened in the same sync.
-- ---------------------------------------------------------------------------------------
INSERT INTO dw.feed (name, fn, ord) VALUES
    ('dim_robot',  'dw.feed_dim_robot',  10),
    ('anomaly',    'dw.feed_anomaly',    20),
    ('prediction', 'dw.feed_prediction', 30);
