"""Issue 14, browsers: the DBSC protocol (W3C webappsec-dbsc, as Chromium
speaks it: ../shared/notes/dbsc.md) driven without a browser, with proofs
made in Python (proofs.py), over real HTTPS: recipe lighttpd-tls (the
shipped lighttpd files, a CA made for the start), once for this module,
with a 3 s DBSC_COOKIE_LIFETIME and a 1 s REFRESH_REUSE_GRACE so that a
cookie's life and the grace window can be waited out.

What is checked is API.md "Sender-constrained sessions" and the lead's
contract: the registration offer on a cookie login over HTTPS (and on no
other), registration (binding, rotation, the session instructions, the
short cookie), the DBSC refresh (403 + challenge without a proof, 200 +
cookie + next challenge with one, 403 and nothing changed for every bad
proof, 401 with the clearing cookie once the session has ended), and
POST /auth/refresh of a bound session, which never extends it, not even
on a binary from before migration 011 during a rolling upgrade (its
eleven-argument latch_refresh called through psycopg2; migration 012).
A few tests use CGI webs behind a "trusted proxy" (X-Forwarded-Proto:
https) for settings the recipe does not have (DBSC off, a 10 s grace).

An expired challenge would take 120 s (a registration challenge) or
DBSC_COOKIE_LIFETIME + 120 s (a refresh challenge) to come by;
the test makes one instead, as latch does (lib/dbsc.h: "<exp>.<random>.
<mac>", HMAC-SHA-256 under HKDF(refresh key, "latch dbsc registration
challenge v1" or "latch dbsc refresh challenge v1") of "sid NUL exp NUL
random"), and first shows that an unexpired one made so is accepted, so
that the refusal is the expiry's."""

import hashlib
import hmac
import re
import secrets
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from conftest import (BIN_DIR, INSTANCE, assert_invariants, create_user,
                      main_port, run_stack, session_row, token_rows)
from deploy_smoke import recipe_env
from latchlib import (SECURE_COOKIE_NAME, Client, assert_clears_cookie,
                      assert_ctl_ok, assert_ctl_refused, assert_error,
                      assert_no_store, b64url_encode, claims_of, json_body,
                      jwt_encode, jwt_parts, refresh_cookie, run_latchctl,
                      set_cookie_headers, sid_of, token_hash)
from pinning import auth_responders, served_while_stopped
from proofs import (DROP, ClientKey, binding, canonical_jwk, dbsc_proof,
                    dpop_proof, parse_challenge, parse_registration)

KIND = "lighttpd-tls"
# The recipe's https port (and +1, its redirecting http socket): the main
# web's port + 1 and + 2, among the browser tests' webs (1..9), which are
# up one module at a time as this one is (test_browser_dbsc.py runs the
# same recipe on + 5 and + 6; recipe-down before recipe-up makes a
# leftover of either harmless).
TLS_OFFSET = 1
LIFETIME = 3              # DBSC_COOKIE_LIFETIME of the recipe, seconds
GRACE = 1                 # REFRESH_REUSE_GRACE of the recipe, seconds
CHALLENGE_SLACK = 120     # lib/dbsc.h DBSC_CHALLENGE_SLACK
REFRESH_EXPIRES = 7 * 24 * 3600
PREFIX = "dbscp"
REGISTER = "/auth/dbsc/register"
DBSC_REFRESH = "/auth/dbsc/refresh"
COOKIE_ATTRIBUTES = "Path=/auth; HttpOnly; Secure; SameSite=Strict"


@pytest.fixture(scope="module")
def tls(stack):
    """A Client of the recipe's https origin (trusting its CA)."""
    port = main_port(stack) + TLS_OFFSET
    env = recipe_env()
    run_stack("recipe-down", INSTANCE, KIND, env=env)  # leftovers of a crash
    proc = run_stack("recipe-up", INSTANCE, KIND, str(port), "BCRYPT_COST=4",
                     f"DBSC_COOKIE_LIFETIME={LIFETIME}s",
                     f"REFRESH_REUSE_GRACE={GRACE}s", env=env)
    assert proc.returncode == 0, \
        f"recipe-up {KIND} failed: {proc.stderr.decode()[-3000:]}"
    base_url = proc.stdout.decode().strip().rpartition("BASE_URL=")[2]
    assert base_url == f"https://127.0.0.1:{port}", proc.stdout
    ca = stack.rundir / f"recipe-{KIND}" / "tls" / "ca.pem"
    try:
        yield Client(base_url, verify=str(ca))
    finally:
        down = run_stack("recipe-down", INSTANCE, KIND, env=env)
        assert down.returncode == 0, down.stderr.decode()[-2000:]


# ---------------------------------------------------------------- helpers

PROXY_SETTINGS = {"COOKIE_SECURE": "1", "BCRYPT_COST": "4",
                  "TRUSTED_PROXIES": "127.0.0.1",
                  "DBSC_COOKIE_LIFETIME": f"{LIFETIME}s",
                  # the recipe's grace, so that assert_invariants holds
                  # for this file's users whichever web they used
                  "REFRESH_REUSE_GRACE": f"{GRACE}s"}


GRACE_PREFIX = "dbscg"     # users of grace_web (not LIKE 't_dbscp_%')


def grace_web(harden_web):
    """A CGI web behind an https proxy with the default 10 s grace: a
    duplicate is surely inside its window, however loaded the machine."""
    return harden_web("dbscgrace", 48, **dict(PROXY_SETTINGS,
                                              REFRESH_REUSE_GRACE="10s"))


class HttpsProxyClient(Client):
    """A Client of a web that trusts 127.0.0.1 as its proxy, every request
    saying X-Forwarded-Proto: https, as a TLS-terminating proxy does: its
    origin is https://. (Host is sent explicitly: a CGI web sees only the
    headers requests puts in the request, and requests adds Host later.)"""

    def __init__(self, base_url):
        super().__init__(base_url)
        self.origin = "https://" + base_url.split("://", 1)[1]

    def request(self, method, path, body=None, content_type=None,
                headers=None, json_body=None):
        hdrs = {"X-Forwarded-Proto": "https",
                "Host": self.base_url.split("://", 1)[1]}
        hdrs.update(headers or {})
        return super().request(method, path, body=body,
                               content_type=content_type, headers=hdrs,
                               json_body=json_body)


def origin_of(client):
    return getattr(client, "origin", client.base_url)


