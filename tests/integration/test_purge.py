"""The clean-up job (API.md "Database"; migrations/004_purge.sql and
005_seal_lifetime.sql): `latchctl purge [--batch N]` and `CALL
latch_purge(N)` delete ended sessions (past their absolute or idle end, or
revoked more than a day ago) with all their tokens, and login-limiter rows
idle for 15 minutes and not blocked; then they clear every sealed
successor whose grace window has passed. Apart from those seals they never
touch a live session or its rotated tokens (they are what recognises
reuse), nor a session revoked less than a day ago.

The tests run on a database of their own on the instance's cluster (with
its own web, REFRESH_REUSE_GRACE=1s) so that the counts purge prints are
exactly this module's."""

import os
import re
import time
import uuid

import psycopg2
import pytest

from conftest import REPO, Db, cgi_web
from latchlib import (Client, assert_ctl_ok, assert_ctl_refused,
                      assert_ctl_usage, assert_error, login_body,
                      refreshed_body, rotate_body, run_latchctl, sid_of)

MIGRATIONS = REPO / "migrations"
PURGE_LINE_RE = re.compile(
    r"^sessions=(\d+) tokens=(\d+) throttle=(\d+) batches=(\d+) "
    r"seconds=(\d+\.\d+)\n$")
WEB_NAME = "purgedb"
WEB_OFFSET = 60          # main web's port + 60 (operator-tooling range)


def db_url(url, dbname):
    new, n = re.subn(r"^(postgresql://[^/]*/)[^?]*", r"\g<1>" + dbname, url)
    assert n == 1, url
    return new


class PurgeDb:
    """The module's own database: url, db (Db), client (its web), run()
    (latchctl against it)."""

    def __init__(self, url, conf, bin_dir, client):
        self.url = url
        self.db = Db(url)
        self.conf = conf
        self.bin_dir = bin_dir
        self.client = client

    def ctl(self, *args, input=None, timeout=60, **settings):
        settings.setdefault("DATABASE_URL", self.url)
        return run_latchctl(self.bin_dir, *args, config=self.conf,
                            input=input, timeout=timeout, **settings)

    def purge(self, *args):
        out = assert_ctl_ok(self.ctl("purge", *args))
        m = PURGE_LINE_RE.match(out)
        assert m, f"purge printed {out!r}"
        return tuple(int(x) for x in m.groups()[:4])

    def user(self):
        name = "t_purge_" + uuid.uuid4().hex[:12]
        password = "pw-" + uuid.uuid4().hex
        assert_ctl_ok(self.ctl("user", "add", name, "--password-stdin",
                               input=password + "\n", BCRYPT_COST=4))
        uid = self.db.scalar("SELECT id FROM users WHERE username = %s",
                             (name,))
        return {"id": uid, "username": name, "password": password}


@pytest.fixture(scope="module")
def pdb(stack, bin_dir):
    assert stack.rundir is not None
    conf = stack.rundir / "latch.conf"
    name = "t_purge_" + uuid.uuid4().hex[:12]
    admin_url = db_url(stack.database_url, "postgres")

    admin = Db(admin_url).execute

    admin(f'CREATE DATABASE "{name}"')
    url = db_url(stack.database_url, name)
    main_port = int(stack.base_url.rsplit(":", 1)[1].split("/")[0])
    port = main_port + WEB_OFFSET
    try:
        proc = run_latchctl(bin_dir, "migrate", "--dir", MIGRATIONS,
                            config=conf, DATABASE_URL=url)
        assert_ctl_ok(proc)
        base_url = cgi_web(stack, WEB_NAME, port, {
            "DATABASE_URL": url, "COOKIE_SECURE": "0",
            "REFRESH_REUSE_GRACE": "1s"})
        yield PurgeDb(url, conf, bin_dir, Client(base_url))
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- scenario

def session_json(db, sid):
    return db.scalar("SELECT row_to_json(s)::text FROM sessions s "
                     "WHERE id = %s", (sid,))


