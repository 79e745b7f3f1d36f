"""POST /auth/logout: revokes the session of the presented refresh token,
always clears the cookie, is idempotent and no oracle."""

import time
import uuid

import pytest

from conftest import create_user, revoke_session, session_row
from latchlib import (assert_clears_cookie, assert_error,
                      assert_invalid_token, assert_no_store, jwt_encode,
                      json_body, claims_of, login_body,
                      login_cookie, now, refresh_cookie, refreshed_body,
                      rotate_body, sid_of)

LOGGED_OUT = {"message": "logged out"}


@pytest.fixture
def user(make_user):
    return make_user(prefix="lgo")


@pytest.fixture(scope="module")
def shared_login(stack, db, web):
    """One login (body delivery) whose tokens only serve as templates."""
    return login_body(web, create_user(stack, db, prefix="lgos"))


def _assert_logged_out(resp, secure=False):
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == LOGGED_OUT
    assert_no_store(resp)
    assert_clears_cookie(resp, secure)


# ------------------------------------------------------------ success

def test_logout_with_cookie_answers_logged_out_and_clears_it(web, user):
    _, token, _ = login_cookie(web, user)
    _assert_logged_out(web.logout(cookie=token))


def test_logout_with_cookie_kills_the_refresh_token(web, user):
    _, token, _ = login_cookie(web, user)
    web.logout(cookie=token)
    assert_error(web.refresh(cookie=token), 403, "invalid_grant")


def test_logout_with_cookie_kills_the_access_token(web, user):
    body, token, _ = login_cookie(web, user)
    assert web.profile(body["access_token"]).status_code == 200
    web.logout(cookie=token)
    assert_invalid_token(web.profile(body["access_token"]))


def test_logout_with_body_token_answers_logged_out_and_clears_cookie(web,
                                                                     user):
    token = login_body(web, user)["refresh_token"]
    _assert_logged_out(web.logout(token))


def test_logout_with_body_token_ends_the_session(web, db, user):
    login = login_body(web, user)
    web.logout(login["refresh_token"])
    assert_error(web.refresh(login["refresh_token"]), 403, "invalid_grant")
    assert_invalid_token(web.profile(login["access_token"]))
    assert session_row(db, sid_of(login["refresh_token"]))["revoked_at"] \
        is not None


def test_logout_with_rotated_successor_ends_the_whole_session(web, user):
    login = login_body(web, user)
    new, access = rotate_body(web, login["refresh_token"])
    _assert_logged_out(web.logout(new))
    assert_error(web.refresh(new), 403, "invalid_grant")
    # The predecessor's grace answer is gone with the session.
    assert_error(web.refresh(login["refresh_token"]), 403, "invalid_grant")
    assert_invalid_token(web.profile(access))


def test_logout_leaves_other_sessions_alone(web, user):
    mine = login_body(web, user)
    other = login_body(web, user)
    web.logout(mine["refresh_token"])
    assert web.profile(other["access_token"]).status_code == 200
    refreshed_body(web.refresh(other["refresh_token"]))


def test_logout_with_secure_cookie_clears_secure_cookie(secure_web, user):
    _, token, _ = login_cookie(secure_web, user, secure=True)
    _assert_logged_out(secure_web.logout(cookie=token, secure=True),
                       secure=True)
    assert_error(secure_web.refresh(cookie=token, secure=True), 403,
                 "invalid_grant")


def test_logout_twice_is_200_both_times(web, user):
    _, token, _ = login_cookie(web, user)
    _assert_logged_out(web.logout(cookie=token))
    _assert_logged_out(web.logout(cookie=token))


def test_logout_with_empty_body_of_any_type_uses_cookie(web, user):
    _, token, _ = login_cookie(web, user)
    _assert_logged_out(web.logout(cookie=token, body=b"",
                                  content_type="text/plain"))
    assert_error(web.refresh(cookie=token), 403, "invalid_grant")


# ------------------------------------------------------------ no oracle

def _expired(stack, like):
    c = dict(claims_of(like))
    c.update({"jti": uuid.uuid4().hex, "iat": now() - 100,
              "exp": now() - 10})
    return jwt_encode({"alg": "HS256", "typ": "refresh+jwt",
                       "kid": stack.refresh_kid}, c, stack.refresh_secret)


def _unknown(stack, like):
    c = dict(claims_of(like))
    c.update({"jti": uuid.uuid4().hex, "iat": now(), "exp": now() + 600})
    return jwt_encode({"alg": "HS256", "typ": "refresh+jwt",
                       "kid": stack.refresh_kid}, c, stack.refresh_secret)


def _bad_signature(stack, like):
    return jwt_encode({"alg": "HS256", "typ": "refresh+jwt",
                       "kid": stack.refresh_kid}, claims_of(like),
                      b"x" * 32)


@pytest.mark.parametrize("where", ["cookie", "body"])
@pytest.mark.parametrize("kind", ["garbage", "unknown", "bad_signature",
                                  "expired", "access_token"])
