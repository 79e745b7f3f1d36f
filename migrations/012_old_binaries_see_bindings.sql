-- 012: binaries from before migration 011 treat a DBSC-bound session as
-- bound.
--
-- During a rolling upgrade, hosts still running a binary built before
-- migration 011 call the eleven-argument latch_refresh, which 011 made a
-- wrapper passing no proof and no bound lifetime (p_bound_life NULL). The
-- eighteen-argument form reads a missing bound lifetime as "DBSC is off"
-- (DBSC_COOKIE_LIFETIME=0), under which a DBSC binding is ignored. So an
-- old host's POST /auth/refresh with a bound session's short cookie was
-- rotated as an unbound session's: the database recapped the successor to
-- the full inactivity lifetime, the old binary minted a token of that
-- lifetime, and the session's idle end moved with it. A cookie copied out
-- of a browser and shown to an old host bought weeks, not minutes; and a
-- copy shown within the grace window of a signed refresh was answered with
-- the seal of the browser's fresh cookie.
--
-- Now the wrapper passes a bound lifetime, so that the call is what POST
-- /auth/refresh of a new binary is:
--   - the session's live token is rotated, its successor expiring no later
--     than the presented token, and the session's idle end stays;
--   - a grace duplicate of the successor a signed refresh made answers
--     'access_only', which old binaries do not know: they answer 500
--     (refresh_unknown_outcome) and change nothing, as they do for
--     'unproven' on a DPoP-bound session.
-- Its value is never used: only a refresh signed by the session's key
-- lives p_bound_life, and this form carries no proof. Any value of a
-- second or more marks DBSC as on; one second says so without pretending
-- to be DBSC_COOKIE_LIFETIME, which the database does not know.
--
-- Refusing bound sessions outright would be no safer (the capped rotation
-- gives no more than the presented token already had) and would log out
-- every DBSC browser whose page refresh reached an old host. The one case
-- where this differs from a new binary: with DBSC turned off on the new
-- hosts, an old host still caps a DBSC-bound session's refresh at the
-- presented token's expiry instead of refreshing it as unbound. That fails
-- closed: the session lasts as long as its cookie does unless a new host
-- refreshes it.
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
LANGUAGE sql AS $fn$
    SELECT r_outcome, r_sealed, r_expires_at, r_revoked
      FROM latch_refresh(p_token_hash, p_session_id, p_user_id, p_now,
        p_grace, p_uncapped_exp, p_new_exp, p_new_hash, p_new_sealed, p_ip,
        p_revoke_user, NULL, NULL, NULL, NULL, interval '1 second', NULL,
        NULL)
$fn$;