def browser_headers(client, cookie=None):
    """What Chromium's DBSC requests carry besides the DBSC headers (and
    an empty body, no Content-Type), as Chromium 156 sends them."""
    hdrs = {"Origin": origin_of(client), "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "empty"}
    if cookie is not None:
        hdrs["Cookie"] = f"{SECURE_COOKIE_NAME}={cookie}"
    return hdrs


def cookie_login(client, user, headers=None):
    """A cookie login: (answer, access token, refresh cookie, offer or
    None)."""
    resp = client.login(username=user["username"], password=user["password"],
                        headers=headers)
    assert resp.status_code == 200, resp.text
    token, _ = refresh_cookie(resp, secure=True)
    offer = resp.headers.get("Secure-Session-Registration")
    return (resp, json_body(resp)["access_token"], token,
            None if offer is None else parse_registration(offer))


def register(client, cookie, proof):
    hdrs = browser_headers(client, cookie)
    if proof is not None:
        hdrs["Secure-Session-Response"] = proof
    return client.request("POST", REGISTER, headers=hdrs)


def dbsc_refresh(client, sid, cookie=None, proof=None):
    hdrs = browser_headers(client, cookie)
    hdrs["Sec-Secure-Session-Id"] = sid
    if proof is not None:
        hdrs["Secure-Session-Response"] = proof
    return client.request("POST", DBSC_REFRESH, headers=hdrs)


def challenge_of(resp, sid):
    """The Secure-Session-Challenge of resp, which must name sid."""
    value = resp.headers.get("Secure-Session-Challenge")
    assert value is not None, f"no challenge: {resp.status_code} " \
        f"{dict(resp.headers)}"
    parsed = parse_challenge(value)
    assert parsed["id"] == sid and parsed["params"] == {"id": sid}, value
    assert 1 <= len(parsed["challenge"]) <= 96, value
    return parsed["challenge"]


def set_cookie_attributes(resp):
    """(token, Max-Age, attributes without Max-Age) of the one refresh
    Set-Cookie of resp."""
    token, max_age = refresh_cookie(resp, secure=True)
    line = [c for c in set_cookie_headers(resp)
            if c.startswith(SECURE_COOKIE_NAME + "=")]
    assert len(line) == 1, set_cookie_headers(resp)
    attrs = [a.strip() for a in line[0].split(";")[1:]]
    kept = "; ".join(a for a in attrs if not a.lower().startswith("max-age="))
    return token, max_age, kept


def assert_instructions(client, resp, sid):
    """resp is the 200 of a registration or refresh: JSON, no-store, a
    short cookie, the next challenge, the session instructions exactly
    as the contract writes them. Returns (new cookie, next challenge)."""
    assert resp.status_code == 200, f"{resp.status_code} {resp.text[:300]}"
    body = json_body(resp)
    assert_no_store(resp)
    token, max_age, attributes = set_cookie_attributes(resp)
    assert max_age == LIFETIME, f"cookie Max-Age {max_age}"
    assert attributes == COOKIE_ATTRIBUTES, attributes
    assert sid_of(token) == sid
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] <= LIFETIME, claims
    assert abs(claims["exp"] - (time.time() + LIFETIME)) <= 2, claims
    assert set(body) == {"session_identifier", "refresh_url", "scope",
                         "credentials"}, body
    assert body["session_identifier"] == sid, body
    assert body["refresh_url"] == DBSC_REFRESH, body
    scope = body["scope"]
    assert set(scope) == {"origin", "include_site", "scope_specification"}, \
        scope
    assert scope["origin"] == origin_of(client), scope
    assert scope["include_site"] is False, scope
    rules = scope["scope_specification"]
    assert isinstance(rules, list) and rules, scope
    for rule in rules:
        assert set(rule) == {"type", "domain", "path"}, rule
        assert rule["type"] in ("include", "exclude"), rule
        assert rule["domain"] == "127.0.0.1", rule
    includes = [r["path"] for r in rules if r["type"] == "include"]
    # only /auth/ is in scope: the origin (the default scope) excluded
    # first, then paths under /auth/ included. Chromium lets the last
    # matching rule win (measured with Chromium 156 for issue 14): an
    # include before the exclude of / would be undone by it.
    assert rules[0] == {"type": "exclude", "domain": "127.0.0.1",
                        "path": "/"}, rules
    assert includes and all(p.startswith("/auth/") for p in includes), rules
    # (an exclude of a path under /auth/, such as the refresh URL's, is
    # harmless: Chromium adds that one itself)
    assert all(r["path"].startswith("/auth/") for r in rules[1:]), rules
    assert body["credentials"] == [{
        "type": "cookie", "name": SECURE_COOKIE_NAME,
        "attributes": attributes}], body
    return token, challenge_of(resp, sid)


def snapshot(db, sid):
    return session_row(db, sid), token_rows(db, sid), binding(db, sid)


def assert_untouched(db, sid, before):
    now = snapshot(db, sid)
    assert now[0]["revoked_at"] is None, now[0]
    assert now == before, "a refused request changed the session"


def token_expiry(db, token):
    return token_expiry_of_hash(db, token_hash(token))


def token_expiry_of_hash(db, digest):
    return db.scalar("SELECT expires_at FROM refresh_tokens "
                     "WHERE token_hash = %s", (digest,))


def assert_retry(resp, sid):
    """403 asking for a (new) proof: its fresh challenge."""
    assert resp.status_code == 403, f"{resp.status_code} {resp.text[:300]}"
    assert_no_store(resp)
    return challenge_of(resp, sid)


WWW_REFUSED = re.compile(r'Bearer realm="latch", error="invalid_grant", '
                         r'error_description="[^"\\]+"')


def assert_refused_401(resp):
    """401 invalid_grant whose WWW-Authenticate names the error (API.md:
    every 401 carries Bearer realm="latch", with error and
    error_description when a credential was presented and refused: a
    DBSC refresh always presents a session id)."""
    body = assert_error(resp, 401, "invalid_grant")
    www = resp.headers.get("WWW-Authenticate", "")
    assert WWW_REFUSED.fullmatch(www), f"WWW-Authenticate {www!r}"
    assert f'error_description="{body["error_description"]}"' in www, www
    return body


def assert_ended(resp):
    """401 invalid_grant with the clearing cookie: the browser ends its
    DBSC session."""
    assert_refused_401(resp)
    assert_clears_cookie(resp, secure=True)


