"""GET /api/profile and the Bearer rules of API.md ("Bearer failures",
"Tokens": what verification must refuse)."""

import datetime
import json
import secrets
import time
import uuid

import pytest

from conftest import create_user, revoke_session
from latchlib import (RFC3339_UTC, assert_invalid_token,
                      assert_missing_credential, assert_no_store,
                      b64url_encode, json_body, jwt_encode, jwt_parts, now)


def _login(client, user, **kw):
    resp = client.login(username=user["username"], password=user["password"],
                        **kw)
    assert resp.status_code == 200, resp.text
    return json_body(resp)


@pytest.fixture(scope="module")
def logged_in(stack, db, client):
    """One user with one live session, shared by the read-only tests:
    {"user", "access", "refresh", "claims"}."""
    user = create_user(stack, db, prefix="profile")
    body = _login(client, user, token_delivery="body")
    return {"user": user, "access": body["access_token"],
            "refresh": body["refresh_token"],
            "claims": jwt_parts(body["access_token"])[1]}


def forge(stack, logged_in, claims=None, header=None, drop=(), secret=None,
          alg="sha256"):
    """An access token for the shared session, signed with the access key
    unless told otherwise, with claims/header fields replaced or dropped."""
    h = {"alg": "HS256", "typ": "at+jwt", "kid": stack.access_kid}
    c = dict(logged_in["claims"])
    c["iat"] = now()
    c["exp"] = now() + 600
    c["jti"] = uuid.uuid4().hex
    h.update(header or {})
    c.update(claims or {})
    for name in drop:
        h.pop(name, None)
        c.pop(name, None)
    return jwt_encode(h, c, stack.access_secret if secret is None else secret,
                      alg=alg)


# ------------------------------------------------------------ success

def test_profile_returns_exact_body(client, db, logged_in):
    user = logged_in["user"]
    resp = client.profile(logged_in["access"])
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert set(body) == {"id", "username", "email", "created_at", "message"}
    assert body["id"] == str(user["id"])
    assert body["username"] == user["username"]
    assert body["email"] is None
    assert body["message"] == "Hello " + user["username"]


def test_profile_created_at_is_rfc3339_utc_of_the_row(client, db, logged_in):
    body = json_body(client.profile(logged_in["access"]))
    assert RFC3339_UTC.match(body["created_at"]), body["created_at"]
    shown = datetime.datetime.strptime(body["created_at"],
                                       "%Y-%m-%dT%H:%M:%SZ") \
        .replace(tzinfo=datetime.timezone.utc)
    stored = db.scalar("SELECT created_at FROM users WHERE id = %s",
                       (logged_in["user"]["id"],))
    assert abs((stored - shown).total_seconds()) < 1.0, (stored, shown)


def test_profile_is_not_cacheable(client, logged_in):
    resp = client.profile(logged_in["access"])
    assert resp.status_code == 200
    assert_no_store(resp)


def test_profile_returns_email_when_set(client, make_user):
    email = f"p.{uuid.uuid4().hex[:10]}@example.org"
    user = make_user(email=email)
    access = _login(client, user)["access_token"]
    body = json_body(client.profile(access))
    assert body["email"] == email
    assert body["id"] == str(user["id"])


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_profile_matches_bearer_scheme_case_insensitively(client, logged_in,
                                                          scheme):
    resp = client.profile(authorization=f"{scheme} {logged_in['access']}")
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["username"] == logged_in["user"]["username"]


def test_profile_accepts_token_forged_with_the_real_key(client, stack,
                                                        logged_in):
    """Control for the refusals below: our forging is right."""
    resp = client.profile(forge(stack, logged_in))
    assert resp.status_code == 200, resp.text


def test_profile_accepts_typ_with_application_prefix_in_any_case(
        client, stack, logged_in):
    token = forge(stack, logged_in, header={"typ": "application/AT+JWT"})
    resp = client.profile(token)
    assert resp.status_code == 200, resp.text


def test_profile_accepts_iat_a_little_in_the_future(client, stack, logged_in):
    token = forge(stack, logged_in, claims={"iat": now() + 10})
    resp = client.profile(token)
    assert resp.status_code == 200, resp.text


# ------------------------------------------------------------ no credential

@pytest.mark.parametrize("authorization", [
    None, "Basic dXNlcjpwYXNzd29yZA==", "Bearer ", "Bearer", "Token abc"],
    ids=["none", "basic", "bearer_space", "bearer_alone", "other_scheme"])
def test_profile_without_bearer_credential_is_invalid_request(
        client, authorization):
    resp = client.profile(authorization=authorization)
    assert_missing_credential(resp)


# ------------------------------------------------------------ bad tokens

def _tamper_signature(token):
    h, c, s = token.split(".")
    i = len(s) // 2
    s = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
    return ".".join((h, c, s))


def _swap_claims(token, **changes):
    h, c, s = token.split(".")
    claims = jwt_parts(token)[1]
    claims.update(changes)
    c = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return ".".join((h, c, s))


