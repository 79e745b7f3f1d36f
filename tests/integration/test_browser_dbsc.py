"""Device Bound Session Credentials in a real browser: Debian's Chromium,
headless, with the DBSC flags (README "The DBSC browser test": how it works,
how to debug it), against latch over https from the shipped lighttpd files
(recipe lighttpd-tls, its CA-signed leaf trusted by its SPKI hash), with a
4 s DBSC_COOKIE_LIFETIME.

The browser is driven step by step (browser_driver.py) from a page of the
test's own at latch's origin that logs in with the shipped client
/latch.js; between the steps the test reads the database, the recipe's
access log and the browser's cookie jar, and plays the thief with a plain
HTTP client. What it shows:
- the login starts a registration; the session's key is stored (kind
  dbsc) and GET /auth/sessions says "binding": "dbsc";
- once the cookie's 4 s are over, the page's POST /auth/refresh is held by
  the browser until its signed refresh answered 200, and goes out with the
  cookie that refresh set;
- the cookie copied out of the browser into a plain client works for the
  thief at once, but the successor dies with the copy: both are refused
  once its 4 s are over, while the browser's session goes on (its next
  signed refresh rotates the thief's token away);
- logout ends the DBSC session: the browser's next refresh is answered
  401 and it stops refreshing;
- plain headless Chromium (no DBSC flags) logs in and refreshes as before:
  no registration, no key, the refresh cookie's usual lifetime.
"""

import base64
import hashlib
import itertools
import json
import os
import re
import subprocess
import time
from datetime import timezone

import pytest
import requests

from browser_driver import BrowserDriver
from browser_run import BROWSER_DIR
from conftest import (INSTANCE, LogTail, create_user, main_port, run_stack,
                      session_row)
from deploy_smoke import recipe_env
from latchlib import refresh_cookie

KIND = "lighttpd-tls"
OFFSET = 5              # main web's port + 5 (and + 6: the recipe's http
#                         socket); the browser tests' webs are 1..9
LIFETIME = 4            # DBSC_COOKIE_LIFETIME of this web, seconds
COOKIE = "__Secure-refresh_token"
PAGE_PATH = "/dbsc-test.html"   # no such file: the driver serves the page
PAGE_HTML = (BROWSER_DIR / "dbsc-page.html").read_text()
DBSC_FEATURES = ("--enable-features=DeviceBoundSessions:RefreshQuota/false,"
                 "EnableBoundSessionCredentialsSoftwareKeysForManualTesting")
FLUSH_PATH = "/api/health?flush="
FLUSHES = itertools.count(1)
ACCESS_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) ')


def spki_hash(cert_pem):
    """base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo (what
    --ignore-certificate-errors-spki-list takes)."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-pubkey",
                          "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                         input=pub, capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def dbsc_web(stack):
    """Recipe lighttpd-tls, once for this module, with 4 s bound cookies:
    {"base", "ca", "dir", "spki"}."""
    port = main_port(stack) + OFFSET
    env = recipe_env()
    run_stack("recipe-down", INSTANCE, KIND, env=env)  # leftovers of a crash
    proc = run_stack("recipe-up", INSTANCE, KIND, str(port), "COOKIE_SECURE=1",
                     "BCRYPT_COST=4", f"DBSC_COOKIE_LIFETIME={LIFETIME}s",
                     env=env)
    assert proc.returncode == 0, \
        f"recipe-up {KIND} failed: {proc.stderr.decode()[-3000:]}"
    base = proc.stdout.decode().strip().rpartition("BASE_URL=")[2]
    assert base == f"https://127.0.0.1:{port}", proc.stdout
    rdir = stack.rundir / f"recipe-{KIND}"
    yield {"base": base, "ca": str(rdir / "tls" / "ca.pem"), "dir": rdir,
           "spki": spki_hash(rdir / "tls" / "leaf.pem")}
    down = run_stack("recipe-down", INSTANCE, KIND, env=env)
    assert down.returncode == 0, down.stderr.decode()[-2000:]


def chromium_args(web, dbsc=True):
    """Chromium's flags: the recipe's leaf trusted, DBSC on (software keys,
    no signing quota) unless told; DBSC_NETLOG=FILE in the environment
    adds a net log with everything (its DBSC_* events say why a session
    did not register or refresh)."""
    args = [f"--ignore-certificate-errors-spki-list={web['spki']}"]
    if dbsc:
        args.append(DBSC_FEATURES)
    if os.environ.get("DBSC_NETLOG"):
        args += [f"--log-net-log={os.environ['DBSC_NETLOG']}",
                 "--net-log-capture-mode=Everything"]
    return args


def wait_until(fn, timeout, message, interval=0.05):
    """fn() once truthy (bounded); fails with message otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout} s)", pytrace=False)
        time.sleep(interval)


