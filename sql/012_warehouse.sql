-- 012: the warehouse (issue 12), schema dw — see docs/warehouse.md, the contract this follows.
--
-- fact_reading_minute holds exact, mergeable aggregates per robot and minute (sums of integers
-- scaled by 10^6, min, max, sparse histograms), written by the warehouse stage in its commit;
-- the hour and day rollups are recomputed from the minutes for the hours and days a commit
-- touched. Facts fed from tables other writers update (anomaly, prediction, maintenance_event,
-- the robot dimension) register a feed function in dw.feed; the stage calls dw.sync_feeds in
-- its commit, and each feed keeps its own watermark in dw.feed_watermark.

CREATE SCHEMA IF NOT EXISTS dw;

-- A minute of the calendar (UTC), for every minute a fact refers to.
CREATE TABLE dw.dim_time (
    minute        timestamptz PRIMARY KEY,
    day           date NOT NULL,
    year          smallint NOT NULL,
    quarter       smallint NOT NULL,
    month         smallint NOT NULL,
    day_of_month  smallint NOT NULL,
    iso_week      smallint NOT NULL,
    day_of_week   smallint NOT NULL,   -- ISO: 1 Monday .. 7 Sunday
    hour          smallint NOT NULL,
    minute_of_day smallint NOT NULL,
    is_weekend    boolean NOT NULL
);

