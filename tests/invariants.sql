-- tests/invariants.sql: what must hold in latch's tables whatever happened
-- to the servers that wrote them (a load, a killed worker, a database
-- stopped mid-transaction). One query; each row it returns is a broken
-- invariant with how many rows break it and one of them as an example.
-- No row: everything holds. Every load and fault test runs it afterwards
-- (conftest.assert_invariants); by hand:
--
--   PGOPTIONS='-c latch.grace=10s -c latch.users=%' psql -X -f tests/invariants.sql DBURL
--
-- latch.grace is REFRESH_REUSE_GRACE of the servers that wrote the rows
-- (default 10s, the configuration's); latch.users, a LIKE pattern of
-- usernames, limits the check to those users' rows (default: all). The
-- rows with no user to belong to are looked for in the whole database.
-- The query only reads.
--
-- A session's revocation and expiry live on its row (latch_session_live):
-- its last token is never marked rotated when it ends, so "no live token
-- in a revoked or expired session" is checked as "a session's unrotated
-- token expires exactly when the session does if unused", and every seal
-- of a revoked session is gone.
WITH params AS (
    SELECT COALESCE(NULLIF(current_setting('latch.grace', true), ''),
                    '10s')::interval AS grace,
           COALESCE(NULLIF(current_setting('latch.users', true), ''),
                    '%') AS users_like
),
-- The rows checked: those of the users whose username is LIKE latch.users
-- (default: every user), so that a test can check its own users while
-- other tests' rows, doctored on purpose, stay out of it.
scoped_users AS (
    SELECT u.* FROM users u, params WHERE u.username LIKE params.users_like
),
scoped_sessions AS (
    SELECT s.* FROM sessions s JOIN scoped_users u ON u.id = s.user_id
),
scoped_tokens AS (
    SELECT t.* FROM refresh_tokens t JOIN scoped_sessions s
        ON s.id = t.session_id
),
checks (invariant, offenders, example) AS (
    -- A session's tokens are one chain: at most one not yet exchanged.
    SELECT 'at most one unrotated token per session',
           count(*), min(session_id::text)
      FROM (SELECT session_id FROM scoped_tokens WHERE rotated_at IS NULL
             GROUP BY session_id HAVING count(*) > 1) x
    UNION ALL
    -- A token with a successor was exchanged for it.
    SELECT 'a token with a successor is rotated',
           count(*), min(p.id::text)
      FROM scoped_tokens p JOIN scoped_tokens s ON s.predecessor_id = p.id
     WHERE p.rotated_at IS NULL
    UNION ALL
    SELECT 'every successor is in its predecessor''s session',
           count(*), min(s.id::text)
      FROM scoped_tokens p JOIN scoped_tokens s ON s.predecessor_id = p.id
     WHERE s.session_id <> p.session_id
    UNION ALL
    -- Rows only ever go a whole session at a time (the purge).
    SELECT 'every predecessor still exists', count(*), min(s.id::text)
      FROM refresh_tokens s
     WHERE s.predecessor_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM refresh_tokens p
                        WHERE p.id = s.predecessor_id)
    UNION ALL
    SELECT 'every token''s session exists', count(*), min(t.id::text)
      FROM refresh_tokens t
     WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = t.session_id)
    UNION ALL
    -- A login writes its session and first token in one transaction.
    SELECT 'every session has its first token', count(*), min(s.id::text)
      FROM scoped_sessions s
     WHERE NOT EXISTS (SELECT 1 FROM scoped_tokens t
                        WHERE t.session_id = s.id
                          AND t.predecessor_id IS NULL)
    UNION ALL
    SELECT 'every session has an unrotated token', count(*), min(s.id::text)
      FROM scoped_sessions s
     WHERE NOT EXISTS (SELECT 1 FROM scoped_tokens t
                        WHERE t.session_id = s.id AND t.rotated_at IS NULL)
    UNION ALL
    SELECT 'every session''s user exists', count(*), min(s.id::text)
      FROM sessions s
     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)
    UNION ALL
    SELECT 'every device token''s user exists', count(*), min(d.id::text)
      FROM device_tokens d
     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = d.user_id)
    UNION ALL
    -- No token outlives its session. A DBSC-bound session's token lives
    -- DBSC_COOKIE_LIFETIME while the session lives on for its key
    -- (migration 011): its token expires no later than the session.
    SELECT 'the unrotated token expires with its session''s idle expiry',
           count(*), min(t.id::text)
      FROM scoped_tokens t JOIN scoped_sessions s ON s.id = t.session_id
     WHERE t.rotated_at IS NULL
       AND (t.expires_at > s.absolute_expires_at
            OR CASE WHEN EXISTS (SELECT 1 FROM session_keys k
                                  WHERE k.session_id = s.id
                                    AND k.kind = 'dbsc')
                    THEN t.expires_at > s.idle_expires_at
                    ELSE t.expires_at <> s.idle_expires_at END)
    UNION ALL
    -- A binding is made once, for a session that exists (migration 011).
    SELECT 'every session key''s session exists', count(*),
           min(k.session_id::text)
      FROM session_keys k
     WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = k.session_id)
    UNION ALL
    SELECT 'a successor is issued when its predecessor is rotated',
           count(*), min(s.id::text)
      FROM scoped_tokens p JOIN scoped_tokens s ON s.predecessor_id = p.id
     WHERE s.issued_at <> p.rotated_at
    UNION ALL
    -- Seals (migration 005): at most one per session, on the predecessor
    -- of the session's unrotated token, for at most the grace window, and
    -- none once the session is revoked.
    SELECT 'a seal opens to the session''s unrotated token',
           count(*), min(p.id::text)
      FROM scoped_tokens p JOIN scoped_tokens s ON s.predecessor_id = p.id
     WHERE p.successor_sealed IS NOT NULL AND s.rotated_at IS NOT NULL
    UNION ALL
    SELECT 'a seal only on a token with a successor', count(*), min(p.id::text)
      FROM scoped_tokens p
     WHERE p.successor_sealed IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM scoped_tokens s
                        WHERE s.predecessor_id = p.id)
    UNION ALL
    SELECT 'no seal lasts longer than the grace window',
           count(*), min(t.id::text)
      FROM scoped_tokens t, params
     WHERE t.successor_sealed IS NOT NULL
       AND (t.sealed_until IS NULL
            OR t.sealed_until > t.rotated_at + params.grace)
    UNION ALL
    SELECT 'no seal in a revoked session', count(*), min(t.id::text)
      FROM scoped_tokens t JOIN scoped_sessions s ON s.id = t.session_id
     WHERE t.successor_sealed IS NOT NULL AND s.revoked_at IS NOT NULL
    UNION ALL
    -- Nothing a client could present, and no password, in usable form:
    -- tokens are stored as 32-byte hashes (the schema checks the length),
    -- a seal is ciphertext (never the text of a JWT), a password is a
    -- crypt(3) hash, and no text column holds something JWT-shaped.
    SELECT 'a seal is not the successor in clear', count(*), min(t.id::text)
      FROM scoped_tokens t
     WHERE t.successor_sealed IS NOT NULL
       AND encode(t.successor_sealed, 'escape') ~ '^[A-Za-z0-9_.-]+$'
    UNION ALL
    SELECT 'every password is a crypt(3) hash', count(*), min(u.id::text)
      FROM scoped_users u
     WHERE u.password_hash !~ '^\$[0-9a-z]+\$[./0-9A-Za-z$=,-]+$'
    UNION ALL
    SELECT 'no JWT-shaped text in users or sessions', count(*),
           min(x.id)
      FROM (SELECT u.id::text AS id, concat_ws(' ', u.username, u.email) AS v
              FROM scoped_users u
            UNION ALL
            SELECT s.id::text, concat_ws(' ', s.user_agent, s.revoked_reason)
              FROM scoped_sessions s) x
     WHERE x.v ~ 'eyJ[A-Za-z0-9_-]{8,}\.'
)
SELECT invariant, offenders, example FROM checks WHERE offenders > 0
 ORDER BY invariant;
