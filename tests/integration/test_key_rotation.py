"""API.md "Key lists": rotating JWT_ACCESS_SECRET / JWT_REFRESH_SECRET logs
nobody out, a retired key stops verifying, the kid picks the key, bare
secrets get a derived kid; and the start-up refusals of malformed lists
that test_cgi.py does not already cover.

Three extra webs share the main database: "rota" knows only the old keys
(k1, r1), "rotb" signs with new keys and still lists the old ones
(k2,k1 / r2,r1), "rotc" knows only the new keys (k2 / r2)."""

import hashlib
import os
import secrets
import subprocess

import pytest

from conftest import BIN_DIR
from latchlib import (Client, assert_error, assert_invalid_token,
                      b64url_encode, claims_of, json_body, jwt_encode,
                      jwt_parts, jwt_signature_ok, login_body, now)

# Fresh per pytest run: the webs are started once per session with them.
OLD_ACCESS = "old-access-" + secrets.token_hex(20)
OLD_REFRESH = "old-refresh-" + secrets.token_hex(20)
NEW_ACCESS = "new-access-" + secrets.token_hex(20)
NEW_REFRESH = "new-refresh-" + secrets.token_hex(20)
BARE_ACCESS = "bare-access-" + secrets.token_hex(20)
BARE_REFRESH = "bare-refresh-" + secrets.token_hex(20)


def _bare_kid(secret):
    return b64url_encode(hashlib.sha256(secret.encode()).digest())[:8]


@pytest.fixture
def web_a(harden_web):
    return Client(harden_web("rota", 42, COOKIE_SECURE="0",
                             JWT_ACCESS_SECRET="k1:" + OLD_ACCESS,
                             JWT_REFRESH_SECRET="r1:" + OLD_REFRESH))


@pytest.fixture
def web_b(harden_web):
    return Client(harden_web(
        "rotb", 43, COOKIE_SECURE="0",
        JWT_ACCESS_SECRET=f"k2:{NEW_ACCESS},k1:{OLD_ACCESS}",
        JWT_REFRESH_SECRET=f"r2:{NEW_REFRESH}, r1:{OLD_REFRESH}"))


@pytest.fixture
def web_c(harden_web):
    return Client(harden_web("rotc", 44, COOKIE_SECURE="0",
                             JWT_ACCESS_SECRET="k2:" + NEW_ACCESS,
                             JWT_REFRESH_SECRET="r2:" + NEW_REFRESH))


@pytest.fixture
def web_bare(harden_web):
    return Client(harden_web("rotbare", 45, COOKIE_SECURE="0",
                             JWT_ACCESS_SECRET=BARE_ACCESS,
                             JWT_REFRESH_SECRET=BARE_REFRESH))


@pytest.fixture
def user(make_user):
    return make_user(prefix="rot")


@pytest.fixture
def old_tokens(web_a, user):
    """Body-delivery login at the old-keys web: its JSON."""
    body = login_body(web_a, user)
    assert jwt_parts(body["access_token"])[0]["kid"] == "k1"
    assert jwt_parts(body["refresh_token"])[0]["kid"] == "r1"
    return body


# ------------------------------------------------------------ rotation

def test_old_access_token_is_accepted_after_rotation(web_b, old_tokens,
                                                     user):
    resp = web_b.profile(old_tokens["access_token"])
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["id"] == str(user["id"])


def test_old_refresh_token_refreshes_after_rotation(web_b, old_tokens):
    resp = web_b.refresh(old_tokens["refresh_token"])
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert claims_of(body["refresh_token"])["sid"] == \
        claims_of(old_tokens["refresh_token"])["sid"]


def test_refresh_after_rotation_signs_with_the_new_keys(web_b, old_tokens):
    body = json_body(web_b.refresh(old_tokens["refresh_token"]))
    access, refresh = body["access_token"], body["refresh_token"]
    assert jwt_parts(access)[0]["kid"] == "k2"
    assert jwt_parts(refresh)[0]["kid"] == "r2"
    assert jwt_signature_ok(access, NEW_ACCESS.encode())
    assert jwt_signature_ok(refresh, NEW_REFRESH.encode())


