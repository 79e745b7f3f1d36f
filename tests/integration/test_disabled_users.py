"""Disabled (users.disabled_at set) and deleted users: API.md "POST
/auth/login" (401 invalid_credentials), "POST /auth/refresh" (403
invalid_grant) and "Bearer failures" (401 invalid_token at every latch
route that takes an access token).

Logins that must fail go to the web that trusts 127.0.0.1 as a proxy, from
a fresh address, so that 127.0.0.1 collects no failures."""

import pytest

from conftest import unique_name
from latchlib import (ForwardedClient, assert_clears_cookie, assert_error,
                      assert_invalid_token, fresh_address, login_body,
                      login_cookie, sid_of)

BEARER_ROUTES = [("GET", "/api/profile"), ("GET", "/auth/sessions"),
                 ("POST", "/auth/logout-all")]


def _disable(db, user):
    assert db.execute("UPDATE users SET disabled_at = now() WHERE id = %s",
                      (user["id"],)) == 1


def _delete(db, user):
    assert db.execute("DELETE FROM users WHERE id = %s", (user["id"],)) == 1


@pytest.fixture
def user(make_user):
    return make_user(prefix="off")


@pytest.fixture
def tokens(client, user):
    return login_body(client, user)


# ------------------------------------------------------------ login

def test_disabled_user_login_is_invalid_credentials(proxy_web, db, user):
    _disable(db, user)
    resp = ForwardedClient(proxy_web, fresh_address()).login(
        username=user["username"], password=user["password"])
    assert_error(resp, 401, "invalid_credentials")
    assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s",
                     (user["id"],)) == 0


def test_reenabled_user_logs_in_again(proxy_web, db, user):
    """Control of the refusal above: it is disabled_at that refuses."""
    _disable(db, user)
    db.execute("UPDATE users SET disabled_at = NULL WHERE id = %s",
               (user["id"],))
    resp = ForwardedClient(proxy_web, fresh_address()).login(
        username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text


def test_disabled_user_login_by_email_is_invalid_credentials(proxy_web, db,
                                                             make_user):
    name = unique_name("offmail")
    user = make_user(username=name, email=name + "@example.org")
    _disable(db, user)
    resp = ForwardedClient(proxy_web, fresh_address()).login(
        email=user["email"], password=user["password"])
    assert_error(resp, 401, "invalid_credentials")


# ------------------------------------------------------------ refresh

def test_disabled_user_refresh_in_cookie_is_invalid_grant_and_clears(
        client, db, user):
    _, token, _ = login_cookie(client, user)
    _disable(db, user)
    resp = client.refresh(cookie=token)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)


def test_disabled_user_refresh_issues_no_token(client, db, user, tokens):
    sid = sid_of(tokens["refresh_token"])
    before = db.scalar("SELECT count(*) FROM refresh_tokens "
                       "WHERE session_id = %s", (sid,))
    _disable(db, user)
    assert_error(client.refresh(tokens["refresh_token"]), 403,
                 "invalid_grant")
    assert db.scalar("SELECT count(*) FROM refresh_tokens "
                     "WHERE session_id = %s", (sid,)) == before


def test_deleted_user_refresh_in_cookie_is_invalid_grant_and_clears(
        client, db, user):
    _, token, _ = login_cookie(client, user)
    _delete(db, user)
    resp = client.refresh(cookie=token)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)


# ------------------------------------------------------------ access

@pytest.mark.parametrize("method,path", BEARER_ROUTES)
def test_disabled_user_access_token_is_invalid_token(client, db, user,
                                                     tokens, method, path):
    assert client.bearer("GET", "/api/profile",
                         tokens["access_token"]).status_code == 200
    _disable(db, user)
    assert_invalid_token(client.bearer(method, path, tokens["access_token"]))


@pytest.mark.parametrize("method,path", BEARER_ROUTES)
def test_deleted_user_access_token_is_invalid_token(client, db, user,
                                                    tokens, method, path):
    assert client.bearer("GET", "/api/profile",
                         tokens["access_token"]).status_code == 200
    _delete(db, user)
    assert_invalid_token(client.bearer(method, path, tokens["access_token"]))


def test_disabled_user_logout_all_revokes_nothing(client, db, user, tokens):
    _disable(db, user)
    assert_invalid_token(client.logout_all(tokens["access_token"]))
    assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s "
                     "AND revoked_at IS NOT NULL", (user["id"],)) == 0


def test_disabled_user_cannot_delete_own_session(client, db, user, tokens):
    sid = sid_of(tokens["access_token"])
    _disable(db, user)
    assert_invalid_token(client.delete_session(tokens["access_token"], sid))
    assert db.scalar("SELECT revoked_at FROM sessions WHERE id = %s",
                     (sid,)) is None
