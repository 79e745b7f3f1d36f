"""POST /auth/logout-all: with a Bearer access token, revokes every session
of its user, clears the cookie, answers {"revoked": N}."""

import pytest

from conftest import session_row
from latchlib import (WWW_AUTH_PLAIN, assert_clears_cookie, assert_error,
                      assert_invalid_token, assert_missing_credential,
                      assert_no_store, json_body, login_body, login_cookie,
                      refreshed_body, rotate_body, sid_of)


@pytest.fixture
def user(make_user):
    return make_user(prefix="lga")


def _sessions(web, user, n=3):
    """n logins: body, cookie, body, ...; returns [(access, refresh,
    delivery)]."""
    out = []
    for i in range(n):
        if i % 2:
            body, token, _ = login_cookie(web, user)
            out.append((body["access_token"], token, "cookie"))
        else:
            body = login_body(web, user)
            out.append((body["access_token"], body["refresh_token"], "body"))
    return out


def test_logout_all_answers_revoked_count_and_clears_cookie(web, user):
    sessions = _sessions(web, user, 3)
    resp = web.logout_all(sessions[0][0])
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"revoked": 3}
    assert_no_store(resp)
    assert_clears_cookie(resp)


def test_logout_all_kills_every_refresh_token_of_the_user(web, user):
    sessions = _sessions(web, user, 3)
    web.logout_all(sessions[1][0])
    for _, refresh, delivery in sessions:
        if delivery == "cookie":
            assert_error(web.refresh(cookie=refresh), 403,
                         "invalid_grant")
        else:
            assert_error(web.refresh(refresh), 403, "invalid_grant")


def test_logout_all_kills_every_access_token_of_the_user(web, user):
    sessions = _sessions(web, user, 3)
    web.logout_all(sessions[2][0])
    for access, _, _ in sessions:
        assert_invalid_token(web.profile(access))


def test_logout_all_marks_sessions_revoked(web, db, user):
    sessions = _sessions(web, user, 2)
    web.logout_all(sessions[0][0])
    for _, refresh, _ in sessions:
        assert session_row(db, sid_of(refresh))["revoked_at"] is not None


def test_logout_all_kills_rotated_chains_too(web, user):
    login = login_body(web, user)
    new, access = rotate_body(web, login["refresh_token"])
    web.logout_all(access)
    assert_error(web.refresh(new), 403, "invalid_grant")
    assert_error(web.refresh(login["refresh_token"]), 403, "invalid_grant")


def test_logout_all_leaves_other_users_alone(web, db, make_user, user):
    other_user = make_user(prefix="lgb")
    theirs = _sessions(web, other_user, 2)
    mine = _sessions(web, user, 2)
    resp = web.logout_all(mine[0][0])
    assert json_body(resp) == {"revoked": 2}
    for access, refresh, delivery in theirs:
        assert session_row(db, sid_of(refresh))["revoked_at"] is None
        assert web.profile(access).status_code == 200
        if delivery == "cookie":
            assert web.refresh(cookie=refresh).status_code == 200
        else:
            refreshed_body(web.refresh(refresh))


def test_logout_all_counts_only_live_sessions(web, user):
    sessions = _sessions(web, user, 3)
    assert sessions[0][2] == "body"
    assert web.logout(sessions[0][1]).status_code == 200
    resp = web.logout_all(sessions[2][0])
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"revoked": 2}


def test_logout_all_twice_is_401_the_second_time(web, user):
    sessions = _sessions(web, user, 1)
    assert web.logout_all(sessions[0][0]).status_code == 200
    assert_invalid_token(web.logout_all(sessions[0][0]))


def test_logout_all_without_bearer_is_401(web):
    resp = web.logout_all(None)
    assert_missing_credential(resp)
    assert resp.headers.get("WWW-Authenticate") == WWW_AUTH_PLAIN


def test_logout_all_with_refresh_cookie_but_no_bearer_is_401(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.request("POST", "/auth/logout-all",
                       headers={"Cookie": "refresh_token=" + token})
    assert_missing_credential(resp)
    assert web.refresh(cookie=token).status_code == 200


def test_logout_all_with_refresh_token_as_bearer_is_401(web, user):
    login = login_body(web, user)
    assert_invalid_token(web.logout_all(login["refresh_token"]))
    refreshed_body(web.refresh(login["refresh_token"]))


def test_logout_all_with_garbage_bearer_is_401(web):
    assert_invalid_token(web.logout_all("garbage"))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_logout_all_other_methods_are_405(web, method):
    resp = web.request(method, "/auth/logout-all")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "POST"