class Browser:
    """A DBSC browser's state for one session: its key, its cookie, the
    challenge it cached."""

    def __init__(self, client, user, alg="ES256"):
        self.client = client
        self.key = ClientKey(alg)
        _, self.access, self.cookie, offer = cookie_login(client, user)
        assert offer is not None, "no registration offered"
        self.sid = sid_of(self.cookie)
        self.offer = offer
        self.challenge = None

    def register(self):
        self.registration_proof = dbsc_proof(self.key,
                                             self.offer["challenge"])
        resp = register(self.client, self.cookie, self.registration_proof)
        self.cookie, self.challenge = assert_instructions(
            self.client, resp, self.sid)
        return resp

    def proof(self, challenge=None):
        return dbsc_proof(self.key, challenge or self.challenge,
                          registration=False)

    def refresh(self, send_cookie=True):
        resp = dbsc_refresh(self.client, self.sid,
                            self.cookie if send_cookie else None,
                            self.proof())
        self.cookie, self.challenge = assert_instructions(
            self.client, resp, self.sid)
        return resp


def _user(stack, db):
    return create_user(stack, db, prefix=PREFIX)


CHALLENGE_LABELS = {"registration": b"latch dbsc registration challenge v1",
                    "refresh": b"latch dbsc refresh challenge v1"}


def make_challenge(stack, sid, exp, purpose):
    """A challenge as lib/dbsc.c makes it, for session sid, expiring at
    exp (Unix seconds), for purpose "registration" (what a login offers)
    or "refresh" (what the DBSC routes hand out), under the stack's
    refresh signing key."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=CHALLENGE_LABELS[purpose]).derive(stack.refresh_secret)
    rnd = b64url_encode(secrets.token_bytes(16))
    msg = sid.encode() + b"\0" + str(exp).encode() + b"\0" + rnd.encode()
    mac = b64url_encode(hmac.new(key, msg, hashlib.sha256).digest())
    return f"{exp}.{rnd}.{mac}"


# ---------------------------------------------------------------- offer

def test_cookie_login_over_https_offers_registration(stack, db, tls):
    """Secure-Session-Registration: (ES256 RS256);path="/auth/dbsc/
    register";challenge="..." on a cookie login over HTTPS, a challenge
    of latch's shape, new for every login."""
    user = _user(stack, db)
    resp, _, token, offer = cookie_login(tls, user)
    assert offer is not None, dict(resp.headers)
    raw = resp.headers["Secure-Session-Registration"]
    assert offer["algs"] == ["ES256", "RS256"], raw
    assert offer["path"] == REGISTER, raw
    assert set(offer["params"]) == {"path", "challenge"}, raw
    assert re.fullmatch(r"[0-9]{1,12}\.[A-Za-z0-9_-]{1,31}\.[A-Za-z0-9_-]{43}",
                        offer["challenge"]), raw
    exp = int(offer["challenge"].split(".")[0])
    # A registration challenge lives the slack alone (lib/dbsc.h).
    assert abs(exp - (time.time() + CHALLENGE_SLACK)) <= 3, raw
    assert binding(db, sid_of(token)) is None, "bound before registering"
    _, _, _, again = cookie_login(tls, user)
    assert again["challenge"] != offer["challenge"]


def test_no_offer_without_https_cookie_login(stack, db, tls, web):
    """No registration offer on a plain-http cookie login, a body-delivery
    login over https, or a DPoP login over https (cookie or body
    delivery)."""
    user = _user(stack, db)
    resp = web.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    assert "Secure-Session-Registration" not in resp.headers

    resp = tls.login(username=user["username"], password=user["password"],
                     token_delivery="body")
    assert resp.status_code == 200, resp.text
    assert "Secure-Session-Registration" not in resp.headers

    key = ClientKey()
    for delivery in (None, "body"):
        resp = tls.login(username=user["username"],
                         password=user["password"], token_delivery=delivery,
                         headers={"DPoP": dpop_proof(
                             key, "POST", tls.base_url + "/auth/login")})
        assert resp.status_code == 200, resp.text
        assert "Secure-Session-Registration" not in resp.headers, delivery
        assert json_body(resp)["token_type"] == "DPoP", delivery


def test_dbsc_routes_are_https_only(stack, db, web):
    """Over plain http (the lifecycle web) neither DBSC route exists: 404,
    whatever the request carries."""
    user = _user(stack, db)
    resp = web.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    token, _ = refresh_cookie(resp)
    for path in (REGISTER, DBSC_REFRESH):
        resp = web.request("POST", path, headers={
            "Cookie": f"refresh_token={token}",
            "Sec-Secure-Session-Id": sid_of(token),
            "Secure-Session-Response": dbsc_proof(ClientKey(), "c")})
        assert_error(resp, 404, "not_found")
    assert binding(db, sid_of(token)) is None


# ---------------------------------------------------------------- register

@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_registration_binds_and_answers_instructions(stack, db, tls, alg):
    """Registration with a proof of the offered challenge binds the session
    (kind dbsc, the key's alg, its thumbprint and canonical key), rotates
    the refresh token to a short one (DBSC_COOKIE_LIFETIME) and answers
    the session instructions with the next challenge; GET /auth/sessions
    says binding "dbsc"."""
    user = _user(stack, db)
    b = Browser(tls, user, alg)
    first = b.cookie
    b.register()
    assert binding(db, b.sid) == ("dbsc", alg, b.key.thumbprint(),
                                  canonical_jwk(b.key.public_jwk()).decode())
    rows = token_rows(db, b.sid)
    assert len(rows) == 2 and rows[0][1] == token_hash(first) and \
        rows[0][2] is not None and rows[1][1] == token_hash(b.cookie), rows
    assert b.challenge != b.offer["challenge"]
    left = (token_expiry(db, b.cookie).timestamp() - time.time())
    assert 0 < left <= LIFETIME + 1, left
    resp = tls.sessions(b.access)
    assert resp.status_code == 200, resp.text
    ours = [s for s in json_body(resp)["sessions"] if s["id"] == b.sid]
    assert len(ours) == 1 and ours[0]["binding"] == "dbsc", ours
    b.refresh()                                  # and the key refreshes


def _refused_registration(resp, sid):
    """A refused registration: 400 invalid_request, or 403 with a fresh
    challenge (the contract allows both)."""
    if resp.status_code == 403:
        return assert_retry(resp, sid)
    assert_error(resp, 400, "invalid_request")
    return None