def test_login_after_rotation_signs_with_the_first_listed_keys(web_b, user):
    body = login_body(web_b, user)
    assert jwt_parts(body["access_token"])[0]["kid"] == "k2"
    assert jwt_parts(body["refresh_token"])[0]["kid"] == "r2"
    assert jwt_signature_ok(body["access_token"], NEW_ACCESS.encode())
    assert jwt_signature_ok(body["refresh_token"], NEW_REFRESH.encode())


def test_rotated_session_keeps_refreshing_on_new_keys(web_b, web_c,
                                                      old_tokens):
    """Rotation logs nobody out: the successor minted at the web that lists
    both keys refreshes at the web that knows only the new one."""
    first = json_body(web_b.refresh(old_tokens["refresh_token"]))
    resp = web_c.refresh(first["refresh_token"])
    assert resp.status_code == 200, resp.text
    assert web_c.profile(json_body(resp)["access_token"]).status_code == 200


def test_retired_access_key_token_is_invalid_token(web_c, old_tokens):
    assert_invalid_token(web_c.profile(old_tokens["access_token"]))


def test_retired_refresh_key_token_is_invalid_grant(web_c, old_tokens):
    assert_error(web_c.refresh(old_tokens["refresh_token"]), 403,
                 "invalid_grant")


def test_retired_refresh_key_token_still_works_where_key_is_listed(
        web_c, web_b, old_tokens):
    """Control of the test above: the refusal at rotc did not end the
    session; a web still listing r1 refreshes it."""
    assert web_c.refresh(old_tokens["refresh_token"]).status_code == 403
    assert web_b.refresh(old_tokens["refresh_token"]).status_code == 200


def test_new_key_token_is_invalid_token_where_key_is_unknown(web_a, web_b,
                                                             user):
    access = login_body(web_b, user)["access_token"]
    assert_invalid_token(web_a.profile(access))


# ------------------------------------------------------------ kid picks key

def _resign(token, kid, secret, typ="at+jwt"):
    header = {"alg": "HS256", "typ": typ, "kid": kid}
    claims = dict(claims_of(token), iat=now(), exp=now() + 600,
                  jti=secrets.token_hex(16))
    return jwt_encode(header, claims, secret.encode())


def test_token_verifies_with_the_key_its_kid_names(web_b, old_tokens):
    """Control of the two tests below: a forged token whose kid names the
    key that signed it is accepted (the session is live)."""
    token = _resign(old_tokens["access_token"], "k1", OLD_ACCESS)
    assert web_b.profile(token).status_code == 200


def test_token_signed_with_another_listed_key_than_its_kid_is_refused(
        web_b, old_tokens):
    token = _resign(old_tokens["access_token"], "k1", NEW_ACCESS)
    assert_invalid_token(web_b.profile(token))


def test_token_with_unlisted_kid_is_refused_even_if_signature_matches(
        web_b, old_tokens):
    token = _resign(old_tokens["access_token"], "k3", NEW_ACCESS)
    assert_invalid_token(web_b.profile(token))


# ------------------------------------------------------------ bare secrets

def test_bare_secrets_sign_with_derived_kids(web_bare, user):
    body = login_body(web_bare, user)
    assert jwt_parts(body["access_token"])[0]["kid"] == \
        _bare_kid(BARE_ACCESS)
    assert jwt_parts(body["refresh_token"])[0]["kid"] == \
        _bare_kid(BARE_REFRESH)
    assert jwt_signature_ok(body["access_token"], BARE_ACCESS.encode())
    assert jwt_signature_ok(body["refresh_token"], BARE_REFRESH.encode())


def test_bare_secret_tokens_verify_and_refresh(web_bare, user):
    body = login_body(web_bare, user)
    assert web_bare.profile(body["access_token"]).status_code == 200
    resp = web_bare.refresh(body["refresh_token"])
    assert resp.status_code == 200, resp.text


# ------------------------------------------------------------ refusals
# test_cgi.py covers: missing lists, a short (also bare) access secret, a
# bad kid character, an empty access list, a secret in both lists.

SECRET_A = "startup-access-secret-0123456789abcdef"
SECRET_R = "startup-refresh-secret-0123456789abcdef"


