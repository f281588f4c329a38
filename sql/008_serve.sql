-- 008: the dashboard's one write — acknowledging an anomaly episode (POST
-- /api/anomalies/{id}/ack, docs/api.md). The server's login may insert and update here and
-- nowhere else (sql/grants.sql). One row per acknowledged episode; acknowledging again replaces
-- the note and keeps the first time.
CREATE TABLE anomaly_ack (
    anomaly_id bigint PRIMARY KEY REFERENCES anomaly ON DELETE CASCADE,
    acked_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    acked_by   text NOT NULL CHECK (length(acked_by) <= 200), -- the client's address
    note       text NOT NULL DEFAULT '' CHECK (length(note) <= 1000)
);