def test_logout_with_useless_token_is_still_200(web, stack, shared_login,
                                                where, kind):
    login = shared_login
    token = {"garbage": lambda: "garbage",
             "unknown": lambda: _unknown(stack, login["refresh_token"]),
             "bad_signature": lambda: _bad_signature(stack,
                                                     login["refresh_token"]),
             "expired": lambda: _expired(stack, login["refresh_token"]),
             "access_token": lambda: login["access_token"]}[kind]()
    if where == "cookie":
        resp = web.logout(cookie=token)
    else:
        resp = web.logout(token)
    _assert_logged_out(resp)


def test_logout_without_token_is_200(web):
    _assert_logged_out(web.logout())


def test_logout_with_empty_json_object_is_200(web):
    _assert_logged_out(web.logout(body=b"{}",
                                  content_type="application/json"))


def test_logout_of_already_revoked_session_is_200(web, db, user):
    _, token, _ = login_cookie(web, user)
    revoke_session(db, sid_of(token))
    _assert_logged_out(web.logout(cookie=token))


def test_logout_forged_token_leaves_the_session_alone(web, stack, user):
    login = login_body(web, user)
    web.logout(_bad_signature(stack, login["refresh_token"]))
    web.logout(_unknown(stack, login["refresh_token"]))
    assert web.profile(login["access_token"]).status_code == 200
    refreshed_body(web.refresh(login["refresh_token"]))


# ------------------------------------------------------------ expired tokens
#
# On the lifetimes web (JWT_REFRESH_EXPIRES=3s): a session whose first
# token has expired while the session lives on through its successor.
# The session's live token, expired, still ends it; that state exists only
# for a DBSC-bound session, whose 10-minute cookie runs out while the
# session lives on through its key: test_dbsc_protocol.py has that case.

def _outlived_token(web, db, user):
    """A cookie login refreshed 0.8 s before its token expires, then
    waited until that token has expired while the session (through the
    successor, about 2 s longer) has not: (login answer, expired token,
    live successor). /auth/refresh already refuses the expired token, and
    changes nothing for it."""
    login, first, _ = login_cookie(web, user)
    time.sleep(max(0.0, claims_of(first)["exp"] - 0.8 - time.time()))
    resp = web.refresh(cookie=first)
    assert resp.status_code == 200, resp.text
    successor, _ = refresh_cookie(resp)
    assert claims_of(successor)["exp"] > claims_of(first)["exp"]
    delay = claims_of(first)["exp"] + 0.2 - time.time()
    assert delay < 4, delay
    time.sleep(max(0.0, delay))
    assert time.time() < claims_of(successor)["exp"] - 0.8, \
        "the machine was too slow: the successor is about to expire too"
    return login, first, successor


def test_logout_with_expired_rotated_token_ends_nothing(lifetimes_web, db,
                                                        make_user):
    """A token of ours that has expired and was rotated is no longer the
    session's: logout with it answers 200 as always and revokes nothing
    (an old copy cannot end the owner's session); the successor still
    refreshes and the access token still works."""
    web = lifetimes_web
    login, expired, successor = _outlived_token(web, db,
                                                make_user(prefix="lgox"))
    _assert_logged_out(web.logout(cookie=expired))
    _assert_logged_out(web.logout(expired))
    resp = web.refresh(cookie=successor)
    assert resp.status_code == 200, resp.text
    assert web.profile(login["access_token"]).status_code == 200
    assert session_row(db, sid_of(expired))["revoked_at"] is None
    assert_error(web.refresh(cookie=expired), 403, "invalid_grant")


# ------------------------------------------------------------ malformed

def test_logout_with_two_refresh_cookies_is_400(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.logout(headers={
        "Cookie": f"refresh_token={token}; refresh_token=x"})
    assert_error(resp, 400, "invalid_request")
    assert web.refresh(cookie=token).status_code == 200


@pytest.mark.parametrize("value", [7, False, ["x"], {"a": 1}],
                         ids=["number", "bool", "array", "object"])
def test_logout_token_member_of_wrong_type_is_400(web, value):
    resp = web.request("POST", "/auth/logout",
                       json_body={"refresh_token": value})
    assert_error(resp, 400, "invalid_request")


def test_logout_with_invalid_json_is_400(web):
    resp = web.logout(body=b"{nope", content_type="application/json")
    assert_error(resp, 400, "invalid_request")


def test_logout_with_foreign_origin_and_cookie_is_403(web, user):
    body, token, _ = login_cookie(web, user)
    resp = web.logout(cookie=token,
                      headers={"Origin": "https://evil.example"})
    assert_error(resp, 403, "invalid_origin")
    assert web.profile(body["access_token"]).status_code == 200
    assert web.refresh(cookie=token).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_logout_other_methods_are_405(web, method):
    resp = web.request(method, "/auth/logout")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "POST"


def test_logout_on_main_web_ends_the_session(client, make_user):
    user = make_user(prefix="lgom")
    body, token, _ = login_cookie(client, user)
    _assert_logged_out(client.logout(cookie=token))
    assert_error(client.refresh(cookie=token), 403, "invalid_grant")
    assert_invalid_token(client.profile(body["access_token"]))
