"""Issue 14, apps: DPoP-bound refresh tokens (RFC 9449; API.md
"Sender-constrained sessions"), proofs made in Python (proofs.py).

A body-delivery login carrying a DPoP proof binds its session to the
proof's key (session_keys kind dpop, jkt = the RFC 7638 thumbprint), the
answer says token_type DPoP; every refresh of that session must carry a
fresh proof from the same key (htm POST, htu the refresh URL, iat within
60 s, a jti never used before, in PostgreSQL so that every process
agrees). A refresh without one, or with a bad one, is 401
invalid_dpop_proof and changes nothing: the owner's next good refresh
rotates as usual.

On the lifecycle web (conftest `web`: lighttpd, two auth.fcgi processes,
BCRYPT_COST=4). The replay across processes stops one responder with
SIGSTOP so that lighttpd must hand the next request to the other (the
stopped one cannot answer), and continues it afterwards."""

import hashlib
import hmac
import json
import time

import pytest

from conftest import (LIFECYCLE, assert_invariants, create_user, session_row,
                      token_rows)
from latchlib import (ForwardedClient, assert_clears_cookie, assert_error,
                      b64url_encode, fresh_address, json_body, jwt_encode,
                      jwt_parts, refresh_cookie, refreshed_body,
                      set_cookie_headers, sid_of, token_hash)
from pinning import auth_responders, served_while_stopped
from proofs import (DROP, ClientKey, binding, canonical_jwk, compact_jws,
                    dpop_proof, new_jti, thumbprint)
from rawhttp import Conn, Target, request_bytes

PREFIX = "dpop"
IAT_WINDOW = 60           # contract: iat within 60 s of the server's clock
WWW_DPOP_PREFIX = ('Bearer realm="latch", DPoP algs="ES256 RS256 EdDSA", '
                   'error="invalid_dpop_proof", error_description="')


class AddressedClient(ForwardedClient):
    """A client of its own address (X-Forwarded-For, to a web trusting
    127.0.0.1 as its proxy), so that the failed logins a test makes on
    purpose count against that address only, never against 127.0.0.1,
    which every other test logs in from. It sends Host itself: a CGI web
    sees only the headers requests puts in the request."""

    def __init__(self, base_url):
        super().__init__(base_url, fresh_address())

    def request(self, method, path, body=None, content_type=None,
                headers=None, json_body=None):
        hdrs = {"Host": self.base_url.split("://", 1)[1]}
        hdrs.update(headers or {})
        return super().request(method, path, body=body,
                               content_type=content_type, headers=hdrs,
                               json_body=json_body)


def _user(stack, db):
    return create_user(stack, db, prefix=PREFIX)


def _url(web, path):
    return web.base_url + path


def login(web, user, dpop=None, headers=None):
    hdrs = dict(headers or {})
    if dpop is not None:
        hdrs["DPoP"] = dpop
    return web.login(username=user["username"], password=user["password"],
                     token_delivery="body", headers=hdrs)


def bound_login(web, user, key):
    """A DPoP login of user with key: (answer body, sid)."""
    resp = login(web, user, dpop_proof(key, "POST",
                                       _url(web, "/auth/login")))
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    return body, sid_of(body["refresh_token"])


def refresh(web, token, dpop=None):
    headers = {} if dpop is None else {"DPoP": dpop}
    return web.refresh(token, headers=headers)


def good_proof(web, key, **kw):
    return dpop_proof(key, "POST", _url(web, "/auth/refresh"), **kw)


def listed_binding(client, access, sid):
    """The "binding" GET /auth/sessions gives session sid."""
    resp = client.sessions(access)
    assert resp.status_code == 200, resp.text
    ours = [s for s in json_body(resp)["sessions"] if s["id"] == sid]
    assert len(ours) == 1, resp.text
    assert "binding" in ours[0], ours[0]
    return ours[0]["binding"]


