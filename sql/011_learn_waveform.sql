-- The forecasters' waveform memory (src/learn_forecast.h): per robot and cycle slot, the
-- currents the robot's program draws at each 20 ms of a run. Kept apart from
-- learn_robot_state because it is large (about 20 KB a slot) and changes a slot at a time (at
-- the end of a run): the learn stage writes, with the checkpoint, the slots that changed.
CREATE TABLE learn_robot_waveform (
    consumer text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    robot_id integer NOT NULL,
    slot     integer NOT NULL,
    cells    bytea NOT NULL,
    PRIMARY KEY (consumer, robot_id, slot)
);
DO $$
BEGIN
    ALTER TABLE learn_robot_waveform ALTER COLUMN cells SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END $$;
-- A learn_robot_state written before this migration has no room for the memory's bookkeeping:
-- the learn stage refuses it (drop the consumer to start afresh).