BAD_TOKENS = {
    "tampered_signature": lambda st, li: _tamper_signature(li["access"]),
    "tampered_claims": lambda st, li: _swap_claims(
        li["access"], sub=str(int(li["claims"]["sub"]) + 1)),
    "signature_removed": lambda st, li: li["access"].rsplit(".", 1)[0] + ".",
    "padded_signature": lambda st, li: li["access"] + "=",
    "garbage": lambda st, li: "garbage",
    "two_parts": lambda st, li: ".".join(li["access"].split(".")[:2]),
    "four_parts": lambda st, li: li["access"] + ".AAAA",
    "refresh_token_as_access": lambda st, li: li["refresh"],
    "alg_none": lambda st, li: jwt_encode(
        {"alg": "none", "typ": "at+jwt", "kid": st.access_kid},
        dict(li["claims"], iat=now(), exp=now() + 600), None),
    "alg_hs512": lambda st, li: forge(st, li, header={"alg": "HS512"},
                                      alg="sha512"),
    "alg_lowercase": lambda st, li: forge(st, li, header={"alg": "hs256"}),
    "unknown_kid": lambda st, li: forge(st, li, header={"kid": "nope-kid"}),
    "missing_kid": lambda st, li: forge(st, li, drop=("kid",)),
    "signed_with_refresh_key": lambda st, li: forge(
        st, li, secret=st.refresh_secret),
    "typ_jwt": lambda st, li: forge(st, li, header={"typ": "JWT"}),
    "typ_refresh": lambda st, li: forge(st, li,
                                        header={"typ": "refresh+jwt"}),
    "missing_typ": lambda st, li: forge(st, li, drop=("typ",)),
    "crit_header": lambda st, li: forge(st, li, header={"crit": ["exp"]}),
    "expired": lambda st, li: forge(st, li, claims={"iat": now() - 910,
                                                    "exp": now() - 10}),
    "exp_now": lambda st, li: forge(st, li, claims={"exp": now()}),
    "missing_exp": lambda st, li: forge(st, li, drop=("exp",)),
    "exp_as_string": lambda st, li: forge(
        st, li, claims={"exp": str(now() + 600)}),
    "missing_sub": lambda st, li: forge(st, li, drop=("sub",)),
    "sub_as_number": lambda st, li: forge(
        st, li, claims={"sub": int(li["claims"]["sub"])}),
    "iat_far_in_future": lambda st, li: forge(st, li,
                                              claims={"iat": now() + 120}),
    "nbf_far_in_future": lambda st, li: forge(st, li,
                                              claims={"nbf": now() + 120}),
    "over_4_kib": lambda st, li: forge(st, li, claims={"pad": "x" * 3200}),
    "unknown_session": lambda st, li: forge(
        st, li, claims={"sid": str(uuid.uuid4())}),
    "malformed_sid": lambda st, li: forge(st, li,
                                          claims={"sid": "not-a-uuid"}),
    "non_numeric_sub": lambda st, li: forge(st, li, claims={"sub": "abc"}),
    "unknown_user": lambda st, li: forge(st, li, claims={"sub": "999999999"}),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_profile_refuses_bad_token_as_invalid_token(client, stack, logged_in,
                                                    case):
    token = BAD_TOKENS[case](stack, logged_in)
    assert token != logged_in["access"]
    if case == "over_4_kib":
        assert len(token) > 4096
    assert_invalid_token(client.profile(token))


def test_profile_error_never_echoes_the_token(client, stack, logged_in):
    token = _tamper_signature(logged_in["access"])
    resp = client.profile(token)
    assert resp.status_code == 401
    for part in token.split("."):
        assert part not in resp.text
        assert part not in resp.headers.get("WWW-Authenticate", "")


# ------------------------------------------------------------ server state

def test_profile_refuses_token_of_revoked_session(client, db, make_user):
    user = make_user()
    access = _login(client, user)["access_token"]
    assert client.profile(access).status_code == 200
    sid = jwt_parts(access)[1]["sid"]
    assert revoke_session(db, sid) == 1
    assert_invalid_token(client.profile(access))


def test_profile_refuses_token_of_disabled_user(client, db, make_user):
    user = make_user()
    access = _login(client, user)["access_token"]
    assert client.profile(access).status_code == 200
    db.execute("UPDATE users SET disabled_at = now() WHERE id = %s",
               (user["id"],))
    assert_invalid_token(client.profile(access))


def test_profile_refuses_access_token_after_real_expiry(web_instance,
                                                        make_user):
    short = web_instance("shortaccess", 0, JWT_ACCESS_EXPIRES="2s",
                         COOKIE_SECURE="0")
    user = make_user()
    body = _login(short, user)
    assert body["expires_in"] == 2
    claims = jwt_parts(body["access_token"])[1]
    assert claims["exp"] - claims["iat"] == 2
    assert short.profile(body["access_token"]).status_code == 200
    deadline = time.monotonic() + 5
    while time.time() < claims["exp"] + 0.2:     # bounded wait for expiry
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert_invalid_token(short.profile(body["access_token"]))


def test_profile_accepts_token_of_a_second_listed_key(web_instance, stack,
                                                      client, make_user):
    """Key rotation: an instance whose list signs with a new key still
    accepts tokens signed with the old one, listed second."""
    new_secret = "rot-" + secrets.token_hex(24)
    old_kid, old_secret = stack.access_keys[0]
    rotated = web_instance(
        "rotatedkeys", 3, COOKIE_SECURE="0",
        JWT_ACCESS_SECRET=f"rot:{new_secret},{old_kid}:{old_secret.decode()}")
    user = make_user()
    old_token = _login(client, user)["access_token"]
    resp = rotated.profile(old_token)
    assert resp.status_code == 200, resp.text
    new_token = _login(rotated, user)["access_token"]
    assert jwt_parts(new_token)[0]["kid"] == "rot"
    assert_invalid_token(client.profile(new_token))

