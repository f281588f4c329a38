-- 010: the learn stage (issue 11) — predictions, tracked runs and versioned models, in the
-- database the stream already writes. See docs/learn.md.
--
-- Every row here is written by the learn stage in the same transaction as its consumer's
-- checkpoint, so a consumer killed and restarted writes the same rows as an uninterrupted one
-- (wall-clock columns aside: created_at, started_at, ended_at, updated_at).

-- Predictions, at a rate bounded in stream time (so that a replay and a restart write the same
-- rows): each robot's forecasts per axis once a minute of its readings' time, its failure risk
-- every 10 min.
CREATE TABLE prediction (
    consumer      text NOT NULL,
    robot_id      integer NOT NULL,
    ts            timestamptz NOT NULL,   -- the stream time it was made at (the robot's reading)
    kind          text NOT NULL CHECK (kind IN ('forecast', 'risk')),
    axis          smallint NOT NULL CHECK (axis BETWEEN 0 AND 8), -- 0: the whole robot (risk)
    horizon       integer NOT NULL,       -- forecast: readings ahead; risk: seconds ahead
    target_ts     timestamptz NOT NULL,   -- forecast: the time it is for; risk: ts + horizon
    value         double precision NOT NULL, -- forecast: current (A); risk: probability
    model_version integer,                -- risk: the champion's version that made it
    PRIMARY KEY (consumer, robot_id, kind, axis, horizon, ts)
);
CREATE INDEX prediction_ts ON prediction (ts);

-- The learners' state per robot (forecasters, risk features, labels still pending), written
-- for the robots whose state changed, with the checkpoint.
CREATE TABLE learn_robot_state (
    consumer text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    robot_id integer NOT NULL,
    state    bytea NOT NULL,
    PRIMARY KEY (consumer, robot_id)
);
DO $$
BEGIN
    ALTER TABLE learn_robot_state ALTER COLUMN state SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END $$;

-- Tracking, in MLflow's terms: an experiment is a learning task; a run is one learner
-- learning it in one consumer (the champion and the challenger are two runs); a run's metrics
-- are logged every N records; model versions are snapshots of a run's state.
CREATE TABLE experiment (
    experiment_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    description     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE run (
    run_id        text PRIMARY KEY CHECK (run_id ~ '^[0-9a-f]{32}$'), -- md5 of consumer, experiment, role
    experiment_id integer NOT NULL REFERENCES experiment,
    consumer      text NOT NULL,
    name          text NOT NULL,          -- e.g. failure_risk/champion
    model         text NOT NULL,          -- the learner
    params        jsonb NOT NULL,
    status        text NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
    records       bigint NOT NULL DEFAULT 0,
    stream_start  timestamptz,            -- stream time of its first record
    stream_end    timestamptz,            -- of its latest
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at      timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE run_metric (
    run_id text NOT NULL REFERENCES run ON DELETE CASCADE,
    key    text NOT NULL,
    step   bigint NOT NULL,               -- records learned when it was logged
    ts     timestamptz NOT NULL,          -- stream time when it was logged
    value  double precision NOT NULL,
    PRIMARY KEY (run_id, key, step)
);

CREATE TABLE model_version (
    consumer    text NOT NULL,
    name        text NOT NULL,            -- failure_risk
    version     integer NOT NULL CHECK (version >= 1),
    run_id      text NOT NULL REFERENCES run,
    model       text NOT NULL,            -- the learner
    state       bytea NOT NULL,           -- serialised (docs/learn.md)
    metrics     jsonb NOT NULL,           -- its prequential figures when it was taken
    alias       text CHECK (alias IN ('champion', 'challenger')),
    stream_ts   timestamptz NOT NULL,     -- stream time it was taken at
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, name, version)
);
CREATE UNIQUE INDEX model_version_alias ON model_version (consumer, name, alias) WHERE alias IS NOT NULL;