def token_json(db, sid):
    """The session's token rows, every column but the seal's two (which
    the purge clears once the window has passed: see token_seals)."""
    return [r[0] for r in db.all(
        "SELECT (to_jsonb(t) - 'successor_sealed' - 'sealed_until')::text "
        "FROM refresh_tokens t WHERE session_id = %s ORDER BY id", (sid,))]


def token_seals(db, sid):
    """Per token row of the session, oldest first: does it hold a seal?"""
    return [r[0] for r in db.all(
        "SELECT successor_sealed IS NOT NULL FROM refresh_tokens "
        "WHERE session_id = %s ORDER BY id", (sid,))]


def login_rotated(client, user, rotations):
    """A session made by a real login and `rotations` refreshes; returns
    (sid, live refresh token)."""
    token = login_body(client, user)["refresh_token"]
    for _ in range(rotations):
        token, _ = rotate_body(client, token)
    return sid_of(token), token


# (name, rotations, SQL making it dead or old; None: stays live)
SESSIONS = [
    ("live_rotated", 2, None),
    ("live_fresh", 0, None),
    ("dead_absolute", 1,
     "UPDATE sessions SET created_at = now() - interval '31 days', "
     "absolute_expires_at = now() - interval '1 day', "
     "idle_expires_at = now() - interval '1 day' WHERE id = %s"),
    ("dead_absolute_long_chain", 3,
     "UPDATE sessions SET created_at = now() - interval '30 days', "
     "absolute_expires_at = now() - interval '1 second', "
     "idle_expires_at = now() - interval '2 days' WHERE id = %s"),
    ("dead_idle", 1,
     "UPDATE sessions SET idle_expires_at = now() - interval '1 minute' "
     "WHERE id = %s"),
    ("dead_revoked_2d", 2,
     "UPDATE sessions SET revoked_at = now() - interval '2 days', "
     "revoked_reason = 'logout' WHERE id = %s"),
    ("dead_revoked_25h", 0,
     "UPDATE sessions SET revoked_at = now() - interval '25 hours', "
     "revoked_reason = 'reuse' WHERE id = %s"),
    ("kept_revoked_1h", 1,
     "UPDATE sessions SET revoked_at = now() - interval '1 hour', "
     "revoked_reason = 'logout' WHERE id = %s"),
    ("kept_revoked_23h", 0,
     "UPDATE sessions SET revoked_at = now() - interval '23 hours 50 "
     "minutes', revoked_reason = 'admin' WHERE id = %s"),
]
DEAD = [n for n, _, _ in SESSIONS if n.startswith("dead_")]
LIVE = [n for n, _, _ in SESSIONS if n.startswith("live_")]
KEPT = [n for n, _, _ in SESSIONS if n.startswith("kept_")]

# (name, last failure this long ago, block until now + this (None: none))
# A pair key is forgotten 15 minutes after its last failure and the end of
# its block, whichever is later (migration 006).
THROTTLE = [
    ("old_unblocked", "20 minutes", None),
    ("old_block_over", "40 minutes", "-20 minutes"),
    ("block_just_over", "30 minutes", "-10 minutes"),
    ("old_16min", "16 minutes", None),
    ("old_but_blocked", "16 minutes", "5 minutes"),
    ("fresh", "1 minute", None),
    ("fresh_blocked", "10 seconds", "1 minute"),
    ("recent_13min", "13 minutes", None),
]
THROTTLE_GONE = ["old_unblocked", "old_block_over", "old_16min"]
THROTTLE_KEPT = ["block_just_over", "old_but_blocked", "fresh",
                 "fresh_blocked", "recent_13min"]


