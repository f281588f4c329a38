-- 002: ground truth of injected faults (written by the simulator, `pgpulse gen`).
--
-- One row per fault: which robot and axis (NULL: the whole robot), what kind, how severe, and
-- the time range of the readings it affected, as the readings carry it (for dropout and
-- repair: the range in which readings are missing). Detectors are scored against this table.

CREATE TABLE fault (
    fault_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    robot_id  integer NOT NULL REFERENCES robot,
    axis      smallint CHECK (axis BETWEEN 1 AND 8),
    kind      text NOT NULL CHECK (kind IN ('plateau', 'spike', 'stuck', 'noise', 'dropout',
                                            'wear', 'duplicate', 'late', 'clock_jump')),
    level     text NOT NULL CHECK (level IN ('ALERT', 'ERROR')),
    ts_start  timestamptz NOT NULL,
    ts_end    timestamptz NOT NULL CHECK (ts_end >= ts_start),
    magnitude double precision,      -- plateau, spike, noise: sigmas; wear: rise; others: seconds
    rows      bigint,                -- readings affected (missing, for dropout)
    source    text                   -- e.g. 'gen seed=1'
);
-- The same fault written twice (a rerun of the same seed) is stored once.
CREATE UNIQUE INDEX fault_identity ON fault (robot_id, kind, coalesce(axis, 0), ts_start);
CREATE INDEX fault_robot_time ON fault (robot_id, ts_start);

-- The simulator also records failures and repairs; a rerun must not record them twice.
CREATE UNIQUE INDEX maintenance_event_identity ON maintenance_event (robot_id, kind, ts);
