"""Long rotation chains and what rotation leaves in the database: one live
token per session, rotated rows linked to their successors, the session's
last use and idle expiry moving with each rotation."""

import datetime
import time
import uuid

import psycopg2
import psycopg2.errors
import pytest

from conftest import session_row, token_rows
from latchlib import (assert_error, assert_invalid_token, claims_of,
                      login_body, login_cookie, now, rotate_body,
                      rotate_cookie, sid_of, token_hash)

CHAIN = 20


@pytest.fixture
def user(make_user):
    return make_user(prefix="rfc")


def _assert_chain_shape(tokens, accesses):
    assert len(set(tokens)) == len(tokens), "a token came back twice"
    assert len({claims_of(t)["jti"] for t in tokens}) == len(tokens)
    assert {sid_of(t) for t in tokens} == {sid_of(tokens[0])}
    assert {claims_of(t)["sub"] for t in tokens} == \
        {claims_of(tokens[0])["sub"]}
    assert {sid_of(a) for a in accesses} == {sid_of(tokens[0])}


def test_refresh_chain_of_20_body_rotations(web, user):
    tokens, accesses = [login_body(web, user)["refresh_token"]], []
    for _ in range(CHAIN):
        new, access = rotate_body(web, tokens[-1])
        tokens.append(new)
        accesses.append(access)
    _assert_chain_shape(tokens, accesses)
    assert web.profile(accesses[-1]).status_code == 200


def test_refresh_chain_of_20_cookie_rotations(web, user):
    _, first, _ = login_cookie(web, user)
    tokens, accesses = [first], []
    for _ in range(CHAIN):
        new, access = rotate_cookie(web, tokens[-1])
        tokens.append(new)
        accesses.append(access)
    _assert_chain_shape(tokens, accesses)
    assert web.profile(accesses[-1]).status_code == 200


def test_refresh_chain_old_tokens_are_dead_at_its_end(web, db, user):
    """Token two generations back is reuse: it is refused and then every
    token of the chain is dead."""
    tokens = [login_body(web, user)["refresh_token"]]
    for _ in range(CHAIN):
        tokens.append(rotate_body(web, tokens[-1])[0])
    assert_error(web.refresh(tokens[-3]), 403, "invalid_grant")
    for t in tokens:
        assert_error(web.refresh(t), 403, "invalid_grant")
    assert session_row(db, sid_of(tokens[0]))["revoked_reason"] == "reuse"


def test_refresh_chain_every_old_token_dies_after_short_grace(grace1s_web,
                                                              db, make_user):
    """With a 1 s window, every generation of a chain t0..t3 (t3 live),
    the immediate predecessor t2 included, is refused once the window has
    closed. One chain per generation, as the first refusal ends a session;
    a single wait for all of them."""
    chains = []
    for _ in range(3):
        user = make_user(prefix="rfcg")
        tokens = [login_body(grace1s_web, user)["refresh_token"]]
        for _ in range(3):
            tokens.append(rotate_body(grace1s_web, tokens[-1])[0])
        chains.append(tokens)
    time.sleep(1.6)
    for generation, tokens in enumerate(chains):
        assert_error(grace1s_web.refresh(tokens[generation]), 403,
                     "invalid_grant")
        assert session_row(db, sid_of(tokens[0]))["revoked_reason"] == \
            "reuse", f"generation {generation}"
        assert_error(grace1s_web.refresh(tokens[-1]), 403, "invalid_grant")


# ------------------------------------------------------------ database

def test_refresh_chain_leaves_one_live_row_linked_to_the_chain(web, db,
                                                               user):
    tokens = [login_body(web, user)["refresh_token"]]
    for _ in range(CHAIN):
        tokens.append(rotate_body(web, tokens[-1])[0])
    rows = token_rows(db, sid_of(tokens[0]))
    assert len(rows) == CHAIN + 1
    by_hash = {h: (rid, rot, succ) for rid, h, rot, succ in rows}
    live = [h for h, (_, rot, _) in by_hash.items() if rot is None]
    assert live == [token_hash(tokens[-1])]
    for old, new in zip(tokens, tokens[1:]):
        _, rot, succ = by_hash[token_hash(old)]
        assert rot is not None
        assert succ == by_hash[token_hash(new)][0]
    assert by_hash[token_hash(tokens[-1])][2] is None


def test_schema_refuses_a_second_first_token_or_a_second_successor(web, db,
                                                                   user):
    """A session's tokens form one chain: the schema itself refuses a
    second chain start in a session and a fork after a token, whatever
    the code does."""
    token = login_body(web, user)["refresh_token"]
    new, _ = rotate_body(web, token)
    sid = sid_of(token)
    (first_id, *_), (second_id, *_) = token_rows(db, sid)
    for predecessor in (None, first_id):
        with pytest.raises(psycopg2.errors.UniqueViolation):
            db.execute(
                "INSERT INTO refresh_tokens (session_id, token_hash, "
                "expires_at, predecessor_id) VALUES (%s, sha256(%s), "
                "now() + interval '1 day', %s)",
                (sid, uuid.uuid4().bytes, predecessor))
    assert [r[0] for r in token_rows(db, sid)] == [first_id, second_id]
    assert rotate_body(web, new)[0]


def test_no_session_has_two_live_refresh_tokens(db):
    assert db.scalar("SELECT count(*) FROM (SELECT session_id FROM "
                     "refresh_tokens WHERE rotated_at IS NULL "
                     "GROUP BY session_id HAVING count(*) > 1) x") == 0


def test_every_rotated_row_has_a_successor_of_its_session(db):
    assert db.scalar(
        "SELECT count(*) FROM refresh_tokens t "
        "LEFT JOIN refresh_tokens s ON s.predecessor_id = t.id "
        "WHERE t.rotated_at IS NOT NULL "
        "  AND (s.id IS NULL OR s.session_id <> t.session_id)") == 0


def _utc(ts):
    return ts.astimezone(datetime.timezone.utc)


def test_refresh_moves_last_used_and_idle_expiry(web, db, user):
    token = login_body(web, user)["refresh_token"]
    sid = sid_of(token)
    before = session_row(db, sid)
    time.sleep(1.1)
    new, _ = rotate_body(web, token)
    after = session_row(db, sid)
    assert after["last_used_at"] > before["last_used_at"]
    assert after["idle_expires_at"] > before["idle_expires_at"]
    assert abs(after["idle_expires_at"].timestamp()
               - claims_of(new)["exp"]) <= 1
    assert abs(after["last_used_at"].timestamp() - now()) <= 3
    assert after["absolute_expires_at"] == before["absolute_expires_at"]


def test_access_token_use_does_not_move_last_used(web, db, user):
    login = login_body(web, user)
    sid = sid_of(login["refresh_token"])
    before = session_row(db, sid)
    time.sleep(1.1)
    assert web.profile(login["access_token"]).status_code == 200
    assert web.sessions(login["access_token"]).status_code == 200
    after = session_row(db, sid)
    assert after["last_used_at"] == before["last_used_at"]
    assert after["idle_expires_at"] == before["idle_expires_at"]


def test_refresh_chain_access_tokens_all_work_until_revoked(web, db,
                                                            user):
    tokens, accesses = [login_body(web, user)["refresh_token"]], []
    for _ in range(5):
        new, access = rotate_body(web, tokens[-1])
        tokens.append(new)
        accesses.append(access)
    for access in accesses:
        assert web.profile(access).status_code == 200
    web.refresh(tokens[0])                    # reuse: ends the session
    for access in accesses:
        assert_invalid_token(web.profile(access))