def build_scenario(pdb):
    """Clears any backlog, then makes the sessions of SESSIONS (real logins
    and refreshes) and the limiter rows of THROTTLE; returns
    {"sid": {name: sid}, "tokens": {name: live token}, "key": {name:
    key_hash}, "sessions": {name: row json}, "token_rows": {name: [row
    json]}}."""
    pdb.purge()                         # a backlog of earlier tests
    user = pdb.user()
    db = pdb.db
    sc = {"sid": {}, "tokens": {}, "key": {}, "user": user}
    for name, rotations, sql in SESSIONS:
        sid, token = login_rotated(pdb.client, user, rotations)
        if sql is not None:
            assert db.execute(sql, (sid,)) == 1
        sc["sid"][name] = sid
        sc["tokens"][name] = token
    for name, ago, block in THROTTLE:
        key = os.urandom(32)
        db.execute(
            "INSERT INTO login_throttle (scope, key_hash, failures, "
            "last_failure_at, blocked_until) VALUES ('pair', %s, 7, "
            "now() - %s::interval, now() + %s::interval)",
            (key, ago, block))
        sc["key"][name] = key
    sc["sessions"] = {n: session_json(db, s) for n, s in sc["sid"].items()}
    sc["token_rows"] = {n: token_json(db, s) for n, s in sc["sid"].items()}
    sc["seals"] = {n: token_seals(db, s) for n, s in sc["sid"].items()}
    for name, rotations, _ in SESSIONS:
        assert len(sc["token_rows"][name]) == rotations + 1
        # The live token's predecessor holds the one seal of a session.
        assert sc["seals"][name] == ([False] * (rotations - 1) + [True]
                                     if rotations else []) + [False], name
    time.sleep(1.2)                     # every seal past its 1 s window
    return sc


def after_state(pdb, sc):
    db = pdb.db
    return {
        "sessions": {n: session_json(db, s) for n, s in sc["sid"].items()},
        "token_rows": {n: token_json(db, s) for n, s in sc["sid"].items()},
        "seals": {n: token_seals(db, s) for n, s in sc["sid"].items()},
        "throttle": {n: db.scalar("SELECT count(*) FROM login_throttle "
                                  "WHERE key_hash = %s", (k,))
                     for n, k in sc["key"].items()},
    }


@pytest.fixture(scope="module")
def purged(pdb):
    """The scenario, then `latchctl purge --batch 2`: (scenario, printed
    counts, state after)."""
    sc = build_scenario(pdb)
    counts = pdb.purge("--batch", "2")
    return sc, counts, after_state(pdb, sc)


