"""API.md "Common rules": the checks run in one order on every route, and
the first that fails answers: path (404), method (405), content type
(415), size (413), well-formed body (400), origin (403), rate limit (429),
credentials. Each case below would pass a later check, or fail a later one
differently, so only the order makes the expected answer.

Routes that take no body (logout-all, the session list and revoke,
profile, health) run the same body checks: for them a body is a JSON
object whose documented members are none, so an empty body (of any type)
or "{}" is accepted, another type is 415, an oversized body 413, a body
that is not a JSON object or has any member 400 (README, "Request rules").

lighttpd itself refuses a GET request with a body (400, an HTML page)
before latch sees it, so the GET routes' body cases run the binaries as
plain CGI programs (test_cgi.py), where latch's own rules answer, as
under any server that passes such a body on.

Issue 8's black-box run found POST /auth/logout-all with a text/plain body
and no token answering 401 instead of 415, and "Authorization: Bearer !!!"
answering invalid_request instead of invalid_token; both are here."""

import json
import uuid

import pytest

from conftest import create_user
from latchlib import (Client, ForwardedClient, assert_error, assert_invalid_token,
                      assert_missing_credential, cookie_header,
                      fresh_address, json_body, login_body, login_cookie,
                      sid_of)

MAX_BODY = 16384
OVERSIZE_JSON = b'{"pad": "' + b"x" * MAX_BODY + b'"}'
OVERSIZE_TEXT = b"x" * (MAX_BODY + 100)


def _session_path():
    return "/auth/sessions/" + str(uuid.uuid4())


# (method, path or path factory, what the route takes)
ROUTES = {
    "login": ("POST", "/auth/login", "json"),
    "refresh": ("POST", "/auth/refresh", "json_or_empty"),
    "logout": ("POST", "/auth/logout", "json_or_empty"),
    "logout_all": ("POST", "/auth/logout-all", "none"),
    "sessions": ("GET", "/auth/sessions", "none"),
    "session_delete": ("DELETE", _session_path, "none"),
    "profile": ("GET", "/api/profile", "none"),
    "health": ("GET", "/api/health", "none"),
}
BEARER_ROUTES = ["logout_all", "sessions", "session_delete", "profile"]
BODYLESS_ROUTES = [r for r, v in ROUTES.items() if v[2] == "none"]


@pytest.fixture(scope="module")
def send(client, harden_web):
    """send(route, body=, content_type=, headers=): the request through
    lighttpd, or as CGI when it is a GET with a body (lighttpd refuses
    those itself)."""
    cgi = Client(harden_web("order", 53))

    def go(route, body=None, content_type=None, headers=None):
        method, path, _ = ROUTES[route]
        if callable(path):
            path = path()
        via = cgi if method == "GET" and body else client
        return via.request(method, path, body=body,
                           content_type=content_type, headers=headers)

    return go


@pytest.fixture(scope="module")
def user(stack, db):
    return create_user(stack, db, prefix="order")


@pytest.fixture(scope="module")
def access(client, user):
    return login_body(client, user)["access_token"]


def _bearer(token):
    return {"Authorization": "Bearer " + token}


# ------------------------------------------------------------ 415 first

