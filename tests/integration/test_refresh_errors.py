"""POST /auth/refresh refusals: no token (401), malformed requests (400),
and tokens that must not refresh (403 invalid_grant, cookie cleared when it
came from the cookie)."""

import json
import uuid

import pytest

from conftest import create_user, revoke_session, session_row, token_rows
from latchlib import (WWW_AUTH_PLAIN, assert_clears_cookie, assert_error,
                      b64url_decode, b64url_encode, claims_of, jwt_encode,
                      login_body, login_cookie, now,
                      set_cookie_headers, sid_of)


@pytest.fixture
def user(make_user):
    return make_user(prefix="rfe")


@pytest.fixture(scope="module")
def shared_login(stack, db, web):
    """One login (body delivery) for the tests that only read it."""
    return login_body(web, create_user(stack, db, prefix="rfes"))


# ------------------------------------------------------------ no token

@pytest.mark.parametrize("body,content_type", [
    (None, None), (b"", "application/json"), (b"", "text/plain"),
    (b"{}", "application/json")])
def test_refresh_without_token_is_401_invalid_request(web, body,
                                                      content_type):
    resp = web.refresh(body=body, content_type=content_type)
    assert_error(resp, 401, "invalid_request")
    assert resp.headers.get("WWW-Authenticate") == WWW_AUTH_PLAIN


def test_refresh_with_empty_cookie_is_401_invalid_request(web):
    resp = web.refresh(headers={"Cookie": "refresh_token="})
    assert_error(resp, 401, "invalid_request")
    assert resp.headers.get("WWW-Authenticate") == WWW_AUTH_PLAIN


def test_refresh_with_only_other_cookies_is_401_invalid_request(web):
    resp = web.refresh(headers={"Cookie": "a=b; refresh_tokenx=c; "
                                             "xrefresh_token=d"})
    assert_error(resp, 401, "invalid_request")


# ------------------------------------------------------------ malformed

def test_refresh_with_two_refresh_cookies_is_400(web, db, user):
    _, token, _ = login_cookie(web, user)
    _, other, _ = login_cookie(web, user)
    resp = web.refresh(headers={
        "Cookie": f"refresh_token={token}; refresh_token={other}"})
    assert_error(resp, 400, "invalid_request")
    for t in (token, other):          # neither was touched
        assert token_rows(db, sid_of(t))[0][2] is None


def test_refresh_with_the_same_cookie_twice_is_400(web, user):
    _, token, _ = login_cookie(web, user)
    resp = web.refresh(headers={
        "Cookie": f"refresh_token={token}; other=1; refresh_token={token}"})
    assert_error(resp, 400, "invalid_request")


def test_refresh_with_two_secure_cookies_is_400(secure_web, user):
    _, token, _ = login_cookie(secure_web, user, secure=True)
    resp = secure_web.refresh(headers={
        "Cookie": f"__Secure-refresh_token={token}; "
                  f"__Secure-refresh_token={token}"})
    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize("value", [12345, True, ["x"], {"a": "b"}],
                         ids=["number", "bool", "array", "object"])
def test_refresh_token_member_of_wrong_type_is_400(web, value):
    resp = web.request("POST", "/auth/refresh",
                       json_body={"refresh_token": value})
    assert_error(resp, 400, "invalid_request")


def test_refresh_with_unknown_body_member_is_400(web, db, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.request("POST", "/auth/refresh",
                       json_body={"refresh_token": token, "extra": 1})
    assert_error(resp, 400, "invalid_request")
    assert token_rows(db, sid_of(token))[0][2] is None


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"null",
                                  b'{"refresh_token": "a\\u0000b"}'],
                         ids=["truncated", "array", "string", "null", "nul"])
def test_refresh_with_malformed_json_is_400(web, body):
    resp = web.refresh(body=body, content_type="application/json")
    assert_error(resp, 400, "invalid_request")


