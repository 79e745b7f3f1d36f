-- 005: a sealed successor lives only as long as it can be used.
--
-- A rotated token's row keeps its successor sealed (successor_sealed) so
-- that a concurrent duplicate within REFRESH_REUSE_GRACE gets the same
-- answer. Until now the seal stayed for the session's whole life, under a
-- key derived from the predecessor token alone: one old token and a dump
-- opened the seals one after the other up to the live token. Now the key
-- also needs a server key the database never holds (lib/seal.c), and the
-- seal is deleted as soon as no request can use it:
--   - when its successor rotates (then presenting the predecessor is
--     reuse, never a duplicate): in latch_refresh, same transaction;
--   - when its window has passed: sealed_until says when, since the purge
--     does not know REFRESH_REUSE_GRACE. The session's next rotation
--     clears it (that is the first case), and latch_purge clears it for a
--     session that does not rotate again;
--   - when its session is revoked for reuse (latch_refresh).
-- So a session holds at most one seal, on the predecessor of its live
-- token, for at most the grace window plus the purge interval.
--
-- sealed_until, like the seal, is in no index (and neither may ever be):
-- marking a token rotated and clearing its predecessor's seal stay
-- heap-only updates (see migration 001).

ALTER TABLE refresh_tokens ADD COLUMN sealed_until timestamptz;

-- Seals of the old scheme (a seal with no sealed_until): nothing opens
-- them any more, and they are what this migration is about. They are not
-- cleared here: on a big table one UPDATE would hold this migration's
-- exclusive lock for seconds and refreshes would time out. The purge's
-- seal sweep (latch_unseal_batch, below) clears them in batches instead;
-- run `latchctl purge` right after migrating (the README says so).
-- Duplicates of tokens rotated in the last seconds before the upgrade
-- are refused (403) meanwhile; nothing is revoked. The constraint holds
-- for every row written from now on; NOT VALID spares the old ones the
-- table scan, and the sweep makes them comply.
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_seal_has_deadline
    CHECK ((successor_sealed IS NULL) = (sealed_until IS NULL)) NOT VALID;

-- Same arguments and results as in migration 002; p_new_sealed is NULL when
-- there is no grace window (nothing is then stored). A rotated token
-- within p_grace whose successor is live but whose seal is gone (its
-- sealed_until passed under a shorter grace of another process, or the
-- upgrade cleared it) answers invalid: a duplicate is presumed benign in
-- the window, but there is nothing to answer it with.
CREATE OR REPLACE FUNCTION latch_refresh(
    p_token_hash   bytea,
    p_session_id   uuid,
    p_user_id      bigint,
    p_now          timestamptz,
    p_grace        interval,
    p_uncapped_exp timestamptz,
    p_new_exp      timestamptz,
    p_new_hash     bytea,
    p_new_sealed   bytea,
    p_ip           inet,
    p_revoke_user  boolean)
RETURNS TABLE (r_outcome text, r_sealed bytea, r_expires_at timestamptz,
               r_revoked integer)
LANGUAGE plpgsql AS $fn$
DECLARE
    s        sessions%ROWTYPE;
    t        refresh_tokens%ROWTYPE;
    succ     refresh_tokens%ROWTYPE;
    v_exp    timestamptz;
    v_sealed bytea;
    v_ids    uuid[];
