-- 009: the expected band the dashboard draws around each axis: per consumer and robot, the
-- regress detector's prediction for the robot's latest reading and the residual sigma per axis
-- (the page draws pred ± 2 and ± 4 sigma). Written by the detect stage in the same transaction
-- as its checkpoint, for the robots whose state changed, so it is exactly-once like the rest of
-- the stage's outputs. NULL elements: the detector is not warm on that axis yet.
CREATE TABLE detect_band (
    consumer text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    robot_id integer NOT NULL,
    ts       timestamptz NOT NULL,            -- the reading the prediction is for
    pred     double precision[] NOT NULL,     -- 8 elements: axis1..axis8
    sigma    double precision[] NOT NULL,     -- 8 elements
    PRIMARY KEY (consumer, robot_id)
);