def test_refresh_nonempty_body_of_other_type_is_415(web, user):
    token = login_body(web, user)["refresh_token"]
    resp = web.refresh(body='{"refresh_token": "%s"}' % token,
                       content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


# ------------------------------------------------------------ invalid grant

def _forge_refresh(stack, like, secret=None, header=None, claims=None,
                   drop=()):
    h = {"alg": "HS256", "typ": "refresh+jwt", "kid": stack.refresh_kid}
    c = dict(claims_of(like))
    c.update({"jti": uuid.uuid4().hex, "iat": now(), "exp": now() + 3600})
    h.update(header or {})
    c.update(claims or {})
    for k in drop:
        h.pop(k, None)
        c.pop(k, None)
    return jwt_encode(h, c, stack.refresh_secret if secret is None else secret)


def _tamper_claims(token):
    h, c, s = token.split(".")
    claims = json.loads(b64url_decode(c))
    claims["exp"] += 3600
    c2 = b64url_encode(json.dumps(
        claims, separators=(",", ":")).encode())
    return h + "." + c2 + "." + s


def _flip_signature(token):
    h, c, s = token.split(".")
    raw = bytearray(b64url_decode(s))
    raw[0] ^= 1
    return h + "." + c + "." + b64url_encode(bytes(raw))


# Each maker: (stack, login body) -> a token that must get invalid_grant.
BAD_TOKENS = {
    "garbage": lambda st, lb: "garbage",
    "jwt_shaped_garbage": lambda st, lb: "aaaa.bbbb.cccc",
    "flipped_signature": lambda st, lb: _flip_signature(lb["refresh_token"]),
    "tampered_claims": lambda st, lb: _tamper_claims(lb["refresh_token"]),
    "access_token": lambda st, lb: lb["access_token"],
    "signed_with_access_key": lambda st, lb: _forge_refresh(
        st, lb["refresh_token"], secret=st.access_secret,
        header={"kid": st.access_kid}),
    "alg_none": lambda st, lb: jwt_encode(
        {"alg": "none", "typ": "refresh+jwt", "kid": st.refresh_kid},
        claims_of(lb["refresh_token"])),
    "expired": lambda st, lb: _forge_refresh(
        st, lb["refresh_token"], claims={"iat": now() - 100,
                                         "exp": now() - 10}),
    "unknown_but_well_signed": lambda st, lb: _forge_refresh(
        st, lb["refresh_token"]),
    "unknown_session": lambda st, lb: _forge_refresh(
        st, lb["refresh_token"], claims={"sid": str(uuid.uuid4())}),
    "other_sub": lambda st, lb: _forge_refresh(
        st, lb["refresh_token"], claims={"sub": "999999999"}),
    "unknown_kid": lambda st, lb: _forge_refresh(
        st, lb["refresh_token"], header={"kid": "nope"}),
    "no_exp": lambda st, lb: _forge_refresh(st, lb["refresh_token"],
                                            drop=("exp",)),
    "too_long": lambda st, lb: "a" * 5000,
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_refresh_bad_token_in_body_is_invalid_grant_without_cookie(
        web, stack, shared_login, kind):
    token = BAD_TOKENS[kind](stack, shared_login)
    resp = web.refresh(token)
    assert_error(resp, 403, "invalid_grant")
    assert set_cookie_headers(resp) == []


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_refresh_bad_token_in_cookie_is_invalid_grant_and_clears_it(
        web, stack, shared_login, kind):
    token = BAD_TOKENS[kind](stack, shared_login)
    resp = web.refresh(cookie=token)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)


def test_refresh_bad_secure_cookie_clears_secure_cookie(secure_web):
    resp = secure_web.refresh(cookie="garbage", secure=True)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp, secure=True)


@pytest.mark.parametrize("kind", ["flipped_signature", "tampered_claims",
                                  "unknown_but_well_signed", "other_sub"])
def test_refresh_forged_token_leaves_the_session_alone(web, db, stack,
                                                       user, kind):
    login = login_body(web, user)
    resp = web.refresh(BAD_TOKENS[kind](stack, login))
    assert_error(resp, 403, "invalid_grant")
    sid = sid_of(login["refresh_token"])
    assert session_row(db, sid)["revoked_at"] is None
    assert web.refresh(login["refresh_token"]).status_code == 200


def test_refresh_token_of_revoked_session_is_invalid_grant(web, db, user):
    login = login_body(web, user)
    revoke_session(db, sid_of(login["refresh_token"]))
    resp = web.refresh(login["refresh_token"])
    assert_error(resp, 403, "invalid_grant")


def test_refresh_token_of_revoked_session_in_cookie_clears_it(web, db,
                                                              user):
    _, token, _ = login_cookie(web, user)
    revoke_session(db, sid_of(token))
    resp = web.refresh(cookie=token)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)


def test_refresh_token_of_disabled_user_is_invalid_grant(web, db, user):
    token = login_body(web, user)["refresh_token"]
    db.execute("UPDATE users SET disabled_at = now() WHERE id = %s",
               (user["id"],))
    resp = web.refresh(token)
    assert_error(resp, 403, "invalid_grant")


def test_refresh_token_of_deleted_user_is_invalid_grant(web, db, user):
    token = login_body(web, user)["refresh_token"]
    db.execute("DELETE FROM users WHERE id = %s", (user["id"],))
    resp = web.refresh(token)
    assert_error(resp, 403, "invalid_grant")


def test_refresh_token_past_its_stored_expiry_is_invalid_grant(web, db,
                                                               user):
    """The row's expiry counts, not only the JWT's exp."""
    token = login_body(web, user)["refresh_token"]
    db.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1s',"
               " issued_at = now() - interval '1h' WHERE session_id = %s",
               (sid_of(token),))
    resp = web.refresh(token)
    assert_error(resp, 403, "invalid_grant")


def test_refresh_error_answer_holds_no_token(web, user):
    login = login_body(web, user)
    resp = web.refresh(_tamper_claims(login["refresh_token"]))
    assert resp.status_code == 403
    for part in login["refresh_token"].split("."):
        assert part not in resp.text
