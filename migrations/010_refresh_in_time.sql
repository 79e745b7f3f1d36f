-- 010: a refresh that reaches the database too late changes nothing.
--
-- latch gives up on a statement after lib/db.h's deadline (the
-- statement_timeout plus a second), drops the connection and answers 503,
-- and the client retries with the same token (within REFRESH_REUSE_GRACE,
-- which lib/errors.c's Retry-After is chosen to fit). A server that had
-- the statement in its socket but was not running (SIGSTOP, a frozen
-- virtual machine) reads and runs it when it resumes, though nobody waits
-- for the answer any more; latch_refresh dated that rotation by its
-- request (p_now), so a retry arriving after the resume was more than the
-- grace window after it: a reuse, and the session was revoked
-- (tests/integration/test_faults.py, README "Faults and timeouts"). Now a call
-- older than the grace window by the database's clock answers 'late' and
-- changes nothing; lib/session.c answers it 503.
--
-- The web hosts' clocks and the database's must agree to well within the
-- grace window (10 s by default): NTP does that. A host whose clock is
-- that far behind the database's would see every refresh answered 503,
-- and its log says refresh_late each time.
--
-- Same arguments, results and outcomes as in migration 007, plus 'late'.
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
    -- Too late: the request this call belongs to (made at p_now by the
    -- web host's clock) has given up waiting for it, or will have by the
    -- time it is answered, so whatever it did here its client would never
    -- hear of. Only a call that spent longer than the grace window
    -- reaching the database gets here, one the server held unread
    -- (stopped with SIGSTOP, or its host frozen) and ran on resuming: its
    -- client has had 503 and retries with the same token. Rotating now,
    -- dated p_now, would make every such retry come later than the
    -- window after the rotation, and so be taken for a reuse that ends
    -- the session. Nothing is changed; latch answers 503 again and the
    -- retry rotates. Checked before any lock is taken, so a wait for the
    -- session's lock (at most lock_timeout) never makes a call late.
    IF clock_timestamp() > p_now + GREATEST(p_grace, interval '1 second') THEN
        RETURN QUERY SELECT 'late'::text, NULL::bytea, NULL::timestamptz, 0;
        RETURN;
    END IF;

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
