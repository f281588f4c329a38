-- 017: every table distributable by robot (Citus; docs/scaling.md, docs/schema.md). Citus
-- requires a distributed table's distribution column in every unique constraint: the per-robot
-- tables that had a key of their own (an identity) now have (robot_id, id) as primary key.
-- Plain PostgreSQL is unchanged in behaviour: the identities are still unique on their own (one
-- sequence each), and a lookup by id alone has an index of its own.

-- fault: written by the simulator (gen), read by the queries; fault_identity already has robot_id.
ALTER TABLE fault DROP CONSTRAINT fault_pkey;
ALTER TABLE fault ADD PRIMARY KEY (robot_id, fault_id);
CREATE INDEX fault_id ON fault (fault_id);

-- maintenance_event: a work order is unique within its source and robot (an order exported again
-- for another robot is refused by import-maintenance, which says so, rather than moved).
ALTER TABLE maintenance_event DROP CONSTRAINT maintenance_event_pkey;
ALTER TABLE maintenance_event ADD PRIMARY KEY (robot_id, event_id);
CREATE INDEX maintenance_event_id ON maintenance_event (event_id);
DROP INDEX maintenance_event_work_order;
CREATE UNIQUE INDEX maintenance_event_work_order ON maintenance_event (robot_id, source, work_order);
-- Still a work order's identity for the lookups that do not know its robot.
CREATE INDEX maintenance_event_order ON maintenance_event (source, work_order);

-- anomaly: the dashboard acknowledges an episode by its id; an acknowledgement now carries the
-- episode's robot, so that it lives where the episode lives.
ALTER TABLE anomaly_ack DROP CONSTRAINT anomaly_ack_anomaly_id_fkey;
ALTER TABLE anomaly_ack ADD COLUMN robot_id integer;
UPDATE anomaly_ack k SET robot_id = a.robot_id FROM anomaly a WHERE a.id = k.anomaly_id;
ALTER TABLE anomaly_ack ALTER COLUMN robot_id SET NOT NULL;
ALTER TABLE anomaly DROP CONSTRAINT anomaly_pkey;
ALTER TABLE anomaly ADD PRIMARY KEY (robot_id, id);
CREATE INDEX anomaly_id ON anomaly (id);
ALTER TABLE anomaly_ack DROP CONSTRAINT anomaly_ack_pkey;
ALTER TABLE anomaly_ack ADD PRIMARY KEY (robot_id, anomaly_id);
ALTER TABLE anomaly_ack ADD FOREIGN KEY (robot_id, anomaly_id) REFERENCES anomaly (robot_id, id)
    ON DELETE CASCADE;
CREATE INDEX anomaly_ack_id ON anomaly_ack (anomaly_id);

-- The robot dimension's view of the assets, as PL/pgSQL (the same rows): Citus cannot plan an
-- inlined SQL function over reference tables inside the feed's parameterised statements
-- ("parameterized queries for SQL functions referencing distributed tables are not supported");
-- a PL/pgSQL function's query is planned on its own.
CREATE OR REPLACE FUNCTION dw.robot_now() RETURNS TABLE (robot_id integer, name text,
    shop_id integer, shop_name text, plant_id integer, plant_name text, model text, serial text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT r.robot_id, r.name, r.shop_id, s.name, s.plant_id, p.name, d.model_number,
           d.serial_number
      FROM robot r
      LEFT JOIN shop s ON s.shop_id = r.shop_id
      LEFT JOIN plant p ON p.plant_id = s.plant_id
      LEFT JOIN asset_detail d ON d.detail_id = r.detail_id;
END $$;