@pytest.fixture(scope="module")
def called(pdb):
    """The scenario, then CALL latch_purge(2) in autocommit mode."""
    sc = build_scenario(pdb)
    conn = psycopg2.connect(pdb.url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CALL latch_purge(2)")
    finally:
        conn.close()
    return sc, after_state(pdb, sc)


# ---------------------------------------------------------------- latchctl purge

def test_purge_prints_what_it_deleted_in_batches(purged):
    sc, counts, _ = purged
    dead_tokens = sum(r + 1 for n, r, _ in SESSIONS if n in DEAD)
    # 5 sessions and 3 limiter rows, 2 a batch: 2+2, 2+1, 1+0.
    assert counts == (len(DEAD), dead_tokens, len(THROTTLE_GONE), 3)


@pytest.mark.parametrize("name", LIVE)
def test_purge_leaves_live_session_row_untouched(purged, name):
    sc, _, after = purged
    assert after["sessions"][name] == sc["sessions"][name]


@pytest.mark.parametrize("name", LIVE)
def test_purge_keeps_every_token_row_of_live_session(purged, name):
    sc, _, after = purged
    assert after["token_rows"][name] == sc["token_rows"][name]


@pytest.mark.parametrize("name", LIVE + KEPT)
def test_purge_clears_every_seal_past_its_window(purged, name):
    _, _, after = purged
    assert not any(after["seals"][name]), after["seals"][name]


@pytest.mark.parametrize("name", DEAD)
def test_purge_deletes_ended_session(purged, name):
    _, _, after = purged
    assert after["sessions"][name] is None


@pytest.mark.parametrize("name", DEAD)
def test_purge_deletes_every_token_of_ended_session(purged, name):
    _, _, after = purged
    assert after["token_rows"][name] == []


@pytest.mark.parametrize("name", KEPT)
def test_purge_keeps_session_revoked_within_a_day_with_tokens(purged, name):
    sc, _, after = purged
    assert after["sessions"][name] == sc["sessions"][name]
    assert after["token_rows"][name] == sc["token_rows"][name]


@pytest.mark.parametrize("name", THROTTLE_GONE)
def test_purge_deletes_limiter_row_idle_15_minutes_and_unblocked(purged,
                                                                 name):
    _, _, after = purged
    assert after["throttle"][name] == 0


@pytest.mark.parametrize("name", THROTTLE_KEPT)
def test_purge_keeps_fresh_or_blocked_limiter_row(purged, name):
    _, _, after = purged
    assert after["throttle"][name] == 1


def test_purge_keeps_live_session_usable(pdb, purged):
    sc, _, _ = purged
    body = refreshed_body(pdb.client.refresh(sc["tokens"]["live_rotated"]))
    assert sid_of(body["refresh_token"]) == sc["sid"]["live_rotated"]


def test_purge_again_finds_nothing(pdb, purged):
    assert pdb.purge("--batch", "2") == (0, 0, 0, 1)


def test_purge_then_reuse_of_a_rotated_token_is_still_detected(pdb):
    user = pdb.user()
    first = login_body(pdb.client, user)["refresh_token"]
    second, _ = rotate_body(pdb.client, first)
    sid = sid_of(first)
    time.sleep(1.5)                     # past REFRESH_REUSE_GRACE=1s
    pdb.purge()
    assert pdb.db.scalar("SELECT count(*) FROM refresh_tokens "
                         "WHERE session_id = %s", (sid,)) == 2
    assert_error(pdb.client.refresh(first), 403, "invalid_grant")
    assert pdb.db.one("SELECT revoked_at IS NOT NULL, revoked_reason "
                      "FROM sessions WHERE id = %s", (sid,)) == \
        (True, "reuse")
    assert_error(pdb.client.refresh(second), 403, "invalid_grant")


def test_purge_skips_a_locked_session_instead_of_waiting(pdb):
    user = pdb.user()
    locked, _ = login_rotated(pdb.client, user, 1)
    free, _ = login_rotated(pdb.client, user, 1)
    for sid in (locked, free):
        pdb.db.execute("UPDATE sessions SET revoked_at = now() - "
                       "interval '3 days', revoked_reason = 'logout' "
                       "WHERE id = %s", (sid,))
    conn = psycopg2.connect(pdb.url, connect_timeout=5)
    try:
        with conn.cursor() as cur:      # a refresh holds this lock
            cur.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE",
                        (locked,))
        t0 = time.monotonic()
        proc = pdb.ctl("purge", timeout=30)
        elapsed = time.monotonic() - t0
        assert_ctl_ok(proc)
        assert elapsed < 10, f"purge waited {elapsed:.1f}s for a lock"
        assert session_json(pdb.db, free) is None
        assert session_json(pdb.db, locked) is not None
        assert len(token_json(pdb.db, locked)) == 2
    finally:
        conn.rollback()
        conn.close()
    pdb.purge()
    assert session_json(pdb.db, locked) is None
    assert token_json(pdb.db, locked) == []


@pytest.mark.parametrize("batch", ["0", "-1", "abc", "", "100001", "2x",
                                   "1.5", "0x10"])
def test_purge_bad_batch_is_bad_usage_and_deletes_nothing(pdb, batch):
    user = pdb.user()
    sid, _ = login_rotated(pdb.client, user, 0)
    pdb.db.execute("UPDATE sessions SET revoked_at = now() - interval "
                   "'2 days', revoked_reason = 'logout' WHERE id = %s",
                   (sid,))
    assert_ctl_usage(pdb.ctl("purge", "--batch", batch))
    assert session_json(pdb.db, sid) is not None


def test_purge_database_down_refused(pdb):
    proc = pdb.ctl("purge", timeout=30, DATABASE_URL=(
        "postgresql://latch@:5432/latch?host=/nonexistent"))
    line = assert_ctl_refused(proc)
    assert "database" in line.lower(), line


