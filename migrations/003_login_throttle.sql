-- 003: brute-force defence for login and sign-up, kept in PostgreSQL so
-- the limit holds across processes and hosts.
--
-- Failures are counted under three keys, each stored only as a SHA-256
-- digest, so the table lists no names or addresses in the clear:
--   pair     the case-folded account name with the client address: the
--            tight limit, which does not touch the same account elsewhere
--   address  the client address alone: a looser cap on spraying
--   account  the account name from every address: the loosest, with a
--            short block, so a distributed attack is slowed while a victim
--            is never locked out for more than a minute at a time
-- A key is blocked from its 5th (pair), 30th (address) or 100th (account)
-- failure on, for 2 s, then twice as long with each further failure, up to
-- 15 minutes (pair, address) or 1 minute (account). A key left alone for
-- 15 minutes starts again from zero; a successful login clears its pair.

CREATE TABLE login_throttle (
    scope           text NOT NULL CHECK (scope IN ('pair', 'address', 'account')),
    key_hash        bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    failures        integer NOT NULL CHECK (failures > 0),
    last_failure_at timestamptz NOT NULL,
    blocked_until   timestamptz,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);

-- Seconds until all three keys allow an attempt (0: allowed now).
CREATE FUNCTION latch_throttle_wait(p_pair bytea, p_address bytea,
                                    p_account bytea, p_now timestamptz)
RETURNS integer LANGUAGE sql STABLE AS $fn$
    SELECT COALESCE(ceil(extract(epoch FROM max(blocked_until) - p_now)), 0)::integer
      FROM login_throttle
     WHERE blocked_until > p_now
       AND ((scope = 'pair' AND key_hash = p_pair)
         OR (scope = 'address' AND key_hash = p_address)
         OR (scope = 'account' AND key_hash = p_account))
$fn$;

-- Counts one failure under the three keys and sets their blocks.
CREATE FUNCTION latch_throttle_fail(p_pair bytea, p_address bytea,
                                    p_account bytea, p_now timestamptz)
RETURNS void LANGUAGE sql AS $fn$
    INSERT INTO login_throttle AS t (scope, key_hash, failures, last_failure_at)
    VALUES ('pair', p_pair, 1, p_now),
           ('address', p_address, 1, p_now),
           ('account', p_account, 1, p_now)
    ON CONFLICT (scope, key_hash) DO UPDATE
       SET failures = CASE WHEN t.last_failure_at < p_now - interval '15 minutes'
                           THEN 1 ELSE t.failures + 1 END,
           last_failure_at = p_now;

    -- (scope, key, failures allowed without a block, longest block)
    UPDATE login_throttle AS t
       SET blocked_until = p_now + make_interval(secs =>
               least(power(2, least(t.failures - l.free, 20)), l.cap_secs))
      FROM (VALUES ('pair', p_pair, 4, 900),
                   ('address', p_address, 29, 900),
                   ('account', p_account, 99, 60))
           AS l(scope, key_hash, free, cap_secs)
     WHERE t.scope = l.scope AND t.key_hash = l.key_hash
       AND t.failures > l.free;
$fn$;