def assert_dpop_refused(resp):
    """401 invalid_dpop_proof as the contract writes it."""
    body = assert_error(resp, 401, "invalid_dpop_proof")
    www = resp.headers.get("WWW-Authenticate", "")
    assert www.startswith(WWW_DPOP_PREFIX) and www.endswith('"') and \
        len(www) > len(WWW_DPOP_PREFIX) + 1, f"WWW-Authenticate {www!r}"
    return body


def snapshot(db, sid):
    """What a refused refresh must leave as it was: the session's row and
    its tokens."""
    return session_row(db, sid), token_rows(db, sid)


def assert_untouched(db, sid, before):
    row, tokens = snapshot(db, sid)
    assert row["revoked_at"] is None, f"session revoked: {row}"
    assert (row, tokens) == before, "a refused refresh changed the session"


def rotate(web, db, token, key):
    """A good refresh of token with key's proof: the successor."""
    sid = sid_of(token)
    n = len(token_rows(db, sid))
    body = refreshed_body(refresh(web, token, good_proof(web, key)))
    assert body["token_type"] == "DPoP", body
    assert sid_of(body["refresh_token"]) == sid
    rows = token_rows(db, sid)
    assert len(rows) == n + 1 and rows[-2][1] == token_hash(token) and \
        rows[-2][2] is not None, "the presented token was not rotated"
    return body["refresh_token"]


# ---------------------------------------------------------------- proofs.py

# RFC 7638 section 3.1: its RSA key and that key's thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7"
    "aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXA"
    "rwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7"
    "d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lF"
    "d2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_own_thumbprint_is_rfc7638s():
    """The tests' thumbprint (what they compare session_keys.jkt with)
    gives RFC 7638's answer for its example key, extra members ignored."""
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256",
           "kid": "2011-04-29"}
    assert b64url_encode(thumbprint(jwk)) == RFC7638_THUMBPRINT


# ---------------------------------------------------------------- login

@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_dpop_login_binds_the_session_and_refreshes(stack, db, web, alg):
    """A DPoP login answers token_type DPoP and stores the binding (kind
    dpop, the key's alg, jkt = its RFC 7638 thumbprint, the canonical
    key); GET /auth/sessions says binding "dpop"; the access token is a
    Bearer token as before; refreshes with proofs rotate."""
    user = _user(stack, db)
    key = ClientKey(alg)
    body, sid = bound_login(web, user, key)
    assert body["token_type"] == "DPoP", body
    assert binding(db, sid) == ("dpop", alg, key.thumbprint(),
                                canonical_jwk(key.public_jwk()).decode())

    assert listed_binding(web, body["access_token"], sid) == "dpop"
    assert web.profile(token=body["access_token"]).status_code == 200

    token = body["refresh_token"]
    for _ in range(3):
        token = rotate(web, db, token, key)
    assert binding(db, sid)[2] == key.thumbprint(), "the binding changed"


def test_access_token_is_bearer_even_when_token_type_says_dpop(stack, db,
                                                               web):
    """The access token of a DPoP login has no cnf binding, so it goes as
    Authorization: Bearer; the DPoP scheme (what a generic RFC 9449
    client would send for token_type DPoP) is 401 with the Bearer
    challenge, as RFC 9449 section 7.1 asks of an unbound token."""
    key = ClientKey("ES256")
    body, _ = bound_login(web, _user(stack, db), key)
    access = body["access_token"]
    assert web.profile(authorization=f"Bearer {access}").status_code == 200
    resp = web.profile(authorization=f"DPoP {access}")
    assert_error(resp, 401, "invalid_request")
    assert resp.headers.get("WWW-Authenticate") == 'Bearer realm="latch"', \
        resp.headers


