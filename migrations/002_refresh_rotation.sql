-- 002: refresh-token rotation as one statement (one round trip on the
-- hottest write path), committed as a whole, including a reuse
-- revocation whose request fails.
--
-- The caller has verified the presented JWT (signature, type, expiry) and
-- passes its hash, session and user, the successor it minted (hash, expiry
-- and the successor sealed under a key only the presented token yields),
-- and the request's clock reading. Outcomes:
--   rotated    the presented token was live: it is now rotated, the
--              successor is the session's live token
--   duplicate  it was rotated less than p_grace ago and its successor is
--              still live (two tabs, a retried request): r_sealed holds
--              that same successor, r_expires_at its expiry
--   recap      the successor's expiry must be r_expires_at (the session's
--              absolute end caps it): mint again and call again
--   reuse      a rotated token after the window, or whose successor was
--              itself rotated: the session (or, with p_revoke_user, every
--              session of the user) is revoked; r_revoked counts them
--   invalid    unknown, revoked, expired, or its user is disabled

CREATE FUNCTION latch_refresh(
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
    v_count  integer;
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
        UPDATE refresh_tokens
           SET rotated_at = p_now, successor_sealed = p_new_sealed
         WHERE id = t.id;
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
       AND succ.expires_at > p_now AND t.successor_sealed IS NOT NULL THEN
        RETURN QUERY SELECT 'duplicate'::text, t.successor_sealed,
                            succ.expires_at, 0;
        RETURN;
    END IF;

    -- Reuse of a rotated token: someone else holds a copy. End the whole
    -- session (every token descended from the login), or all of the
    -- user's sessions.
    IF p_revoke_user THEN
        UPDATE sessions SET revoked_at = p_now, revoked_reason = 'reuse'
         WHERE user_id = s.user_id AND revoked_at IS NULL;
    ELSE
        UPDATE sessions SET revoked_at = p_now, revoked_reason = 'reuse'
         WHERE id = s.id;
    END IF;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN QUERY SELECT 'reuse'::text, NULL::bytea, NULL::timestamptz, v_count;
END
$fn$;
