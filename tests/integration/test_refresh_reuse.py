"""POST /auth/refresh, reuse detection: a rotated token shown after the
grace window, or after its successor was itself rotated, revokes the whole
session (or, with REUSE_REVOKES=user, every session of the user); the
revocation is committed though the request fails, and it is logged."""

import time

import pytest

from conftest import LIFECYCLE, LogTail, fcgi_log_path, session_row
from latchlib import (assert_clears_cookie, assert_error,
                      assert_invalid_token, json_body, login_body,
                      login_cookie,
                      refreshed_body, rotate_body,
                      rotate_cookie, sid_of, token_hash)


@pytest.fixture
def user(make_user):
    return make_user(prefix="rfr")


def _chain(web, n, token):
    """Rotates n times from token: returns [token, t1, ..., tn] and the
    access tokens issued on the way."""
    tokens, accesses = [token], []
    for _ in range(n):
        new, access = rotate_body(web, tokens[-1])
        tokens.append(new)
        accesses.append(access)
    return tokens, accesses


def _wait_past(seconds):
    time.sleep(seconds)


def _assert_session_reuse_revoked(db, sid):
    row = session_row(db, sid)
    assert row["revoked_at"] is not None, "session not revoked"
    assert row["revoked_reason"] == "reuse", row["revoked_reason"]


# ------------------------------------------------------------ within window

def test_refresh_reuse_after_successor_rotated_is_invalid_grant(web,
                                                                user):
    login = login_body(web, user)
    (t0, t1, t2), _ = _chain(web, 2, login["refresh_token"])
    assert_error(web.refresh(t0), 403, "invalid_grant")


def test_refresh_reuse_revokes_session(web, db, user):
    login = login_body(web, user)
    (t0, t1, t2), _ = _chain(web, 2, login["refresh_token"])
    assert web.refresh(t0).status_code == 403
    _assert_session_reuse_revoked(db, sid_of(t0))


def test_refresh_reuse_kills_every_descendant_token(web, user):
    login = login_body(web, user)
    (t0, t1, t2), _ = _chain(web, 2, login["refresh_token"])
    assert web.refresh(t0).status_code == 403
    for t in (t2, t1, t0):
        assert_error(web.refresh(t), 403, "invalid_grant")


def test_refresh_reuse_kills_the_sessions_access_tokens(web, user):
    login = login_body(web, user)
    (t0, t1, t2), accesses = _chain(web, 2, login["refresh_token"])
    for access in [login["access_token"], *accesses]:
        assert web.profile(access).status_code == 200
    assert web.refresh(t0).status_code == 403
    for access in [login["access_token"], *accesses]:
        assert_invalid_token(web.profile(access))


def test_refresh_reuse_in_cookie_is_invalid_grant_and_clears_it(web, db,
                                                                user):
    _, t0, _ = login_cookie(web, user)
    t1, _ = rotate_cookie(web, t0)
    t2, _ = rotate_cookie(web, t1)
    resp = web.refresh(cookie=t0)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)
    _assert_session_reuse_revoked(db, sid_of(t0))
    assert_error(web.refresh(cookie=t2), 403, "invalid_grant")


def test_refresh_reuse_leaves_other_sessions_of_the_user_alone(web, db,
                                                               user):
    other = login_body(web, user)
    (t0, _, _), _ = _chain(web, 2, login_body(web, user)
                           ["refresh_token"])
    assert web.refresh(t0).status_code == 403
    assert session_row(db, sid_of(other["refresh_token"]))["revoked_at"] \
        is None
    assert web.profile(other["access_token"]).status_code == 200
    refreshed_body(web.refresh(other["refresh_token"]))


def test_refresh_reuse_of_a_long_chain_revokes_it_whole(web, db, user):
    tokens, accesses = _chain(web, 5,
                              login_body(web, user)["refresh_token"])
    assert_error(web.refresh(tokens[1]), 403, "invalid_grant")
    _assert_session_reuse_revoked(db, sid_of(tokens[0]))
    assert_error(web.refresh(tokens[-1]), 403, "invalid_grant")
    assert_invalid_token(web.profile(accesses[-1]))


# ------------------------------------------------------------ after window

