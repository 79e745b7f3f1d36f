"""Hostile input: oversized headers, oversized and confused tokens, hostile
JSON. Each answer is the exact 4xx API.md asks for, from latch (JSON),
never a 5xx and never a hang (every request has a timeout).

Already covered elsewhere and not repeated here: the malformed login
bodies (test_request_rules.py), the bad access tokens of test_profile.py
(alg none/HS512/lowercase, crit, typ, kid, exp...), the bad refresh tokens
and duplicate refresh cookies of test_refresh_errors.py.

Every login here succeeds or is refused before the password is checked:
no failure is ever counted against 127.0.0.1."""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from conftest import BIN_DIR, create_user
from latchlib import (ForwardedClient, assert_clears_cookie, assert_error,
                      assert_invalid_token, b64url_encode, claims_of,
                      cookie_header, fresh_address, json_body, login_body,
                      login_cookie, now)

HEADER_MAX = 8192
BIG = 10 * 1024
TOKEN_MAX = 4096
MAX_BODY = 16384


@pytest.fixture(scope="module")
def user(stack, db):
    return create_user(stack, db, prefix="hostile")


@pytest.fixture(scope="module")
def session(client, user):
    """One live session: its body-delivery login answer."""
    return login_body(client, user)


def _login_bytes(user):
    return json.dumps({"username": user["username"],
                       "password": user["password"]}).encode()


# ------------------------------------------------------------ big headers

BIG_HEADERS = {
    "User-Agent": "x" * BIG,
    "Cookie": "pad=" + "x" * BIG,
    "Authorization": "Bearer " + "x" * BIG,
    "Origin": "http://" + "x" * BIG + ".example",
    "Sec-Fetch-Site": "x" * BIG,
    "Content-Type": "application/json; x=" + "x" * BIG,
}


@pytest.mark.parametrize("name", sorted(BIG_HEADERS))
def test_big_header_at_login_is_400(client, user, name):
    """The request is otherwise a good login: without the limit it would
    be 200."""
    resp = client.request("POST", "/auth/login", body=_login_bytes(user),
                          content_type="application/json",
                          headers={name: BIG_HEADERS[name]})
    assert_error(resp, 400, "invalid_request")


@pytest.mark.parametrize("name", ["User-Agent", "Cookie", "Origin"])
def test_big_header_at_profile_is_400(client, session, name):
    resp = client.request("GET", "/api/profile", headers={
        "Authorization": "Bearer " + session["access_token"],
        name: BIG_HEADERS[name]})
    assert_error(resp, 400, "invalid_request")


def test_big_authorization_header_at_profile_is_invalid_token(client,
                                                              session):
    """API.md, Tokens: "a token over 4 KiB" is rejected, and a refused
    token is 401 invalid_token (Bearer failures), however long."""
    token = session["access_token"]
    resp = client.profile(authorization="Bearer " + token + " " +
                          "x" * (BIG - len(token)))
    assert_invalid_token(resp)


def test_header_of_exactly_8_kib_is_accepted(client, user):
    resp = client.request("POST", "/auth/login", body=_login_bytes(user),
                          content_type="application/json",
                          headers={"User-Agent": "u" * HEADER_MAX})
    assert resp.status_code == 200, resp.text[:300]


def test_header_of_8_kib_and_one_byte_is_400(client, user):
    resp = client.request("POST", "/auth/login", body=_login_bytes(user),
                          content_type="application/json",
                          headers={"User-Agent": "u" * (HEADER_MAX + 1)})
    assert_error(resp, 400, "invalid_request")


def test_big_cookie_at_refresh_is_400_and_rotates_nothing(client, user):
    _, token, _ = login_cookie(client, user)
    resp = client.request("POST", "/auth/refresh", headers={
        "Cookie": cookie_header(token) + "; pad=" + "x" * BIG})
    assert_error(resp, 400, "invalid_request")
    assert client.refresh(cookie=token).status_code == 200


def test_big_header_at_unknown_path_is_still_404(client):
    resp = client.request("GET", "/auth/nope",
                          headers={"User-Agent": "x" * BIG})
    assert_error(resp, 404, "not_found")


def test_big_header_with_wrong_method_is_still_405(client):
    resp = client.request("GET", "/auth/login",
                          headers={"User-Agent": "x" * BIG})
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "POST"


# ------------------------------------------------------------ plain CGI
# lighttpd refuses a long Host itself, so latch's own limit on it (and on
# CONTENT_LENGTH lies) is shown with the binaries run as CGI programs.