def _bad_registrations(stack, b, other_sid):
    key, c = b.key, b.offer["challenge"]
    return {
        "no_proof": None,
        "garbage": "not a jws",
        "alg_none": dbsc_proof(key, c, header={"alg": "none"}, signature=""),
        "eddsa_key": dbsc_proof(ClientKey("EdDSA"), c),
        "no_jwk": dbsc_proof(key, c, registration=False),
        "private_jwk": dbsc_proof(key, c, header={"jwk": key.private_jwk()}),
        "typ_dpop": dbsc_proof(key, c, header={"typ": "dpop+jwt"}),
        "no_typ": dbsc_proof(key, c, header={"typ": DROP}),
        "bad_signature": dbsc_proof(key, c, signer=ClientKey()),
        "no_jti": dbsc_proof(key, c, claims={"jti": DROP}),
        "jti_number": dbsc_proof(key, c, claims={"jti": 7}),
        "unknown_challenge": dbsc_proof(key, c[:-4] + "AAAA"),
        "other_sessions_challenge": dbsc_proof(key, make_challenge(
            stack, other_sid, int(time.time()) + 60, "registration")),
        "expired_challenge": dbsc_proof(key, make_challenge(
            stack, b.sid, int(time.time()) - 1, "registration")),
        "refresh_challenge": dbsc_proof(key, make_challenge(
            stack, b.sid, int(time.time()) + 60, "refresh")),
    }


BAD_REGISTRATIONS = sorted([
    "no_proof", "garbage", "alg_none", "eddsa_key", "no_jwk", "private_jwk",
    "typ_dpop", "no_typ", "bad_signature", "no_jti", "jti_number",
    "unknown_challenge", "other_sessions_challenge", "expired_challenge",
    "refresh_challenge"])


def test_bad_registrations_change_nothing(stack, db, tls):
    """Every bad registration is refused (400 invalid_request or 403 +
    challenge), binds nothing and rotates nothing; the good one then
    works."""
    user = _user(stack, db)
    other = Browser(tls, user)
    b = Browser(tls, user)
    cases = _bad_registrations(stack, b, other.sid)
    assert sorted(cases) == BAD_REGISTRATIONS
    failed = []
    for name in BAD_REGISTRATIONS:
        before = snapshot(db, b.sid)
        resp = register(tls, b.cookie, cases[name])
        try:
            _refused_registration(resp, b.sid)
            assert_untouched(db, b.sid, before)
        except AssertionError as exc:
            failed.append(f"{name}: {exc}")
    assert not failed, "\n".join(failed)
    b.register()


def test_made_challenge_is_accepted(stack, db, tls):
    """The test's own challenges (the shape and MAC of lib/dbsc.c, an
    expiry a minute ahead) register and refresh: so the refusal of an
    expired one made alike is the expiry's, and that of one made for the
    other purpose is the purpose's."""
    user = _user(stack, db)
    b = Browser(tls, user)
    made = make_challenge(stack, b.sid, int(time.time()) + 60,
                          "registration")
    resp = register(tls, b.cookie, dbsc_proof(b.key, made))
    b.cookie, b.challenge = assert_instructions(tls, resp, b.sid)
    assert binding(db, b.sid)[0] == "dbsc"
    b.challenge = make_challenge(stack, b.sid, int(time.time()) + 60,
                                 "refresh")
    b.refresh()


def test_refresh_route_challenge_never_registers(stack, db, tls):
    """A thief with a copied cookie of an unbound session (a browser that
    ignored the offer) gets a challenge from the refresh route's 403 for
    that session; a registration over it is refused and binds nothing:
    only a challenge a login offered registers a key."""
    user = _user(stack, db)
    victim = Browser(tls, user)             # never registers
    resp = dbsc_refresh(tls, victim.sid, victim.cookie)
    if resp.status_code == 403:
        asked = challenge_of(resp, victim.sid)
        before = snapshot(db, victim.sid)
        thief = ClientKey()
        _refused_registration(register(tls, victim.cookie,
                                       dbsc_proof(thief, asked)),
                              victim.sid)
        assert_untouched(db, victim.sid, before)
    else:
        assert_ended(resp)          # or no challenge for it at all
    assert binding(db, victim.sid) is None


def test_registration_needs_the_live_cookie(stack, db, tls):
    """No cookie, a cookie of nothing, or the session's rotated token:
    403 invalid_grant, nothing bound."""
    user = _user(stack, db)
    b = Browser(tls, user)
    proof = dbsc_proof(b.key, b.offer["challenge"])
    assert_error(register(tls, None, proof), 403, "invalid_grant")
    assert_error(register(tls, "x.y.z", proof), 403, "invalid_grant")
    old = b.cookie
    resp = tls.refresh(cookie=old, secure=True)
    assert resp.status_code == 200, resp.text
    b.cookie, _ = refresh_cookie(resp, secure=True)
    before = snapshot(db, b.sid)
    assert_error(register(tls, old, proof), 403, "invalid_grant")
    assert binding(db, b.sid) is None
    assert_untouched(db, b.sid, before)


def test_second_registration_is_refused(stack, db, tls):
    """A bound session stays bound to its key: registering another key,
    with the cookie and a current registration challenge of the session
    (so that only the binding can refuse it: latch_refresh's check of the
    key against session_keys), is 400 "bound to another key" and changes
    nothing; the first key still refreshes."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    before = snapshot(db, b.sid)
    thief = ClientKey()
    fresh = make_challenge(stack, b.sid, int(time.time()) + 60,
                           "registration")
    resp = register(tls, b.cookie, dbsc_proof(thief, fresh))
    assert_error(resp, 400, "invalid_request")
    assert "bound to another key" in json_body(resp)["error_description"], \
        resp.text
    assert set_cookie_headers(resp) == [], "a cookie for the thief's key"
    assert_untouched(db, b.sid, before)
    # not refused as a replay: the challenge was not spent (its single-use
    # id as lib/dbsc.c makes it: SHA-256 of "dbsc" NUL and the challenge)
    def spent(challenge):
        return db.scalar("SELECT count(*) FROM proofs_seen"
                         " WHERE proof_hash = %s", (hashlib.sha256(
                             b"dbsc\0" + challenge.encode()).digest(),))
    assert spent(b.offer["challenge"]) == 1, "the id is made otherwise"
    assert spent(fresh) == 0
    b.refresh()
    # the first registration's proof sent again: its challenge is spent
    before = snapshot(db, b.sid)
    resp = register(tls, b.cookie, b.registration_proof)
    assert resp.status_code in (400, 403), resp.text
    assert_untouched(db, b.sid, before)
    b.refresh()


# ---------------------------------------------------------------- refresh

def test_refresh_without_proof_asks_for_one(stack, db, tls):
    """No Secure-Session-Response: 403 dbsc_proof_required with a fresh
    challenge, nothing changed; a proof of that challenge then rotates,
    and the 200's challenge serves the next refresh at once."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    before = snapshot(db, b.sid)
    resp = dbsc_refresh(tls, b.sid, b.cookie)
    assert_error(resp, 403, "dbsc_proof_required")
    asked = challenge_of(resp, b.sid)
    assert asked != b.challenge
    assert_untouched(db, b.sid, before)

    b.challenge = asked
    idle_before = session_row(db, b.sid)["idle_expires_at"]
    old = b.cookie
    b.refresh()
    rows = token_rows(db, b.sid)
    assert rows[-2][1] == token_hash(old) and rows[-2][2] is not None
    assert rows[-1][1] == token_hash(b.cookie)
    idle = session_row(db, b.sid)["idle_expires_at"]
    assert idle >= idle_before
    assert abs(idle.timestamp() - (time.time() + REFRESH_EXPIRES)) <= 5, idle
    b.refresh()
    b.refresh(send_cookie=False)                # a browser that dropped it