def requests_of(tail):
    """[(method, path, status), ...] of the access log's new lines, in the
    order lighttpd finished answering them (its own pokes left out)."""
    out = []
    for line in tail.lines():
        m = ACCESS_LINE.search(line)
        if m and not m.group(2).startswith(FLUSH_PATH):
            out.append((m.group(1), m.group(2), int(m.group(3))))
    return out


def logged(tail, web, timeout=5):
    """requests_of(tail) with every request answered so far in it.
    lighttpd buffers its access log and writes the buffer out when a later
    request is logged in another second: so requests to /api/health?flush=N
    every 0.4 s until one of them is in the file (all that came before it
    is then written too). Bounded."""
    poke = f"{FLUSH_PATH}{os.getpid()}-{next(FLUSHES)}"
    deadline = time.monotonic() + timeout
    while True:
        with thief(web) as s:
            assert s.get(web["base"] + poke, timeout=5).status_code == 200
        time.sleep(0.4)
        if any(f'"GET {poke} ' in line for line in tail.lines()):
            return requests_of(tail)
        if time.monotonic() > deadline:
            pytest.fail("lighttpd did not write its access log in "
                        f"{timeout} s", pytrace=False)


def sha256(value):
    return hashlib.sha256(value.encode("ascii")).digest()


def jar_cookie(b, web):
    """The refresh cookie in the browser's jar for /auth/ (None: none, as
    when it expired), as {"value", "expires"}."""
    found = [c for c in b.cookies(web["base"] + "/auth/")
             if c["name"] == COOKIE]
    assert len(found) <= 1, found
    return found[0] if found else None


def token_of(db, value):
    """(session_id, expires_at, rotated_at) of the refresh token value."""
    return db.one("SELECT session_id, expires_at, rotated_at FROM "
                  "refresh_tokens WHERE token_hash = %s", (sha256(value),))


def predecessor_of(db, value):
    """The hash of the token that refresh token value succeeded."""
    h = db.scalar("SELECT p.token_hash FROM refresh_tokens t JOIN "
                  "refresh_tokens p ON p.id = t.predecessor_id "
                  "WHERE t.token_hash = %s", (sha256(value),))
    return None if h is None else bytes(h)


def live_token_hash(db, sid):
    """The hash of session sid's unrotated refresh token (None: none)."""
    h = db.scalar("SELECT token_hash FROM refresh_tokens WHERE "
                  "session_id = %s AND rotated_at IS NULL", (sid,))
    return None if h is None else bytes(h)


def settled_cookie(b, web, db, sid):
    """The browser's cookie once its refreshes have settled: the session's
    live token, and still the same 300 ms later."""
    def quiet():
        c = jar_cookie(b, web)
        if c is None or sha256(c["value"]) != live_token_hash(db, sid):
            return None
        time.sleep(0.3)
        c2 = jar_cookie(b, web)
        still = c2 == c and sha256(c["value"]) == live_token_hash(db, sid)
        return c if still else None
    return wait_until(quiet, 5, "the browser's cookie never settled")


def utc_epoch(ts):
    return ts.replace(tzinfo=ts.tzinfo or timezone.utc).timestamp()


