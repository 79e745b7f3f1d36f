"""Sealed successors (README "Refresh tokens"; migrations/005): a rotated
token's row keeps its successor sealed for REFRESH_REUSE_GRACE so that a
concurrent duplicate gets the same answer. A seal must be useless to
someone holding a dump of refresh_tokens and old refresh tokens of the
session (its key also needs a server key the database never holds), and
it must be gone as soon as no request can use it (when its successor
rotates, and once its window has passed).

The attacker here does what an offline attacker would: take one old token
and every column of every row, and try to open each stored seal with
everything derivable from the tokens in hand (the scheme before v2 first
of all: HKDF-SHA-256 of the token with salt "latch refresh successor seal
v1" and the session id as info, AES-256-GCM with the first 12 bytes as
nonce, the session id as AAD, a 16-byte tag at the end), walking on with
whatever opens."""

import hashlib
import hmac
import secrets
import threading
import time

import psycopg2
import pytest
import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from latchlib import (TIMEOUT, Client, json_body, login_body, record_tokens,
                      refreshed_body, rotate_body, sid_of)

V1_SALT = b"latch refresh successor seal v1"
V2_LABEL = b"latch successor seal v2"
ROTATIONS = 4


@pytest.fixture
def user(make_user):
    return make_user(prefix="seal")


# ------------------------------------------------------------ the attacker

def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                info=info).derive(ikm)


def token_only_keys(token, sid):
    """Every AES key the attacker derives from one token and the session
    id alone: the old scheme, and the new label without a server key."""
    t, s = token.encode(), sid.encode()
    keys = [
        hkdf(t, V1_SALT, s),                        # the scheme before v2
        hkdf(t, None, s),
        hkdf(t, None, b""),
        hkdf(t, V2_LABEL, s),
        hkdf(t, None, V2_LABEL + b"\0" + s),        # v2 with no server key
        hkdf(t, bytes(32), V2_LABEL + b"\0" + s),
        hkdf(t, V1_SALT, V2_LABEL + b"\0" + s),
        hashlib.sha256(t).digest(),
        hashlib.sha256(t + s).digest(),
        hmac.new(t, s, hashlib.sha256).digest(),
        t[:32].ljust(32, b"\0"),
    ]
    return keys


def try_open(key, blob, sid):
    """The plaintext of blob (nonce, ciphertext, tag) under key, or None."""
    if len(blob) < 12 + 16:
        return None
    for aad in (sid.encode(), None):
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], aad)
        except InvalidTag:
            pass
    return None