# ---------------------------------------------------------------- CALL latch_purge

@pytest.mark.parametrize("name", DEAD)
def test_call_latch_purge_deletes_ended_session_and_tokens(called, name):
    _, after = called
    assert after["sessions"][name] is None
    assert after["token_rows"][name] == []


@pytest.mark.parametrize("name", LIVE + KEPT)
def test_call_latch_purge_keeps_live_and_recently_revoked(called, name):
    sc, after = called
    assert after["sessions"][name] == sc["sessions"][name]
    assert after["token_rows"][name] == sc["token_rows"][name]


@pytest.mark.parametrize("name", LIVE + KEPT)
def test_call_latch_purge_clears_every_seal_past_its_window(called, name):
    _, after = called
    assert not any(after["seals"][name]), after["seals"][name]


def test_call_latch_purge_handles_limiter_rows(called):
    _, after = called
    assert {n: after["throttle"][n] for n, _, _ in THROTTLE} == \
        {**{n: 0 for n in THROTTLE_GONE}, **{n: 1 for n in THROTTLE_KEPT}}


# ---------------------------------------------------------------- seals

def test_purge_clears_the_seal_of_a_session_that_does_not_rotate_again(pdb):
    user = pdb.user()
    first = login_body(pdb.client, user)["refresh_token"]
    second, _ = rotate_body(pdb.client, first)
    sid = sid_of(first)
    assert token_seals(pdb.db, sid) == [True, False]
    time.sleep(1.3)                     # past REFRESH_REUSE_GRACE=1s
    pdb.purge()
    assert token_seals(pdb.db, sid) == [False, False]
    assert pdb.db.scalar("SELECT count(*) FROM refresh_tokens WHERE "
                         "session_id = %s AND sealed_until IS NOT NULL",
                         (sid,)) == 0
    # The session lives on, and reuse is still recognised.
    third, _ = rotate_body(pdb.client, second)
    assert_error(pdb.client.refresh(first), 403, "invalid_grant")
    assert pdb.db.scalar("SELECT revoked_reason FROM sessions WHERE id = %s",
                         (sid,)) == "reuse"


