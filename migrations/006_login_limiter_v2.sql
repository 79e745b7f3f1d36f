-- 006: the login limiter, second version (API.md, POST /auth/login).
--
-- What changes from 003, and why:
--   * Keys are HMAC-SHA-256 digests under a server key the database never
--     holds (derived from the refresh key list), no longer plain SHA-256:
--     a dump cannot confirm a guessed name or address. The C side computes
--     them; this file only stores and compares 32-byte keys.
--   * A known account is keyed by its id, however it is named (username or
--     email, any spelling PostgreSQL's lower() folds together); an unknown
--     name by lower() of the name. One folding rule: the database's lower(),
--     the same expression as the unique indexes of users (migration 001).
--   * An attempt is counted before the password is checked
--     (latch_throttle_begin) and settled after a success
--     (latch_throttle_settle), so N concurrent guesses are N counted
--     attempts, whatever the concurrency.
--   * Device tokens: a login that presents a valid device token of the
--     account it names is counted on that device's key only ('device'),
--     never on the account-wide, address or pair keys. Untrusted logins
--     share the account key, which is now strict: blocked from the 21st
--     failure, for up to 15 minutes. No stranger can keep the owner out,
--     since the owner's devices do not share that key.
--
-- Scopes, failures allowed before a block, the longest block, and how
-- long a key must be left alone (after its last failure and its block)
-- to be forgotten:
--   pair     account + client address (an IPv6 client by its /64)  4  15 min  15 min
--   address  client address (IPv6 by its /64)                     29  15 min  15 min
--   account  the account from untrusted clients                   19  15 min  1 day
--   device   one device token                                      4  15 min  1 day
-- A block lasts 2 s after the first failure over the allowance, doubling
-- with each further one up to the longest.

-- 003's keys were unkeyed digests of other inputs: they can never match
-- again, so nothing is lost by forgetting them now.
DELETE FROM login_throttle;

ALTER TABLE login_throttle DROP CONSTRAINT login_throttle_scope_check;
ALTER TABLE login_throttle ADD CONSTRAINT login_throttle_scope_check
    CHECK (scope IN ('pair', 'address', 'account', 'device'));
-- A row locked for an attempt that another key then blocked holds no
-- failure yet.
ALTER TABLE login_throttle DROP CONSTRAINT login_throttle_failures_check;
ALTER TABLE login_throttle ADD CONSTRAINT login_throttle_failures_check
    CHECK (failures >= 0);

DROP FUNCTION latch_throttle_wait(bytea, bytea, bytea, timestamptz);
DROP FUNCTION latch_throttle_fail(bytea, bytea, bytea, timestamptz);

-- The limits of each scope, in one place: failures allowed before a
-- block, the longest block, and how long a key must be left alone (after
-- its last failure and after its block ends, whichever is later) before it
-- is forgotten. The account and device keys remember for a day: were they
-- forgotten soon after their longest block, a patient attacker would get
-- a fresh allowance every half hour. The pair and address keys forget
-- after 15 minutes, so that a busy NAT address is not held for a day by
-- its users' typing mistakes.
CREATE FUNCTION latch_throttle_limits()
RETURNS TABLE (scope text, free integer, cap_secs integer,
               forget_secs integer)
LANGUAGE sql IMMUTABLE AS $fn$
    VALUES ('pair', 4, 900, 900), ('address', 29, 900, 900),
           ('account', 19, 900, 86400), ('device', 4, 900, 86400)
$fn$;

-- The failure count after one more failure at p_now, for a key whose last
-- failure was at p_last and whose block ends at p_blocked (NULL: none): it
-- starts again when the key was left alone for p_forget seconds since.
CREATE FUNCTION latch_throttle_next(p_failures integer, p_last timestamptz,
                                    p_blocked timestamptz, p_now timestamptz,
                                    p_forget integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN greatest(p_last, p_blocked)
                     < p_now - make_interval(secs => p_forget) THEN 1
                ELSE p_failures + 1 END
$fn$;

-- Takes an attempt under the keys p_keys (hex of 32-byte digests, comma
-- separated) of the scopes p_scopes (comma separated, same order). When a
-- key is blocked, returns the seconds to wait and counts nothing. Else
-- counts the attempt as a failure under every key (latch_throttle_settle
-- takes it back when it succeeds) and returns 0.
--
-- Rows are locked one at a time in one global order (scope, key), creating
-- missing ones, so concurrent attempts on a key take turns, every one of
-- them sees the count of those before it, and no two can deadlock.
CREATE FUNCTION latch_throttle_begin(p_scopes text, p_keys text,
                                     p_now timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    r      record;
    v_wait double precision := 0;
    v_until timestamptz;
BEGIN
    FOR r IN SELECT s.scope, decode(s.key, 'hex') AS key_hash
               FROM unnest(string_to_array(p_scopes, ','),
                           string_to_array(p_keys, ',')) AS s(scope, key)
              ORDER BY 1, 2
    LOOP
        INSERT INTO login_throttle AS t (scope, key_hash, failures,
                                         last_failure_at)
        VALUES (r.scope, r.key_hash, 0, p_now)
        ON CONFLICT (scope, key_hash) DO UPDATE SET failures = t.failures
        RETURNING t.blocked_until INTO v_until;
        IF v_until > p_now THEN
            v_wait := greatest(v_wait, extract(epoch FROM v_until - p_now));
        END IF;
    END LOOP;
    IF v_wait > 0 THEN
        RETURN ceil(v_wait)::integer;
    END IF;

    UPDATE login_throttle AS t
       SET failures = n.failures,
           last_failure_at = p_now,
           blocked_until = CASE WHEN n.failures > l.free
               THEN p_now + make_interval(secs => least(power(2, least(
                    n.failures - l.free, 20)), l.cap_secs))
               END
      FROM unnest(string_to_array(p_scopes, ','),
                  string_to_array(p_keys, ',')) AS a(scope, key),
           latch_throttle_limits() AS l,
           login_throttle AS o,
           LATERAL (SELECT latch_throttle_next(o.failures, o.last_failure_at,
                                               o.blocked_until, p_now,
                                               l.forget_secs)) AS n(failures)
     WHERE t.scope = a.scope AND t.key_hash = decode(a.key, 'hex')
       AND l.scope = a.scope
       AND o.scope = t.scope AND o.key_hash = t.key_hash;
    RETURN 0;
END
$fn$;

-- A successful login takes its counted attempt back: the pair and device
-- keys start again from zero (as 003 cleared the pair), the address and
-- account keys lose one failure, and a block that failure alone caused is
-- lifted. The rows are locked first, in latch_throttle_begin's order:
-- taking them in any other order would deadlock against a concurrent
-- attempt on the same keys.
CREATE FUNCTION latch_throttle_settle(p_scopes text, p_keys text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1
       FROM login_throttle t
       JOIN unnest(string_to_array(p_scopes, ','),
                   string_to_array(p_keys, ',')) AS a(scope, key)
         ON t.scope = a.scope AND t.key_hash = decode(a.key, 'hex')
      ORDER BY t.scope, t.key_hash
        FOR UPDATE OF t;

    DELETE FROM login_throttle t
     USING unnest(string_to_array(p_scopes, ','),
                  string_to_array(p_keys, ',')) AS a(scope, key)
     WHERE t.scope = a.scope AND t.key_hash = decode(a.key, 'hex')
       AND a.scope IN ('pair', 'device');

    UPDATE login_throttle AS t
       SET failures = greatest(t.failures - 1, 0),
           blocked_until = CASE WHEN t.failures - 1 <= l.free THEN NULL
                                ELSE t.blocked_until END
      FROM unnest(string_to_array(p_scopes, ','),
                  string_to_array(p_keys, ',')) AS a(scope, key),
           latch_throttle_limits() AS l
     WHERE t.scope = a.scope AND t.key_hash = decode(a.key, 'hex')
       AND l.scope = a.scope AND a.scope IN ('address', 'account');
END
$fn$;

-- Device tokens (OWASP "Slow Down Online Guessing Attacks with Device
-- Cookies"): issued at each successful login, bound to that user. Only an
-- HMAC-SHA-256 of the token under a server key is stored, so a dump holds
-- nothing a client could present. A token presented at a successful login
-- is replaced by a new one.
CREATE TABLE device_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX device_tokens_user_idx ON device_tokens (user_id, created_at DESC);
CREATE INDEX device_tokens_expiry_idx ON device_tokens (expires_at);

-- The number of device tokens a user keeps: older ones go when a new one
-- is issued (a client that never sends its token back must not make rows
-- without end).
CREATE FUNCTION latch_device_tokens_per_user()
RETURNS integer LANGUAGE sql IMMUTABLE AS $fn$ SELECT 32 $fn$;

-- Issues a device token (hash p_new, valid until p_expires) to p_user,
-- replacing p_old (a token of the same user presented at this login; may
-- be NULL), and drops the user's expired and surplus tokens.
CREATE FUNCTION latch_device_issue(p_user bigint, p_new bytea, p_old bytea,
                                   p_now timestamptz, p_expires timestamptz)
RETURNS void LANGUAGE sql AS $fn$
    DELETE FROM device_tokens
     WHERE user_id = p_user
       AND (token_hash = p_old OR expires_at <= p_now
            OR id IN (SELECT id FROM device_tokens WHERE user_id = p_user
                       ORDER BY created_at DESC, id DESC
                      OFFSET latch_device_tokens_per_user() - 1));
    INSERT INTO device_tokens (user_id, token_hash, created_at, expires_at)
    VALUES (p_user, p_new, p_now, p_expires);
$fn$;

-- Purge: at most p_batch expired device tokens per call (the purge job
-- calls it until it returns fewer).
CREATE FUNCTION latch_purge_device_tokens(p_batch integer,
                                          p_now timestamptz DEFAULT now())
RETURNS bigint LANGUAGE sql AS $fn$
    WITH gone AS (
        DELETE FROM device_tokens
         WHERE id IN (SELECT id FROM device_tokens WHERE expires_at <= p_now
                       LIMIT p_batch FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) FROM gone
$fn$;

-- 004's purge batch, forgetting limiter rows only as latch_throttle_next
-- does: once left alone for their scope's forget time after their last
-- failure and their block (deleting them sooner would hand out a fresh
-- allowance early).
CREATE OR REPLACE FUNCTION latch_purge_batch(p_batch integer, p_after uuid DEFAULT NULL,
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

-- The purge of migrations 004 and 005, then expired device tokens, each
-- one committed batch at a time (CALL it outside a transaction block, as
-- pg_cron does).
CREATE OR REPLACE PROCEDURE latch_purge(p_batch integer DEFAULT 5000)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    after uuid;
    after_token bigint;
    n bigint;
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
    rounds := 0;
    LOOP
        n := latch_purge_device_tokens(p_batch);
        COMMIT;
        rounds := rounds + 1;
        EXIT WHEN n < p_batch OR rounds >= 100000;
    END LOOP;
END
$fn$;