def _bad_refresh_proofs(stack, b, other):
    now = int(time.time())
    return {
        "replayed_challenge": b.proof(b.used),
        "other_sessions_challenge": b.proof(other.challenge),
        "expired_challenge": b.proof(make_challenge(stack, b.sid, now - 1,
                                                    "refresh")),
        "registration_challenge": b.proof(make_challenge(
            stack, b.sid, now + 60, "registration")),
        "unknown_challenge": b.proof(b.challenge[:-4] + "AAAA"),
        "other_key": dbsc_proof(ClientKey(), b.challenge,
                                registration=False),
        "other_key_with_jwk": dbsc_proof(ClientKey(), b.challenge),
        "other_sessions_key": other.proof(b.challenge),
        "bad_signature": dbsc_proof(b.key, b.challenge, registration=False,
                                    signer=ClientKey()),
        "alg_none": dbsc_proof(b.key, b.challenge, registration=False,
                               header={"alg": "none"}, signature=""),
        "typ_dpop": dbsc_proof(b.key, b.challenge, registration=False,
                               header={"typ": "dpop+jwt"}),
        "garbage": "garbage",
    }


BAD_REFRESHES = sorted([
    "replayed_challenge", "other_sessions_challenge", "expired_challenge",
    "registration_challenge", "unknown_challenge", "other_key",
    "other_key_with_jwk", "other_sessions_key", "bad_signature", "alg_none",
    "typ_dpop", "garbage"])


def test_bad_refresh_proofs_change_nothing(stack, db, tls):
    """Every failing proof: 403 with a fresh challenge, nothing changed
    (tokens, session, binding); the browser's good proof then rotates."""
    user = _user(stack, db)
    other = Browser(tls, user)
    other.register()
    b = Browser(tls, user)
    b.register()
    b.used = b.challenge
    b.refresh()                       # b.used is now spent
    cases = _bad_refresh_proofs(stack, b, other)
    assert sorted(cases) == BAD_REFRESHES
    failed = []
    for name in BAD_REFRESHES:
        before = snapshot(db, b.sid)
        resp = dbsc_refresh(tls, b.sid, b.cookie, cases[name])
        try:
            fresh = assert_retry(resp, b.sid)
            assert fresh not in (b.used, b.challenge), "a spent challenge"
            assert set_cookie_headers(resp) == [], "a cookie on a 403"
            assert_untouched(db, b.sid, before)
        except AssertionError as exc:
            failed.append(f"{name}: {exc}")
    assert not failed, "\n".join(failed)
    b.refresh()
    other.refresh()
    assert_invariants(db, grace=f"{GRACE}s", users=f"t_{PREFIX}_%")


def test_refresh_of_unknown_or_unbound_session(stack, db, tls):
    """An unknown session id: 401 with the clearing cookie. An unbound
    session's DBSC refresh with a proof: not 200, nothing changed."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    assert_ended(dbsc_refresh(tls, "00000000-0000-4000-8000-000000000000",
                              None, b.proof()))
    unbound = Browser(tls, user)
    before = snapshot(db, unbound.sid)
    challenge = make_challenge(stack, unbound.sid, int(time.time()) + 60,
                               "refresh")
    resp = dbsc_refresh(tls, unbound.sid, unbound.cookie,
                        unbound.proof(challenge))
    assert resp.status_code in (401, 403), resp.text
    assert_untouched(db, unbound.sid, before)


def test_dbsc_refresh_with_a_grace_duplicate_cookie(stack, db, harden_web):
    """The page's refresh rotated the cookie just before the browser's
    signed refresh went out with the previous one (a grace duplicate):
    the signed refresh still rotates the session's live token and gives
    a cookie of a full lifetime. On the 10 s grace web (see
    test_predecessor_in_grace_gets_no_longer_life), so that the previous
    cookie is surely inside the window."""
    client = HttpsProxyClient(grace_web(harden_web))
    user = create_user(stack, db, prefix=GRACE_PREFIX)
    b = Browser(client, user)
    b.register()
    previous = b.cookie
    resp = client.refresh(cookie=previous, secure=True)
    assert resp.status_code == 200, resp.text
    live, _ = refresh_cookie(resp, secure=True)
    resp = dbsc_refresh(client, b.sid, previous, b.proof())
    assert resp.status_code == 200, resp.text
    got, _ = refresh_cookie(resp, secure=True)
    assert got != live, "the signed refresh answered the grace duplicate " \
        "(the page's successor, no longer-lived) instead of rotating it"
    rows = token_rows(db, b.sid)
    assert rows[-2][1] == token_hash(live) and rows[-2][2] is not None, \
        "the live token was not the one rotated"
    assert rows[-1][1] == token_hash(got)
    b.cookie, b.challenge = assert_instructions(client, resp, b.sid)
    b.refresh()
    assert_invariants(db, users=f"t_{GRACE_PREFIX}_%")


def test_dbsc_refresh_with_a_reused_cookie_ends_the_session(stack, db, tls):
    """A signed refresh carrying a cookie rotated longer ago than the
    grace window: reuse detection, as on /auth/refresh: 401 with the
    clearing cookie, the session revoked for reuse."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    old = b.cookie
    b.refresh()
    time.sleep(GRACE + 0.4)
    assert_ended(dbsc_refresh(tls, b.sid, old, b.proof()))
    row = session_row(db, b.sid)
    assert row["revoked_at"] is not None and \
        row["revoked_reason"] == "reuse", row
    assert_ended(dbsc_refresh(tls, b.sid, b.cookie, b.proof()))