def test_refresh_reuse_after_grace_window_revokes_session(grace1s_web, db,
                                                          user):
    t0 = login_body(grace1s_web, user)["refresh_token"]
    t1, access = rotate_body(grace1s_web, t0)
    _wait_past(1.6)
    assert_error(grace1s_web.refresh(t0), 403, "invalid_grant")
    _assert_session_reuse_revoked(db, sid_of(t0))
    assert_error(grace1s_web.refresh(t1), 403, "invalid_grant")
    assert_invalid_token(grace1s_web.profile(access))


def _at_fraction(low, high, limit=2.0):
    """Sleeps until the fractional part of the clock is in [low, high)."""
    deadline = time.monotonic() + limit
    while not low <= time.time() % 1 < high:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_refresh_duplicate_within_short_window_still_works(grace1s_web,
                                                           user):
    """Control for the test above: inside its 1 s window (here within the
    same clock second) the instance answers a duplicate."""
    t0 = login_body(grace1s_web, user)["refresh_token"]
    _at_fraction(0.05, 0.5)
    t1, _ = rotate_body(grace1s_web, t0)
    assert refreshed_body(grace1s_web.refresh(t0))["refresh_token"] == t1


def test_refresh_duplicate_across_a_clock_second_is_within_window(
        grace1s_web, db, user):
    """A duplicate 0.12 to 0.25 s after the rotation is well within a 1 s
    window, also when the clock's whole second ticks in between (the
    rotation just before a tick, the duplicate just after it)."""
    t0 = login_body(grace1s_web, user)["refresh_token"]
    for _ in range(3):
        _at_fraction(0.85, 0.9)
        second = int(time.time())
        t1, _ = rotate_body(grace1s_web, t0)
        if int(time.time()) == second:
            break
        t0 = t1                       # too slow: the tick came too soon
    else:
        pytest.skip("could not rotate just before a clock tick")
    _at_fraction(0.02, 0.1)           # 0.12 to 0.25 s after the rotation
    resp = grace1s_web.refresh(t0)
    assert resp.status_code == 200, \
        f"duplicate ~0.2 s after rotation refused: {resp.text}"
    assert json_body(resp)["refresh_token"] == t1
    assert session_row(db, sid_of(t0))["revoked_at"] is None


def test_refresh_reuse_after_grace_window_in_cookie_clears_it(grace1s_web,
                                                              db, user):
    _, t0, _ = login_cookie(grace1s_web, user)
    t1, _ = rotate_cookie(grace1s_web, t0)
    _wait_past(1.6)
    resp = grace1s_web.refresh(cookie=t0)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)
    _assert_session_reuse_revoked(db, sid_of(t0))
    assert_error(grace1s_web.refresh(cookie=t1), 403, "invalid_grant")


def test_refresh_reuse_of_token_rotated_days_ago_revokes_session(web, db,
                                                                  user):
    """Rotated tokens are remembered until their session ends: one rotated
    two days ago (moved back in the database) is reuse, not unknown."""
    t0 = login_body(web, user)["refresh_token"]
    t1, access = rotate_body(web, t0)
    assert db.execute("UPDATE refresh_tokens SET rotated_at = rotated_at - "
                      "interval '2 days' WHERE token_hash = %s",
                      (token_hash(t0),)) == 1
    assert_error(web.refresh(t0), 403, "invalid_grant")
    _assert_session_reuse_revoked(db, sid_of(t0))
    assert_error(web.refresh(t1), 403, "invalid_grant")
    assert_invalid_token(web.profile(access))


# ------------------------------------------------------------ user scope

def test_refresh_reuse_with_user_scope_revokes_every_user_session(
        reuse_user_web, web, db, make_user, user):
    bystander = make_user(prefix="rfrby")
    theirs = login_body(web, bystander)
    others = [login_body(web, user), login_body(reuse_user_web, user)]
    (t0, _, t2), _ = _chain(reuse_user_web, 2,
                            login_body(reuse_user_web, user)["refresh_token"])
    assert_error(reuse_user_web.refresh(t0), 403, "invalid_grant")
    for sid in [sid_of(t0)] + [sid_of(o["refresh_token"]) for o in others]:
        _assert_session_reuse_revoked(db, sid)
    for o in others:
        assert_error(web.refresh(o["refresh_token"]), 403, "invalid_grant")
        assert_invalid_token(web.profile(o["access_token"]))
    assert_error(reuse_user_web.refresh(t2), 403, "invalid_grant")
    # Another user's session is untouched.
    assert session_row(db, sid_of(theirs["refresh_token"]))["revoked_at"] \
        is None
    assert web.profile(theirs["access_token"]).status_code == 200
    refreshed_body(web.refresh(theirs["refresh_token"]))