@pytest.mark.parametrize("bits, ok", [(1024, False), (4096, True)])
def test_rsa_key_sizes(stack, db, web, bits, ok):
    """RSA keys of 2048 to 4096 bits: a 1024-bit key is refused at login
    (401 invalid_dpop_proof, no session), a 4096-bit one binds."""
    user = _user(stack, db)
    key = ClientKey("RS256", rsa_bits=bits)
    resp = login(web, user, dpop_proof(key, "POST", _url(web, "/auth/login")))
    if not ok:
        assert_dpop_refused(resp)
        assert _sessions_of(db, user) == 0
        return
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert binding(db, sid_of(body["refresh_token"]))[:3] == \
        ("dpop", "RS256", key.thumbprint())
    rotate(web, db, body["refresh_token"], key)


def test_login_without_dpop_is_unbound(stack, db, web):
    """No DPoP header: token_type Bearer, no session_keys row, binding
    null: version 1 unchanged."""
    user = _user(stack, db)
    resp = login(web, user)
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert body["token_type"] == "Bearer", body
    sid = sid_of(body["refresh_token"])
    assert binding(db, sid) is None
    assert listed_binding(web, body["access_token"], sid) is None


def _sessions_of(db, user):
    return db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s",
                     (user["id"],))


@pytest.mark.parametrize("case", ["wrong_htu", "stale_iat", "alg_none",
                                  "other_signer", "replayed_jti"])
def test_bad_proof_on_login_creates_nothing(stack, db, proxy_web, case):
    """A login whose proof is bad is 401 invalid_dpop_proof and opens no
    session; the same login with a good proof then works. (A client
    address of its own: a replayed jti is judged after the password and
    counts as a failed login.)"""
    web = AddressedClient(proxy_web)
    user = _user(stack, db)
    key = ClientKey()
    url = _url(web, "/auth/login")
    if case == "wrong_htu":
        proof = dpop_proof(key, "POST", _url(web, "/auth/refresh"))
    elif case == "stale_iat":
        proof = dpop_proof(key, "POST", url, iat=int(time.time()) - 300)
    elif case == "alg_none":
        proof = dpop_proof(key, "POST", url, header={"alg": "none"},
                           signature="")
    elif case == "other_signer":
        proof = dpop_proof(key, "POST", url, signer=ClientKey())
    else:
        jti = new_jti()
        first = login(web, user, dpop_proof(key, "POST", url, jti=jti))
        assert first.status_code == 200, first.text
        proof = dpop_proof(key, "POST", url, jti=jti)
    before = _sessions_of(db, user)
    assert_dpop_refused(login(web, user, proof))
    assert _sessions_of(db, user) == before, "a refused login opened one"
    good = login(web, user, dpop_proof(key, "POST", url))
    assert good.status_code == 200, good.text
    assert json_body(good)["token_type"] == "DPoP"


# ---------------------------------------------------------------- refresh

def _hs256(web, key):
    proof = good_proof(web, key, header={"alg": "HS256"})
    signing_input = proof.rsplit(".", 1)[0]
    mac = hmac.new(b"k" * 32, signing_input.encode(), hashlib.sha256)
    return signing_input + "." + b64url_encode(mac.digest())


def _segments(*parts):
    return ".".join(b64url_encode(p) for p in parts)