def test_challenge_replay_is_refused_across_two_processes(stack, db, tls):
    """A challenge spent at one auth.fcgi process of the recipe is refused
    at the other (proofs_seen, not a process's memory): the same proof
    bytes, sent to the other process with the new cookie, get 403 with a
    fresh challenge and change nothing."""
    workers = auth_responders(stack.rundir / f"recipe-{KIND}" / "bin")
    assert len(workers) == 2, workers
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    for stopped, other in (workers, workers[::-1]):
        proof = b.proof()
        resp = served_while_stopped(
            tls, stopped, lambda: dbsc_refresh(tls, b.sid, b.cookie, proof))
        b.cookie, b.challenge = assert_instructions(tls, resp, b.sid)
        before = snapshot(db, b.sid)
        resp = served_while_stopped(
            tls, other, lambda: dbsc_refresh(tls, b.sid, b.cookie, proof))
        assert_retry(resp, b.sid)
        assert "used before" in json_body(resp)["error_description"], \
            resp.text
        assert_untouched(db, b.sid, before)
    b.refresh()


# ---------------------------------------------------------------- cookies

def test_page_refresh_of_bound_session_never_extends(stack, db, tls):
    """POST /auth/refresh with the bound cookie rotates, but the successor
    expires no later than the presented token (cookie Max-Age, token exp
    and row alike), and the session's idle expiry stays."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    token = b.cookie
    for _ in range(3):
        exp = token_expiry(db, token)
        idle = session_row(db, b.sid)["idle_expires_at"]
        time.sleep(0.3)
        resp = tls.refresh(cookie=token, secure=True)
        assert resp.status_code == 200, resp.text
        successor, max_age = refresh_cookie(resp, secure=True)
        assert "Secure-Session-Registration" not in resp.headers
        assert token_expiry(db, successor) <= exp
        assert claims_of(successor)["exp"] <= claims_of(token)["exp"]
        assert max_age <= LIFETIME
        assert session_row(db, b.sid)["idle_expires_at"] == idle
        token = successor


def test_copied_cookie_dies_after_one_lifetime(stack, db, tls):
    """A thief copies the cookie right after a signed refresh and keeps
    refreshing it with POST /auth/refresh: it works until that cookie's
    expiry and never after. The browser, whose cookie has expired and is
    gone, refreshes with its key alone and keeps its session."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    b.refresh()
    stolen = b.cookie
    deadline = claims_of(stolen)["exp"]
    rotations = 0
    for _ in range(4 * LIFETIME):
        if time.time() >= deadline - 1.0:
            break
        resp = tls.refresh(cookie=stolen, secure=True)
        assert resp.status_code == 200, resp.text
        stolen, _ = refresh_cookie(resp, secure=True)
        assert claims_of(stolen)["exp"] <= deadline
        rotations += 1
        time.sleep(0.5)
    assert rotations >= 1
    time.sleep(max(0.0, deadline + 1.1 - time.time()))
    resp = tls.refresh(cookie=stolen, secure=True)
    assert_error(resp, 403, "invalid_grant")
    assert session_row(db, b.sid)["revoked_at"] is None

    b.refresh(send_cookie=False)
    b.refresh()
    assert session_row(db, b.sid)["revoked_at"] is None
    assert_error(tls.refresh(cookie=stolen, secure=True), 403,
                 "invalid_grant")
    assert_invariants(db, grace=f"{GRACE}s", users=f"t_{PREFIX}_%")


def test_predecessor_in_grace_gets_no_longer_life(stack, db, harden_web):
    """A copy of the cookie presented to POST /auth/refresh just after the
    browser's signed refresh rotated it (inside REFRESH_REUSE_GRACE: a
    duplicate) gets nothing that outlives the copy: the page's refresh
    never extends a bound session. On a CGI web behind an https proxy
    with the default 10 s grace, so that the copy is surely inside it (its
    users are not this file's others: their invariants take a 1 s
    grace)."""
    user = create_user(stack, db, prefix=GRACE_PREFIX)
    base = grace_web(harden_web)
    b = Browser(HttpsProxyClient(base), user)
    b.register()
    stolen = b.cookie
    time.sleep(1.1)             # the signed refresh's cookie ends later
    b.refresh()
    assert claims_of(b.cookie)["exp"] > claims_of(stolen)["exp"]
    resp = b.client.refresh(cookie=stolen, secure=True)
    # A grace duplicate, but the successor is the key's to give: an access
    # token only (migration 011 'access_only'), no cookie and no refresh
    # token, so the browser's jar keeps what the signed refresh set.
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    assert "refresh_token" not in body, body
    assert set_cookie_headers(resp) == [], \
        "a copy in the grace window got the browser's fresh cookie"
    # The browser goes on with its own cookie and key.
    b.refresh()
    assert_invariants(db, users=f"t_{GRACE_PREFIX}_%")


# ---------------------------------------------------------------- upgrade
#
# During a rolling upgrade, binaries from before migration 011 call the
# eleven-argument latch_refresh, which knows no proof: what they do with
# POST /auth/refresh is done here with psycopg2 against the stack's
# database, as their lib/session.c did (refresh_call and session_refresh
# at 745958f^). Migration 012 makes that call treat a DBSC-bound session
# as bound; under 011 alone it rotated one as unbound.

OLD_REFRESH = (
    "SELECT r_outcome, r_sealed, r_expires_at, r_revoked"
    " FROM latch_refresh(%s, %s::uuid, %s::bigint, to_timestamp(%s),"
    "  make_interval(secs => %s), to_timestamp(%s), to_timestamp(%s),"
    "  %s, %s, %s::inet, false)")


def old_binary_refresh(db, token, grace):
    """POST /auth/refresh of token on a binary from before migration 011
    whose REFRESH_REUSE_GRACE is grace seconds: the successor's expiry is
    the inactivity lifetime, or the token's own exp when the token lives
    shorter than that; a 'recap' is minted again as told and called
    again. Returns ((outcome, sealed, expiry, revoked), the hash of the
    successor it offered)."""
    claims = claims_of(token)
    now = time.time()
    uncapped = int(now) + REFRESH_EXPIRES
    exp = uncapped
    if claims["exp"] - claims["iat"] < REFRESH_EXPIRES and \
            claims["exp"] < exp:
        exp = claims["exp"]
    for _ in range(4):
        new_hash = secrets.token_bytes(32)
        row = db.one(OLD_REFRESH, (token_hash(token), claims["sid"],
                                   claims["sub"], now, grace, uncapped, exp,
                                   new_hash, secrets.token_bytes(64),
                                   "127.0.0.1"))
        if row[0] != "recap":
            return row, new_hash
        exp = int(row[2].timestamp())
    raise AssertionError(f"recap after recap: {row}")


