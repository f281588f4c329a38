-- 003: stream consumers — their positions, their stages' state, the live stage's tables, and
-- the column the polling source reads. See docs/streaming.md.

-- A consumer reads new readings (logical replication, or polling) and runs stages over them.
CREATE TABLE stream_consumer (
    consumer    text PRIMARY KEY,           -- e.g. 'live', 'live+detect', 'live.s0of2'
    stages      text[] NOT NULL,
    source_kind text NOT NULL CHECK (source_kind IN ('cdc', 'poll')),
    slot_name   text,                       -- cdc: its replication slot
    publication text,                       -- cdc: its publication (with the shard's row filter)
    shard       integer NOT NULL DEFAULT 0,
    shards      integer NOT NULL DEFAULT 1 CHECK (shards >= 1 AND shard >= 0 AND shard < shards),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Where a consumer is, per source: a source is a server whose changes it reads ('local' on
-- plain PostgreSQL; one per node on Citus, whose node streams are independent). Written in the
-- same transaction as the consumer's stage outputs, so outputs and position never disagree.
CREATE TABLE stream_checkpoint (
    consumer       text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    source         text NOT NULL,
    commit_lsn     pg_lsn,        -- cdc: commit LSN of the last transaction applied in full
    end_lsn        pg_lsn,        -- cdc: its end LSN (what the slot is told is flushed)
    partial_lsn    pg_lsn,        -- cdc: commit LSN of a transaction applied in part ...
    partial_rows   bigint NOT NULL DEFAULT 0, -- ... and how many of its rows
    poll_xid       bigint,        -- poll: every transaction below this id is applied
    rows           bigint NOT NULL DEFAULT 0, -- rows consumed so far
    last_commit    timestamptz,   -- cdc: commit time of the last transaction applied
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source)
);

-- Each stage's state (a serialised blob), saved with the checkpoint.
CREATE TABLE stream_stage_state (
    consumer   text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    stage      text NOT NULL,
    state      bytea,
    rows       bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stage)
);

-- The polling source (for servers without replication rights) reads rows by the transaction
-- that inserted them: every row of a transaction below the current snapshot's xmin is final,
-- committed or not, however the transactions interleaved (docs/streaming.md). A BRIN index is
-- enough: ids grow with insertion order, and it costs next to nothing on ingest.
ALTER TABLE reading ADD COLUMN txid bigint NOT NULL DEFAULT txid_current();
CREATE INDEX reading_txid ON reading USING brin (txid);

-- ---------------------------------------------------------------------------------------
-- The live stage: what a dashboard needs, without scanning readings per request.
-- ---------------------------------------------------------------------------------------

-- Per robot: its last reading and today's count. state: 'running' (the last reading had a
-- non-zero axis), 'idle' (every axis 0), 'stale' (its last reading is more than 60 s older
-- than the newest reading of the fleet).
CREATE TABLE live_robot (
    robot_id   integer PRIMARY KEY,
    last_ts    timestamptz NOT NULL,
    axis1      double precision NOT NULL,
    axis2      double precision NOT NULL,
    axis3      double precision NOT NULL,
    axis4      double precision NOT NULL,
    axis5      double precision NOT NULL,
    axis6      double precision NOT NULL,
    axis7      double precision NOT NULL,
    axis8      double precision NOT NULL,
    state      text NOT NULL CHECK (state IN ('running', 'idle', 'stale')),
    day        date NOT NULL,          -- the UTC day rows_today counts (of last_ts)
    rows_today bigint NOT NULL,
    rows_total bigint NOT NULL
);

-- Per second of reading time: rows and distinct robots, one part per shard (kept for 24 h of
-- reading time). Read through the view live_fleet_second, which adds the shards up.
CREATE TABLE live_fleet_second_part (
    second        timestamptz NOT NULL,
    shard         integer NOT NULL,
    rows          bigint NOT NULL,
    active_robots integer NOT NULL,
    PRIMARY KEY (second, shard)
);

CREATE VIEW live_fleet_second AS
    SELECT second, sum(rows)::bigint AS rows, sum(active_robots)::integer AS active_robots
      FROM live_fleet_second_part
     GROUP BY second;