def _bad_proofs(web, key, used_jti):
    """name -> a function of nothing giving the DPoP header value of a
    refresh that must be refused (made at call time, so iat is fresh)."""
    url = _url(web, "/auth/refresh")
    base = web.base_url
    host_port = base.split("://", 1)[1]
    port = int(host_port.rsplit(":", 1)[1])
    other = ClientKey()
    now = lambda: int(time.time())  # noqa: E731
    good_header = {"typ": "dpop+jwt", "alg": "ES256",
                   "jwk": key.public_jwk()}
    good_claims = lambda: {"jti": new_jti(), "htm": "POST",  # noqa: E731
                           "htu": url, "iat": now()}
    return {
        "empty": lambda: "",
        "another_key": lambda: good_proof(web, other),
        "bad_signature": lambda: good_proof(web, key, signer=other),
        "replayed_jti": lambda: good_proof(web, key, jti=used_jti),
        "htm_get": lambda: dpop_proof(key, "GET", url),
        "htu_login": lambda: dpop_proof(key, "POST",
                                        _url(web, "/auth/login")),
        "htu_https": lambda: dpop_proof(key, "POST",
                                        "https://" + host_port +
                                        "/auth/refresh"),
        "htu_other_port": lambda: dpop_proof(
            key, "POST", f"http://127.0.0.1:{port + 1}/auth/refresh"),
        "htu_other_host": lambda: dpop_proof(
            key, "POST", f"http://localhost:{port}/auth/refresh"),
        "stale_iat": lambda: good_proof(web, key,
                                        iat=now() - 2 * IAT_WINDOW),
        "future_iat": lambda: good_proof(web, key,
                                         iat=now() + 2 * IAT_WINDOW),
        "iat_string": lambda: good_proof(web, key, claims={"iat": str(now())}),
        "no_iat": lambda: good_proof(web, key, claims={"iat": DROP}),
        "no_jti": lambda: good_proof(web, key, claims={"jti": DROP}),
        "empty_jti": lambda: good_proof(web, key, claims={"jti": ""}),
        "long_jti": lambda: good_proof(web, key, jti="j" * 129),
        "no_htm": lambda: good_proof(web, key, claims={"htm": DROP}),
        "no_htu": lambda: good_proof(web, key, claims={"htu": DROP}),
        "alg_none": lambda: good_proof(web, key, header={"alg": "none"},
                                       signature=""),
        "alg_hs256": lambda: _hs256(web, key),
        "alg_not_the_keys": lambda: good_proof(web, key,
                                               header={"alg": "RS256"}),
        "typ_jwt": lambda: good_proof(web, key, header={"typ": "JWT"}),
        "no_typ": lambda: good_proof(web, key, header={"typ": DROP}),
        "no_jwk": lambda: good_proof(web, key, header={"jwk": DROP}),
        "private_jwk": lambda: good_proof(
            web, key, header={"jwk": key.private_jwk()}),
        "header_not_json": lambda: _segments(
            b"not json", json.dumps(good_claims()).encode(), b"x" * 64),
        "claims_not_json": lambda: compact_jws(good_header, b'{"jti":', key),
        "claims_array": lambda: compact_jws(good_header, b"[]", key),
        "bad_base64_signature": lambda: good_proof(web, key)[:-3] + "+/=",
        "bad_base64_header": lambda: "e!" + good_proof(web, key),
        "two_segments": lambda: good_proof(web, key).rsplit(".", 1)[0],
        "four_segments": lambda: good_proof(web, key) + ".e30",
        "two_proofs_joined": lambda: good_proof(web, key) + ", " +
        good_proof(web, key),
    }


BAD_PROOF_CASES = sorted([
    "empty", "another_key", "bad_signature", "replayed_jti", "htm_get",
    "htu_login", "htu_https", "htu_other_port", "htu_other_host",
    "stale_iat", "future_iat", "iat_string", "no_iat", "no_jti",
    "empty_jti", "long_jti", "no_htm", "no_htu", "alg_none", "alg_hs256",
    "alg_not_the_keys", "typ_jwt", "no_typ", "no_jwk", "private_jwk",
    "header_not_json", "claims_not_json", "claims_array",
    "bad_base64_signature", "bad_base64_header", "two_segments",
    "four_segments", "two_proofs_joined"])

