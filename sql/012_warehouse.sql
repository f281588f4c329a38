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

-- Sparse histograms: sorted pairs [bin, count, bin, count, ...] (bins: dw_agg_bin in
-- src/dw_agg.h). hist_add merges two; hist_sum is the aggregate over rows.
CREATE FUNCTION dw.hist_add(a integer[], b integer[]) RETURNS integer[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(x ORDER BY bin, k), '{}')
      FROM (SELECT bin, sum(cnt)::integer AS cnt
              FROM (SELECT a[2 * i - 1] AS bin, a[2 * i] AS cnt FROM generate_subscripts(a, 1) AS i
                     WHERE i <= cardinality(a) / 2
                    UNION ALL
                    SELECT b[2 * i - 1], b[2 * i] FROM generate_subscripts(b, 1) AS i
                     WHERE i <= cardinality(b) / 2) p
             GROUP BY bin) m,
           LATERAL (VALUES (1, bin), (2, cnt)) AS v(k, x)
$$;
CREATE AGGREGATE dw.hist_sum(integer[]) (SFUNC = dw.hist_add, STYPE = integer[], INITCOND = '{}');

-- The histogram without its bin 0 (the readings that were exactly 0: an idle axis).
CREATE FUNCTION dw.hist_nonzero(h integer[]) RETURNS integer[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(x ORDER BY i, k), '{}')
      FROM (SELECT i, h[2 * i - 1] AS bin, h[2 * i] AS cnt FROM generate_subscripts(h, 1) AS i
             WHERE i <= cardinality(h) / 2) p,
           LATERAL (VALUES (1, bin), (2, cnt)) AS v(k, x)
     WHERE bin <> 0
$$;

-- A bin's value: its geometric middle (0 for bin 0), within 1 % of any value in the bin.
CREATE FUNCTION dw.hist_value(bin integer) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN bin = 0 THEN 0
                WHEN bin > 0 THEN 1e-3 * power(1.02, bin - 0.5)
                ELSE -1e-3 * power(1.02, -bin - 0.5) END
$$;

