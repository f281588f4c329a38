-- citus: distributes the schema on a Citus coordinator (docs/scaling.md, "Beyond one
-- PostgreSQL"). Run by `pgpulse init` after the migrations, in a transaction of its own, when the
-- database has the citus extension, is the coordinator and has at least one worker
-- (src/migrate.h). Idempotent: each step is skipped when done; a table a later migration adds
-- stays on the coordinator until a step here places it.
--
-- Placement (each checked by tests/integration/test_citus_schema.c):
--   reference (a copy on every node): the asset tables;
--   distributed by robot_id, colocated with reading: reading (its day partitions too), fault,
--     maintenance_event;
--   coordinator-local (plain tables): everything else — the stream's own tables, the stages'
--     outputs and state, the models, dw.*, ingest bookkeeping.
--
-- Citus refuses triggers on distributed and reference tables (they would run on the workers'
-- shards). Their guarantees hold otherwise:
--   reading_robot_exists, robot_keep_referenced: a FOREIGN KEY reading -> robot (Citus checks it
--     on the workers against their copy of the reference table, and refuses deleting or
--     renumbering a robot with readings);
--   maintenance_event_rev: the writers set rev to the coordinator's transaction id in the
--     statement (the column's default on insert; import-maintenance's update sets it).
SET LOCAL client_min_messages = warning;

DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'reading'::regclass) THEN
        DROP TRIGGER IF EXISTS robot_keep_referenced ON robot;
        DROP TRIGGER IF EXISTS reading_robot_exists ON reading;
        DROP TRIGGER IF EXISTS maintenance_event_rev ON maintenance_event;
        -- A local table with a foreign key to a table becoming a reference table is made a Citus
        -- local table, which Citus then refuses to distribute while it has an identity column:
        -- the keys to robot go first and come back once both sides are placed.
        ALTER TABLE fault DROP CONSTRAINT IF EXISTS fault_robot_id_fkey;
        ALTER TABLE maintenance_event DROP CONSTRAINT IF EXISTS maintenance_event_robot_id_fkey;
        FOREACH t IN ARRAY ARRAY['plant', 'asset_detail', 'feed', 'shop', 'robot', 'controller',
                                 'part', 'data_source'] LOOP
            -- (A table that references one made a reference table before it is a Citus local
            -- table by then: in pg_dist_partition, but not replicated, repmodel 's'.)
            IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = t::regclass
                                                             AND repmodel = 't') THEN
                PERFORM create_reference_table(t);
            END IF;
        END LOOP;
        PERFORM create_distributed_table('reading', 'robot_id');
        PERFORM create_distributed_table('fault', 'robot_id', colocate_with => 'reading');
        PERFORM create_distributed_table('maintenance_event', 'robot_id',
                                         colocate_with => 'reading');
        ALTER TABLE reading ADD CONSTRAINT reading_robot_id_fkey
            FOREIGN KEY (robot_id) REFERENCES robot;
        ALTER TABLE fault ADD CONSTRAINT fault_robot_id_fkey
            FOREIGN KEY (robot_id) REFERENCES robot;
        ALTER TABLE maintenance_event ADD CONSTRAINT maintenance_event_robot_id_fkey
            FOREIGN KEY (robot_id) REFERENCES robot;
    END IF;
END $$;

-- A new day's partition of the distributed reading is distributed as it is created (Citus does
-- it), but the foreign key to the reference table robot makes Citus refuse to create the shards
-- over parallel connections ("cannot execute parallel DDL on table reading after DDL command on
-- reference table robot"): one connection per node.
ALTER FUNCTION reading_ensure_partition(date) SET citus.multi_shard_modify_mode = 'sequential';
