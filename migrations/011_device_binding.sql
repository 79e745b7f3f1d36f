-- 011: sessions bound to a key the client holds (issue 14, API.md
-- "Sender-constrained sessions").
--
-- A browser with Device Bound Session Credentials (DBSC) registers a key
-- it cannot export; an app signs DPoP proofs (RFC 9449). Either way the
-- session is bound to that key once, and for good: from then on only a
-- request signed by it extends the session (DBSC) or refreshes at all
-- (DPoP), so a copied refresh token is worth minutes, not weeks.
--
-- The binding is a row of its own, keyed by session, never a field of a
-- shared blob (other implementations lost bindings to last-writer-wins).
-- It goes with its session (the purge, a user's deletion).
CREATE TABLE session_keys (
    session_id uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('dbsc', 'dpop')),
    alg        text NOT NULL CHECK (alg IN ('ES256', 'RS256', 'EdDSA')),
    -- RFC 7638 SHA-256 thumbprint of the key: what a proof is matched on.
    jkt        bytea NOT NULL CHECK (octet_length(jkt) = 32),
    -- The public key as RFC 7638 canonical JSON (no private member ever
    -- reaches here: lib/jwk refuses them). A DBSC refresh proof carries no
    -- key, so the server keeps it.
    public_jwk text NOT NULL CHECK (octet_length(public_jwk) BETWEEN 2 AND 1024
                                    AND public_jwk LIKE '{%}'),
    bound_at   timestamptz NOT NULL
);

-- Proofs that may be used once: a DPoP proof's jti (hashed with its key's
-- thumbprint) and a DBSC challenge, as SHA-256. A row lives as long as the
-- proof could be accepted, so every process and host agrees that it was
-- used. Expired rows are the purge's.
CREATE TABLE proofs_seen (
    proof_hash bytea PRIMARY KEY CHECK (octet_length(proof_hash) = 32),
    expires_at timestamptz NOT NULL
);
CREATE INDEX proofs_seen_expiry_idx ON proofs_seen (expires_at);