BEGIN
    -- Every change to a session's tokens happens under the session's row
    -- lock: concurrent refreshes of one session take turns, and none can
    -- check a token and then act on a state that has changed since.
    SELECT * INTO s FROM sessions WHERE id = p_session_id FOR UPDATE;
    IF NOT FOUND OR s.user_id <> p_user_id THEN
        RETURN QUERY SELECT 'invalid'::text, NULL::bytea, NULL::timestamptz, 0;
        RETURN;
    END IF;

    -- A statement of its own, so a fresh snapshot: it sees the rotation
    -- committed by whoever held the lock before us.
    SELECT * INTO t FROM refresh_tokens WHERE token_hash = p_token_hash;
    IF NOT FOUND OR t.session_id <> s.id OR s.revoked_at IS NOT NULL
       OR s.absolute_expires_at <= p_now
       OR EXISTS (SELECT 1 FROM users u
                  WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL) THEN
        RETURN QUERY SELECT 'invalid'::text, NULL::bytea, NULL::timestamptz, 0;
        RETURN;
    END IF;

    IF t.rotated_at IS NULL THEN
        IF t.expires_at <= p_now THEN
            RETURN QUERY SELECT 'invalid'::text, NULL::bytea, NULL::timestamptz, 0;
            RETURN;
        END IF;
        v_exp := LEAST(p_uncapped_exp, s.absolute_expires_at);
        IF v_exp <> p_new_exp THEN
            RETURN QUERY SELECT 'recap'::text, NULL::bytea, v_exp, 0;
            RETURN;
        END IF;
        v_sealed := CASE WHEN p_grace > interval '0' THEN p_new_sealed END;
        UPDATE refresh_tokens
           SET rotated_at = p_now, successor_sealed = v_sealed,
               sealed_until = CASE WHEN v_sealed IS NOT NULL
                                   THEN p_now + p_grace END
         WHERE id = t.id;
        -- The predecessor's seal holds t, which is no longer live: from
        -- now on presenting the predecessor is reuse, never a duplicate.
        IF t.predecessor_id IS NOT NULL THEN
            UPDATE refresh_tokens
               SET successor_sealed = NULL, sealed_until = NULL
             WHERE id = t.predecessor_id AND successor_sealed IS NOT NULL;
        END IF;
        INSERT INTO refresh_tokens (session_id, token_hash, issued_at,
                                    expires_at, predecessor_id)
        VALUES (s.id, p_new_hash, p_now, p_new_exp, t.id);
        UPDATE sessions
           SET last_used_at = p_now, idle_expires_at = p_new_exp,
               ip = COALESCE(p_ip, ip)
         WHERE id = s.id;
        RETURN QUERY SELECT 'rotated'::text, NULL::bytea, p_new_exp, 0;
        RETURN;
    END IF;

    SELECT * INTO succ FROM refresh_tokens WHERE predecessor_id = t.id;
    IF FOUND AND t.rotated_at > p_now - p_grace AND succ.rotated_at IS NULL
       AND succ.expires_at > p_now THEN
        IF t.successor_sealed IS NOT NULL AND t.sealed_until > p_now THEN
            RETURN QUERY SELECT 'duplicate'::text, t.successor_sealed,
                                succ.expires_at, 0;
        ELSE
            RETURN QUERY SELECT 'invalid'::text, NULL::bytea,
                                NULL::timestamptz, 0;
        END IF;
        RETURN;
    END IF;

    -- Reuse of a rotated token: someone else holds a copy. End the whole
    -- session (every token descended from the login), or all of the
    -- user's sessions, and with them their seals.
    IF p_revoke_user THEN
        WITH r AS (
            UPDATE sessions SET revoked_at = p_now, revoked_reason = 'reuse'
             WHERE user_id = s.user_id AND revoked_at IS NULL
            RETURNING id)
        SELECT array_agg(id) INTO v_ids FROM r;
    ELSE
        WITH r AS (
            UPDATE sessions SET revoked_at = p_now, revoked_reason = 'reuse'
             WHERE id = s.id
            RETURNING id)
        SELECT array_agg(id) INTO v_ids FROM r;
    END IF;
    UPDATE refresh_tokens SET successor_sealed = NULL, sealed_until = NULL
     WHERE session_id = ANY (v_ids) AND successor_sealed IS NOT NULL;
    RETURN QUERY SELECT 'reuse'::text, NULL::bytea, NULL::timestamptz,
                        COALESCE(cardinality(v_ids), 0);
END
$fn$;

-- One batch of the seal sweep: clears at most p_batch seals whose window
-- ended by p_now (or that are of the old scheme: no sealed_until), on
-- token rows with id above p_after, in id order, so a
-- run of batches walks the table once (no index helps: see above).
-- Rows a refresh holds are skipped, not waited for (the next run gets
-- them). Returns how many it cleared and the last id it cleared (NULL:
-- none, the walk is over).
CREATE FUNCTION latch_unseal_batch(p_batch integer, p_after bigint DEFAULT NULL,
                                   p_now timestamptz DEFAULT now())
RETURNS TABLE (seals_cleared bigint, last_id bigint)
LANGUAGE sql AS $fn$
    WITH stale AS (
        SELECT array_agg(id ORDER BY id) AS ids FROM (
            SELECT id FROM refresh_tokens
             WHERE id > COALESCE(p_after, 0)
               AND (sealed_until <= p_now
                    OR (sealed_until IS NULL AND successor_sealed IS NOT NULL))
             ORDER BY id
             LIMIT p_batch
               FOR UPDATE SKIP LOCKED) batch),
    cleared AS (
        UPDATE refresh_tokens SET successor_sealed = NULL, sealed_until = NULL
         WHERE id = ANY ((SELECT ids FROM stale)::bigint[])
        RETURNING 1)
    SELECT (SELECT count(*) FROM cleared),
           (SELECT ids[array_upper(ids, 1)] FROM stale)
$fn$;

-- The purge of migration 004, then the seal sweep, each one committed
-- batch at a time (CALL it outside a transaction block, as pg_cron does).
CREATE OR REPLACE PROCEDURE latch_purge(p_batch integer DEFAULT 5000)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    after uuid;
    after_token bigint;
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
    rounds := 0;
    LOOP
        SELECT * INTO r FROM latch_unseal_batch(p_batch, after_token);
        COMMIT;
        after_token := r.last_id;
        rounds := rounds + 1;
        EXIT WHEN r.seals_cleared < p_batch OR rounds >= 100000;
    END LOOP;
END
$fn$;
