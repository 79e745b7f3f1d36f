-- 004: the clean-up job. Ended sessions go with all their tokens; nothing
-- of a live session is touched, because its rotated tokens are what
-- recognises reuse. Work is done in batches so no statement holds locks
-- for long, and rows being refreshed right now are skipped, not waited for.
--
-- A session has ended when it is past its absolute end, past its idle end
-- (its live token expired unused), or revoked more than a day ago. Revoked
-- sessions stay that day so that their tokens keep answering as revoked
-- (rather than unknown) while clients and operators look at the event; by
-- then every token of theirs has long been refused.
-- Login-limiter rows go once idle for 15 minutes and unblocked: the
-- limiter has forgotten them by then anyway.

-- The indexes the deletes and their foreign keys need: without them each
-- deleted token would scan the table for rows naming it as successor.
CREATE INDEX refresh_tokens_successor_idx ON refresh_tokens (successor_id)
    WHERE successor_id IS NOT NULL;
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_idle_expiry_idx ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- One batch: at most p_batch ended sessions (with their tokens) and at most
-- p_batch limiter rows. Returns what it deleted.
CREATE FUNCTION latch_purge_batch(p_batch integer, p_now timestamptz DEFAULT now())
RETURNS TABLE (sessions_deleted bigint, tokens_deleted bigint,
               throttle_deleted bigint)
LANGUAGE sql AS $fn$
    WITH ended AS (
        SELECT id FROM sessions
         WHERE absolute_expires_at <= p_now
            OR idle_expires_at <= p_now
            OR revoked_at <= p_now - interval '1 day'
         LIMIT p_batch
           FOR UPDATE SKIP LOCKED),
    tokens AS (
        DELETE FROM refresh_tokens t USING ended e
         WHERE t.session_id = e.id
        RETURNING 1),
    gone AS (
        DELETE FROM sessions s USING ended e
         WHERE s.id = e.id
        RETURNING 1),
    forgotten AS (
        DELETE FROM login_throttle
         WHERE ctid IN (SELECT ctid FROM login_throttle
                         WHERE last_failure_at <= p_now - interval '15 minutes'
                           AND (blocked_until IS NULL OR blocked_until <= p_now)
                         LIMIT p_batch
                           FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM tokens),
           (SELECT count(*) FROM forgotten)
$fn$;

-- Everything, one committed batch at a time (CALL it outside a
-- transaction block, as pg_cron does).
CREATE PROCEDURE latch_purge(p_batch integer DEFAULT 5000)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    rounds integer := 0;
BEGIN
    LOOP
        SELECT * INTO r FROM latch_purge_batch(p_batch);
        COMMIT;
        rounds := rounds + 1;
        -- A short batch means the backlog is gone; the bound only guards
        -- against a clock gone wild.
        EXIT WHEN (r.sessions_deleted < p_batch AND r.throttle_deleted < p_batch)
               OR rounds >= 100000;
    END LOOP;
END
$fn$;

-- Where pg_cron is installed in this database, schedule the purge every
-- 15 minutes (pg_cron runs in UTC); elsewhere the cron entry or systemd
-- timer in deploy/ runs `latchctl purge`.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cron.schedule('latch-purge', '*/15 * * * *',
                              'CALL latch_purge(5000)');
        RAISE NOTICE 'latch: purge scheduled with pg_cron as job latch-purge (every 15 minutes)';
    ELSE
        RAISE NOTICE 'latch: pg_cron is not installed in this database; schedule `latchctl purge` (deploy/cron/latch-purge or deploy/systemd/latch-purge.timer)';
    END IF;
END
$do$;
