-- 001: users, login sessions and their refresh tokens.
--
-- A session is one login on one device; every refresh token rotated from
-- that login belongs to it. Only SHA-256 hashes of refresh tokens are
-- stored: a dump of these tables holds nothing anyone can log in with.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL
                  CHECK (octet_length(username) BETWEEN 1 AND 255),
    email         text
                  CHECK (email IS NULL OR octet_length(email) BETWEEN 3 AND 255),
    -- crypt(3) format: $2b$ / $2a$ / $2y$ bcrypt, $y$, $6$ ...; a value
    -- starting with '*' or '!' never verifies (a locked account).
    password_hash text NOT NULL CHECK (octet_length(password_hash) <= 383),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

-- Names differing only in case would be confusable: unique folded.
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_username_folded_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_folded_key ON users (lower(email))
    WHERE email IS NOT NULL;

CREATE TABLE sessions (
    id                  uuid PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    -- SESSION_MAX_AGE after login, whatever happens: never moves.
    absolute_expires_at timestamptz NOT NULL,
    -- When the live refresh token expires if it is not used: moves with
    -- each rotation, never past the absolute end.
    idle_expires_at     timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoked_reason      text CHECK (revoked_reason IN
                        ('logout', 'logout_all', 'revoked', 'reuse',
                         'password_changed', 'user_disabled', 'admin')),
    user_agent          text CHECK (octet_length(user_agent) <= 512),
    ip                  inet,
    CHECK (absolute_expires_at > created_at),
    CHECK (idle_expires_at <= absolute_expires_at),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
) WITH (fillfactor = 90);
-- Each refresh rewrites its session's row; the columns it changes are in
-- no index, so with room on the page that is a heap-only update.

CREATE INDEX sessions_user_live_idx ON sessions (user_id, created_at DESC)
    WHERE revoked_at IS NULL;
CREATE INDEX sessions_absolute_expiry_idx ON sessions (absolute_expires_at);

CREATE TABLE refresh_tokens (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id       uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    -- SHA-256 of the token as sent: lookups are an index probe.
    token_hash       bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    issued_at        timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    -- Set once, when the token is exchanged for its successor. Rotated
    -- rows stay until their session ends: they are how reuse is seen.
    rotated_at       timestamptz,
    -- The successor, sealed under a key only the holder of this token can
    -- derive, so a concurrent duplicate gets the same answer (grace).
    successor_sealed bytea,
    -- The token this one was rotated from (NULL for a login's first),
    -- always of the same session. Not a foreign key on purpose: rows only
    -- ever go a whole session at a time, and a per-row check would make
    -- purging a million tokens several times slower.
    predecessor_id   bigint,
    CHECK (expires_at > issued_at),
    CONSTRAINT refresh_tokens_sealed_needs_rotation
        CHECK (successor_sealed IS NULL OR rotated_at IS NOT NULL)
) WITH (fillfactor = 80);

-- A session's tokens form one chain, so it can never have two live
-- tokens: one first token (no predecessor) per session, and at most one
-- successor per token. Neither indexed column ever changes, so marking a
-- token rotated is a heap-only update that touches no index, and the
-- unique checks never wade through dead entries of rotated rows.
CREATE UNIQUE INDEX refresh_tokens_one_first_per_session
    ON refresh_tokens (session_id) WHERE predecessor_id IS NULL;
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
-- A token has at most one successor: it never yields a different one.
CREATE UNIQUE INDEX refresh_tokens_one_successor
    ON refresh_tokens (predecessor_id) WHERE predecessor_id IS NOT NULL;