-- The p-quantile (0 <= p <= 1) of a histogram: the value of the first bin (in value order) at
-- which the cumulative count reaches p of the total; NULL for an empty histogram.
CREATE FUNCTION dw.hist_quantile(h integer[], p double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT dw.hist_value(bin)
      FROM (SELECT bin, sum(cnt) OVER (ORDER BY bin) AS cum, sum(cnt) OVER () AS total
              FROM (SELECT h[2 * i - 1] AS bin, h[2 * i] AS cnt FROM generate_subscripts(h, 1) AS i
                     WHERE i <= cardinality(h) / 2) b) c
     WHERE cum >= p * total
     ORDER BY bin
     LIMIT 1
$$;

-- Per robot and minute: readings, active readings (some axis non-zero), and per axis a:
-- n (non-zero readings), s = sum of rint(v * 10^6), q = sum of its squares, min, max, histogram.
CREATE TABLE dw.fact_reading_minute (
    robot_id integer NOT NULL,
    minute   timestamptz NOT NULL,
    rows     integer NOT NULL,
    active   integer NOT NULL,
    n1 integer NOT NULL, s1 numeric NOT NULL, q1 numeric NOT NULL, mn1 double precision NOT NULL, mx1 double precision NOT NULL, h1 integer[] NOT NULL,
    n2 integer NOT NULL, s2 numeric NOT NULL, q2 numeric NOT NULL, mn2 double precision NOT NULL, mx2 double precision NOT NULL, h2 integer[] NOT NULL,
    n3 integer NOT NULL, s3 numeric NOT NULL, q3 numeric NOT NULL, mn3 double precision NOT NULL, mx3 double precision NOT NULL, h3 integer[] NOT NULL,
    n4 integer NOT NULL, s4 numeric NOT NULL, q4 numeric NOT NULL, mn4 double precision NOT NULL, mx4 double precision NOT NULL, h4 integer[] NOT NULL,
    n5 integer NOT NULL, s5 numeric NOT NULL, q5 numeric NOT NULL, mn5 double precision NOT NULL, mx5 double precision NOT NULL, h5 integer[] NOT NULL,
    n6 integer NOT NULL, s6 numeric NOT NULL, q6 numeric NOT NULL, mn6 double precision NOT NULL, mx6 double precision NOT NULL, h6 integer[] NOT NULL,
    n7 integer NOT NULL, s7 numeric NOT NULL, q7 numeric NOT NULL, mn7 double precision NOT NULL, mx7 double precision NOT NULL, h7 integer[] NOT NULL,
    n8 integer NOT NULL, s8 numeric NOT NULL, q8 numeric NOT NULL, mn8 double precision NOT NULL, mx8 double precision NOT NULL, h8 integer[] NOT NULL,
    PRIMARY KEY (robot_id, minute)
);
CREATE INDEX fact_reading_minute_minute ON dw.fact_reading_minute (minute);

-- The same per hour and per day (UTC), recomputed from the minutes.
CREATE TABLE dw.fact_reading_hour (
    robot_id integer NOT NULL,
    hour     timestamptz NOT NULL,
    rows     integer NOT NULL,
    active   integer NOT NULL,
    n1 integer NOT NULL, s1 numeric NOT NULL, q1 numeric NOT NULL, mn1 double precision NOT NULL, mx1 double precision NOT NULL, h1 integer[] NOT NULL,
    n2 integer NOT NULL, s2 numeric NOT NULL, q2 numeric NOT NULL, mn2 double precision NOT NULL, mx2 double precision NOT NULL, h2 integer[] NOT NULL,
    n3 integer NOT NULL, s3 numeric NOT NULL, q3 numeric NOT NULL, mn3 double precision NOT NULL, mx3 double precision NOT NULL, h3 integer[] NOT NULL,
    n4 integer NOT NULL, s4 numeric NOT NULL, q4 numeric NOT NULL, mn4 double precision NOT NULL, mx4 double precision NOT NULL, h4 integer[] NOT NULL,
    n5 integer NOT NULL, s5 numeric NOT NULL, q5 numeric NOT NULL, mn5 double precision NOT NULL, mx5 double precision NOT NULL, h5 integer[] NOT NULL,
    n6 integer NOT NULL, s6 numeric NOT NULL, q6 numeric NOT NULL, mn6 double precision NOT NULL, mx6 double precision NOT NULL, h6 integer[] NOT NULL,
    n7 integer NOT NULL, s7 numeric NOT NULL, q7 numeric NOT NULL, mn7 double precision NOT NULL, mx7 double precision NOT NULL, h7 integer[] NOT NULL,
    n8 integer NOT NULL, s8 numeric NOT NULL, q8 numeric NOT NULL, mn8 double precision NOT NULL, mx8 double precision NOT NULL, h8 integer[] NOT NULL,
    PRIMARY KEY (robot_id, hour)
);
CREATE INDEX fact_reading_hour_hour ON dw.fact_reading_hour (hour);

CREATE TABLE dw.fact_reading_day (
    robot_id integer NOT NULL,
    day      date NOT NULL,
    rows     integer NOT NULL,
    active   integer NOT NULL,
    n1 integer NOT NULL, s1 numeric NOT NULL, q1 numeric NOT NULL, mn1 double precision NOT NULL, mx1 double precision NOT NULL, h1 integer[] NOT NULL,
    n2 integer NOT NULL, s2 numeric NOT NULL, q2 numeric NOT NULL, mn2 double precision NOT NULL, mx2 double precision NOT NULL, h2 integer[] NOT NULL,
    n3 integer NOT NULL, s3 numeric NOT NULL, q3 numeric NOT NULL, mn3 double precision NOT NULL, mx3 double precision NOT NULL, h3 integer[] NOT NULL,
    n4 integer NOT NULL, s4 numeric NOT NULL, q4 numeric NOT NULL, mn4 double precision NOT NULL, mx4 double precision NOT NULL, h4 integer[] NOT NULL,
    n5 integer NOT NULL, s5 numeric NOT NULL, q5 numeric NOT NULL, mn5 double precision NOT NULL, mx5 double precision NOT NULL, h5 integer[] NOT NULL,
    n6 integer NOT NULL, s6 numeric NOT NULL, q6 numeric NOT NULL, mn6 double precision NOT NULL, mx6 double precision NOT NULL, h6 integer[] NOT NULL,
    n7 integer NOT NULL, s7 numeric NOT NULL, q7 numeric NOT NULL, mn7 double precision NOT NULL, mx7 double precision NOT NULL, h7 integer[] NOT NULL,
    n8 integer NOT NULL, s8 numeric NOT NULL, q8 numeric NOT NULL, mn8 double precision NOT NULL, mx8 double precision NOT NULL, h8 integer[] NOT NULL,
    PRIMARY KEY (robot_id, day)
);
CREATE INDEX fact_reading_day_day ON dw.fact_reading_day (day);

-- Recomputes the hour rows of (robot_ids[i], hours[i]) from their minutes (and deletes those
-- with no minute left), then the day rows of the days they fall in. Idempotent.
CREATE FUNCTION dw.rollup(robot_ids integer[], hours timestamptz[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    touched_r integer[];
    touched_h timestamptz[];
BEGIN
    SELECT array_agg(r), array_agg(h) INTO touched_r, touched_h
      FROM (SELECT DISTINCT r, date_trunc('hour', h) AS h FROM unnest(robot_ids, hours) AS u(r, h)) d;
    DELETE FROM dw.fact_reading_hour f USING unnest(touched_r, touched_h) AS t(robot_id, hour)
     WHERE f.robot_id = t.robot_id AND f.hour = t.hour;
    INSERT INTO dw.fact_reading_hour (robot_id, hour, rows, active, n1, s1, q1, mn1, mx1, h1, n2, s2, q2, mn2, mx2, h2, n3, s3, q3, mn3, mx3, h3, n4, s4, q4, mn4, mx4, h4, n5, s5, q5, mn5, mx5, h5, n6, s6, q6, mn6, mx6, h6, n7, s7, q7, mn7, mx7, h7, n8, s8, q8, mn8, mx8, h8)
    SELECT m.robot_id, t.hour, sum(m.rows)::integer, sum(m.active)::integer,
           sum(n1)::integer, sum(s1), sum(q1), min(mn1), max(mx1), dw.hist_sum(h1),
           sum(n2)::integer, sum(s2), sum(q2), min(mn2), max(mx2), dw.hist_sum(h2),
           sum(n3)::integer, sum(s3), sum(q3), min(mn3), max(mx3), dw.hist_sum(h3),
           sum(n4)::integer, sum(s4), sum(q4), min(mn4), max(mx4), dw.hist_sum(h4),
           sum(n5)::integer, sum(s5), sum(q5), min(mn5), max(mx5), dw.hist_sum(h5),
           sum(n6)::integer, sum(s6), sum(q6), min(mn6), max(mx6), dw.hist_sum(h6),
           sum(n7)::integer, sum(s7), sum(q7), min(mn7), max(mx7), dw.hist_sum(h7),
           sum(n8)::integer, sum(s8), sum(q8), min(mn8), max(mx8), dw.hist_sum(h8)
      FROM unnest(touched_r, touched_h) AS t(robot_id, hour)
      JOIN dw.fact_reading_minute m ON m.robot_id = t.robot_id
                                   AND m.minute >= t.hour AND m.minute < t.hour + interval '1 hour'
     GROUP BY m.robot_id, t.hour;
    DELETE FROM dw.fact_reading_day f
     USING (SELECT DISTINCT robot_id, (hour AT TIME ZONE 'UTC')::date AS day FROM unnest(touched_r, touched_h) AS t(robot_id, hour)) d
     WHERE f.robot_id = d.robot_id AND f.day = d.day;
    INSERT INTO dw.fact_reading_day (robot_id, day, rows, active, n1, s1, q1, mn1, mx1, h1, n2, s2, q2, mn2, mx2, h2, n3, s3, q3, mn3, mx3, h3, n4, s4, q4, mn4, mx4, h4, n5, s5, q5, mn5, mx5, h5, n6, s6, q6, mn6, mx6, h6, n7, s7, q7, mn7, mx7, h7, n8, s8, q8, mn8, mx8, h8)
    SELECT h.robot_id, d.day, sum(h.rows)::integer, sum(h.active)::integer,
           sum(n1)::integer, sum(s1), sum(q1), min(mn1), max(mx1), dw.hist_sum(h1),
           sum(n2)::integer, sum(s2), sum(q2), min(mn2), max(mx2), dw.hist_sum(h2),
           sum(n3)::integer, sum(s3), sum(q3), min(mn3), max(mx3), dw.hist_sum(h3),
           sum(n4)::integer, sum(s4), sum(q4), min(mn4), max(mx4), dw.hist_sum(h4),
           sum(n5)::integer, sum(s5), sum(q5), min(mn5), max(mx5), dw.hist_sum(h5),
           sum(n6)::integer, sum(s6), sum(q6), min(mn6), max(mx6), dw.hist_sum(h6),
           sum(n7)::integer, sum(s7), sum(q7), min(mn7), max(mx7), dw.hist_sum(h7),
           sum(n8)::integer, sum(s8), sum(q8), min(mn8), max(mx8), dw.hist_sum(h8)
      FROM (SELECT DISTINCT robot_id, (hour AT TIME ZONE 'UTC')::date AS day FROM unnest(touched_r, touched_h) AS t(robot_id, hour)) d
      JOIN dw.fact_reading_hour h ON h.robot_id = d.robot_id
                                 AND h.hour >= (d.day::timestamp AT TIME ZONE 'UTC')
                                 AND h.hour < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
     GROUP BY h.robot_id, d.day;
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