# What the error_description of each case must name (so that a case is
# refused for its own fault, not another's).
REASONS = {
    "empty": "required", "another_key": "key", "bad_signature": "signature",
    "replayed_jti": "used before", "htm_get": "htm", "no_htm": "htm",
    "htu_login": "htu", "htu_https": "htu", "htu_other_port": "htu",
    "htu_other_host": "htu", "no_htu": "htu", "stale_iat": "iat",
    "future_iat": "iat", "iat_string": "iat", "no_iat": "iat",
    "no_jti": "jti", "empty_jti": "jti", "long_jti": "jti",
    "alg_none": "alg", "alg_hs256": "alg", "alg_not_the_keys": "alg",
    "typ_jwt": "typ", "no_typ": "typ", "no_jwk": "key",
    "private_jwk": "key", "header_not_json": "JWS",
    "claims_not_json": "JWS", "claims_array": "JWS",
    "bad_base64_signature": "signature", "bad_base64_header": "JWS",
    "two_segments": "JWS", "four_segments": "JWS",
    "two_proofs_joined": "JWS"}


@pytest.fixture(scope="module")
def bound_session(stack, db, web):
    """One DPoP-bound session for the refused-refresh cases: a dict with
    key, token (its live refresh token, kept current) and the jti of a
    proof already accepted."""
    user = _user(stack, db)
    key = ClientKey()
    body, sid = bound_login(web, user, key)
    jti = new_jti()
    resp = refresh(web, body["refresh_token"], good_proof(web, key, jti=jti))
    token = refreshed_body(resp)["refresh_token"]
    return {"key": key, "token": token, "sid": sid, "used_jti": jti,
            "user": user}


def test_bad_proof_cases_are_all_made(web):
    """Every case name has a maker (and no maker goes untested)."""
    assert sorted(_bad_proofs(web, ClientKey(), "j")) == BAD_PROOF_CASES
    assert sorted(REASONS) == BAD_PROOF_CASES


@pytest.mark.parametrize("case", BAD_PROOF_CASES)
def test_refresh_with_bad_proof_changes_nothing(db, web, bound_session,
                                                case):
    """401 invalid_dpop_proof, the session and its tokens as they were
    (nothing consumed, nothing revoked), and the owner's next refresh with
    a good proof rotates."""
    s = bound_session
    before = snapshot(db, s["sid"])
    proof = _bad_proofs(web, s["key"], s["used_jti"])[case]()
    body = assert_dpop_refused(refresh(web, s["token"], proof))
    assert REASONS[case] in body["error_description"], body
    assert_untouched(db, s["sid"], before)
    s["token"] = rotate(web, db, s["token"], s["key"])


def test_refresh_without_proof_changes_nothing(db, web, bound_session):
    s = bound_session
    before = snapshot(db, s["sid"])
    assert_dpop_refused(refresh(web, s["token"]))
    assert_untouched(db, s["sid"], before)
    s["token"] = rotate(web, db, s["token"], s["key"])


def test_two_dpop_headers_are_refused(db, web, bound_session):
    """Two DPoP header lines (raw HTTP: requests merges them): whatever
    the web server makes of them (lighttpd joins them with ", "), never a
    proof."""
    s = bound_session
    before = snapshot(db, s["sid"])
    target = Target(web.base_url)
    body = json.dumps({"refresh_token": s["token"]}).encode()
    conn = Conn(target)
    try:
        resp = conn.exchange(request_bytes(
            target, "POST", "/auth/refresh",
            [("Content-Type", "application/json"),
             ("DPoP", good_proof(web, s["key"])),
             ("DPoP", good_proof(web, s["key"])),
             ("Connection", "close")], body))[0]
    finally:
        conn.close()
    assert resp.status == 401, (resp.status, resp.body[:300])
    assert json.loads(resp.body)["error"] == "invalid_dpop_proof", resp.body
    assert resp.headers.get("www-authenticate", "").startswith(
        WWW_DPOP_PREFIX), resp.headers
    assert_untouched(db, s["sid"], before)
    s["token"] = rotate(web, db, s["token"], s["key"])