-- Marks the proof p_hash used until p_until. True the first time, false
-- when it was used before (and has not expired: an expired row is taken
-- over, since its proof is refused for its age anyway).
CREATE FUNCTION latch_proof_use(p_hash bytea, p_until timestamptz,
                                p_now timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO proofs_seen (proof_hash, expires_at) VALUES (p_hash, p_until)
    ON CONFLICT (proof_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE proofs_seen.expires_at <= p_now;
    RETURN FOUND;
END
$fn$;

-- Rotation (migrations 002, 005, 007, 010) with the proof a request
-- carried. The first eleven arguments, the results and the outcomes are
-- as before, plus:
--   p_proof        NULL (none), 'dpop' or 'dbsc': a proof lib/ verified
--                  (signature, claims) and whose key has thumbprint
--                  p_proof_jkt; this function decides whether that key is
--                  the session's and whether the proof was used before
--                  (p_proof_hash, single use until p_proof_until);
--   p_bound_life   DBSC_COOKIE_LIFETIME: how long a DBSC-bound session's
--                  refresh token lives (NULL or under a second: DBSC is
--                  off, and a DBSC binding is ignored);
--   p_bind_alg, p_bind_jwk   with p_proof 'dbsc': a DBSC registration,
--                  which binds the session to that key (if it is bound to
--                  nothing yet) before rotating.
-- p_token_hash may be NULL with p_proof 'dbsc': a browser whose expired
-- cookie is gone proves the session with its key alone, and the
-- session's unrotated token is the one rotated.
--
-- r_binding is the session's binding ('dbsc', 'dpop' or NULL) on
-- 'rotated', 'duplicate' and 'access_only'. New outcomes, each changing
-- nothing but the proof's use:
--   'access_only'  a grace duplicate, without a proof, of a DBSC-bound
--               session's token whose successor a signed refresh made:
--               a new access token, and no refresh token (the successor
--               lives longer than the presented token, and only the key
--               extends a DBSC session);
--   'unproven'  the session is bound and the proof is missing or by
--               another key, or a DBSC proof for an unbound session;
--   'replayed'  the proof (DPoP jti, DBSC challenge) was used before.
--
-- Successor expiry (what 'recap' corrects C's guess to):
--   unbound or DPoP-bound: the inactivity lifetime, capped at the
--     session's end, and the session's idle end moves with it;
--   DBSC-bound with a DBSC proof: p_bound_life, capped; the session's idle
--     end moves to the inactivity lifetime (capped), so a browser that was
--     closed for days comes back with its key;
--   DBSC-bound without one (POST /auth/refresh with the cookie): no later
--     than the presented token's, and the idle end stays: a copied cookie
--     dies one p_bound_life after the browser's last signed refresh.
CREATE FUNCTION latch_refresh(
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
    p_revoke_user  boolean,
    p_proof        text,
    p_proof_jkt    bytea,
    p_proof_hash   bytea,
    p_proof_until  timestamptz,
    p_bound_life   interval,
    p_bind_alg     text,
    p_bind_jwk     text)
RETURNS TABLE (r_outcome text, r_sealed bytea, r_expires_at timestamptz,
               r_revoked integer, r_binding text)
LANGUAGE plpgsql AS $fn$
DECLARE
    s        sessions%ROWTYPE;
    t        refresh_tokens%ROWTYPE;
    succ     refresh_tokens%ROWTYPE;
    k        session_keys%ROWTYPE;
    v_bound  text;
    v_signed boolean;       -- a DBSC-bound session, refreshed by its key
    v_exp    timestamptz;
    v_idle   timestamptz;
    v_sealed bytea;
BEGIN
    -- Too late (migration 010): changes nothing, before any lock.
    IF clock_timestamp() > p_now + GREATEST(p_grace, interval '1 second') THEN
        RETURN QUERY SELECT 'late'::text, NULL::bytea, NULL::timestamptz, 0, NULL::text;
        RETURN;
    END IF;

    -- Every change to a session's tokens and binding happens under the
    -- session's row lock, taken first, as latch_revoke takes it.
    SELECT * INTO s FROM sessions WHERE id = p_session_id FOR UPDATE;
    IF NOT FOUND OR s.user_id <> p_user_id OR NOT latch_session_live(s, p_now)
       OR EXISTS (SELECT 1 FROM users u
                  WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL) THEN
        RETURN QUERY SELECT 'invalid'::text, NULL::bytea, NULL::timestamptz, 0, NULL::text;
        RETURN;
    END IF;

    -- A statement of its own, so a fresh snapshot: it sees the rotation
    -- committed by whoever held the lock before us.
    IF p_token_hash IS NOT NULL THEN
        SELECT * INTO t FROM refresh_tokens WHERE token_hash = p_token_hash;
    ELSIF p_proof = 'dbsc' AND p_bind_jwk IS NULL THEN
        -- No index on the unrotated token (it would cost every rotation
        -- its heap-only update): the session's chain is scanned, which
        -- only a browser back after its cookie expired makes us do.
        SELECT * INTO t FROM refresh_tokens
         WHERE session_id = s.id AND rotated_at IS NULL;
    END IF;
    IF t.id IS NULL OR t.session_id <> s.id THEN
        RETURN QUERY SELECT 'invalid'::text, NULL::bytea, NULL::timestamptz, 0, NULL::text;
        RETURN;
    END IF;

    -- The key. A binding is made once (DBSC registration here, DPoP at
    -- login) and never changes.
    SELECT * INTO k FROM session_keys WHERE session_id = s.id;
    v_bound := k.kind;
    IF p_bind_jwk IS NOT NULL AND p_proof IS DISTINCT FROM 'dbsc' THEN
        RAISE EXCEPTION 'latch_refresh: a binding needs a DBSC proof';
    END IF;
    -- A proof is always of a key and always single use: a caller that
    -- forgot either would make it replayable.
    IF p_proof IS NOT NULL AND (p_proof NOT IN ('dpop', 'dbsc')
       OR p_proof_jkt IS NULL OR p_proof_hash IS NULL
       OR p_proof_until IS NULL) THEN
        RAISE EXCEPTION 'latch_refresh: a proof needs its key, id and expiry';
    END IF;
    -- DBSC turned off (DBSC_COOKIE_LIFETIME=0, no bound life): a DBSC
    -- binding no longer counts, and the session refreshes as an unbound
    -- one rather than dying one cookie lifetime later. The DBSC routes
    -- answer 401 then, and never call here.
    IF COALESCE(p_bound_life, interval '0') < interval '1 second' THEN
        IF p_proof = 'dbsc' THEN
            RAISE EXCEPTION 'latch_refresh: a DBSC proof while DBSC is off';
        END IF;
        IF v_bound = 'dbsc' THEN
            v_bound := NULL;
        END IF;
    END IF;
    IF p_proof = 'dbsc' AND p_bind_jwk IS NOT NULL AND v_bound IS NULL THEN
        -- Registration binds only with the live token: a rotated one
        -- would rotate nothing (and is the refresh route's to judge).
        IF t.rotated_at IS NOT NULL OR t.expires_at <= p_now THEN
            RETURN QUERY SELECT 'invalid'::text, NULL::bytea,
                                NULL::timestamptz, 0, NULL::text;
            RETURN;
        END IF;
        v_bound := 'dbsc';
        k.jkt := p_proof_jkt;
    END IF;
    IF (v_bound IS NOT NULL AND (p_proof IS DISTINCT FROM v_bound
                                 OR k.jkt IS DISTINCT FROM p_proof_jkt))
       OR (v_bound IS NULL AND p_proof = 'dbsc') THEN
        -- POST /auth/refresh of a DBSC-bound session needs no proof (the
        -- page's own refresh); its successor is capped below instead.
        IF NOT (v_bound = 'dbsc' AND p_proof IS NULL) THEN
            RETURN QUERY SELECT 'unproven'::text, NULL::bytea,
                                NULL::timestamptz, 0, NULL::text;
            RETURN;
        END IF;
    END IF;
    v_signed := COALESCE(v_bound = 'dbsc' AND p_proof = 'dbsc', false);
    IF t.rotated_at IS NULL THEN
        -- With its key the browser may bring back an expired token (or
        -- none, above): the session, not the cookie, is what lives on.
        IF t.expires_at <= p_now AND NOT v_signed THEN
            RETURN QUERY SELECT 'invalid'::text, NULL::bytea, NULL::timestamptz, 0, NULL::text;
            RETURN;
        END IF;
        IF v_signed THEN
            -- Whole seconds, as the web host computes it from its clock.
            v_exp := LEAST(date_trunc('second', p_now) + p_bound_life,
                           s.absolute_expires_at);
            v_idle := GREATEST(LEAST(p_uncapped_exp, s.absolute_expires_at),
                               v_exp);
        ELSIF v_bound IS NOT DISTINCT FROM 'dbsc' THEN
            v_exp := LEAST(p_uncapped_exp, s.absolute_expires_at, t.expires_at);
            v_idle := s.idle_expires_at;
        ELSE
            v_exp := LEAST(p_uncapped_exp, s.absolute_expires_at);
            v_idle := v_exp;
        END IF;
        IF v_exp <> p_new_exp THEN
            RETURN QUERY SELECT 'recap'::text, NULL::bytea, v_exp, 0,
                                NULL::text;
            RETURN;
        END IF;
        -- Spent only by a call that goes on to change something: a recap
        -- is called again with the same proof.
        IF p_proof_hash IS NOT NULL
           AND NOT latch_proof_use(p_proof_hash, p_proof_until, p_now) THEN
            RETURN QUERY SELECT 'replayed'::text, NULL::bytea,
                                NULL::timestamptz, 0, NULL::text;
            RETURN;
        END IF;
        IF p_bind_jwk IS NOT NULL AND k.session_id IS NULL THEN
            INSERT INTO session_keys (session_id, kind, alg, jkt, public_jwk,
                                      bound_at)
            VALUES (s.id, 'dbsc', p_bind_alg, p_proof_jkt, p_bind_jwk, p_now);
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
           SET last_used_at = p_now, idle_expires_at = v_idle,
               ip = COALESCE(p_ip, ip)
         WHERE id = s.id;
        RETURN QUERY SELECT 'rotated'::text, NULL::bytea, p_new_exp, 0, v_bound;
        RETURN;
    END IF;

    SELECT * INTO succ FROM refresh_tokens WHERE predecessor_id = t.id;
    IF FOUND AND t.rotated_at > p_now - p_grace AND succ.rotated_at IS NULL
       AND succ.expires_at > p_now THEN
        IF t.successor_sealed IS NOT NULL AND t.sealed_until > p_now THEN
            -- A successor of a DBSC-bound session that outlives the
            -- presented token was made by a signed refresh: its life is
            -- the key's to give. Without a proof the duplicate gets an
            -- access token only (the browser's jar has the successor
            -- already), or a copied cookie shown within the grace window
            -- of each signed refresh would ride along for ever.
            IF v_bound = 'dbsc' AND NOT v_signed
               AND succ.expires_at > t.expires_at THEN
                RETURN QUERY SELECT 'access_only'::text, NULL::bytea,
                                    NULL::timestamptz, 0, v_bound;
                RETURN;
            END IF;
            -- A signed duplicate is not spent here: lib/session.c opens
            -- the seal and comes back with the successor and this proof,
            -- which rotates it to a full cookie lifetime.
            IF p_proof_hash IS NOT NULL AND NOT v_signed
               AND NOT latch_proof_use(p_proof_hash, p_proof_until,
                                       p_now) THEN
                RETURN QUERY SELECT 'replayed'::text, NULL::bytea,
                                    NULL::timestamptz, 0, NULL::text;
                RETURN;
            END IF;
            RETURN QUERY SELECT 'duplicate'::text, t.successor_sealed,
                                succ.expires_at, 0, v_bound;
        ELSE
            RETURN QUERY SELECT 'invalid'::text, NULL::bytea,
                                NULL::timestamptz, 0, NULL::text;
        END IF;
        RETURN;
    END IF;

    -- Reuse of a rotated token: someone else holds a copy. End the whole
    -- session (every token descended from the login), or all of the
    -- user's sessions.
    RETURN QUERY SELECT 'reuse'::text, NULL::bytea, NULL::timestamptz,
        latch_revoke(s.user_id, CASE WHEN p_revoke_user THEN NULL
                                     ELSE s.id END, 'reuse', p_now),
        NULL::text;
END
$fn$;

-- The eleven-argument form that binaries before this migration call
-- (a rolling upgrade): a request without a proof.
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
        p_revoke_user, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
$fn$;

-- Purge: at most p_batch expired single-use proofs per call.
CREATE FUNCTION latch_purge_proofs(p_batch integer,
                                   p_now timestamptz DEFAULT now())
RETURNS bigint LANGUAGE sql AS $fn$
    WITH gone AS (
        DELETE FROM proofs_seen
         WHERE proof_hash IN (SELECT proof_hash FROM proofs_seen
                               WHERE expires_at <= p_now
                               LIMIT p_batch FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT count(*) FROM gone
$fn$;

-- Migration 006's purge, then the expired proofs.
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
    rounds := 0;
    LOOP
        n := latch_purge_proofs(p_batch);
        COMMIT;
        rounds := rounds + 1;
        EXIT WHEN n < p_batch OR rounds >= 100000;
    END LOOP;
END
$fn$;
