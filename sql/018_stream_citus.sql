-- 018: a consumer on Citus (docs/scaling.md). It reads every node's change stream, one source
-- each (stream_checkpoint.source = 'host:port' of the node, beside the 'local' row that keeps
-- the consumer's totals), and must hand each robot to its stages in time order although a
-- robot's rows come from two independent node streams around a shard move: the node that last
-- delivered each robot is kept here, in the commit's transaction, so a consumer restarted after
-- a move still holds the new node's rows until the old node's stream has passed the move.
CREATE TABLE stream_robot_source (
    consumer text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    robot_id integer NOT NULL,
    source   text NOT NULL,
    PRIMARY KEY (consumer, robot_id)
);
