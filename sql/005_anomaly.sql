-- 005: the detect stage — anomaly episodes and the detectors' per-robot state. See
-- docs/detect.md.

-- One row per episode: a stretch of flagged readings of one robot on one axis (axis NULL: the
-- whole robot — a multivariate or data-quality finding). Written while it grows (open), in the
-- same transaction as the consumer's checkpoint, so a consumer killed and restarted writes the
-- same rows. Keyed by the time of its first flagged reading (ts_first).
CREATE TABLE anomaly (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer    text NOT NULL,
    robot_id    integer NOT NULL,
    axis        smallint CHECK (axis BETWEEN 1 AND 8),
    axis_key    smallint GENERATED ALWAYS AS (coalesce(axis, 0)) STORED,
    level       text NOT NULL CHECK (level IN ('ALERT', 'ERROR')),
    ts_first    timestamptz NOT NULL,      -- time of the first flagged reading
    ts_start    timestamptz NOT NULL,      -- earliest time of a flagged reading
    ts_end      timestamptz NOT NULL,      -- latest
    peak_score  double precision NOT NULL CHECK (peak_score BETWEEN 0 AND 1),
    peak_z      double precision NOT NULL, -- the deciding detector's statistic (sigmas)
    detector    text NOT NULL,             -- regress, robust, cusum, hst, quality
    reason      text NOT NULL DEFAULT '',  -- quality findings: stuck, gap, late, ...
    readings    integer NOT NULL,          -- flagged readings
    open        boolean NOT NULL,          -- still growing
    created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(), -- the transaction that first wrote it
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (consumer, robot_id, axis_key, ts_first)
);
CREATE INDEX anomaly_robot_ts ON anomaly (robot_id, ts_start);
CREATE INDEX anomaly_ts ON anomaly (ts_start);

-- The detectors' state per robot (a fixed-size binary block per robot, see src/detect.h),
-- written for the robots whose state changed, with the checkpoint.
CREATE TABLE detect_robot_state (
    consumer text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    robot_id integer NOT NULL,
    state    bytea NOT NULL,
    PRIMARY KEY (consumer, robot_id)
);
-- The blocks are rewritten at every commit of the stage: lz4 compresses their zeros several
-- times faster than the default pglz (where the server has lz4; PostgreSQL 14+).
DO $$
BEGIN
    ALTER TABLE detect_robot_state ALTER COLUMN state SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END $$;