def _cgi(stack, binary, method, uri, body=b"", **extra):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": method,
        "REQUEST_URI": uri, "QUERY_STRING": "", "HTTP_HOST": "127.0.0.1",
        "DATABASE_URL": stack.database_url,
        "JWT_ACCESS_SECRET": stack.access_secret_spec,
        "JWT_REFRESH_SECRET": stack.refresh_secret_spec,
        "COOKIE_SECURE": "0",
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    proc = subprocess.run([str(BIN_DIR / binary)], env=env, input=body,
                          capture_output=True, timeout=15)
    assert proc.returncode == 0, proc.stderr[-500:]
    out = proc.stdout
    end = min(i for i in (out.find(b"\r\n\r\n"), out.find(b"\n\n"))
              if i >= 0)
    head = out[:end].decode("latin-1").replace("\r\n", "\n").split("\n")
    status = int(head[0].split(":", 1)[1].split()[0])
    return status, json.loads(out[end:].strip())


def test_cgi_big_host_header_is_400(stack, user):
    status, body = _cgi(stack, "login.fcgi", "POST", "/auth/login",
                        _login_bytes(user),
                        HTTP_HOST="h" * 60 + "." + "x" * BIG)
    assert (status, body["error"]) == (400, "invalid_request"), body


def test_cgi_body_shorter_than_content_length_is_400(stack, user):
    body = _login_bytes(user)
    status, answer = _cgi(stack, "login.fcgi", "POST", "/auth/login", body,
                          CONTENT_LENGTH=str(len(body) + 50))
    assert (status, answer["error"]) == (400, "invalid_request"), answer


def test_cgi_non_numeric_content_length_is_400(stack, user):
    status, answer = _cgi(stack, "login.fcgi", "POST", "/auth/login",
                          _login_bytes(user), CONTENT_LENGTH="12abc")
    assert (status, answer["error"]) == (400, "invalid_request"), answer


def test_cgi_content_length_over_the_limit_is_413(stack, user):
    """Refused from the header alone, before the (short) body is read."""
    status, answer = _cgi(stack, "login.fcgi", "POST", "/auth/login",
                          _login_bytes(user), CONTENT_LENGTH="1000000000")
    assert (status, answer["error"]) == (413, "payload_too_large"), answer


def test_cgi_enormous_content_length_is_413(stack, user):
    """A Content-Length past 2^64 is still 1*digit (RFC 3875): larger than
    the limit, so 413 as API.md says for a larger body."""
    status, answer = _cgi(stack, "login.fcgi", "POST", "/auth/login",
                          _login_bytes(user),
                          CONTENT_LENGTH="99999999999999999999999999")
    assert (status, answer["error"]) == (413, "payload_too_large"), answer


# ------------------------------------------------------------ token size

def _jwt_of_length(header, claims, secret, target):
    """A token of exactly target bytes: claims["pad"] is grown, and the
    header JSON written compactly or with spaces (JSON allows both), until
    the length fits."""
    for sep in ((",", ":"), (", ", ":"), (",", ": "), (", ", ": ")):
        h = b64url_encode(json.dumps(header, separators=sep).encode())
        for n in range(target):
            c = b64url_encode(json.dumps(dict(claims, pad="p" * n),
                                         separators=(",", ":")).encode())
            length = len(h) + len(c) + 2 + 43
            if length == target:
                signing_input = (h + "." + c).encode()
                sig = b64url_encode(hmac.new(secret, signing_input,
                                             hashlib.sha256).digest())
                token = h + "." + c + "." + sig
                assert len(token) == target
                return token
            if length > target:
                break
    raise AssertionError(f"cannot build a token of {target} bytes")


def _access_of_length(stack, session, target):
    claims = dict(claims_of(session["access_token"]), iat=now(),
                  exp=now() + 600, jti=uuid.uuid4().hex)
    return _jwt_of_length({"alg": "HS256", "typ": "at+jwt",
                           "kid": stack.access_kid}, claims,
                          stack.access_secret, target)


def test_access_token_of_exactly_4_kib_is_accepted(client, stack, session):
    token = _access_of_length(stack, session, TOKEN_MAX)
    resp = client.profile(token)
    assert resp.status_code == 200, resp.text


def test_access_token_of_4097_bytes_is_invalid_token(client, stack,
                                                     session):
    token = _access_of_length(stack, session, TOKEN_MAX + 1)
    assert_invalid_token(client.profile(token))


