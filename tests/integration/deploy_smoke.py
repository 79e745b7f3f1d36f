"""The contract smoke every shipped deployment recipe must pass (issue:
"Deployments proven for real"). Each recipe's test starts its servers once
per run from the files in deploy/ (`stack.sh recipe-up INSTANCE KIND PORT`)
and calls contract_smoke on the URL they answer at.

What it proves goes through the web server, not around it: the body and the
cookie deliveries of a login, the Authorization header reaching the
responder (profile 401 without it, 200 with it), the refresh cookie's Path
and name (refresh and logout by cookie), health, and the web server handing
404, 405 and 413 to latch rather than answering them itself.
"""

import json
import os

from conftest import create_user
from latchlib import (Client, assert_clears_cookie, assert_error,
                      assert_missing_credential, assert_no_store, json_body,
                      refresh_cookie)

# Extra ports of a stack: the main web is PORT, its extra webs PORT+10..79
# (tests/integration), the recipes PORT+80..99, one offset per kind here,
# so that two test files never meet on a port and make check and make asan
# (CHECK_PORT, ASAN_PORT) never meet either.
RECIPE_PORT_OFFSETS = {
    "lighttpd-spawn": 80, "lighttpd-tls": 81,
    "lighttpd-tls-http": 82,  # lighttpd-tls's redirecting http socket
    "nginx": 85, "nginx-tls": 86,
    "apache-fcgid": 90, "apache-tls": 91, "apache-redirect": 92,
    "shared-cgi": 95, "shared-fcgid": 96,
    # PgBouncer's socket carries this port, its lighttpd web the next one
    "pgbouncer": 70,
    # the replica recipe's web (its PostgreSQL has a socket only)
    "replica": 74,
}

MAX_BODY_BYTES = 16 * 1024  # API.md: the default of MAX_BODY_BYTES


def recipe_port(stack, kind):
    """The port recipe `kind` of this stack listens on."""
    main = int(stack.base_url.rsplit(":", 1)[1])
    return main + RECIPE_PORT_OFFSETS[kind]


def contract_smoke(stack, db, base_url, secure=False, verify=None):
    """Drives the contract through the web at base_url (the recipe's
    configuration must have COOKIE_SECURE=1 exactly when secure). verify:
    a CA file for https, as requests takes it. Returns nothing; every
    failure is an assertion naming the step."""
    client = Client(base_url, verify=verify)
    user = create_user(stack, db, prefix="smoke")

    resp = client.request("GET", "/api/health")
    assert resp.status_code == 200, f"health: {resp.status_code} {resp.text[:200]}"
    assert resp.headers["Content-Type"] == "application/json"
    assert json_body(resp) == {"status": "ok", "database": "ok"}

    # Login, body delivery: both tokens in the body, no refresh cookie.
    resp = client.login(username=user["username"], password=user["password"],
                        token_delivery="body")
    assert resp.status_code == 200, f"login (body): {resp.status_code} {resp.text[:300]}"
    body = json_body(resp)
    assert isinstance(body.get("access_token"), str), body
    assert isinstance(body.get("refresh_token"), str), body
    assert_no_store(resp)

    # Profile: refused without a token, served with it; the second proves
    # that the web server passes Authorization on to the responder.
    assert_missing_credential(client.profile())
    resp = client.profile(token=body["access_token"])
    assert resp.status_code == 200, f"profile: {resp.status_code} {resp.text[:300]}"
    assert json_body(resp)["username"] == user["username"]

    # Login, cookie delivery; then refresh and logout by that cookie.
    resp = client.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, f"login (cookie): {resp.status_code} {resp.text[:300]}"
    assert "refresh_token" not in json_body(resp)
    token, _ = refresh_cookie(resp, secure)
    resp = client.refresh(cookie=token, secure=secure)
    assert resp.status_code == 200, f"refresh: {resp.status_code} {resp.text[:300]}"
    successor, _ = refresh_cookie(resp, secure)
    assert successor != token
    resp = client.logout(cookie=successor, secure=secure)
    assert resp.status_code == 200, f"logout: {resp.status_code} {resp.text[:300]}"
    assert json_body(resp) == {"message": "logged out"}
    assert_clears_cookie(resp, secure)
    resp = client.refresh(cookie=successor, secure=secure)
    assert resp.status_code in (401, 403), \
        f"refresh after logout: {resp.status_code} {resp.text[:300]}"

    # The web server hands these to latch, which answers them in JSON.
    assert_error(client.request("GET", "/api/no-such-route"), 404, "not_found")
    resp = client.request("GET", "/auth/login")
    assert_error(resp, 405, "method_not_allowed")
    assert "POST" in resp.headers.get("Allow", "")
    big = json.dumps({"username": "x", "password": "y",
                      "pad": "z" * MAX_BODY_BYTES}).encode()
    assert_error(client.request("POST", "/auth/login", body=big,
                                content_type="application/json"),
                 413, "payload_too_large")


def recipe_env():
    """The environment for stack.sh recipe-up/-down: the caller's, as for
    the main stack (sanitizer settings reach the responders)."""
    return dict(os.environ)