def test_old_binary_refresh_of_bound_session_never_extends(stack, db, tls):
    """A bound session's cookie shown to POST /auth/refresh of a binary
    from before migration 011 (the eleven-argument latch_refresh) is
    rotated as a new binary rotates it: the successor expires no later
    than the presented token, and the session's idle end stays, so a
    copied cookie buys an old host's holder no more than a new host's.
    The browser's key then refreshes the session as before."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    b.refresh()
    exp = token_expiry(db, b.cookie)
    idle = session_row(db, b.sid)["idle_expires_at"]
    row, new_hash = old_binary_refresh(db, b.cookie, GRACE)
    assert row[0] == "rotated", row
    assert row[2] <= exp, f"an old binary's successor of a bound " \
        f"session lives until {row[2]}, the presented token until {exp}"
    assert token_expiry_of_hash(db, new_hash) == row[2]
    assert session_row(db, b.sid)["idle_expires_at"] == idle, \
        "an old binary's unsigned refresh moved a bound session's idle end"
    assert binding(db, b.sid)[0] == "dbsc"
    b.refresh(send_cookie=False)            # its cookie is rotated now
    b.refresh()
    assert_invariants(db, grace=f"{GRACE}s", users=f"t_{PREFIX}_%")


def test_old_binary_grace_duplicate_of_signed_refresh(stack, db,
                                                      harden_web):
    """A copy of a bound session's cookie that a signed refresh has just
    rotated, shown to a binary from before migration 011 within the grace
    window: 'access_only' (which such a binary does not know and answers
    500), never 'duplicate' with the seal of the browser's fresh cookie;
    nothing changes. On the 10 s grace web, as
    test_predecessor_in_grace_gets_no_longer_life."""
    user = create_user(stack, db, prefix=GRACE_PREFIX)
    b = Browser(HttpsProxyClient(grace_web(harden_web)), user)
    b.register()
    stolen = b.cookie
    time.sleep(1.1)             # the signed refresh's cookie ends later
    b.refresh()
    assert claims_of(b.cookie)["exp"] > claims_of(stolen)["exp"]
    before = snapshot(db, b.sid)
    row, _ = old_binary_refresh(db, stolen, 10)
    assert row[0] == "access_only" and row[1] is None, \
        f"an old binary got {row[0]} for a copy in the grace window"
    assert_untouched(db, b.sid, before)
    b.refresh()
    assert_invariants(db, users=f"t_{GRACE_PREFIX}_%")


# ---------------------------------------------------------------- endings

def _ended_session_refresh(stack, db, tls, b, how):
    before_ok = b.cookie
    if how == "logout":
        resp = tls.logout(cookie=b.cookie, secure=True)
        assert resp.status_code in (200, 204), resp.text
    elif how == "logout_all":
        resp = tls.logout_all(b.access)
        assert resp.status_code in (200, 204), resp.text
    elif how == "revoke":
        resp = tls.delete_session(b.access, b.sid)
        assert resp.status_code == 204, resp.text
    elif how == "operator_revoke":
        assert_ctl_ok(run_latchctl(BIN_DIR, "session", "revoke", b.sid,
                                   DATABASE_URL=stack.database_url))
    elif how == "reuse":
        old = b.cookie
        b.refresh()
        time.sleep(GRACE + 0.4)
        assert_error(tls.refresh(cookie=old, secure=True), 403,
                     "invalid_grant")
        before_ok = b.cookie
    assert session_row(db, b.sid)["revoked_at"] is not None, how
    return before_ok


@pytest.mark.parametrize("how", ["logout", "logout_all", "revoke",
                                 "operator_revoke", "reuse"])
def test_ended_session_ends_dbsc(stack, db, tls, how):
    """Logout, logout-all, a session revoked by its owner or an operator,
    and reuse detection: the DBSC refresh answers 401 invalid_grant with
    the clearing cookie, with and without a cookie, and nothing is
    issued."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    cookie = _ended_session_refresh(stack, db, tls, b, how)
    n = len(token_rows(db, b.sid))
    assert_ended(dbsc_refresh(tls, b.sid, cookie, b.proof()))
    assert_ended(dbsc_refresh(tls, b.sid, None, b.proof()))
    # without a proof: 401 at once, or 403 asking for the proof that the
    # 401 above answers (the contract lists both rules)
    resp = dbsc_refresh(tls, b.sid, cookie)
    if resp.status_code == 403:
        assert_error(resp, 403, "dbsc_proof_required")
        assert set_cookie_headers(resp) == []
    else:
        assert_ended(resp)
    assert len(token_rows(db, b.sid)) == n, "a token issued after the end"


def _expired_bound_cookie(db, tls, b):
    """Waits until b's cookie (a DBSC_COOKIE_LIFETIME one) has expired:
    /auth/refresh refuses it and changes nothing, the session lives on
    through its key. Returns that cookie."""
    cookie = b.cookie
    delay = claims_of(cookie)["exp"] + 0.3 - time.time()
    assert delay <= LIFETIME + 1, delay
    time.sleep(max(0.0, delay))
    assert_error(tls.refresh(cookie=cookie, secure=True), 403,
                 "invalid_grant")
    assert session_row(db, b.sid)["revoked_at"] is None
    return cookie


