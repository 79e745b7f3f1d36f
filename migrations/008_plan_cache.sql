-- 008: the Bearer check's lookup as a PL/pgSQL function, so that its plan
-- is cached.
--
-- Every GET /api/profile (and every route that takes a Bearer token) sent
-- its principal lookup as a join in text: PostgreSQL parsed, analysed and
-- planned it on every request, which cost more than running it (profiled
-- under wrk: parse and plan were most of the backend's time). A named
-- prepared statement would keep the plan, but PgBouncer's transaction
-- pooling (1.18, Debian 12's) hands each transaction to any server
-- connection and carries no prepared statement across. A PL/pgSQL
-- function's statements are planned on the server connection that runs
-- them and their plans kept there for whichever client calls next: plan
-- reuse that survives pooling. What the client sends is then a call with
-- a scalar result, the cheapest statement to parse and plan after
-- "SELECT 1" (a set-returning call in FROM cost a quarter more, measured
-- with pgbench).
--
-- Answers, as the text of a JSON object {"username", "email" (null when
-- none), "created" (the user's creation, seconds since the epoch)}, the
-- user of the live session p_session of the enabled user p_user at p_now;
-- NULL when the session is unknown, of another user, revoked or expired,
-- or the user is disabled.
CREATE FUNCTION latch_principal(p_session uuid, p_user bigint,
                                p_now timestamptz)
RETURNS text LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_principal text;
BEGIN
    SELECT json_build_object(
               'username', u.username, 'email', u.email,
               'created', floor(extract(epoch FROM u.created_at))::bigint)
      INTO v_principal
      FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = p_session AND u.id = p_user
       AND latch_session_live(s, p_now)
       AND u.disabled_at IS NULL;
    RETURN v_principal;
END
$fn$;