def test_oversize_proof_changes_nothing(db, web, bound_session):
    """A DPoP header over JWS_MAX_LEN (8 KiB, as long as latch lets any
    header value be): refused, by the proof's rule (401
    invalid_dpop_proof) or by the header rule every route has (400
    invalid_request: any header value over 8 KiB), and nothing changes."""
    s = bound_session
    before = snapshot(db, s["sid"])
    proof = good_proof(web, s["key"], claims={"pad": "p" * 6200})
    assert 8192 < len(proof) < 9000, len(proof)
    resp = refresh(web, s["token"], proof)
    if resp.status_code == 400:
        assert_error(resp, 400, "invalid_request")
    else:
        assert_dpop_refused(resp)
    assert_untouched(db, s["sid"], before)
    s["token"] = rotate(web, db, s["token"], s["key"])


def test_bound_session_survives_the_refused_cases(db, web, bound_session):
    """After all of the above, the session is live, bound to its key, and
    its owner refreshes; the rows keep every invariant."""
    s = bound_session
    s["token"] = rotate(web, db, s["token"], s["key"])
    assert session_row(db, s["sid"])["revoked_at"] is None
    assert binding(db, s["sid"])[:3] == ("dpop", "ES256",
                                         s["key"].thumbprint())
    assert_invariants(db, users=f"t_{PREFIX}_%")


def test_stolen_token_is_useless_without_the_key(stack, db, web):
    """A thief holding the live refresh token and a key of their own: every
    refresh refused, the session untouched; its owner refreshes."""
    user = _user(stack, db)
    key = ClientKey()
    body, sid = bound_login(web, user, key)
    token = body["refresh_token"]
    thief = ClientKey()
    before = snapshot(db, sid)
    for _ in range(3):
        assert_dpop_refused(refresh(web, token, good_proof(web, thief)))
        assert_dpop_refused(refresh(web, token))
    assert_untouched(db, sid, before)
    rotate(web, db, token, key)


def test_token_is_judged_before_the_proof(stack, db, web):
    """A refresh whose token is not ours or has expired (garbage, another
    key's signature, an expired one of this session signed with ours)
    carrying a bad proof: 403 invalid_grant, the answer that token gets
    whatever the proof, in body and cookie delivery (the cookie cleared).
    The token's HMAC is checked first, since a proof's signature costs an
    EC or RSA verification and that token would be refused anyway; the
    proof is still checked before anything is consumed. The session is
    untouched; with its good token the same bad proof is 401
    invalid_dpop_proof."""
    user = _user(stack, db)
    key = ClientKey()
    body, sid = bound_login(web, user, key)
    token = body["refresh_token"]
    header, claims = jwt_parts(token)[:2]
    expired = dict(claims, jti=new_jti(), iat=int(time.time()) - 100,
                   exp=int(time.time()) - 10)
    tokens = {"garbage": "garbage",
              "other_key": jwt_encode(header, claims, b"x" * 32),
              "expired": jwt_encode(header, expired, stack.refresh_secret)}
    proofs = {"garbage": "garbage",
              "bad_signature": good_proof(web, key, signer=ClientKey()),
              "stale_iat": good_proof(web, key,
                                      iat=int(time.time()) - 2 * IAT_WINDOW)}
    before = snapshot(db, sid)
    for tname, bad_token in tokens.items():
        for pname, proof in proofs.items():
            case = f"token {tname}, proof {pname}"
            resp = refresh(web, bad_token, proof)
            assert resp.status_code == 403, (case, resp.text)
            assert_error(resp, 403, "invalid_grant")
            resp = web.refresh(cookie=bad_token, headers={"DPoP": proof})
            assert resp.status_code == 403, (case, resp.text)
            assert_error(resp, 403, "invalid_grant")
            assert_clears_cookie(resp)
    for pname, proof in proofs.items():
        assert_dpop_refused(refresh(web, token, proof))
    assert_untouched(db, sid, before)
    rotate(web, db, token, key)


# ---------------------------------------------------------------- unbound