-- Adds the minutes of [lo, hi) that dim_time lacks. Idempotent.
CREATE FUNCTION dw.ensure_time(lo timestamptz, hi timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO dw.dim_time
    SELECT m, (m AT TIME ZONE 'UTC')::date,
           extract(year FROM m AT TIME ZONE 'UTC'), extract(quarter FROM m AT TIME ZONE 'UTC'),
           extract(month FROM m AT TIME ZONE 'UTC'), extract(day FROM m AT TIME ZONE 'UTC'),
           extract(week FROM m AT TIME ZONE 'UTC'), extract(isodow FROM m AT TIME ZONE 'UTC'),
           extract(hour FROM m AT TIME ZONE 'UTC'),
           extract(hour FROM m AT TIME ZONE 'UTC') * 60 + extract(minute FROM m AT TIME ZONE 'UTC'),
           extract(isodow FROM m AT TIME ZONE 'UTC') >= 6
      FROM generate_series(date_trunc('minute', lo), hi - interval '1 microsecond', interval '1 minute') AS g(m)
    ON CONFLICT (minute) DO NOTHING
$$;

-- Histograms: arrays of bigint entries, one per non-empty bin, sorted: (bin << 32) | count
-- (bins: dw_agg_bin in src/dw_agg.h, -1000..1000; counts below 2^32). One entry per bin keeps
-- unnest — the fast way through an array — enough to read a bin and its count at once.
-- hist_bin and hist_count decode an entry; hist_quantiles reads quantiles off merged entries.
-- (Merging belongs in one relational pass — unnest every entry, sum per bin, as dw.rollup and
-- sql/queries/percentiles.sql do — not in pairwise SQL merges, which cost ~1 ms each.)
CREATE FUNCTION dw.hist_bin(e bigint) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (e >> 32)::integer
$$;
CREATE FUNCTION dw.hist_count(e bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT e & 4294967295
$$;
-- A bin's value: its geometric middle (0 for bin 0), within 1 % of any value in the bin.
CREATE FUNCTION dw.hist_value(bin integer) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN bin = 0 THEN 0
                WHEN bin > 0 THEN 1e-3 * power(1.02, bin - 0.5)
                ELSE -1e-3 * power(1.02, -bin - 0.5) END
$$;

-- Quantiles of merged histograms in one pass: entries sorted by value (several histograms'
-- entries together, a bin repeated once per histogram, is fine), ps the levels (0..1); returns
-- each level's bin value (hist_value), NULL for no entries.
CREATE FUNCTION dw.hist_quantiles(entries bigint[], ps double precision[]) RETURNS double precision[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    total bigint := 0;
    cum bigint := 0;
    e bigint;
    k integer := 1;
    n integer := cardinality(ps);
    out double precision[] := array_fill(NULL::double precision, ARRAY[n]);
BEGIN
    IF entries IS NULL OR cardinality(entries) = 0 THEN
        RETURN out;
    END IF;
    FOREACH e IN ARRAY entries LOOP
        total := total + (e & 4294967295);
    END LOOP;
    FOREACH e IN ARRAY entries LOOP
        cum := cum + (e & 4294967295);
        WHILE k <= n AND cum >= ps[k] * total LOOP
            out[k] := dw.hist_value((e >> 32)::integer);
            k := k + 1;
        END LOOP;
        EXIT WHEN k > n;
    END LOOP;
    RETURN out;
END $$;

-- Per robot and minute: readings, active readings (some axis non-zero), and per axis a:
-- n (non-zero readings), s = sum of rint(v * 10^6), q = sum of its squares, min, max, histogram
-- (bigint entries (bin << 32) | count, above).
CREATE TABLE dw.fact_reading_minute (
    robot_id integer NOT NULL,
    minute   timestamptz NOT NULL,
    rows     integer NOT NULL,
    active   integer NOT NULL,
    n1 integer NOT NULL, s1 numeric NOT NULL, q1 numeric NOT NULL, mn1 double precision NOT NULL, mx1 double precision NOT NULL, h1 bigint[] NOT NULL,
    n2 integer NOT NULL, s2 numeric NOT NULL, q2 numeric NOT NULL, mn2 double precision NOT NULL, mx2 double precision NOT NULL, h2 bigint[] NOT NULL,
    n3 integer NOT NULL, s3 numeric NOT NULL, q3 numeric NOT NULL, mn3 double precision NOT NULL, mx3 double precision NOT NULL, h3 bigint[] NOT NULL,
    n4 integer NOT NULL, s4 numeric NOT NULL, q4 numeric NOT NULL, mn4 double precision NOT NULL, mx4 double precision NOT NULL, h4 bigint[] NOT NULL,
    n5 integer NOT NULL, s5 numeric NOT NULL, q5 numeric NOT NULL, mn5 double precision NOT NULL, mx5 double precision NOT NULL, h5 bigint[] NOT NULL,
    n6 integer NOT NULL, s6 numeric NOT NULL, q6 numeric NOT NULL, mn6 double precision NOT NULL, mx6 double precision NOT NULL, h6 bigint[] NOT NULL,
    n7 integer NOT NULL, s7 numeric NOT NULL, q7 numeric NOT NULL, mn7 double precision NOT NULL, mx7 double precision NOT NULL, h7 bigint[] NOT NULL,
    n8 integer NOT NULL, s8 numeric NOT NULL, q8 numeric NOT NULL, mn8 double precision NOT NULL, mx8 double precision NOT NULL, h8 bigint[] NOT NULL,
    PRIMARY KEY (robot_id, minute)
);
CREATE INDEX fact_reading_minute_minute ON dw.fact_reading_minute (minute);

-- The same per hour and per day (UTC), recomputed from the minutes.
CREATE TABLE dw.fact_reading_hour (
    robot_id integer NOT NULL,
    hour     timestamptz NOT NULL,
    rows     integer NOT NULL,
    active   integer NOT NULL,
    n1 integer NOT NULL, s1 numeric NOT NULL, q1 numeric NOT NULL, mn1 double precision NOT NULL, mx1 double precision NOT NULL, h1 bigint[] NOT NULL,
    n2 integer NOT NULL, s2 numeric NOT NULL, q2 numeric NOT NULL, mn2 double precision NOT NULL, mx2 double precision NOT NULL, h2 bigint[] NOT NULL,
    n3 integer NOT NULL, s3 numeric NOT NULL, q3 numeric NOT NULL, mn3 double precision NOT NULL, mx3 double precision NOT NULL, h3 bigint[] NOT NULL,
    n4 integer NOT NULL, s4 numeric NOT NULL, q4 numeric NOT NULL, mn4 double precision NOT NULL, mx4 double precision NOT NULL, h4 bigint[] NOT NULL,
    n5 integer NOT NULL, s5 numeric NOT NULL, q5 numeric NOT NULL, mn5 double precision NOT NULL, mx5 double precision NOT NULL, h5 bigint[] NOT NULL,
    n6 integer NOT NULL, s6 numeric NOT NULL, q6 numeric NOT NULL, mn6 double precision NOT NULL, mx6 double precision NOT NULL, h6 bigint[] NOT NULL,
    n7 integer NOT NULL, s7 numeric NOT NULL, q7 numeric NOT NULL, mn7 double precision NOT NULL, mx7 double precision NOT NULL, h7 bigint[] NOT NULL,
    n8 integer NOT NULL, s8 numeric NOT NULL, q8 numeric NOT NULL, mn8 double precision NOT NULL, mx8 double precision NOT NULL, h8 bigint[] NOT NULL,
    PRIMARY KEY (robot_id, hour)
);
CREATE INDEX fact_reading_hour_hour ON dw.fact_reading_hour (hour);

CREATE TABLE dw.fact_reading_day (
    robot_id integer NOT NULL,
    day      date NOT NULL,
    rows     integer NOT NULL,
    active   integer NOT NULL,
    n1 integer NOT NULL, s1 numeric NOT NULL, q1 numeric NOT NULL, mn1 double precision NOT NULL, mx1 double precision NOT NULL, h1 bigint[] NOT NULL,
    n2 integer NOT NULL, s2 numeric NOT NULL, q2 numeric NOT NULL, mn2 double precision NOT NULL, mx2 double precision NOT NULL, h2 bigint[] NOT NULL,
    n3 integer NOT NULL, s3 numeric NOT NULL, q3 numeric NOT NULL, mn3 double precision NOT NULL, mx3 double precision NOT NULL, h3 bigint[] NOT NULL,
    n4 integer NOT NULL, s4 numeric NOT NULL, q4 numeric NOT NULL, mn4 double precision NOT NULL, mx4 double precision NOT NULL, h4 bigint[] NOT NULL,
    n5 integer NOT NULL, s5 numeric NOT NULL, q5 numeric NOT NULL, mn5 double precision NOT NULL, mx5 double precision NOT NULL, h5 bigint[] NOT NULL,
    n6 integer NOT NULL, s6 numeric NOT NULL, q6 numeric NOT NULL, mn6 double precision NOT NULL, mx6 double precision NOT NULL, h6 bigint[] NOT NULL,
    n7 integer NOT NULL, s7 numeric NOT NULL, q7 numeric NOT NULL, mn7 double precision NOT NULL, mx7 double precision NOT NULL, h7 bigint[] NOT NULL,
    n8 integer NOT NULL, s8 numeric NOT NULL, q8 numeric NOT NULL, mn8 double precision NOT NULL, mx8 double precision NOT NULL, h8 bigint[] NOT NULL,
    PRIMARY KEY (robot_id, day)
);
CREATE INDEX fact_reading_day_day ON dw.fact_reading_day (day);

-- Recomputes the hour rows of (robot_ids[i], hours[i]) from their minutes (and deletes those
-- with no minute left), then the day rows of the days they fall in. Idempotent. Histograms are
-- merged relationally (every bin of every row, summed per bin), not pairwise: one pass however
-- many rows an hour or a day has.
CREATE FUNCTION dw.rollup(robot_ids integer[], hours timestamptz[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    touched_r integer[];
    touched_h timestamptz[];
BEGIN
    SELECT array_agg(r), array_agg(h) INTO touched_r, touched_h
      FROM (SELECT DISTINCT r, date_trunc('hour', h, 'UTC') AS h FROM unnest(robot_ids, hours) AS u(r, h)) d;
    DELETE FROM dw.fact_reading_hour f USING unnest(touched_r, touched_h) AS t(robot_id, hour)
     WHERE f.robot_id = t.robot_id AND f.hour = t.hour;
    WITH t AS (SELECT * FROM unnest(touched_r, touched_h) AS t(robot_id, hour)),
    src AS (
        SELECT t.hour, m.* FROM t JOIN dw.fact_reading_minute m ON m.robot_id = t.robot_id
                           AND m.minute >= t.hour AND m.minute < t.hour + interval '1 hour'
    ), s AS (
        SELECT robot_id, hour, sum(rows)::integer AS rows, sum(active)::integer AS active,
               sum(src.n1)::integer AS n1, sum(src.s1) AS s1, sum(src.q1) AS q1, min(src.mn1) AS mn1, max(src.mx1) AS mx1,
               sum(src.n2)::integer AS n2, sum(src.s2) AS s2, sum(src.q2) AS q2, min(src.mn2) AS mn2, max(src.mx2) AS mx2,
               sum(src.n3)::integer AS n3, sum(src.s3) AS s3, sum(src.q3) AS q3, min(src.mn3) AS mn3, max(src.mx3) AS mx3,
               sum(src.n4)::integer AS n4, sum(src.s4) AS s4, sum(src.q4) AS q4, min(src.mn4) AS mn4, max(src.mx4) AS mx4,
               sum(src.n5)::integer AS n5, sum(src.s5) AS s5, sum(src.q5) AS q5, min(src.mn5) AS mn5, max(src.mx5) AS mx5,
               sum(src.n6)::integer AS n6, sum(src.s6) AS s6, sum(src.q6) AS q6, min(src.mn6) AS mn6, max(src.mx6) AS mx6,
               sum(src.n7)::integer AS n7, sum(src.s7) AS s7, sum(src.q7) AS q7, min(src.mn7) AS mn7, max(src.mx7) AS mx7,
               sum(src.n8)::integer AS n8, sum(src.s8) AS s8, sum(src.q8) AS q8, min(src.mn8) AS mn8, max(src.mx8) AS mx8
          FROM src GROUP BY robot_id, hour
    ), p AS (
        SELECT src.robot_id, src.hour, v.axis, e >> 32 AS bin, sum(e & 4294967295)::bigint AS cnt
          FROM src
         CROSS JOIN LATERAL (VALUES (1, src.h1), (2, src.h2), (3, src.h3), (4, src.h4), (5, src.h5), (6, src.h6), (7, src.h7), (8, src.h8)) AS v(axis, h)
         CROSS JOIN LATERAL unnest(v.h) AS u(e)
         GROUP BY 1, 2, 3, 4
    ), hs AS (
        SELECT robot_id, hour, axis, array_agg((bin << 32) | cnt ORDER BY bin) AS h
          FROM p GROUP BY 1, 2, 3
    ), hp AS (
        SELECT robot_id, hour,
                   max(h) FILTER (WHERE axis = 1) AS h1,
                   max(h) FILTER (WHERE axis = 2) AS h2,
                   max(h) FILTER (WHERE axis = 3) AS h3,
                   max(h) FILTER (WHERE axis = 4) AS h4,
                   max(h) FILTER (WHERE axis = 5) AS h5,
                   max(h) FILTER (WHERE axis = 6) AS h6,
                   max(h) FILTER (WHERE axis = 7) AS h7,
                   max(h) FILTER (WHERE axis = 8) AS h8
          FROM hs GROUP BY 1, 2
    )
    INSERT INTO dw.fact_reading_hour (robot_id, hour, rows, active, n1, s1, q1, mn1, mx1, h1, n2, s2, q2, mn2, mx2, h2, n3, s3, q3, mn3, mx3, h3, n4, s4, q4, mn4, mx4, h4, n5, s5, q5, mn5, mx5, h5, n6, s6, q6, mn6, mx6, h6, n7, s7, q7, mn7, mx7, h7, n8, s8, q8, mn8, mx8, h8)
    SELECT s.robot_id, s.hour, s.rows, s.active,
           s.n1, s.s1, s.q1, s.mn1, s.mx1, coalesce(hp.h1, '{}'),
           s.n2, s.s2, s.q2, s.mn2, s.mx2, coalesce(hp.h2, '{}'),
           s.n3, s.s3, s.q3, s.mn3, s.mx3, coalesce(hp.h3, '{}'),
           s.n4, s.s4, s.q4, s.mn4, s.mx4, coalesce(hp.h4, '{}'),
           s.n5, s.s5, s.q5, s.mn5, s.mx5, coalesce(hp.h5, '{}'),
           s.n6, s.s6, s.q6, s.mn6, s.mx6, coalesce(hp.h6, '{}'),
           s.n7, s.s7, s.q7, s.mn7, s.mx7, coalesce(hp.h7, '{}'),
           s.n8, s.s8, s.q8, s.mn8, s.mx8, coalesce(hp.h8, '{}')
      FROM s LEFT JOIN hp ON hp.robot_id = s.robot_id AND hp.hour = s.hour;
    DELETE FROM dw.fact_reading_day f
     USING (SELECT DISTINCT robot_id, (hour AT TIME ZONE 'UTC')::date AS day FROM unnest(touched_r, touched_h) AS t(robot_id, hour)) d
     WHERE f.robot_id = d.robot_id AND f.day = d.day;
    WITH d AS (SELECT DISTINCT robot_id, (hour AT TIME ZONE 'UTC')::date AS day FROM unnest(touched_r, touched_h) AS t(robot_id, hour)),
    src AS (
        SELECT d.day, h.* FROM d JOIN dw.fact_reading_hour h ON h.robot_id = d.robot_id
                           AND h.hour >= (d.day::timestamp AT TIME ZONE 'UTC')
                           AND h.hour < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
    ), s AS (
        SELECT robot_id, day, sum(rows)::integer AS rows, sum(active)::integer AS active,
               sum(src.n1)::integer AS n1, sum(src.s1) AS s1, sum(src.q1) AS q1, min(src.mn1) AS mn1, max(src.mx1) AS mx1,
               sum(src.n2)::integer AS n2, sum(src.s2) AS s2, sum(src.q2) AS q2, min(src.mn2) AS mn2, max(src.mx2) AS mx2,
               sum(src.n3)::integer AS n3, sum(src.s3) AS s3, sum(src.q3) AS q3, min(src.mn3) AS mn3, max(src.mx3) AS mx3,
               sum(src.n4)::integer AS n4, sum(src.s4) AS s4, sum(src.q4) AS q4, min(src.mn4) AS mn4, max(src.mx4) AS mx4,
               sum(src.n5)::integer AS n5, sum(src.s5) AS s5, sum(src.q5) AS q5, min(src.mn5) AS mn5, max(src.mx5) AS mx5,
               sum(src.n6)::integer AS n6, sum(src.s6) AS s6, sum(src.q6) AS q6, min(src.mn6) AS mn6, max(src.mx6) AS mx6,
               sum(src.n7)::integer AS n7, sum(src.s7) AS s7, sum(src.q7) AS q7, min(src.mn7) AS mn7, max(src.mx7) AS mx7,
               sum(src.n8)::integer AS n8, sum(src.s8) AS s8, sum(src.q8) AS q8, min(src.mn8) AS mn8, max(src.mx8) AS mx8
          FROM src GROUP BY robot_id, day
    ), p AS (
        SELECT src.robot_id, src.day, v.axis, e >> 32 AS bin, sum(e & 4294967295)::bigint AS cnt
          FROM src
         CROSS JOIN LATERAL (VALUES (1, src.h1), (2, src.h2), (3, src.h3), (4, src.h4), (5, src.h5), (6, src.h6), (7, src.h7), (8, src.h8)) AS v(axis, h)
         CROSS JOIN LATERAL unnest(v.h) AS u(e)
         GROUP BY 1, 2, 3, 4
    ), hs AS (
        SELECT robot_id, day, axis, array_agg((bin << 32) | cnt ORDER BY bin) AS h
          FROM p GROUP BY 1, 2, 3
    ), hp AS (
        SELECT robot_id, day,
                   max(h) FILTER (WHERE axis = 1) AS h1,
                   max(h) FILTER (WHERE axis = 2) AS h2,
                   max(h) FILTER (WHERE axis = 3) AS h3,
                   max(h) FILTER (WHERE axis = 4) AS h4,
                   max(h) FILTER (WHERE axis = 5) AS h5,
                   max(h) FILTER (WHERE axis = 6) AS h6,
                   max(h) FILTER (WHERE axis = 7) AS h7,
                   max(h) FILTER (WHERE axis = 8) AS h8
          FROM hs GROUP BY 1, 2
    )
    INSERT INTO dw.fact_reading_day (robot_id, day, rows, active, n1, s1, q1, mn1, mx1, h1, n2, s2, q2, mn2, mx2, h2, n3, s3, q3, mn3, mx3, h3, n4, s4, q4, mn4, mx4, h4, n5, s5, q5, mn5, mx5, h5, n6, s6, q6, mn6, mx6, h6, n7, s7, q7, mn7, mx7, h7, n8, s8, q8, mn8, mx8, h8)
    SELECT s.robot_id, s.day, s.rows, s.active,
           s.n1, s.s1, s.q1, s.mn1, s.mx1, coalesce(hp.h1, '{}'),
           s.n2, s.s2, s.q2, s.mn2, s.mx2, coalesce(hp.h2, '{}'),
           s.n3, s.s3, s.q3, s.mn3, s.mx3, coalesce(hp.h3, '{}'),
           s.n4, s.s4, s.q4, s.mn4, s.mx4, coalesce(hp.h4, '{}'),
           s.n5, s.s5, s.q5, s.mn5, s.mx5, coalesce(hp.h5, '{}'),
           s.n6, s.s6, s.q6, s.mn6, s.mx6, coalesce(hp.h6, '{}'),
           s.n7, s.s7, s.q7, s.mn7, s.mx7, coalesce(hp.h7, '{}'),
           s.n8, s.s8, s.q8, s.mn8, s.mx8, coalesce(hp.h8, '{}')
      FROM s LEFT JOIN hp ON hp.robot_id = s.robot_id AND hp.day = s.day;
END $$;

-- Feeds: facts kept from tables other writers update. A feed is a function fn(consumer text)
-- that brings its facts up to date inside the caller's transaction, keeping its own watermark
-- in dw.feed_watermark (see docs/warehouse.md: rows carry rev xid8, the watermark is the
-- snapshot's xmin). Migrations register them; dw.sync_feeds runs them in order.
CREATE TABLE dw.feed (
    name text PRIMARY KEY,
    fn   regproc NOT NULL,
    ord  integer NOT NULL
);
CREATE TABLE dw.feed_watermark (
    consumer text NOT NULL REFERENCES stream_consumer ON DELETE CASCADE,
    feed     text NOT NULL REFERENCES dw.feed,
    rev      xid8 NOT NULL,
    PRIMARY KEY (consumer, feed)
);
CREATE FUNCTION dw.sync_feeds(consumer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT fn FROM dw.feed ORDER BY ord, name LOOP
        EXECUTE format('SELECT %s($1)', f.fn) USING consumer;
    END LOOP;
END $$;