def test_refresh_token_of_4097_bytes_is_invalid_grant(client, stack,
                                                      session):
    claims = dict(claims_of(session["refresh_token"]), iat=now(),
                  exp=now() + 3600, jti=uuid.uuid4().hex)
    token = _jwt_of_length({"alg": "HS256", "typ": "refresh+jwt",
                            "kid": stack.refresh_kid}, claims,
                           stack.refresh_secret, TOKEN_MAX + 1)
    assert_error(client.refresh(token), 403, "invalid_grant")
    resp = client.refresh(cookie=token)
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)


# ------------------------------------------------------------ algorithms

def _sign(header, claims, secret, digest="sha256"):
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    c = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, (h + "." + c).encode(),
                   getattr(hashlib, digest)).digest()
    return h + "." + c + "." + b64url_encode(sig)


# name -> (header changes, header members dropped, digest)
ALG_CASES = {
    "hs384": ({"alg": "HS384"}, (), "sha384"),
    "rs256_with_hmac_signature": ({"alg": "RS256"}, (), "sha256"),
    "es256_with_hmac_signature": ({"alg": "ES256"}, (), "sha256"),
    "missing_alg": ({}, ("alg",), "sha256"),
    "alg_None_capitalised": ({"alg": "None"}, (), "sha256"),
    "alg_none_with_signature": ({"alg": "none"}, (), "sha256"),
    "alg_null": ({"alg": None}, (), "sha256"),
    "alg_array": ({"alg": ["HS256"]}, (), "sha256"),
    "alg_hs256_with_space": ({"alg": "HS256 "}, (), "sha256"),
    "crit_unknown_extension": ({"crit": ["x-latch-test"],
                                "x-latch-test": True}, (), "sha256"),
    "crit_not_a_list": ({"crit": "exp"}, (), "sha256"),
}


def _forged(stack, session, kind, case=None):
    """A token of the session's kind ("access"/"refresh"), HS256-signed
    with the right key unless case (of ALG_CASES) says otherwise."""
    if kind == "access":
        base, kid, secret, typ, life = (session["access_token"],
                                        stack.access_kid, stack.access_secret,
                                        "at+jwt", 600)
    else:
        base, kid, secret, typ, life = (session["refresh_token"],
                                        stack.refresh_kid,
                                        stack.refresh_secret, "refresh+jwt",
                                        3600)
    header = {"alg": "HS256", "typ": typ, "kid": kid}
    digest = "sha256"
    if case is not None:
        changes, drop, digest = ALG_CASES[case]
        header.update(changes)
        for name in drop:
            header.pop(name)
    claims = dict(claims_of(base), iat=now(), exp=now() + life,
                  jti=uuid.uuid4().hex)
    return _sign(header, claims, secret, digest)


def test_forged_hs256_access_token_is_accepted(client, stack, session):
    """Control of the algorithm cases: the forge itself is sound."""
    resp = client.profile(_forged(stack, session, "access"))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("case", sorted(ALG_CASES))
def test_access_token_with_bad_header_is_invalid_token(client, stack,
                                                       session, case):
    assert_invalid_token(client.profile(_forged(stack, session, "access",
                                                case)))


@pytest.mark.parametrize("case", sorted(ALG_CASES))
def test_refresh_token_with_bad_header_is_invalid_grant(client, stack,
                                                        session, case):
    resp = client.refresh(_forged(stack, session, "refresh", case))
    assert_error(resp, 403, "invalid_grant")


# ------------------------------------------------------------ typ confusion

@pytest.mark.parametrize("method,path", [("GET", "/auth/sessions"),
                                         ("POST", "/auth/logout-all")])
def test_refresh_token_as_bearer_is_invalid_token(client, session, method,
                                                  path):
    assert_invalid_token(client.bearer(method, path,
                                       session["refresh_token"]))


def test_access_token_as_refresh_cookie_is_invalid_grant(client, session):
    resp = client.refresh(cookie=session["access_token"])
    assert_error(resp, 403, "invalid_grant")
    assert_clears_cookie(resp)


# ------------------------------------------------------------ hostile JSON

def _post(client, path, raw):
    return client.request("POST", path, body=raw,
                          content_type="application/json")


def _nested(depth, leaf=b'"x"'):
    return b"[" * depth + leaf + b"]" * depth


DEEP_BODIES = {
    "arrays_20_as_value": lambda u: b'{"username": ' + _nested(20)
    + b', "password": "x"}',
    "objects_20_as_value": lambda u: b'{"username": ' + b'{"a": ' * 20
    + b'"x"' + b"}" * 20 + b', "password": "x"}',
    "arrays_8000": lambda u: _nested(8000, b""),
    "objects_3000_unclosed": lambda u: b'{"a":' * 3000,
    "arrays_8000_unclosed": lambda u: b"[" * MAX_BODY,
}