@pytest.mark.parametrize("route", list(ROUTES))
def test_body_of_other_type_is_415_on_every_route(send, route):
    """Without credentials or a valid body: 415 comes before all of it."""
    resp = send(route, body=b'{"x": 1}', content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


@pytest.mark.parametrize("route", list(ROUTES))
def test_body_without_type_is_415_on_every_route(send, route):
    resp = send(route, body=b"hello")
    assert "Content-Type" not in resp.request.headers
    assert_error(resp, 415, "unsupported_media_type")


@pytest.mark.parametrize("route", list(ROUTES))
def test_oversized_body_of_other_type_is_415_not_413(send, route):
    resp = send(route, body=OVERSIZE_TEXT, content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


def test_logout_all_text_body_without_token_is_415(client):
    """The case of issue 8, through lighttpd."""
    resp = client.request("POST", "/auth/logout-all", body=b"hello",
                          content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_body_of_other_type_is_415_even_with_a_valid_token(send, access,
                                                           route):
    resp = send(route, body=b"hello", content_type="text/plain",
                headers=_bearer(access))
    assert_error(resp, 415, "unsupported_media_type")


# ------------------------------------------------------------ then 413

@pytest.mark.parametrize("route", list(ROUTES))
def test_oversized_json_body_is_413_on_every_route(send, route):
    resp = send(route, body=OVERSIZE_JSON, content_type="application/json")
    assert_error(resp, 413, "payload_too_large")


@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_oversized_json_body_is_413_even_with_a_valid_token(send, access,
                                                            route):
    resp = send(route, body=OVERSIZE_JSON, content_type="application/json",
                headers=_bearer(access))
    assert_error(resp, 413, "payload_too_large")


# ------------------------------------------------------------ then 400

@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b"\"x\"",
                                  b'{"a": 1, "a": 2}'],
                         ids=["truncated", "array", "null", "string",
                              "duplicate"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_malformed_json_body_is_400_on_every_route(send, route, body):
    resp = send(route, body=body, content_type="application/json")
    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize("route", BODYLESS_ROUTES)
def test_member_in_body_of_bodyless_route_is_400(send, access, route):
    """A valid token, and a member the route does not take."""
    resp = send(route, body=json.dumps({"revoke": "all"}),
                content_type="application/json", headers=_bearer(access))
    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_malformed_body_is_400_before_missing_credentials(send, route):
    resp = send(route, body=b"{", content_type="application/json")
    assert_error(resp, 400, "invalid_request")


def test_malformed_body_is_400_before_foreign_origin(client, user):
    _, token, _ = login_cookie(client, user)
    resp = client.request("POST", "/auth/refresh", body=b"{",
                          content_type="application/json",
                          headers={"Cookie": cookie_header(token),
                                   "Origin": "https://evil.example"})
    assert_error(resp, 400, "invalid_request")
    # nothing was rotated: the token still refreshes
    assert client.refresh(cookie=token).status_code == 200


# ------------------------------------------------ what a body-less route takes

@pytest.mark.parametrize("route", ["logout_all", "sessions", "profile"])
@pytest.mark.parametrize("body,ctype", [
    (b"{}", "application/json"),
    (b" { } ", "application/json; charset=utf-8"),
    (b"", "text/plain"), (b"", None)],
    ids=["empty_object", "spaced_object", "empty_text", "empty_untyped"])
def test_bodyless_route_accepts_no_body_or_empty_object(send, client,
                                                        make_user, route,
                                                        body, ctype):
    token = login_body(client, make_user(prefix="orderok"))["access_token"]
    resp = send(route, body=body, content_type=ctype, headers=_bearer(token))
    assert resp.status_code == 200, resp.text[:300]


def test_health_accepts_empty_object(send):
    resp = send("health", body=b"{}", content_type="application/json")
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"status": "ok", "database": "ok"}


def test_session_delete_accepts_empty_object(client, make_user):
    u = make_user(prefix="orderdel")
    other = login_body(client, u)
    token = login_body(client, u)["access_token"]
    resp = client.request("DELETE", "/auth/sessions/" +
                          sid_of(other["access_token"]), body=b"{}",
                          content_type="application/json",
                          headers=_bearer(token))
    assert resp.status_code == 204, resp.text


@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_empty_object_without_token_reaches_credentials(send, route):
    resp = send(route, body=b"{}", content_type="application/json")
    assert_missing_credential(resp)


# ------------------------------------------------------------ credentials

MALFORMED_BEARERS = ["Bearer !!!", "Bearer a b", "Bearer ==",
                     'Bearer "quoted"', "bearer tok,en"]


@pytest.mark.parametrize("authorization", MALFORMED_BEARERS)
@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_malformed_bearer_token_is_invalid_token(send, route, authorization):
    """API.md "Bearer failures": a token that is present but malformed is
    invalid_token; only no header, another scheme or an empty token are
    invalid_request."""
    resp = send(route, headers={"Authorization": authorization})
    assert_invalid_token(resp)


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer   ",
                                           "Basic dXNlcjpwYXNz", "Token x"])
@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_no_usable_bearer_credential_is_invalid_request(send, route,
                                                        authorization):
    headers = {} if authorization is None else {"Authorization":
                                                authorization}
    resp = send(route, headers=headers)
    assert_missing_credential(resp)


# ------------------------------------------------------------ sign-up

def test_register_order_of_checks(signup_web):
    """Sign-up is on only in its own web; the same order holds there."""
    c = ForwardedClient(signup_web, fresh_address())
    assert_error(c.request("POST", "/auth/register", body=OVERSIZE_TEXT,
                           content_type="text/plain"),
                 415, "unsupported_media_type")
    assert_error(c.request("POST", "/auth/register", body=OVERSIZE_JSON,
                           content_type="application/json"),
                 413, "payload_too_large")
    assert_error(c.request("POST", "/auth/register", body=b"{",
                           content_type="application/json"),
                 400, "invalid_request")


# ------------------------------------------------------------ big headers

@pytest.mark.parametrize("route", BEARER_ROUTES)
def test_an_oversized_bearer_token_is_invalid_token(send, route):
    """API.md: a token over 4 KiB is rejected as a token (401
    invalid_token), also one over latch's 8 KiB header limit."""
    resp = send(route, headers={"Authorization": "Bearer " + "a" * 8200})
    assert_invalid_token(resp)


@pytest.mark.parametrize("route", BODYLESS_ROUTES)
def test_a_long_user_agent_does_not_come_before_the_body_checks(send,
                                                                 route):
    resp = send(route, body=b"hello", content_type="text/plain",
                headers={"User-Agent": "x" * 9000})
    assert_error(resp, 415, "unsupported_media_type")


@pytest.mark.parametrize("header", ["Cookie", "Origin", "User-Agent"])
def test_an_oversized_header_is_400_after_the_body_checks(send, header):
    """(An oversized Host never reaches latch: lighttpd refuses it.)"""
    big = {"Cookie": "a=" + "b" * 9000, "Origin": "https://" + "o" * 9000,
           "User-Agent": "u" * 9000}[header]
    resp = send("logout_all", body=b"hello", content_type="text/plain",
                headers={header: big})
    assert_error(resp, 415, "unsupported_media_type")
    resp = send("logout_all", headers={header: big})
    assert_error(resp, 400, "invalid_request")

