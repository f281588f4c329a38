-- 007: least privilege. The roles and what each may do are in sql/grants.sql (applied by every
-- `pgpulse init`, after the migrations); this migration changes what must be versioned.
--
-- The partition helpers run with the rights of their owner (the schema's owner, who ran
-- `init`): a day's partition is created by whoever loads into it, and a loader that does not
-- own `reading` may not create partitions of it. Their search_path is pinned to the schema they
-- live in (then pg_temp, last), so a caller's search_path cannot substitute objects of its own.
-- Who may call them is decided in grants.sql (not PUBLIC).
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION reading_ensure_partition(date) SECURITY DEFINER'
                   ' SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION reading_ensure_partitions(date, date) SECURITY DEFINER'
                   ' SET search_path = %I, pg_temp', current_schema());
END $$;