def _env(database_url, access, refresh):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET",
        "REQUEST_URI": "/api/health", "QUERY_STRING": "",
        "HTTP_HOST": "127.0.0.1", "DATABASE_URL": database_url,
        "COOKIE_SECURE": "0", "JWT_ACCESS_SECRET": access,
        "JWT_REFRESH_SECRET": refresh,
    }
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _refused(stack, binary, access, refresh, must_name, secrets_given):
    proc = subprocess.run([str(BIN_DIR / binary)],
                          env=_env(stack.database_url, access, refresh),
                          input=b"", capture_output=True, timeout=30)
    assert proc.returncode != 0, \
        f"{binary} started: {proc.stdout[:200]!r} {proc.stderr[:200]!r}"
    err = proc.stderr.decode("utf-8", "replace")
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), f"stderr: {err!r}"
    for name in must_name:
        assert name in lines[0], lines[0]
    out = proc.stdout.decode("utf-8", "replace")
    for secret in secrets_given:
        assert secret not in err and secret not in out, lines[0]
        # nor a telling piece of it
        assert secret[-16:] not in err, lines[0]
    return lines[0]


BAD_ACCESS_LISTS = {
    "empty_item_between": f"a1:{SECRET_A},,a2:{SECRET_A}x",
    "trailing_comma": f"a1:{SECRET_A},",
    "leading_comma": f",a1:{SECRET_A}",
    "item_without_colon": f"a1:{SECRET_A},{SECRET_A}yy",
    "empty_kid": f":{SECRET_A}",
    "kid_of_33_chars": "k" * 33 + ":" + SECRET_A,
    "kid_with_slash": f"a/1:{SECRET_A}",
    "kid_with_non_ascii": f"\u00e9:{SECRET_A}",
    "short_second_secret": f"a1:{SECRET_A},a2:0123456789abcdef0123456789abcde",
    "white_space_only": "   ",
}


@pytest.mark.parametrize("binary", ["auth.fcgi", "login.fcgi", "api.fcgi"])
@pytest.mark.parametrize("case", sorted(BAD_ACCESS_LISTS))
def test_start_refused_with_malformed_access_list(stack, binary, case):
    spec = BAD_ACCESS_LISTS[case]
    _refused(stack, binary, spec, "r1:" + SECRET_R, ["JWT_ACCESS_SECRET"],
             [SECRET_A, SECRET_R, "0123456789abcdef0123456789abcde"])


@pytest.mark.parametrize("binary", ["auth.fcgi", "login.fcgi", "api.fcgi"])
def test_start_refused_with_short_refresh_secret(stack, binary):
    _refused(stack, binary, "a1:" + SECRET_A,
             "r1:short-refresh-secret-31-bytes",
             ["JWT_REFRESH_SECRET"], [SECRET_A, "short-refresh-secret"])


@pytest.mark.parametrize("binary", ["auth.fcgi", "login.fcgi", "api.fcgi"])
def test_start_refused_with_malformed_refresh_list(stack, binary):
    _refused(stack, binary, "a1:" + SECRET_A, f"r1:{SECRET_R},",
             ["JWT_REFRESH_SECRET"], [SECRET_A, SECRET_R])


@pytest.mark.parametrize("binary", ["auth.fcgi", "login.fcgi", "api.fcgi"])
def test_start_refused_with_bare_secret_in_both_lists(stack, binary):
    _refused(stack, binary, SECRET_A, f"r1:{SECRET_R},r2:{SECRET_A}",
             ["JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"],
             [SECRET_A, SECRET_R])


def test_start_accepts_32_byte_secrets(stack):
    """Control: the shortest allowed secrets (32 bytes) start fine."""
    a, r = "a" * 31 + "1", "r" * 31 + "1"
    assert len(a) == 32
    proc = subprocess.run([str(BIN_DIR / "api.fcgi")],
                          env=_env(stack.database_url, "a1:" + a, r),
                          input=b"", capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(b"\n", 1)[0].rstrip(b"\r") == \
        b"Status: 200 OK" or proc.stdout.startswith(b"Status: 200"), \
        proc.stdout[:200]