def test_dpop_header_on_unbound_refresh_binds_nothing(stack, db, web):
    """An unbound session's refresh with a good proof rotates but binds
    nothing (a thief must not bind a stolen token to their key): the next
    refresh needs no proof; with a bad proof it is 401 and nothing
    changes."""
    user = _user(stack, db)
    body = json_body(login(web, user))
    token, sid = body["refresh_token"], sid_of(body["refresh_token"])
    key = ClientKey()
    resp = refresh(web, token, good_proof(web, key))
    token = refreshed_body(resp)["refresh_token"]
    assert binding(db, sid) is None, "a refresh bound the session"
    assert json_body(resp)["token_type"] == "Bearer"

    before = snapshot(db, sid)
    assert_dpop_refused(refresh(web, token, good_proof(
        web, key, iat=int(time.time()) - 2 * IAT_WINDOW)))
    assert_untouched(db, sid, before)

    token = refreshed_body(refresh(web, token))["refresh_token"]
    assert binding(db, sid) is None
    refreshed_body(refresh(web, token, good_proof(web, ClientKey())))
    assert binding(db, sid) is None


# ---------------------------------------------------------------- processes

def test_jti_replay_is_refused_across_two_processes(stack, db, web):
    """A proof accepted by one auth.fcgi process is refused by the other:
    the jti is remembered in PostgreSQL, not in a process. The same proof
    bytes are sent twice (as a thief who saw them would), the second time
    to the other process with the successor token; then the owner's
    fresh proof rotates."""
    workers = auth_responders(stack.rundir / f"web-{LIFECYCLE}" / "bin")
    assert len(workers) == 2, workers
    first, second = workers
    user = _user(stack, db)
    key = ClientKey()
    body, sid = bound_login(web, user, key)
    token = body["refresh_token"]
    proof = good_proof(web, key)
    resp = served_while_stopped(web, first,
                                 lambda: refresh(web, token, proof))
    successor = refreshed_body(resp)["refresh_token"]
    before = snapshot(db, sid)
    resp = served_while_stopped(web, second,
                                 lambda: refresh(web, successor, proof))
    assert "used before" in assert_dpop_refused(resp)["error_description"]
    assert_untouched(db, sid, before)
    # and the other way round: a proof first seen by the first
    # process, replayed at the second
    proof = good_proof(web, key)
    token = refreshed_body(served_while_stopped(
        web, second, lambda: refresh(web, successor, proof)))[
            "refresh_token"]
    before = snapshot(db, sid)
    resp = served_while_stopped(web, first,
                                 lambda: refresh(web, token, proof))
    assert "used before" in assert_dpop_refused(resp)["error_description"]
    assert_untouched(db, sid, before)
    rotate(web, db, token, key)
    assert_invariants(db, users=f"t_{PREFIX}_%")


# ---------------------------------------------------------------- rules kept

def test_htu_is_normalised(stack, db, web):
    """htu compared as a URI: scheme and host case and the query and
    fragment do not matter (RFC 9449 section 4.3)."""
    user = _user(stack, db)
    key = ClientKey()
    body, _ = bound_login(web, user, key)
    token = body["refresh_token"]
    hostport = web.base_url.split("://", 1)[1]
    for htu in ("HTTP://" + hostport.upper() + "/auth/refresh",
                web.base_url + "/auth/refresh?x=1",
                web.base_url + "/auth/refresh#frag"):
        resp = refresh(web, token, dpop_proof(key, "POST", htu))
        token = refreshed_body(resp)["refresh_token"]


def test_dpop_rotation_keeps_duplicates_and_reuse_detection(stack, db, web):
    """With good proofs a bound session rotates as any other: the same
    token again within the grace window (a retry, with a proof of its own)
    gets the same successor; a token shown after its successor was
    rotated is reuse, and the session ends (403 invalid_grant)."""
    user = _user(stack, db)
    key = ClientKey()
    body, sid = bound_login(web, user, key)
    first = body["refresh_token"]
    second = rotate(web, db, first, key)
    again = refreshed_body(refresh(web, first, good_proof(web, key)))
    assert again["refresh_token"] == second, "no duplicate in the grace"
    rotate(web, db, second, key)
    resp = refresh(web, first, good_proof(web, key))
    assert_error(resp, 403, "invalid_grant")
    row = session_row(db, sid)
    assert row["revoked_at"] is not None and \
        row["revoked_reason"] == "reuse", row
    assert_invariants(db, users=f"t_{PREFIX}_%")


