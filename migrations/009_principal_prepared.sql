-- 009: the Bearer check's lookup is a prepared statement again.
--
-- 008 wrapped the lookup in latch_principal() so that PostgreSQL kept its
-- plan behind PgBouncer's transaction pooling. latch now prepares every
-- statement with parameters under a name made from its text, and prepares
-- it again wherever a server connection lacks it (lib/db.c), so plans are
-- kept without the wrapper; the plain prepared join costs the server less
-- than the prepared call (no PL/pgSQL frame, no JSON to build and to
-- parse again in the responder).
DROP FUNCTION latch_principal(uuid, bigint, timestamptz);