def dump_refresh_tokens(stack):
    """SELECT * FROM refresh_tokens: [{column: value}], bytea as bytes."""
    conn = psycopg2.connect(stack.database_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM refresh_tokens ORDER BY id")
            names = [d[0] for d in cur.description]
            return [{n: (bytes(v) if isinstance(v, memoryview) else v)
                     for n, v in zip(names, row)} for row in cur.fetchall()]
    finally:
        conn.close()


def token_sid(token):
    try:
        return sid_of(token)
    except Exception:                   # the control's made-up tokens
        return None


def walk(rows, tokens, sid=None):
    """Opens what it can: every binary value of every row of the session
    (the one the tokens name, or sid) against every key the tokens in hand
    yield, adding each opened token to the hand, until nothing new opens.
    (Rows of other sessions are bound to their own session id, which no
    token in hand names.) Returns the tokens it learnt (those it started
    with excluded)."""
    hand = set(tokens)
    learnt = set()
    sid = sid or token_sid(tokens[0])
    blobs = [v for r in rows if str(r["session_id"]) == sid
             for v in r.values()
             if isinstance(v, bytes) and len(v) >= 12 + 16 + 1]
    tried = set()
    while True:
        new = set()
        for token in hand - tried:
            tried.add(token)
            for key in token_only_keys(token, sid):
                for blob in blobs:
                    plain = try_open(key, blob, sid)
                    if plain is not None:
                        new.add(plain.decode("ascii", "replace"))
        new -= hand
        if not new:
            return learnt
        learnt |= new
        hand |= new


def v1_seal(pred, sid, secret):
    """A seal as the scheme before v2 made it."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(hkdf(pred.encode(), V1_SALT, sid.encode())) \
        .encrypt(nonce, secret.encode(), sid.encode())


def v2_open(server_secret, pred, sid, blob):
    """How latch opens a seal, with the refresh key's secret in hand."""
    server_key = hkdf(server_secret, None, V2_LABEL)
    key = hkdf(pred.encode(), server_key, V2_LABEL + b"\0" + sid.encode())
    return try_open(key, blob, sid)


def chain(client, user, rotations=ROTATIONS):
    """A login and `rotations` refreshes in quick succession (all within
    the grace window): the tokens, oldest first."""
    tokens = [login_body(client, user)["refresh_token"]]
    for _ in range(rotations):
        tokens.append(rotate_body(client, tokens[-1])[0])
    return tokens


def session_seals(db, sid):
    """[(id, successor_sealed is set, sealed_until, rotated_at)], oldest
    first."""
    return db.all("SELECT id, successor_sealed IS NOT NULL, sealed_until, "
                  "rotated_at FROM refresh_tokens WHERE session_id = %s "
                  "ORDER BY id", (sid,))


# ------------------------------------------------------------ the dump

def test_the_walk_opens_seals_of_the_old_scheme():
    """Control: the attacker's walk is not blind. Seals made as before v2
    open one after the other from the first token."""
    sid = "3f2c1a9e-8a7b-4c5d-9e0f-112233445566"
    toks = [f"header.payload{i}.sig{i}" for i in range(4)]
    rows = [{"session_id": sid, "successor_sealed": v1_seal(a, sid, b)}
            for a, b in zip(toks, toks[1:])]
    assert walk(rows, [toks[0]], sid) == set(toks[1:])


@pytest.mark.parametrize("held", range(ROTATIONS))
def test_dump_and_an_old_token_open_no_seal(web, stack, user, held):
    """With the dump and any one old token (up to the live token's
    predecessor, whose seal is still in its window), nothing opens."""
    tokens = chain(web, user)
    rows = dump_refresh_tokens(stack)
    mine = [r for r in rows if str(r["session_id"]) == sid_of(tokens[0])]
    assert len(mine) == ROTATIONS + 1
    learnt = walk(rows, [tokens[held]])
    # Counts, not tokens, in the failure message.
    opened = len(learnt & set(tokens))
    assert opened == 0, f"a dump and an old token opened {opened} seal(s)"
    assert len(learnt) == 0


def test_dump_holds_the_live_seal_only_the_server_key_opens(web, stack, db,
                                                           user):
    """What the attacker failed to open is a real seal: the live token's
    predecessor's, within its window, and it opens with the refresh key's
    secret, which the database never sees."""
    tokens = chain(web, user)
    sid = sid_of(tokens[0])
    rows = [r for r in dump_refresh_tokens(stack)
            if str(r["session_id"]) == sid]
    sealed = [r for r in rows if r["successor_sealed"] is not None]
    assert len(sealed) == 1, "one seal per session, on the live token's " \
        "predecessor"
    blob = sealed[0]["successor_sealed"]
    assert sealed[0]["token_hash"] == hashlib.sha256(
        tokens[-2].encode()).digest()
    opened = v2_open(stack.refresh_secret, tokens[-2], sid, blob)
    same = opened is not None and opened.decode() == tokens[-1]
    assert same, "the seal does not open with the server key"
    assert len(walk(rows, tokens[:-1])) == 0
    # And latch itself still answers the duplicate with it.
    assert refreshed_body(web.refresh(tokens[-2]))["refresh_token"] == \
        tokens[-1]


# ------------------------------------------------------------ lifetime

def test_seal_is_deleted_when_its_successor_rotates(web, db, user):
    t0 = login_body(web, user)["refresh_token"]
    t1, _ = rotate_body(web, t0)
    seals = session_seals(db, sid_of(t0))
    assert [s[1] for s in seals] == [True, False]
    t2, _ = rotate_body(web, t1)
    seals = session_seals(db, sid_of(t0))
    assert [s[1] for s in seals] == [False, True, False]
    assert seals[0][2] is None, "sealed_until stays with its seal"
    rotate_body(web, t2)
    assert [s[1] for s in session_seals(db, sid_of(t0))] == \
        [False, False, True, False]


def test_seal_says_until_when_it_is_usable(web, grace1s_web, db, make_user):
    """sealed_until is the rotation time plus the rotating process's
    REFRESH_REUSE_GRACE (10 s by default, 1 s on grace1s)."""
    for client, grace in ((web, 10), (grace1s_web, 1)):
        user = make_user(prefix="sealu")
        t0 = login_body(client, user)["refresh_token"]
        rotate_body(client, t0)
        _, sealed, until, rotated = session_seals(db, sid_of(t0))[0]
        assert sealed
        assert (until - rotated).total_seconds() == grace


def test_seal_past_its_window_goes_at_the_next_rotation(grace1s_web, db,
                                                        user):
    t0 = login_body(grace1s_web, user)["refresh_token"]
    t1, _ = rotate_body(grace1s_web, t0)
    time.sleep(1.3)                     # past REFRESH_REUSE_GRACE=1s
    t2, _ = rotate_body(grace1s_web, t1)
    assert [s[1] for s in session_seals(db, sid_of(t0))] == \
        [False, True, False]
    assert refreshed_body(grace1s_web.refresh(t2))


def test_reuse_revocation_deletes_the_sessions_seals(web, db, user):
    t0 = login_body(web, user)["refresh_token"]
    t1, _ = rotate_body(web, t0)
    rotate_body(web, t1)
    assert any(s[1] for s in session_seals(db, sid_of(t0)))
    assert web.refresh(t0).status_code == 403           # reuse
    assert not any(s[1] for s in session_seals(db, sid_of(t0)))


@pytest.mark.parametrize("how", ["logout", "logout_all", "delete"])
def test_revoking_a_session_deletes_its_seal(web, db, user, how):
    body = login_body(web, user)
    t1, access = rotate_body(web, body["refresh_token"])
    sid = sid_of(t1)
    assert any(s[1] for s in session_seals(db, sid))
    if how == "logout":
        assert web.logout(t1).status_code == 200
    elif how == "logout_all":
        assert web.logout_all(access).status_code == 200
    else:
        assert web.delete_session(access, sid).status_code == 204
    assert db.scalar("SELECT revoked_at IS NOT NULL FROM sessions "
                     "WHERE id = %s", (sid,))
    assert not any(s[1] for s in session_seals(db, sid))


def test_no_grace_window_stores_no_seal(harden_web, db, user):
    """REFRESH_REUSE_GRACE=0: no duplicate can ever be answered, so nothing
    is sealed at all; a second presentation is reuse."""
    nograce = Client(harden_web("sealnograce", 58, COOKIE_SECURE="0",
                                BCRYPT_COST="4", REFRESH_REUSE_GRACE="0"))
    t0 = login_body(nograce, user)["refresh_token"]
    t1, _ = rotate_body(nograce, t0)
    assert [s[1] for s in session_seals(db, sid_of(t0))] == [False, False]
    assert nograce.refresh(t0).status_code == 403
    assert nograce.refresh(t1).status_code == 403       # session revoked


# ------------------------------------------------------------ bytea_output

@pytest.fixture(scope="module")
def escape_url(stack):
    sep = "&" if "?" in stack.database_url else "?"
    return stack.database_url + sep + "options=-c%20bytea_output%3Descape"


@pytest.fixture(scope="module")
def escape_web(http_web_instance, escape_url):
    """A web whose connections use bytea_output = escape."""
    return http_web_instance("byteaesc", 9, COOKIE_SECURE="0", BCRYPT_COST="4",
                        DATABASE_URL=escape_url)


def test_the_escape_url_sets_bytea_output(escape_url):
    """Control: the setting the escape web connects with is in force."""
    conn = psycopg2.connect(escape_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW bytea_output")
            assert cur.fetchone()[0] == "escape"
    finally:
        conn.close()


def test_duplicate_under_bytea_output_escape(escape_web, user):
    t0 = login_body(escape_web, user)["refresh_token"]
    t1, _ = rotate_body(escape_web, t0)
    again = escape_web.refresh(t0)
    assert again.status_code == 200, again.text
    assert json_body(again)["refresh_token"] == t1


def test_concurrent_duplicate_under_bytea_output_escape(escape_web, user):
    t0 = login_body(escape_web, user)["refresh_token"]
    n = 6
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        http = requests.Session()
        try:
            http.get(escape_web.base_url + "/api/health", timeout=TIMEOUT)
            barrier.wait(timeout=30)
            resp = http.post(escape_web.base_url + "/auth/refresh",
                             json={"refresh_token": t0}, timeout=TIMEOUT)
            record_tokens(resp)
            results[i] = resp
        except Exception as exc:        # reported below
            results[i] = exc
        finally:
            http.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, requests.Response) for r in results), results
    assert [r.status_code for r in results] == [200] * n, \
        [(r.status_code, r.text[:100]) for r in results]
    successors = {json_body(r)["refresh_token"] for r in results}
    assert len(successors) == 1