def test_logout_with_expired_bound_cookie_ends_the_session(stack, db, tls):
    """The browser sends its logout with the bound cookie after that ran
    out (it did not hold the request, or its refresh backed off): the
    session is revoked all the same, so the browser's next signed refresh
    gets 401 and ends its DBSC session, and nothing is issued."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    cookie = _expired_bound_cookie(db, tls, b)
    resp = tls.logout(cookie=cookie, secure=True)
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"message": "logged out"}
    assert_clears_cookie(resp, secure=True)
    row = session_row(db, b.sid)
    assert row["revoked_at"] is not None and \
        row["revoked_reason"] == "logout", row
    n = len(token_rows(db, b.sid))
    assert_ended(dbsc_refresh(tls, b.sid, None, b.proof()))
    assert_ended(dbsc_refresh(tls, b.sid, cookie, b.proof()))
    assert len(token_rows(db, b.sid)) == n, "a token issued after the end"


def test_logout_with_expired_forged_cookie_leaves_the_session(stack, db,
                                                              tls):
    """The expired bound cookie's claims signed with another key: the
    logout answers 200 as always and revokes nothing; the browser's signed
    refresh goes on."""
    user = _user(stack, db)
    b = Browser(tls, user)
    b.register()
    cookie = _expired_bound_cookie(db, tls, b)
    header, claims = jwt_parts(cookie)[:2]
    resp = tls.logout(cookie=jwt_encode(header, claims, b"x" * 32),
                      secure=True)
    assert resp.status_code == 200, resp.text
    assert session_row(db, b.sid)["revoked_at"] is None
    b.refresh(send_cookie=False)
    b.refresh()


# ---------------------------------------------------------------- settings

def test_https_through_a_trusted_proxy_offers_dbsc(stack, db, harden_web):
    """Behind a trusted proxy that says X-Forwarded-Proto: https (a CGI
    web trusting 127.0.0.1) the cookie login offers registration and the
    protocol runs with the https origin; without that header the same
    web is plain http and offers nothing."""
    base = harden_web("dbscproxy", 46, **PROXY_SETTINGS)
    user = _user(stack, db)
    plain = Client(base)
    resp = plain.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    assert "Secure-Session-Registration" not in resp.headers
    b = Browser(HttpsProxyClient(base), user)
    b.register()
    b.refresh()
    assert binding(db, b.sid)[0] == "dbsc"


def dbsc_off_web(harden_web):
    """A CGI web behind an https proxy with DBSC_COOKIE_LIFETIME=0."""
    return HttpsProxyClient(harden_web(
        "dbscoff", 47, **dict(PROXY_SETTINGS, DBSC_COOKIE_LIFETIME="0")))


def dbsc_on_web(harden_web):
    """The same behind the same proxy with DBSC on (LIFETIME)."""
    return HttpsProxyClient(harden_web("dbscproxy", 46, **PROXY_SETTINGS))


def test_lifetime_zero_turns_dbsc_off(stack, db, harden_web):
    """DBSC_COOKIE_LIFETIME=0: no registration offer even over https, and
    the login is as before."""
    user = _user(stack, db)
    client = dbsc_off_web(harden_web)
    resp, _, token, offer = cookie_login(client, user)
    assert offer is None, resp.headers["Secure-Session-Registration"]
    assert binding(db, sid_of(token)) is None
    # A browser still holding a DBSC session of this server from before
    # (its session id presented, with or without a proof): 401, which
    # ends it, naming the error; the session goes on with the cookie.
    key = ClientKey()
    for proof in (None, dbsc_proof(key, make_challenge(
            stack, sid_of(token), int(time.time()) + 60, "refresh"),
            registration=False)):
        assert_refused_401(dbsc_refresh(client, sid_of(token), token, proof))
    resp = client.refresh(cookie=token, secure=True)
    assert resp.status_code == 200, resp.text


def test_dbsc_routes_while_dbsc_is_off(stack, db, harden_web):
    """DBSC off, and a browser whose session was bound while it was on
    (README, DBSC_COOKIE_LIFETIME): its signed DBSC refresh answers 401
    invalid_grant (which ends the browser's DBSC session) without the
    clearing cookie (the cookie goes on refreshing the session, unbound),
    with or without a proof; registration answers 404, even with a proof
    over a current registration challenge; nothing changes."""
    user = _user(stack, db)
    b = Browser(dbsc_on_web(harden_web), user)
    b.register()
    off = dbsc_off_web(harden_web)
    before = snapshot(db, b.sid)
    for proof in (b.proof(), None):
        resp = dbsc_refresh(off, b.sid, b.cookie, proof)
        assert_refused_401(resp)
        assert "Secure-Session-Challenge" not in resp.headers
        assert set_cookie_headers(resp) == [], \
            "DBSC off cleared the cookie the session goes on with"
        assert_untouched(db, b.sid, before)
    unbound = Browser(dbsc_on_web(harden_web), user)
    for key, cookie, sid in ((b.key, b.cookie, b.sid),
                             (unbound.key, unbound.cookie, unbound.sid)):
        fresh = make_challenge(stack, sid, int(time.time()) + 60,
                               "registration")
        was = snapshot(db, sid)
        assert_error(register(off, cookie, dbsc_proof(key, fresh)), 404,
                     "not_found")
        assert_untouched(db, sid, was)
    assert binding(db, unbound.sid) is None


def test_bound_session_refreshes_unbound_while_dbsc_is_off(stack, db,
                                                           harden_web):
    """A session bound while DBSC was on, refreshed with POST
    /auth/refresh once DBSC is off, refreshes as an unbound session: the
    successor lives JWT_REFRESH_EXPIRES (cookie, token and row), the
    session's idle end moves with it, and the binding row stays (for the
    day DBSC is turned on again). Turned on again, the short cookie
    rule is back for the session."""
    user = _user(stack, db)
    on = dbsc_on_web(harden_web)
    b = Browser(on, user)
    b.register()
    off = dbsc_off_web(harden_web)
    token = b.cookie
    for _ in range(2):
        resp = off.refresh(cookie=token, secure=True)
        assert resp.status_code == 200, resp.text
        successor, max_age = refresh_cookie(resp, secure=True)
        left = token_expiry(db, successor).timestamp() - time.time()
        assert abs(left - REFRESH_EXPIRES) <= 5, left
        assert abs(max_age - REFRESH_EXPIRES) <= 5, max_age
        claims = claims_of(successor)
        assert claims["exp"] - claims["iat"] == REFRESH_EXPIRES, claims
        assert session_row(db, b.sid)["idle_expires_at"] == \
            token_expiry(db, successor)
        token = successor
    assert binding(db, b.sid)[0] == "dbsc"
    resp = on.refresh(cookie=token, secure=True)
    assert resp.status_code == 200, resp.text
    successor, _ = refresh_cookie(resp, secure=True)
    assert token_expiry(db, successor) <= token_expiry(db, token)


@pytest.mark.parametrize("value, seconds", [("10m", 600), ("7d", 604800),
                                            ("8d", 604800), ("-1m", None)])
def test_lifetime_is_capped_at_the_refresh_expiry(stack, value, seconds):
    """latchctl config check (the start-up check): a DBSC_COOKIE_LIFETIME
    longer than JWT_REFRESH_EXPIRES (7d here) is capped at it (README,
    latch.conf(5): a bound cookie never outlives an unbound one), and one
    that is no duration is refused."""
    proc = run_latchctl(BIN_DIR, "config", "check",
                        config=stack.rundir / "latch.conf",
                        DBSC_COOKIE_LIFETIME=value, JWT_REFRESH_EXPIRES="7d")
    if seconds is None:
        assert "DBSC_COOKIE_LIFETIME" in assert_ctl_refused(proc)
    else:
        assert f"dbsc_cookie_lifetime={seconds}s" in \
            assert_ctl_ok(proc).splitlines()
