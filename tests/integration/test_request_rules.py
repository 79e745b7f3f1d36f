"""API.md "Common rules": malformed bodies, media types, body size, unknown
paths, wrong methods, and the order in which those checks answer.

The malformed login bodies carry the right password of a real user
wherever they can, so that a server which let the flaw through would
answer 200 (or 401), never the 400 these tests require."""

import json

import pytest

from conftest import create_user
from latchlib import assert_error, json_body

MAX_BODY = 16384
PASSWORD_72 = "p" * 40 + "é" * 16          # 72 bytes of UTF-8


@pytest.fixture(scope="module")
def user(stack, db):
    u = create_user(stack, db, prefix="rules", password=PASSWORD_72,
                    email=None)
    assert len(u["password"].encode()) == 72
    return u


@pytest.fixture(scope="module")
def email_user(stack, db):
    from conftest import unique_name
    name = unique_name("rulesmail")
    return create_user(stack, db, username=name, email=name + "@example.org")


def _j(obj):
    return json.dumps(obj).encode()


def _raw(user, username_suffix="", password_suffix=""):
    """Hand-written JSON text (escapes pass through as written)."""
    return ('{"username": "%s%s", "password": "%s%s"}'
            % (user["username"], username_suffix, user["password"],
               password_suffix)).encode()


BAD_LOGIN_BODIES = {
    "unknown_field": lambda u: _j({"username": u["username"],
                                   "password": u["password"],
                                   "remember_me": True}),
    "duplicate_key": lambda u: (
        '{"username": "t_nobody", "username": "%s", "password": "%s"}'
        % (u["username"], u["password"])).encode(),
    "duplicate_key_same_value": lambda u: (
        '{"username": "%s", "password": "%s", "password": "%s"}'
        % (u["username"], u["password"], u["password"])).encode(),
    "empty_password": lambda u: _j({"username": u["username"],
                                    "password": ""}),
    "password_of_73_bytes": lambda u: _j({"username": u["username"],
                                          "password": u["password"] + "x"}),
    "username_of_256_bytes": lambda u: _j({"username": "x" * 256,
                                           "password": u["password"]}),
    "email_of_256_bytes": lambda u: _j({"email": "x" * 244 + "@example.org",
                                        "password": u["password"]}),
    "nul_in_username": lambda u: _raw(u, username_suffix="\\u0000"),
    "nul_in_password": lambda u: _raw(u, password_suffix="\\u0000tail"),
    "invalid_utf8_byte": lambda u: _raw(u).replace(
        b'", "password"', b'\xff", "password"'),
    "invalid_utf8_in_value": lambda u: _j({"username": u["username"],
                                           "password": "x"})
    .replace(b'"x"', b'"\xc3"'),
    "utf8_encoded_surrogate": lambda u: _j({"username": u["username"],
                                            "password": "x"})
    .replace(b'"x"', b'"\xed\xa0\x80"'),
    "overlong_utf8": lambda u: _j({"username": u["username"],
                                   "password": "x"})
    .replace(b'"x"', b'"\xc0\xaf"'),
    "utf8_beyond_u10ffff": lambda u: _j({"username": u["username"],
                                         "password": "x"})
    .replace(b'"x"', b'"\xf4\x90\x80\x80"'),
    "top_level_array": lambda u: _j([{"username": u["username"],
                                      "password": u["password"]}]),
    "top_level_number": lambda u: b"42",
    "top_level_string": lambda u: _j(u["username"]),
    "top_level_null": lambda u: b"null",
    "truncated_json": lambda u: _raw(u)[:-1],
    "trailing_garbage": lambda u: _raw(u) + b" x",
    "two_objects": lambda u: _raw(u) + _raw(u),
    "trailing_comma": lambda u: _raw(u)[:-1] + b", }",
    "unquoted_keys": lambda u: ('{username: "%s", password: "%s"}'
                                % (u["username"], u["password"])).encode(),
    "single_quotes": lambda u: ("{'username': '%s', 'password': '%s'}"
                                % (u["username"], u["password"])).encode(),
    "comment": lambda u: _raw(u).replace(b", ", b", /* c */ "),
    "token_delivery_sms": lambda u: _j({"username": u["username"],
                                        "password": u["password"],
                                        "token_delivery": "sms"}),
    "token_delivery_number": lambda u: _j({"username": u["username"],
                                           "password": u["password"],
                                           "token_delivery": 1}),
    "username_number": lambda u: _j({"username": 42,
                                     "password": u["password"]}),
    "username_array": lambda u: _j({"username": [u["username"]],
                                    "password": u["password"]}),
    "password_null": lambda u: _j({"username": u["username"],
                                   "password": None}),
    "password_number": lambda u: _j({"username": u["username"],
                                     "password": 12345678}),
    "password_object": lambda u: _j({"username": u["username"],
                                     "password": {"p": u["password"]}}),
    "missing_password": lambda u: _j({"username": u["username"]}),
    "missing_username": lambda u: _j({"password": u["password"]}),
    "empty_object": lambda u: b"{}",
    "empty_body": lambda u: b"",
    "white_space_only": lambda u: b"   \n",
}


@pytest.mark.parametrize("case", list(BAD_LOGIN_BODIES))
def test_login_malformed_body_is_invalid_request(client, user, case):
    body = BAD_LOGIN_BODIES[case](user)
    resp = client.request("POST", "/auth/login", body=body,
                          content_type="application/json")
    assert_error(resp, 400, "invalid_request")


