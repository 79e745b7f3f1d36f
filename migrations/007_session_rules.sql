-- 007: the session rules, each written once.
--
-- "Is this session live?" and "revoke" were spelled in every statement
-- that needed them (Bearer checks, the session lists, logout, the
-- operator's commands, rotation, the purge), some against the database's
-- now() and some against the request's clock. From here on each is one
-- function, the clock always a parameter (one clock reading per request,
-- lib/app.h), and every caller goes through them, latch_refresh and the
-- purge of the earlier migrations included (redefined below).

-- A session is live while it is not revoked and neither its absolute end
-- nor its idle end (its live token's expiry) has come at p_now. A plain
-- SQL expression of the row, so the planner inlines it: a caller's
-- "revoked_at IS NULL" still meets the partial index of live sessions.
CREATE FUNCTION latch_session_live(s sessions, p_now timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
    SELECT s.revoked_at IS NULL AND s.absolute_expires_at > p_now
       AND s.idle_expires_at > p_now
$fn$;

-- Revokes, at p_now and for p_reason, the live session p_session (of
-- p_user, unless p_user is NULL: an operator's revocation by id), or with
-- p_session NULL every live session of p_user; and with them their seals,
-- since no request can use those any more. Returns how many sessions it
-- revoked. Session row locks are taken before token row locks, in the
-- order latch_refresh takes them. The sessions are named by id, so each
-- form probes an index whatever plan is cached.
CREATE FUNCTION latch_revoke(p_user bigint, p_session uuid, p_reason text,
                             p_now timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    v_ids uuid[];
BEGIN
    IF p_session IS NOT NULL THEN
        v_ids := ARRAY[p_session];
    ELSIF p_user IS NOT NULL THEN
        v_ids := ARRAY(SELECT id FROM sessions
                        WHERE user_id = p_user AND revoked_at IS NULL);
    ELSE
        RAISE EXCEPTION 'latch_revoke: neither a session nor a user';
    END IF;
    WITH r AS (
        UPDATE sessions s SET revoked_at = p_now, revoked_reason = p_reason
         WHERE s.id = ANY (v_ids) AND (p_user IS NULL OR s.user_id = p_user)
           AND latch_session_live(s, p_now)
        RETURNING s.id)
    SELECT array_agg(id) INTO v_ids FROM r;
    UPDATE refresh_tokens SET successor_sealed = NULL, sealed_until = NULL
     WHERE session_id = ANY (v_ids) AND successor_sealed IS NOT NULL;
    RETURN COALESCE(cardinality(v_ids), 0);
END
$fn$;

-- Migration 005's rotation (same arguments, results and outcomes: see
-- 002 and 005), with its liveness check and its reuse revocation
-- through the functions above.
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
    IF NOT FOUND OR t.session_id <> s.id OR NOT latch_session_live(s, p_now)
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
    -- user's sessions.
    RETURN QUERY SELECT 'reuse'::text, NULL::bytea, NULL::timestamptz,
        latch_revoke(s.user_id, CASE WHEN p_revoke_user THEN NULL
                                     ELSE s.id END, 'reuse', p_now);
END
$fn$;

-- Migration 006's purge batch, with "ended" said through liveness: a
-- session that is not live, unless it was revoked less than a day ago.
CREATE OR REPLACE FUNCTION latch_purge_batch(p_batch integer, p_after uuid DEFAULT NULL,
                                  p_now timestamptz DEFAULT now())
RETURNS TABLE (sessions_deleted bigint, tokens_deleted bigint,
               throttle_deleted bigint, last_id uuid)
LANGUAGE sql AS $fn$
    WITH ended AS (
        SELECT array_agg(id ORDER BY id) AS ids FROM (
            SELECT id FROM sessions s
             WHERE id > COALESCE(p_after, '00000000-0000-0000-0000-000000000000')
               AND NOT latch_session_live(s, p_now)
               AND (revoked_at IS NULL OR revoked_at <= p_now - interval '1 day')
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
         WHERE ctid IN (SELECT t.ctid
                          FROM login_throttle t
                          JOIN latch_throttle_limits() l USING (scope)
                         WHERE t.last_failure_at <= p_now - interval '15 minutes'
                           AND greatest(t.last_failure_at, t.blocked_until)
                               <= p_now - make_interval(secs => l.forget_secs)
                         LIMIT p_batch
                           FOR UPDATE OF t SKIP LOCKED)
        RETURNING 1)
    SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM tokens),
           (SELECT count(*) FROM forgotten),
           (SELECT ids[array_upper(ids, 1)] FROM ended)
$fn$;