# ---------------------------------------------------------------- login order

def test_bad_proof_is_judged_before_the_password(stack, db, proxy_web):
    """A bad proof with a wrong password is 401 invalid_dpop_proof, not
    invalid_credentials (the proof is checked first), and counts no login
    failure: more of them than the limits of the account (20) and of the
    account from one address (5), and the right password with a good
    proof still logs in."""
    web = AddressedClient(proxy_web)
    user = _user(stack, db)
    key = ClientKey()
    url = _url(web, "/auth/login")
    wrong = dict(user, password="wrong-" + user["password"])
    for _ in range(22):
        proof = dpop_proof(key, "POST", url, iat=int(time.time()) - 600)
        assert_dpop_refused(login(web, wrong, proof))
    resp = login(web, user, dpop_proof(key, "POST", url))
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["token_type"] == "DPoP"


def test_proof_of_a_failed_login_is_not_spent(stack, db, proxy_web):
    """The jti is recorded once the password matched: a good proof sent
    with a wrong password (401 invalid_credentials) can still serve the
    right one."""
    web = AddressedClient(proxy_web)
    user = _user(stack, db)
    key = ClientKey()
    proof = dpop_proof(key, "POST", _url(web, "/auth/login"))
    wrong = dict(user, password="wrong-" + user["password"])
    assert_error(login(web, wrong, proof), 401, "invalid_credentials")
    resp = login(web, user, proof)
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["token_type"] == "DPoP"
    assert_dpop_refused(login(web, user, proof))    # and now it is spent


def test_untrusted_forwarded_proto_does_not_change_htu(stack, db, web):
    """The lifecycle web trusts no proxy: X-Forwarded-Proto: https from
    the client is ignored, so the htu is still http://..."""
    user = _user(stack, db)
    key = ClientKey()
    https = "https://" + web.base_url.split("://", 1)[1] + "/auth/login"
    fwd = {"X-Forwarded-Proto": "https"}
    assert_dpop_refused(login(web, user, dpop_proof(key, "POST", https),
                              headers=fwd))
    resp = login(web, user, dpop_proof(key, "POST", _url(web, "/auth/login")),
                 headers=fwd)
    assert resp.status_code == 200, resp.text


def test_dpop_cookie_login_binds_too(stack, db, web):
    """A DPoP header binds whatever the delivery: a cookie login with a
    proof is bound (token_type DPoP), its cookie refresh without a proof
    is 401 invalid_dpop_proof and leaves the cookie alone (no Set-Cookie:
    nothing changes), and with a proof it rotates the cookie."""
    user = _user(stack, db)
    key = ClientKey()
    resp = web.login(username=user["username"], password=user["password"],
                     headers={"DPoP": dpop_proof(key, "POST",
                                                 _url(web, "/auth/login"))})
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["token_type"] == "DPoP"
    token, _ = refresh_cookie(resp)
    sid = sid_of(token)
    assert binding(db, sid)[0] == "dpop"
    before = snapshot(db, sid)
    resp = web.refresh(cookie=token)
    assert_dpop_refused(resp)
    assert set_cookie_headers(resp) == [], set_cookie_headers(resp)
    assert_untouched(db, sid, before)
    resp = web.refresh(cookie=token, headers={"DPoP": good_proof(web, key)})
    assert resp.status_code == 200, resp.text
    successor, _ = refresh_cookie(resp)
    assert sid_of(successor) == sid and successor != token
