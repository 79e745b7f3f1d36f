"""POST /auth/refresh: the successful answer, in both deliveries, and where
the token is read from (API.md "POST /auth/refresh", "The refresh cookie")."""

import pytest

from conftest import session_row, token_rows
from latchlib import (ACCESS_LIFETIME, REFRESH_LIFETIME, assert_no_store,
                      claims_of, json_body, jwt_parts, jwt_signature_ok,
                      login_body, login_cookie, now, refresh_cookie,
                      set_cookie_headers, sid_of, token_hash)


@pytest.fixture
def user(make_user):
    return make_user(prefix="rfb")


# ------------------------------------------------------------ body delivery

def test_refresh_body_delivery_answers_like_login(web, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.refresh(token)
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert set(body) == {"access_token", "token_type", "expires_in",
                         "refresh_token", "refresh_expires_in"}, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_LIFETIME
    assert REFRESH_LIFETIME - 3 <= body["refresh_expires_in"] \
        <= REFRESH_LIFETIME
    assert_no_store(resp)


def test_refresh_body_delivery_sets_no_cookie(web, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.refresh(token)
    assert resp.status_code == 200, resp.text
    assert set_cookie_headers(resp) == []


def test_refresh_body_successor_keeps_sid_and_sub_with_new_jti(web, stack,
                                                               user):
    token = login_body(web, user)["refresh_token"]
    body = json_body(web.refresh(token))
    new = body["refresh_token"]
    assert new != token
    header, c, _, _ = jwt_parts(new)
    assert header == {"alg": "HS256", "typ": "refresh+jwt",
                      "kid": stack.refresh_kid}
    assert jwt_signature_ok(new, stack.refresh_secret)
    old = claims_of(token)
    assert c["sid"] == old["sid"] and c["sub"] == old["sub"] == \
        str(user["id"])
    assert c["jti"] != old["jti"]
    assert abs(c["exp"] - (now() + body["refresh_expires_in"])) <= 3


def test_refresh_access_token_belongs_to_the_session(web, stack, user):
    token = login_body(web, user)["refresh_token"]
    access = json_body(web.refresh(token))["access_token"]
    header, c, _, _ = jwt_parts(access)
    assert header == {"alg": "HS256", "typ": "at+jwt",
                      "kid": stack.access_kid}
    assert jwt_signature_ok(access, stack.access_secret)
    assert c["sid"] == sid_of(token) and c["sub"] == str(user["id"])
    assert c["exp"] - c["iat"] == ACCESS_LIFETIME
    resp = web.profile(access)
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["id"] == str(user["id"])


def test_refresh_access_token_is_new(web, user):
    login = login_body(web, user)
    access = json_body(web.refresh(login["refresh_token"]))["access_token"]
    assert access != login["access_token"]
    assert claims_of(access)["jti"] != claims_of(login["access_token"])["jti"]


def test_refresh_successor_refreshes_again(web, user):
    token = login_body(web, user)["refresh_token"]
    second = json_body(web.refresh(token))["refresh_token"]
    resp = web.refresh(second)
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["refresh_token"] not in (token, second)


def test_refresh_stores_successor_as_hash_linked_from_predecessor(web, db,
                                                                  user):
    token = login_body(web, user)["refresh_token"]
    new = json_body(web.refresh(token))["refresh_token"]
    rows = token_rows(db, sid_of(token))
    assert len(rows) == 2, rows
    (old_id, old_hash, old_rot, old_succ), (new_id, new_hash, new_rot,
                                           new_succ) = rows
    assert old_hash == token_hash(token) and new_hash == token_hash(new)
    assert old_rot is not None and old_succ == new_id
    assert new_rot is None and new_succ is None


# ------------------------------------------------------------ cookie delivery

def test_refresh_cookie_delivery_answers_like_login(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token)
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert set(body) == {"access_token", "token_type", "expires_in"}, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_LIFETIME
    assert_no_store(resp)


def test_refresh_cookie_delivery_sets_exactly_one_cookie(web, stack, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token)
    assert resp.status_code == 200, resp.text
    new, max_age = refresh_cookie(resp)        # exactly one, exact shape
    assert new != token
    assert REFRESH_LIFETIME - 3 <= max_age <= REFRESH_LIFETIME
    assert jwt_signature_ok(new, stack.refresh_secret)
    assert abs(claims_of(new)["exp"] - (now() + max_age)) <= 3


def test_refresh_cookie_successor_keeps_sid_and_sub_with_new_jti(web,
                                                                 user):
    body, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token)
    new, _ = refresh_cookie(resp)
    old, c = claims_of(token), claims_of(new)
    assert c["sid"] == old["sid"] == sid_of(body["access_token"])
    assert c["sub"] == old["sub"] == str(user["id"])
    assert c["jti"] != old["jti"]
    assert sid_of(json_body(resp)["access_token"]) == old["sid"]


def test_refresh_with_secure_cookie_reads_and_sets_secure_cookie(secure_web,
                                                                 user):
    _, token, _ = login_cookie(secure_web, user, secure=True)
    resp = secure_web.refresh(cookie=token, secure=True)
    assert resp.status_code == 200, resp.text
    new, max_age = refresh_cookie(resp, secure=True)
    assert claims_of(new)["sid"] == claims_of(token)["sid"]
    assert REFRESH_LIFETIME - 3 <= max_age <= REFRESH_LIFETIME


def test_refresh_secure_instance_ignores_plain_cookie_name(secure_web, user):
    _, token, _ = login_cookie(secure_web, user, secure=True)
    resp = secure_web.refresh(cookie=token, secure=False)
    assert resp.status_code == 401, resp.text
    assert json_body(resp)["error"] == "invalid_request"


def test_refresh_plain_instance_ignores_secure_cookie_name(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token, secure=True)
    assert resp.status_code == 401, resp.text
    assert json_body(resp)["error"] == "invalid_request"


# ------------------------------------------------------------ where from

def test_refresh_body_token_wins_over_cookie(web, db, user):
    in_body = login_body(web, user)["refresh_token"]
    _, in_cookie, _ = login_cookie(web, user)
    resp = web.refresh(in_body, cookie=in_cookie)
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert "refresh_token" in body, "body token must mean body delivery"
    assert set_cookie_headers(resp) == []
    assert sid_of(body["refresh_token"]) == sid_of(in_body)
    # The cookie's token was ignored: still the live one of its session.
    rows = token_rows(db, sid_of(in_cookie))
    assert [(h, rot) for _, h, rot, _ in rows] == \
        [(token_hash(in_cookie), None)]


def test_refresh_body_token_wins_over_garbage_cookie(web, user):
    in_body = login_body(web, user)["refresh_token"]
    resp = web.refresh(in_body, cookie="garbage")
    assert resp.status_code == 200, resp.text
    assert set_cookie_headers(resp) == []


def test_refresh_bad_body_token_is_not_rescued_by_cookie(web, db, user):
    _, in_cookie, _ = login_cookie(web, user)
    resp = web.refresh("garbage", cookie=in_cookie)
    assert resp.status_code == 403, resp.text
    assert json_body(resp)["error"] == "invalid_grant"
    assert set_cookie_headers(resp) == []      # it came from the body
    assert token_rows(db, sid_of(in_cookie))[0][2] is None
    assert session_row(db, sid_of(in_cookie))["revoked_at"] is None


@pytest.mark.parametrize("content_type", [
    None, "application/json", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_refresh_empty_body_of_any_type_uses_the_cookie(web, user,
                                                        content_type):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token, body=b"", content_type=content_type)
    assert resp.status_code == 200, resp.text
    new, _ = refresh_cookie(resp)
    assert sid_of(new) == sid_of(token)


def test_refresh_json_object_without_token_uses_the_cookie(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(cookie=token, body=b"{}",
                       content_type="application/json")
    assert resp.status_code == 200, resp.text
    assert set(json_body(resp)) == {"access_token", "token_type",
                                    "expires_in"}
    assert sid_of(refresh_cookie(resp)[0]) == sid_of(token)


# ------------------------------------------------------------ main web

def test_refresh_on_main_web_rotates_in_both_deliveries(client, make_user):
    """The same on the main web (BCRYPT_COST 12, the stack's defaults)."""
    user = make_user(prefix="rfbm")
    token = login_body(client, user)["refresh_token"]
    body = json_body(client.refresh(token))
    assert sid_of(body["refresh_token"]) == sid_of(token)
    assert set(body) == {"access_token", "token_type", "expires_in",
                         "refresh_token", "refresh_expires_in"}
    _, cookie_token, _ = login_cookie(client, user)
    resp = client.refresh(cookie=cookie_token)
    assert resp.status_code == 200, resp.text
    new, _ = refresh_cookie(resp)
    assert sid_of(new) == sid_of(cookie_token) and new != cookie_token