@pytest.mark.parametrize("path", ["/auth/login", "/auth/refresh",
                                  "/auth/logout"])
@pytest.mark.parametrize("case", sorted(DEEP_BODIES))
def test_deeply_nested_json_is_400(client, user, path, case):
    raw = DEEP_BODIES[case](user)
    assert len(raw) <= MAX_BODY
    assert_error(_post(client, path, raw), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_body_over_max_body_bytes_is_413(client, session, path):
    raw = json.dumps({"refresh_token": session["refresh_token"],
                      "pad": "x" * MAX_BODY}).encode()
    assert_error(_post(client, path, raw), 413, "payload_too_large")


def test_huge_body_at_register_is_413(signup_web):
    client = ForwardedClient(signup_web, fresh_address())
    raw = b'{"username": "abcdef", "password": "' + b"x" * 300000 + b'"}'
    assert_error(_post(client, "/auth/register", raw), 413,
                 "payload_too_large")


def test_duplicate_refresh_token_member_is_400_and_rotates_nothing(
        client, user):
    token = login_body(client, user)["refresh_token"]
    raw = ('{"refresh_token": "%s", "refresh_token": "%s"}'
           % (token, token)).encode()
    assert_error(_post(client, "/auth/refresh", raw), 400, "invalid_request")
    assert client.refresh(token).status_code == 200


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_nul_in_refresh_token_is_400(client, session, path):
    raw = ('{"refresh_token": "%s\\u0000"}'
           % session["refresh_token"]).encode()
    assert_error(_post(client, path, raw), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout"])
def test_invalid_utf8_in_refresh_body_is_400(client, path):
    raw = b'{"refresh_token": "abc\xff\xfedef"}'
    assert_error(_post(client, path, raw), 400, "invalid_request")


@pytest.mark.parametrize("value", [b"12345", b"1e999999", b"-0", b"true",
                                   b"null", b'{"t": "x"}'])
def test_logout_with_non_string_token_is_400(client, value):
    raw = b'{"refresh_token": ' + value + b"}"
    assert_error(_post(client, "/auth/logout", raw), 400, "invalid_request")


@pytest.mark.parametrize("value", [b"1e999999", b"123456789012345678901234"
                                   b"5678901234567890", b"-1.5e-400"])
def test_login_with_huge_number_as_password_is_400(client, user, value):
    raw = ('{"username": "%s", "password": ' % user["username"]).encode() \
        + value + b"}"
    assert_error(_post(client, "/auth/login", raw), 400, "invalid_request")


def test_login_with_many_unknown_members_is_400(client, user):
    members = {"k%d" % i: i for i in range(1200)}
    members.update(username=user["username"], password=user["password"])
    raw = json.dumps(members, separators=(",", ":")).encode()
    assert len(raw) <= MAX_BODY
    assert_error(_post(client, "/auth/login", raw), 400, "invalid_request")


@pytest.mark.parametrize("where", ["password", "username"])
def test_raw_control_character_in_a_string_is_400(client, user, where):
    """RFC 8259: a control character inside a string must be escaped; a
    body with one raw is not JSON, even where the rest would log in."""
    fields = {"username": user["username"], "password": user["password"]}
    raw = json.dumps(fields, separators=(",", ":")).encode()
    raw = raw.replace(fields[where].encode(),
                      fields[where][:3].encode() + b"\x01" +
                      fields[where][3:].encode())
    assert_error(_post(client, "/auth/login", raw), 400, "invalid_request")
    escaped = json.dumps(fields).encode()       # the same user, as JSON
    assert _post(client, "/auth/login", escaped).status_code == 200


def test_binary_garbage_body_is_400(client):
    raw = bytes(range(256)) * 8
    assert_error(_post(client, "/auth/login", raw), 400, "invalid_request")


# ------------------------------------------------------------ no hang

def test_truncated_body_does_not_wedge_the_server(client, stack, user):
    """A client that promises more body than it sends and hangs up: the
    next request is served normally."""
    url = urlsplit(stack.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 1000\r\nConnection: close\r\n\r\n"
                  b'{"username": ')
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        while s.recv(4096):
            pass
    resp = client.request("POST", "/auth/login", body=_login_bytes(user),
                          content_type="application/json")
    assert resp.status_code == 200, resp.text
    assert "access_token" in json_body(resp)
