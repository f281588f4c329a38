-- grants: what each pgpulse role may do in this database (see docs/security.md).
--
-- Not a migration: `pgpulse init` runs it after the migrations every time, in the same
-- transaction, so it is the whole truth about the four roles' rights on pgpulse's tables: it
-- first takes every privilege they hold on the schema's tables and views away, then gives the
-- ones below.
-- A migration that adds a table or view adds its lines here (tests/integration/test_roles.c
-- fails for a relation that no role may use). The roles themselves are created by
-- `pgpulse init` and `pgpulse db start` (src/roles.c) before this runs.
--
--   pgpulse_writer  ingest, gen --db, import-assets, import-maintenance
--   pgpulse_stage   the stream consumers (live, detect, ...)
--   pgpulse_reader  the dashboard and API: reads, never writes
--   pgpulse_dashboard  `pgpulse serve`: a member of pgpulse_reader, and acknowledges episodes

-- A grant rewrites the catalog row of its table: a partition being created at the same time
-- (by a load, or by the init that ran just before) would make one of the two fail ("tuple
-- concurrently updated"). reading_ensure_partition takes this lock too.
SELECT pg_advisory_xact_lock(hashtext('pgpulse.reading_ensure_partition'));

DO $$
DECLARE
    rel regclass;
BEGIN
    -- Partitions are left alone: they are reached through `reading` only.
    FOR rel IN SELECT c.oid FROM pg_class c
                WHERE c.relnamespace = current_schema()::regnamespace
                  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition LOOP
        EXECUTE format('REVOKE ALL ON %s FROM pgpulse_writer, pgpulse_stage, pgpulse_reader,'
                       ' pgpulse_dashboard',
                       rel);
    END LOOP;
    -- Whoever may grant on the schema and database (their owner) makes the rights the roles
    -- need explicit, so that a hardened PUBLIC (no USAGE, no TEMPORARY) does not break them.
    IF has_schema_privilege(current_schema(), 'USAGE WITH GRANT OPTION') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO pgpulse_writer, pgpulse_stage,'
                       ' pgpulse_reader', current_schema());
    END IF;
    -- PUBLIC may create objects in the public schema before PostgreSQL 15: no longer. The
    -- schema's owner keeps the right (an owner's rights are not PUBLIC's).
    IF pg_has_role((SELECT nspowner FROM pg_namespace WHERE nspname = current_schema()),
                   'MEMBER') THEN
        EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', current_schema());
    END IF;
    -- The loader stages a batch in a temporary table when a plain COPY meets rows that are
    -- already stored.
    IF has_database_privilege(current_database(), 'TEMPORARY WITH GRANT OPTION') THEN
        EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO pgpulse_writer', current_database());
    END IF;
END $$;

-- Every command checks the schema version first.
GRANT SELECT ON schema_migration TO pgpulse_writer, pgpulse_stage, pgpulse_reader;

-- ---------------------------------------------------------------------------------------
-- pgpulse_writer: loads readings, rejects, ground truth and assets. It reads what it writes
-- (INSERT ... ON CONFLICT needs it, and a load that lost its connection at COMMIT looks its
-- batch up in ingest_batch); it reads no stage output.
-- ---------------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE ON plant, shop, asset_detail, robot, controller, part, data_source,
    feed TO pgpulse_writer;
GRANT SELECT, INSERT ON reading, ingest_batch, ingest_reject, fault, maintenance_event
    TO pgpulse_writer;
-- import-maintenance updates a work order exported again with changes; an order's identity
-- (robot_id, source, work_order) is not the writer's to change. Its revision (rev) is: on Citus
-- the writer sets it to the coordinator's transaction (a trigger there would run on a worker);
-- on plain PostgreSQL the trigger overrides whatever the writer sets. Citus has no column
-- privileges on a distributed table: there the writer may update the row (Citus itself refuses
-- a change of robot_id, the distribution column; event_id is an identity ALWAYS).
DO $$
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        IF (SELECT count(*) FROM pg_catalog.pg_dist_partition
             WHERE logicalrelid = 'maintenance_event'::regclass) > 0 THEN
            GRANT UPDATE ON maintenance_event TO pgpulse_writer;
            RETURN;
        END IF;
    END IF;
    GRANT UPDATE (axis, kind, ts, ts_end, detail, rev) ON maintenance_event TO pgpulse_writer;
END $$;
REVOKE EXECUTE ON FUNCTION reading_ensure_partition(date), reading_ensure_partitions(date, date)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reading_ensure_partition(date), reading_ensure_partitions(date, date)
    TO pgpulse_writer;

-- ---------------------------------------------------------------------------------------
-- pgpulse_stage: reads the stream, writes the consumers' positions and state and the stages'
-- outputs. It cannot load readings. Creating a publication needs the owner of `reading`:
-- consumers get theirs from reading_publication() (SECURITY DEFINER).
-- ---------------------------------------------------------------------------------------
GRANT SELECT ON reading TO pgpulse_stage;
-- The learn stage reads failures (its late labels) by a watermark.
GRANT SELECT ON maintenance_event TO pgpulse_stage;
-- The warehouse's robot dimension (dw.feed_dim_robot) compares the assets with its versions.
GRANT SELECT ON plant, shop, asset_detail, robot TO pgpulse_stage;
GRANT SELECT, INSERT, UPDATE, DELETE ON stream_consumer, stream_checkpoint, stream_stage_state,
    stream_applied_xid, stream_robot_source, live_robot, live_fleet_second_part, anomaly, detect_robot_state,
    detect_band, prediction, learn_robot_state, learn_robot_waveform, experiment, run, run_metric,
    model_version TO pgpulse_stage;
REVOKE EXECUTE ON FUNCTION reading_publication(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reading_publication(integer, integer) TO pgpulse_stage;

-- ---------------------------------------------------------------------------------------
-- pgpulse_reader: what the dashboard, the API and `pgpulse status` show. Not the stages'
-- internal state (stream_stage_state, detect_robot_state), not the partition helpers.
-- stream_applied_xid is read for its count only (status: how many applied transactions a
-- consumer still lists).
-- ---------------------------------------------------------------------------------------
GRANT SELECT ON plant, shop, asset_detail, robot, controller, part, data_source, feed, reading,
    ingest_batch, ingest_reject, fault, maintenance_event, stream_consumer, stream_checkpoint,
    stream_applied_xid,
    live_robot, live_fleet_second_part, live_fleet_second, live_robot_status, anomaly,
    anomaly_ack, detect_band, prediction, experiment, run, run_metric, model_version
    TO pgpulse_reader;
-- The learn stage's per-robot state is internal, but POST /api/predict starts from it.
GRANT SELECT ON learn_robot_state, learn_robot_waveform TO pgpulse_reader;

-- ---------------------------------------------------------------------------------------
-- pgpulse_dashboard: the dashboard's server. It reads through pgpulse_reader (a member of it)
-- and writes one thing: acknowledgements of episodes (POST /api/anomalies/{id}/ack).
-- ---------------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE ON anomaly_ack TO pgpulse_dashboard;

-- ---------------------------------------------------------------------------------------
-- The warehouse (schema dw): the stages keep it, the readers read it. Every table of the
-- schema, so that tables later migrations add are covered by the same lines.
-- ---------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA dw TO pgpulse_stage, pgpulse_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA dw TO pgpulse_stage;
GRANT SELECT ON ALL TABLES IN SCHEMA dw TO pgpulse_reader;
