-- tests/bench/seed-live.sql: live-looking sessions :from .. :to of user
-- :uid (another user's, as in production), each a chain of four tokens as
-- rotations leave them (three rotated, one live), to measure refresh with
-- many stored tokens. Ids are far above the identity sequence's.
INSERT INTO sessions (id, user_id, created_at, last_used_at,
                      absolute_expires_at, idle_expires_at)
SELECT md5('latch-bench-live-' || g)::uuid, :uid, now() - interval '1 day',
       now() - interval '1 hour', now() + interval '29 days',
       now() + interval '6 days'
  FROM generate_series(:from, :to) g;
INSERT INTO refresh_tokens (id, session_id, token_hash, issued_at, expires_at,
                            rotated_at, predecessor_id)
OVERRIDING SYSTEM VALUE
SELECT 2000000000000 + g * 4 + k, md5('latch-bench-live-' || g)::uuid,
       sha256(convert_to('latch-bench-live-' || g || '-' || k, 'UTF8')),
       now() - interval '1 day' + k * interval '1 hour',
       now() + interval '6 days',
       CASE WHEN k < 4 THEN now() - interval '1 day' + k * interval '1 hour'
                            + interval '1 minute' END,
       CASE WHEN k > 1 THEN 2000000000000 + g * 4 + k - 1 END
  FROM generate_series(:from, :to) g CROSS JOIN generate_series(1, 4) AS k;