# ------------------------------------------------------------ key rotation

NEW_REFRESH = "seal-rot-refresh-" + secrets.token_hex(20)


@pytest.fixture
def rotated_web(harden_web, stack):
    """The main web's keys with a new refresh key in front: the key-list
    rotation of README "Rotating signing keys", step 2."""
    return Client(harden_web(
        "sealrot", 57, COOKIE_SECURE="0", BCRYPT_COST="4",
        JWT_REFRESH_SECRET=f"sealr2:{NEW_REFRESH},{stack.refresh_secret_spec}"))


def test_duplicate_across_a_key_list_rotation(web, rotated_web, user):
    """Sealed by a process with the old list, duplicated at one with the
    new list in front, and the other way round: the seal's server key is
    that of the predecessor's own kid, listed on both."""
    t0 = login_body(web, user)["refresh_token"]
    t1, _ = rotate_body(web, t0)
    assert refreshed_body(rotated_web.refresh(t0))["refresh_token"] == t1
    t2, _ = rotate_body(rotated_web, t1)
    assert refreshed_body(web.refresh(t1))["refresh_token"] == t2
    assert refreshed_body(rotated_web.refresh(t1))["refresh_token"] == t2


def test_a_seal_that_will_not_open_refuses_the_duplicate_without_500(
        web, db, user):
    """A seal this server cannot open (written by a binary of an older
    scheme during a rolling upgrade, or under a key since removed): the
    duplicate is refused like one whose seal is gone (403), nothing is
    revoked, and the live successor still
    works."""
    first = login_body(web, user)["refresh_token"]
    second = json_body(web.refresh(first))["refresh_token"]
    sid = token_sid(first)
    assert db.execute(
        "UPDATE refresh_tokens SET successor_sealed = %s "
        "WHERE token_hash = %s AND successor_sealed IS NOT NULL",
        (secrets.token_bytes(300), hashlib.sha256(first.encode()).digest())
    ) == 1
    resp = web.refresh(first)
    assert resp.status_code == 403, resp.text
    assert json_body(resp)["error"] == "invalid_grant"
    assert db.scalar("SELECT revoked_at FROM sessions WHERE id = %s",
                     (sid,)) is None
    assert web.refresh(second).status_code == 200