def thief(web):
    """A plain HTTP client that trusts the recipe's CA (whatever
    REQUESTS_CA_BUNDLE says) and keeps no connection between requests."""
    s = requests.Session()
    s.trust_env = False
    s.verify = web["ca"]
    s.headers["Connection"] = "close"
    return s


def thief_refresh(web, value):
    with thief(web) as s:
        return s.post(web["base"] + "/auth/refresh", timeout=10,
                      headers={"Cookie": f"{COOKIE}={value}",
                               "Origin": web["base"]})


def login_and_register(b, web, db, user):
    """Logs in from the page; waits for the registration: the session id."""
    b.open(web["base"] + PAGE_PATH, PAGE_HTML)
    assert b.call("login", user["username"], user["password"]) is True
    sid = wait_until(lambda: db.scalar(
        "SELECT k.session_id FROM session_keys k JOIN sessions s ON "
        "s.id = k.session_id WHERE s.user_id = %s", (user["id"],)),
        5, "no session_keys row: the browser did not register")
    return sid


def test_dbsc_registration_deferral_copied_cookie_and_logout(dbsc_web, stack,
                                                            db):
    web = dbsc_web
    user = create_user(stack, db, prefix="dbsc")
    tail = LogTail(web["dir"] / "access.log")
    with BrowserDriver(args=chromium_args(web)) as b:
        sid = login_and_register(b, web, db, user)

        # The key is stored, once, with the session.
        kind, alg, jkt, jwk = db.one(
            "SELECT kind, alg, jkt, public_jwk FROM session_keys "
            "WHERE session_id = %s", (sid,))
        assert (kind, alg, len(bytes(jkt))) == ("dbsc", "ES256", 32)
        key = json.loads(jwk)
        assert (key["kty"], key["crv"]) == ("EC", "P-256"), key
        assert "d" not in key
        log = logged(tail, web)
        assert ("POST", "/auth/dbsc/register", 200) in log, log
        assert ("POST", "/auth/login", 200) in log, log
        assert log.index(("POST", "/auth/login", 200)) < \
            log.index(("POST", "/auth/dbsc/register", 200)), log
        listed = b.call("sessions")
        assert [s["binding"] for s in listed if s["id"] == sid] == ["dbsc"], \
            listed

        # The cookie a thief copies: the session's live token, short-lived.
        copied = settled_cookie(b, web, db, sid)
        _, expires, rotated = token_of(db, copied["value"])
        assert rotated is None
        assert utc_epoch(expires) - time.time() <= LIFETIME + 1, expires
        assert copied["expires"] - time.time() <= LIFETIME + 1, copied

        # The thief refreshes with it at once: that works, but the successor
        # dies no later than the copy does.
        copy_expires = utc_epoch(expires)
        resp = thief_refresh(web, copied["value"])
        assert resp.status_code == 200, (resp.status_code, resp.text)
        stolen, max_age = refresh_cookie(resp, secure=True)
        stolen_expires = utc_epoch(token_of(db, stolen)[1])
        assert stolen_expires <= copy_expires, (stolen_expires, copy_expires)
        assert time.time() + max_age <= copy_expires + 1, max_age

        # One lifetime later, with no request from the page meanwhile: the
        # browser has dropped its cookie; the copy and the thief's successor
        # are refused, and the session lives on.
        # (latch counts a token's life in whole seconds from the request,
        # the browser the cookie's Max-Age from the answer's arrival.)
        gone = max(copy_expires, copied["expires"])
        time.sleep(max(0.0, gone - time.time()) + 0.3)
        assert jar_cookie(b, web) is None
        for value in (copied["value"], stolen):
            resp = thief_refresh(web, value)
            assert resp.status_code == 403, (resp.status_code, resp.text)
            assert resp.json()["error"] == "invalid_grant", resp.text
        assert session_row(db, sid)["revoked_at"] is None
        assert token_of(db, stolen)[2] is None, "refused, unchanged"

        # The page's own refresh: held until the browser's signed refresh
        # answered, then sent with the cookie that refresh set (the jar had
        # none when the page made the request). The signed refresh rotated
        # the session's live token, the thief's: the browser takes the
        # session back.
        mark = LogTail(web["dir"] / "access.log")
        asked = time.time()
        res = b.call("refresh")
        assert res["status"] == 200, res
        rotated_at = token_of(db, stolen)[2]
        assert rotated_at is not None, "the signed refresh rotated it"
        assert utc_epoch(rotated_at) >= asked - 0.01, (rotated_at, asked)
        sent = b.sent_cookies("/auth/refresh")[-1]
        assert sent is not None and sent.startswith(COOKIE + "="), sent
        assert predecessor_of(db, sent.partition("=")[2]) == \
            sha256(stolen), "sent with the cookie the signed refresh set"
        log = logged(mark, web)
        first_dbsc = log.index(("POST", "/auth/dbsc/refresh", 200))
        assert first_dbsc < log.index(("POST", "/auth/refresh", 200)), log
        assert all(p != "/auth/dbsc/refresh" or s == 200 for _, p, s in log), \
            f"the proof went with the first refresh (challenge cached): {log}"

        # The browser keeps its session; its cookie is short-lived again.
        assert session_row(db, sid)["revoked_at"] is None
        now = settled_cookie(b, web, db, sid)
        assert now["value"] not in (copied["value"], stolen)
        assert now["expires"] - time.time() <= LIFETIME + 1, now

        # Logout ends the DBSC session: the browser's next refresh of it is
        # answered 401, and after that it refreshes no more.
        mark = LogTail(web["dir"] / "access.log")
        assert b.call("logout") == ["logged_out"]
        assert session_row(db, sid)["revoked_at"] is not None
        for _ in range(2):
            after = b.call("refresh")
            assert after["status"] in (401, 403), after
        log = logged(mark, web)
        dbsc = [r for r in log if r[1].startswith("/auth/dbsc/")]
        assert ("POST", "/auth/dbsc/refresh", 401) in dbsc, log
        assert dbsc[-1] == ("POST", "/auth/dbsc/refresh", 401), log
        mark = LogTail(web["dir"] / "access.log")
        for _ in range(2):
            after = b.call("refresh")
            assert after["status"] in (401, 403), after
        log = logged(mark, web)
        assert [r[1] for r in log] == ["/auth/refresh"] * 2, \
            f"the browser still refreshes an ended session: {log}"