def test_refresh_reuse_with_session_scope_spares_other_sessions(web, db,
                                                                user):
    """Default REUSE_REVOKES=session: the sibling session is live."""
    sibling = login_body(web, user)
    (t0, _, _), _ = _chain(web, 2, login_body(web, user)
                           ["refresh_token"])
    web.refresh(t0)
    row = session_row(db, sid_of(sibling["refresh_token"]))
    assert row["revoked_at"] is None and row["revoked_reason"] is None


# ------------------------------------------------------------ the log

def _reuse_lines(lines, user, sid):
    return [line for line in lines
            if " event=refresh_reuse " in f" {line} "
            and f" user={user['id']} " in f" {line} "
            and f" sid={sid} " in f" {line} "]


def _assert_reuse_logged(tail, user, sid, tokens):
    lines = tail.wait_for(lambda l: bool(_reuse_lines([l], user, sid)))
    found = _reuse_lines(lines, user, sid)
    assert len(found) == 1, f"reuse log lines: {found!r}"
    line = found[0]
    assert line.startswith("latch prog=auth level=warn event=refresh_reuse "
                           f"user={user['id']} sid={sid} ip=127.0.0.1"), line
    for line in lines:
        for token in tokens:
            signature = token.rsplit(".", 1)[1]
            assert token not in line and signature not in line, \
                f"log line holds a token: {line!r}"


def test_refresh_reuse_is_logged_as_warning_without_tokens(web, stack,
                                                           user):
    tail = LogTail(fcgi_log_path(stack, LIFECYCLE))
    login = login_body(web, user)
    tokens, accesses = _chain(web, 2, login["refresh_token"])
    assert web.refresh(tokens[0]).status_code == 403
    _assert_reuse_logged(tail, user, sid_of(tokens[0]),
                         tokens + [login["access_token"]] + accesses)


def test_refresh_reuse_after_window_is_logged_by_its_instance(grace1s_web,
                                                              stack, user):
    tail = LogTail(fcgi_log_path(stack, "grace1s"))
    t0 = login_body(grace1s_web, user)["refresh_token"]
    t1, access = rotate_body(grace1s_web, t0)
    _wait_past(1.6)
    assert grace1s_web.refresh(t0).status_code == 403
    _assert_reuse_logged(tail, user, sid_of(t0), [t0, t1, access])


def test_refresh_reuse_with_user_scope_is_logged(reuse_user_web, stack,
                                                 user):
    tail = LogTail(fcgi_log_path(stack, "reuseuser"))
    (t0, t1, t2), _ = _chain(reuse_user_web, 2,
                             login_body(reuse_user_web, user)
                             ["refresh_token"])
    assert reuse_user_web.refresh(t0).status_code == 403
    _assert_reuse_logged(tail, user, sid_of(t0), [t0, t1, t2])


def test_refresh_reuse_answer_after_revocation_stays_invalid_grant(web,
                                                                   user):
    tokens, _ = _chain(web, 2, login_body(web, user)["refresh_token"])
    for _ in range(3):
        assert_error(web.refresh(tokens[0]), 403, "invalid_grant")


def test_refresh_reuse_on_main_web_revokes_and_logs(client, stack, db,
                                                    make_user):
    """The main web (the stack's defaults) and its own log."""
    user = make_user(prefix="rfrm")
    tail = LogTail(fcgi_log_path(stack))
    tokens, accesses = _chain(client, 2,
                              login_body(client, user)["refresh_token"])
    assert_error(client.refresh(tokens[0]), 403, "invalid_grant")
    _assert_session_reuse_revoked(db, sid_of(tokens[0]))
    assert_error(client.refresh(tokens[2]), 403, "invalid_grant")
    assert_invalid_token(client.profile(accesses[-1]))
    _assert_reuse_logged(tail, user, sid_of(tokens[0]), tokens + accesses)
