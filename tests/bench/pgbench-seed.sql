-- tests/bench/pgbench-seed.sql: one live session with one live token for
-- each pgbench client 0 .. :clients - 1 of rotate.pgbench, for user :uid.
-- Client k's session id is md5('latch-bench-sid-k') as a uuid and its
-- token's hash sha256('latch-bench-k'), so the script derives both from
-- its client id alone. Earlier rows of the same ids (another run) go first.
DELETE FROM sessions
 WHERE id IN (SELECT md5('latch-bench-sid-' || k)::uuid
                FROM generate_series(0, :clients - 1) k);
INSERT INTO sessions (id, user_id, absolute_expires_at, idle_expires_at)
SELECT md5('latch-bench-sid-' || k)::uuid, :uid, now() + interval '30 days',
       now() + interval '7 days'
  FROM generate_series(0, :clients - 1) k;
INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
SELECT md5('latch-bench-sid-' || k)::uuid,
       sha256(convert_to('latch-bench-' || k, 'UTF8')),
       now() + interval '7 days'
  FROM generate_series(0, :clients - 1) k;
