-- 006: a consumer whose replication slot is lost recovers without losing or repeating a row, and
-- consumers share their publications. See docs/streaming.md ("A lost slot").

-- What a checkpoint holds besides LSNs: which transactions are applied, in transaction-id terms
-- (which outlive a slot), and where a recovery stands.
--   accounted(x) := covered shows x as ended, or x is in stream_applied_xid
-- Every accounted transaction is applied or committed before the consumer began; every
-- committed transaction with rows in reading that is not accounted has not been applied.
ALTER TABLE stream_checkpoint
    -- new: no slot yet; stream: reading its slot; recovering: replacing a lost slot;
    -- catchup: reading from the table what the lost slot did not deliver
    ADD COLUMN mode text NOT NULL DEFAULT 'stream'
        CHECK (mode IN ('new', 'stream', 'recovering', 'catchup')),
    ADD COLUMN covered pg_snapshot,              -- cdc: transactions it shows as ended are accounted
    ADD COLUMN partial_xid bigint,               -- cdc: the transaction of partial_lsn ...
    ADD COLUMN partial_robots integer[],         -- ... its robots with rows applied ...
    ADD COLUMN partial_last timestamptz[],       -- ... the latest ts applied of each ...
    ADD COLUMN partial_skip_robots integer[],    -- ... and its rows at or before that ts
    ADD COLUMN partial_skip_ts timestamptz[],    --     not applied yet (robot, ts)
    ADD COLUMN catchup_snapshot pg_snapshot,     -- catchup: the new slot's exported snapshot ...
    ADD COLUMN catchup_lsn pg_lsn,               -- ... and its consistent point
    ADD COLUMN catchup_ts timestamptz,           -- catchup: the last row delivered, in
    ADD COLUMN catchup_robot integer,            --          (ts, robot_id) order
    ADD COLUMN recoveries integer NOT NULL DEFAULT 0, -- slots lost and recovered from
    ADD COLUMN recovered_at timestamptz;         -- when the last recovery began

-- The transactions a cdc consumer applied that its covered snapshot does not show as ended:
-- those since the newest snapshot its stream has passed (a handful while it keeps up; the
-- backlog's while it works through one). Rows are added and removed with the checkpoint.
CREATE TABLE stream_applied_xid (
    consumer text NOT NULL,
    source   text NOT NULL,
    xid      bigint NOT NULL,
    PRIMARY KEY (consumer, source, xid),
    FOREIGN KEY (consumer, source) REFERENCES stream_checkpoint ON DELETE CASCADE
);

-- The publications consumers read: one for all robots, one per shard (i of n) with a row filter.
-- Shared by every consumer, created on demand by their owner, so that a role that runs stages
-- needs no right to create publications on reading, only EXECUTE on this function.
CREATE FUNCTION reading_publication(shard integer, shards integer) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    pub text;
BEGIN
    IF shard IS NULL OR shards IS NULL OR shards < 1 OR shards > 1024 OR shard < 0
       OR shard >= shards THEN
        RAISE EXCEPTION 'reading_publication(%, %): expected 0 <= shard < shards <= 1024',
              shard, shards USING ERRCODE = 'invalid_parameter_value';
    END IF;
    pub := CASE WHEN shards = 1 THEN 'pgpulse_reading'
                ELSE format('pgpulse_reading_%sof%s', shard, shards) END;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = pub) THEN
        BEGIN
            EXECUTE format('CREATE PUBLICATION %I FOR TABLE reading %s WITH (publish = '
                           '''insert'', publish_via_partition_root = true)', pub,
                           CASE WHEN shards > 1
                                THEN format('WHERE (robot_id %% %s = %s)', shards, shard)
                                ELSE '' END);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another consumer created it a moment ago
        END;
    END IF;
    RETURN pub;
END $$;

-- A SECURITY DEFINER function must not find its objects through the caller's search_path: pin
-- it to the schema the migrations run in.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION reading_publication(integer, integer) SET search_path = %I, '
                   'pg_temp', current_schema());
END $$;
REVOKE ALL ON FUNCTION reading_publication(integer, integer) FROM PUBLIC;

SELECT reading_publication(0, 1);
