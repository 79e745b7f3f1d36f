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

-- Deleting a user cascades to its sessions through this index. (The
-- idle end is deliberately not indexed: every refresh moves it, and an
-- index would turn each of those cheap heap-only updates into a full one;
-- the purge can afford a scan every 15 minutes, a refresh cannot.)
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- One batch: at most p_batch ended sessions (with their tokens) after the
-- session id p_after, in id order, so that a run of batches walks the
-- table once; and at most p_batch limiter rows. Returns what it deleted
-- and the last session id it looked at (NULL when none: the walk is over).
CREATE FUNCTION latch_purge_batch(p_batch integer, p_after uuid DEFAULT NULL,
                                  p_now timestamptz DEFAULT now())
RETURNS TABLE (sessions_deleted bigint, tokens_deleted bigint,
               throttle_deleted bigint, last_id uuid)
LANGUAGE sql AS $fn$
    -- The ids as one array, so the deletes below probe the session_id
    -- and primary-key indexes instead of joining a CTE the planner cannot
    -- size.
    WITH ended AS (
        SELECT array_agg(id ORDER BY id) AS ids FROM (
            SELECT id FROM sessions
             WHERE id > COALESCE(p_after, '00000000-0000-0000-0000-000000000000')
               AND (absolute_expires_at <= p_now
                    OR idle_expires_at <= p_now
                    OR revoked_at <= p_now - interval '1 day')
             ORDER BY id
             LIMIT p_batch
               FOR UPDATE SKIP LOCKED) batch),
    tokens AS (
        DELETE FROM refresh_tokens
         WHERE session_id = ANY ((SELECT ids FROM ended)::uuid[])
        RETURNING 1),
    gone AS (
        DELETE FROM sessions
         WHERE id = ANY ((SELECT ids FROM ended)::uuid[])
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
           (SELECT count(*) FROM forgotten),
           (SELECT ids[array_upper(ids, 1)] FROM ended)
$fn$;

-- Everything, one committed batch at a time (CALL it outside a
-- transaction block, as pg_cron does).
CREATE PROCEDURE latch_purge(p_batch integer DEFAULT 5000)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    after uuid;
    rounds integer := 0;
BEGIN
    LOOP
        SELECT * INTO r FROM latch_purge_batch(p_batch, after);
        COMMIT;
        after := r.last_id;
        rounds := rounds + 1;
        -- A short batch means the walk reached the end; the bound only
        -- guards against a clock gone wild.
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