def test_purge_keeps_a_seal_within_its_window(pdb):
    user = pdb.user()
    first = login_body(pdb.client, user)["refresh_token"]
    rotate_body(pdb.client, first)
    sid = sid_of(first)
    # A window that has not passed (as under a longer grace).
    pdb.db.execute("UPDATE refresh_tokens SET sealed_until = now() + "
                   "interval '1 hour' WHERE session_id = %s "
                   "AND successor_sealed IS NOT NULL", (sid,))
    pdb.purge()
    assert token_seals(pdb.db, sid) == [True, False]
    conn = psycopg2.connect(pdb.url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CALL latch_purge(2)")
    finally:
        conn.close()
    assert token_seals(pdb.db, sid) == [True, False]


def test_purge_clears_seals_in_batches(pdb):
    user = pdb.user()
    sids = [login_rotated(pdb.client, user, 1)[0] for _ in range(5)]
    assert all(token_seals(pdb.db, s) == [True, False] for s in sids)
    time.sleep(1.3)
    pdb.purge("--batch", "2")
    assert [token_seals(pdb.db, s) for s in sids] == [[False, False]] * 5


def test_seal_sweep_skips_a_locked_row_instead_of_waiting(pdb):
    user = pdb.user()
    locked, _ = login_rotated(pdb.client, user, 1)
    free, _ = login_rotated(pdb.client, user, 1)
    time.sleep(1.3)
    conn = psycopg2.connect(pdb.url, connect_timeout=5)
    try:
        with conn.cursor() as cur:      # as a rotation of that session does
            cur.execute("SELECT 1 FROM refresh_tokens WHERE session_id = %s "
                        "AND successor_sealed IS NOT NULL FOR UPDATE",
                        (locked,))
        t0 = time.monotonic()
        proc = pdb.ctl("purge", timeout=30)
        elapsed = time.monotonic() - t0
        assert_ctl_ok(proc)
        assert elapsed < 10, f"purge waited {elapsed:.1f}s for a lock"
        assert token_seals(pdb.db, free) == [False, False]
        assert token_seals(pdb.db, locked) == [True, False]
    finally:
        conn.rollback()
        conn.close()
    pdb.purge()
    assert token_seals(pdb.db, locked) == [False, False]


# ---------------------------------------------------------------- devices

def _device_rows(pdb, uid):
    return pdb.db.all("SELECT id, expires_at > now() FROM device_tokens "
                      "WHERE user_id = %s ORDER BY id", (uid,))


def _expire_devices_but_the_newest(pdb, uid):
    """Moves all but the newest device token of uid into the past (as if
    issued 200 days ago)."""
    pdb.db.execute(
        "UPDATE device_tokens SET created_at = now() - interval '200 days',"
        " expires_at = now() - interval '20 days' WHERE user_id = %s"
        " AND id < (SELECT max(id) FROM device_tokens WHERE user_id = %s)",
        (uid, uid))


@pytest.mark.parametrize("how", ["latchctl", "call"])
def test_purge_deletes_expired_device_tokens_only(pdb, how):
    user = pdb.user()
    for _ in range(3):
        assert pdb.client.login(username=user["username"],
                                password=user["password"]).status_code == 200
    assert len(_device_rows(pdb, user["id"])) == 3
    _expire_devices_but_the_newest(pdb, user["id"])
    live = _device_rows(pdb, user["id"])[-1][0]
    if how == "latchctl":
        pdb.purge("--batch", "1")
    else:
        pdb.db.execute("CALL latch_purge(1)")
    assert _device_rows(pdb, user["id"]) == [(live, True)]


# ---------------------------------------------------------------- proofs

@pytest.mark.parametrize("how", ["latchctl", "call"])
def test_purge_deletes_expired_single_use_proofs_only(pdb, how):
    """A used DPoP jti or DBSC challenge is kept while the proof could be
    accepted, so that every host refuses it again; after that the purge
    deletes it (migration 011), a batch at a time."""
    tag = uuid.uuid4().hex
    pdb.db.execute(
        "INSERT INTO proofs_seen (proof_hash, expires_at)"
        " SELECT sha256(convert_to(%s || i, 'UTF8')),"
        "  now() + CASE WHEN i <= 3 THEN interval '-1 second'"
        "  ELSE interval '1 hour' END"
        " FROM generate_series(1, 5) i", (tag,))
    if how == "latchctl":
        pdb.purge("--batch", "1")
    else:
        pdb.db.execute("CALL latch_purge(1)")
    left = pdb.db.all(
        "SELECT i FROM generate_series(1, 5) i JOIN proofs_seen p"
        " ON p.proof_hash = sha256(convert_to(%s || i, 'UTF8'))"
        " ORDER BY i", (tag,))
    assert [r[0] for r in left] == [4, 5]


def test_purge_deletes_an_ended_sessions_key_with_it(pdb):
    user = pdb.user()
    resp = pdb.client.login(username=user["username"],
                            password=user["password"])
    assert resp.status_code == 200
    sid = pdb.db.one("SELECT id FROM sessions WHERE user_id = %s",
                     (user["id"],))[0]
    pdb.db.execute(
        "INSERT INTO session_keys (session_id, kind, alg, jkt, public_jwk,"
        " bound_at) VALUES (%s, 'dpop', 'EdDSA', sha256('k'::bytea),"
        " '{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"x\"}', now())",
        (sid,))
    pdb.db.execute("UPDATE sessions SET revoked_at = now() - interval '2 days',"
                   " revoked_reason = 'logout' WHERE id = %s", (sid,))
    pdb.purge()
    assert pdb.db.all("SELECT 1 FROM session_keys WHERE session_id = %s",
                      (sid,)) == []
    assert pdb.db.all("SELECT 1 FROM sessions WHERE id = %s", (sid,)) == []