def test_plain_chromium_logs_in_and_refreshes_as_before(dbsc_web, stack, db):
    """Without the DBSC flags the browser ignores the registration header:
    no key, no short cookie, the page's refresh rotates as it always did."""
    web = dbsc_web
    user = create_user(stack, db, prefix="nodbsc")
    tail = LogTail(web["dir"] / "access.log")
    with BrowserDriver(args=chromium_args(web, dbsc=False)) as b:
        b.open(web["base"] + PAGE_PATH, PAGE_HTML)
        assert b.call("login", user["username"], user["password"]) is True
        sid = db.scalar("SELECT id FROM sessions WHERE user_id = %s",
                        (user["id"],))
        first = jar_cookie(b, web)
        assert first is not None, "no refresh cookie after the login"
        assert first["expires"] - time.time() > 3600, first
        res = b.call("refresh")
        assert res["status"] == 200, res
        second = jar_cookie(b, web)
        assert second["value"] != first["value"]
        assert second["expires"] - time.time() > 3600, second
        assert token_of(db, first["value"])[2] is not None, "rotated"
        listed = b.call("sessions")
        assert [s["binding"] for s in listed if s["id"] == str(sid)] == \
            [None], listed
        assert b.call("logout") == ["logged_out"]
        assert b.call("refresh")["status"] == 401
        log = logged(tail, web)
    assert db.scalar("SELECT count(*) FROM session_keys WHERE session_id = %s",
                     (sid,)) == 0
    assert [r for r in log if r[1].startswith("/auth/")] == [
        ("POST", "/auth/login", 200), ("POST", "/auth/refresh", 200),
        ("GET", "/auth/sessions", 200), ("POST", "/auth/logout", 200),
        ("POST", "/auth/refresh", 401)], log