def test_login_with_both_username_and_email_is_invalid_request(client,
                                                               email_user):
    u = email_user
    resp = client.request("POST", "/auth/login", content_type=
                          "application/json",
                          body=_j({"username": u["username"],
                                   "email": u["email"],
                                   "password": u["password"]}))
    assert_error(resp, 400, "invalid_request")


def test_login_email_of_wrong_type_is_invalid_request(client, email_user):
    resp = client.request("POST", "/auth/login", content_type=
                          "application/json",
                          body=_j({"email": [email_user["email"]],
                                   "password": email_user["password"]}))
    assert_error(resp, 400, "invalid_request")


def test_login_empty_body_without_content_type_is_invalid_request(client):
    resp = client.request("POST", "/auth/login", body=b"")
    assert_error(resp, 400, "invalid_request")


def test_login_empty_body_of_other_type_is_invalid_request(client):
    resp = client.request("POST", "/auth/login", body=b"",
                          content_type="text/plain")
    assert_error(resp, 400, "invalid_request")


# ------------------------------------------------------------ media type

@pytest.mark.parametrize("ctype", [
    "text/plain", "application/x-www-form-urlencoded", "application/jsonp",
    "multipart/form-data; boundary=x", "application/json-patch+json"])
def test_login_body_of_other_type_is_unsupported_media_type(client, user,
                                                            ctype):
    resp = client.request("POST", "/auth/login", content_type=ctype,
                          body=_j({"username": user["username"],
                                   "password": user["password"]}))
    assert_error(resp, 415, "unsupported_media_type")


def test_login_body_without_content_type_is_unsupported_media_type(client,
                                                                   user):
    resp = client.request("POST", "/auth/login",
                          body=_j({"username": user["username"],
                                   "password": user["password"]}))
    assert "Content-Type" not in resp.request.headers
    assert_error(resp, 415, "unsupported_media_type")


# ------------------------------------------------------------ size

def _padded_login(user, size):
    """A valid login body of exactly size bytes (white space padding)."""
    head = _raw(user)[:-1]
    body = head + b" " * (size - len(head) - 1) + b"}"
    assert len(body) == size
    return body


def test_login_accepts_body_of_exactly_16_kib(client, user):
    resp = client.request("POST", "/auth/login",
                          body=_padded_login(user, MAX_BODY),
                          content_type="application/json")
    assert resp.status_code == 200, resp.text
    assert "access_token" in json_body(resp)


def test_login_body_over_16_kib_is_payload_too_large(client, user):
    resp = client.request("POST", "/auth/login",
                          body=_padded_login(user, MAX_BODY + 1),
                          content_type="application/json")
    assert_error(resp, 413, "payload_too_large")


def test_login_huge_body_is_payload_too_large(client):
    resp = client.request("POST", "/auth/login",
                          body=b'{"username": "' + b"x" * 200000 + b'"}',
                          content_type="application/json")
    assert_error(resp, 413, "payload_too_large")


def test_max_body_bytes_setting_lowers_the_limit(web_instance, user):
    small = web_instance("smallbody", 2, MAX_BODY_BYTES="1024",
                         COOKIE_SECURE="0")
    ok = small.request("POST", "/auth/login", body=_padded_login(user, 1024),
                       content_type="application/json")
    assert ok.status_code == 200, ok.text
    resp = small.request("POST", "/auth/login",
                         body=_padded_login(user, 1025),
                         content_type="application/json")
    assert_error(resp, 413, "payload_too_large")


# ------------------------------------------------------------ 404 / 405

@pytest.mark.parametrize("method,path", [
    ("GET", "/auth/nope"), ("POST", "/auth/nope"), ("GET", "/api/nope"),
    ("POST", "/api/nope"), ("POST", "/auth/loginx"), ("GET", "/api/profilex"),
    ("GET", "/api/profile/extra"), ("GET", "/auth/"), ("GET", "/api/")])
def test_unknown_path_is_not_found(client, method, path):
    resp = client.request(method, path)
    assert_error(resp, 404, "not_found")


def test_register_is_not_found_while_signup_is_off(client):
    resp = client.request("POST", "/auth/register",
                          json_body={"username": "t_signup_off",
                                     "password": "long enough password"})
    assert_error(resp, 404, "not_found")


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/auth/login", "POST"), ("PUT", "/auth/login", "POST"),
    ("DELETE", "/auth/login", "POST"), ("PATCH", "/auth/login", "POST"),
    ("POST", "/api/profile", "GET"), ("DELETE", "/api/profile", "GET"),
    ("POST", "/api/health", "GET"), ("PUT", "/api/health", "GET")])
def test_wrong_method_is_method_not_allowed_with_allow(client, method, path,
                                                       allow):
    resp = client.request(method, path)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == allow


# ------------------------------------------------------------ check order

def test_unknown_path_is_checked_before_method_and_type(client):
    resp = client.request("PUT", "/auth/nope", body=b"x" * 20000,
                          content_type="text/plain")
    assert_error(resp, 404, "not_found")


def test_method_is_checked_before_content_type(client):
    resp = client.request("PUT", "/auth/login", body=b"hello",
                          content_type="text/plain")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "POST"


def test_content_type_is_checked_before_size(client):
    resp = client.request("POST", "/auth/login", body=b"x" * 100000,
                          content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


def test_content_type_is_checked_before_body_is_parsed(client):
    resp = client.request("POST", "/auth/login", body=b"not json",
                          content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


def test_size_is_checked_before_body_is_parsed(client):
    resp = client.request("POST", "/auth/login", body=b"[" * (MAX_BODY + 1),
                          content_type="application/json")
    assert_error(resp, 413, "payload_too_large")
