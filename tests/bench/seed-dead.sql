-- tests/bench/seed-dead.sql: :sessions ended sessions of user bench_dead
-- with four tokens each, for `latchctl purge` to delete under load.
INSERT INTO users (username, password_hash) VALUES ('bench_dead', '*');
INSERT INTO sessions (id, user_id, created_at, last_used_at,
                      absolute_expires_at, idle_expires_at)
SELECT gen_random_uuid(), u.id, now() - interval '40 days',
       now() - interval '35 days', now() - interval '10 days',
       now() - interval '28 days'
  FROM users u, generate_series(1, :sessions)
 WHERE u.username = 'bench_dead';
-- Each session a chain of four, as rotations leave them (ids far above
-- the identity sequence's, so they can be given).
INSERT INTO refresh_tokens (id, session_id, token_hash, issued_at, expires_at,
                            rotated_at, predecessor_id)
OVERRIDING SYSTEM VALUE
SELECT 1000000000000 + s.n * 4 + k, s.id,
       sha256(convert_to(s.id::text || k, 'UTF8')),
       now() - interval '40 days', now() - interval '33 days',
       CASE WHEN k < 4 THEN now() - interval '39 days' END,
       CASE WHEN k > 1 THEN 1000000000000 + s.n * 4 + k - 1 END
  FROM (SELECT id, row_number() OVER () AS n FROM sessions
         WHERE user_id = (SELECT id FROM users WHERE username = 'bench_dead')) s
 CROSS JOIN generate_series(1, 4) AS k;
