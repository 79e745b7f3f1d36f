"""Cross-site request forgery rules of API.md ("The refresh cookie"): a
cookie-authenticated refresh or logout with a foreign Origin or
Sec-Fetch-Site: cross-site gets 403 invalid_origin and changes nothing."""

import pytest

from conftest import ALLOWED_ORIGIN, session_row, token_rows
from latchlib import (assert_error, json_body, login_body, login_cookie,
                      refresh_cookie, refreshed_body, sid_of, token_hash)


@pytest.fixture
def user(make_user):
    return make_user(prefix="xs")


def _own_origin(web):
    return web.base_url            # http://127.0.0.1:PORT, as in Host


def _port(web):
    return web.base_url.rsplit(":", 1)[1]


def _foreign_origins(web):
    port = _port(web)
    return {
        "other_site": "https://evil.example",
        "other_port": "http://127.0.0.1:1",
        "other_scheme": f"https://127.0.0.1:{port}",
        "other_host": f"http://localhost:{port}",
        "null": "null",
        "suffixed_host": f"http://127.0.0.1:{port}.evil.example",
    }


def _assert_untouched(db, token):
    """The token is still the live, unrotated token of a live session."""
    sid = sid_of(token)
    assert session_row(db, sid)["revoked_at"] is None
    assert [(h, rot) for _, h, rot, _ in token_rows(db, sid)] == \
        [(token_hash(token), None)]


# ------------------------------------------------------------ refresh

@pytest.mark.parametrize("kind", ["other_site", "other_port", "other_scheme",
                                  "other_host", "null", "suffixed_host"])
def test_refresh_cookie_with_foreign_origin_is_invalid_origin(web, db,
                                                              user, kind):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token,
                       headers={"Origin": _foreign_origins(web)[kind]})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)


def test_refresh_cookie_refused_for_origin_still_refreshes(web, user):
    _, token, _ = login_cookie(web, user)
    web.refresh(cookie=token, headers={"Origin": "https://evil.example"})
    resp = web.refresh(cookie=token)
    assert resp.status_code == 200, resp.text
    assert sid_of(refresh_cookie(resp)[0]) == sid_of(token)


def test_refresh_cookie_with_cross_site_fetch_is_invalid_origin(web, db,
                                                                user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token,
                       headers={"Sec-Fetch-Site": "cross-site"})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)
    assert web.refresh(cookie=token).status_code == 200


def test_refresh_cookie_cross_site_fetch_beats_same_origin_header(web, db,
                                                                  user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token,
                       headers={"Origin": _own_origin(web),
                                   "Sec-Fetch-Site": "cross-site"})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)


def test_refresh_cookie_with_own_origin_is_accepted(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token,
                       headers={"Origin": _own_origin(web)})
    assert resp.status_code == 200, resp.text
    refresh_cookie(resp)


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none"])
def test_refresh_cookie_with_non_cross_site_fetch_is_accepted(web, user,
                                                              site):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token,
                       headers={"Origin": _own_origin(web),
                                   "Sec-Fetch-Site": site})
    assert resp.status_code == 200, resp.text


def test_refresh_cookie_without_origin_is_accepted(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token)
    assert resp.status_code == 200, resp.text


def test_refresh_body_token_with_foreign_origin_is_accepted(web, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.refresh(token, headers={"Origin": "https://evil.example"})
    body = refreshed_body(resp)
    assert sid_of(body["refresh_token"]) == sid_of(token)


def test_refresh_body_token_with_cross_site_fetch_is_accepted(web, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.refresh(token, headers={"Sec-Fetch-Site": "cross-site",
                                       "Origin": "https://evil.example"})
    refreshed_body(resp)


# ------------------------------------------------------------ logout

def test_logout_cookie_with_foreign_origin_is_invalid_origin(web, db,
                                                             user):
    body, token, _ = login_cookie(web, user)
    resp = web.logout(cookie=token,
                      headers={"Origin": "https://evil.example"})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)
    assert web.profile(body["access_token"]).status_code == 200


def test_logout_cookie_with_cross_site_fetch_is_invalid_origin(web, db,
                                                               user):
    _, token, _ = login_cookie(web, user)
    resp = web.logout(cookie=token,
                      headers={"Sec-Fetch-Site": "cross-site"})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)


def test_logout_cookie_with_own_origin_logs_out(web, db, user):
    _, token, _ = login_cookie(web, user)
    resp = web.logout(cookie=token,
                      headers={"Origin": _own_origin(web),
                                  "Sec-Fetch-Site": "same-origin"})
    assert resp.status_code == 200, resp.text
    assert session_row(db, sid_of(token))["revoked_at"] is not None


def test_logout_body_token_with_foreign_origin_logs_out(web, db, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.logout(token, headers={"Origin": "https://evil.example"})
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"message": "logged out"}
    assert session_row(db, sid_of(token))["revoked_at"] is not None


# ------------------------------------------------------------ ALLOWED_ORIGINS

def test_allowed_origins_setting_accepts_listed_origin(origins_web, user):
    _, token, _ = login_cookie(origins_web, user)
    resp = origins_web.refresh(cookie=token,
                               headers={"Origin": ALLOWED_ORIGIN})
    assert resp.status_code == 200, resp.text
    refresh_cookie(resp)


def test_allowed_origins_setting_refuses_unlisted_origin(origins_web, db,
                                                         user):
    _, token, _ = login_cookie(origins_web, user)
    resp = origins_web.refresh(cookie=token,
                               headers={"Origin": "https://evil.example"})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)


def test_allowed_origins_setting_replaces_the_own_origin(origins_web, db,
                                                         user):
    _, token, _ = login_cookie(origins_web, user)
    resp = origins_web.refresh(cookie=token,
                               headers={"Origin": _own_origin(origins_web)})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)


def test_allowed_origins_setting_accepts_listed_origin_for_logout(
        origins_web, db, user):
    _, token, _ = login_cookie(origins_web, user)
    resp = origins_web.logout(cookie=token,
                              headers={"Origin": ALLOWED_ORIGIN})
    assert resp.status_code == 200, resp.text
    assert session_row(db, sid_of(token))["revoked_at"] is not None


# ------------------------------------------------------------ main web

def test_main_web_refuses_foreign_origin_and_accepts_its_own(client, db,
                                                             make_user):
    user = make_user(prefix="xsm")
    _, token, _ = login_cookie(client, user)
    resp = client.refresh(cookie=token,
                          headers={"Origin": "https://evil.example"})
    assert_error(resp, 403, "invalid_origin")
    _assert_untouched(db, token)
    resp = client.refresh(cookie=token, headers={"Origin": client.base_url})
    assert resp.status_code == 200, resp.text
