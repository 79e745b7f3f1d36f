"""GET /api/health, and what every route answers while PostgreSQL is down
(503 temporarily_unavailable with Retry-After), and the recovery after it
comes back. The database is always restarted, whatever happens."""

import concurrent.futures
import re
import time

import pytest

from conftest import INSTANCE, create_user, run_stack
from latchlib import (Client, assert_error, assert_no_store, json_body,
                      login_body)

RECOVERY_SECONDS = 10


def _db_stop():
    proc = run_stack("db-stop", INSTANCE)
    assert proc.returncode == 0, \
        f"stack.sh db-stop failed: {proc.stderr.decode()[-2000:]}"


def _db_start():
    proc = run_stack("db-start", INSTANCE)
    assert proc.returncode == 0, \
        f"stack.sh db-start failed: {proc.stderr.decode()[-2000:]}"


def _poll(fn, ok, seconds):
    """Calls fn until ok(result) or seconds pass; returns the last result
    and whether it was ok."""
    deadline = time.monotonic() + seconds
    while True:
        result = fn()
        if ok(result):
            return result, True
        if time.monotonic() > deadline:
            return result, False
        time.sleep(0.2)


def _warm_up(client, user):
    """After a restart, every FastCGI process may first notice its dead
    connection: make sure the pools answer again before other tests run."""
    for _ in range(5):
        _poll(lambda: client.request("GET", "/api/health"),
              lambda r: r.status_code == 200, RECOVERY_SECONDS)
    for _ in range(3):
        resp, _ = _poll(lambda: client.login(username=user["username"],
                                             password=user["password"],
                                             token_delivery="body"),
                        lambda r: r.status_code == 200, RECOVERY_SECONDS)
    # Logins are login.fcgi's: the auth.fcgi pool is warmed on its own.
    bearer = {"Authorization": "Bearer " + resp.json()["access_token"]}
    for _ in range(3):
        _poll(lambda: client.request("GET", "/auth/sessions",
                                     headers=bearer),
              lambda r: r.status_code == 200, RECOVERY_SECONDS)


def _assert_retry_after(resp):
    value = resp.headers.get("Retry-After")
    assert value is not None and re.fullmatch(r"[0-9]+", value) \
        and int(value) >= 1, f"Retry-After {value!r}"


# ------------------------------------------------------------ database up

def test_health_reports_ok(client):
    resp = client.request("GET", "/api/health")
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"status": "ok", "database": "ok"}
    assert_no_store(resp)


def test_health_ignores_query_string(client):
    resp = client.request("GET", "/api/health?probe=1")
    assert resp.status_code == 200, resp.text
    assert json_body(resp) == {"status": "ok", "database": "ok"}


# ------------------------------------------------------------ database down

class TestDatabaseDown:

    @pytest.fixture(scope="class", autouse=True)
    def outage(self, stack, db, client):
        """Logs a user in, stops PostgreSQL for the tests of this class,
        and always starts it again."""
        user = create_user(stack, db, prefix="outage")
        resp = client.login(username=user["username"],
                            password=user["password"])
        assert resp.status_code == 200, resp.text
        state = {"user": user, "access": resp.json()["access_token"]}
        try:
            _db_stop()
            yield state
        finally:
            _db_start()
            _warm_up(client, user)

    def test_health_reports_unavailable_database_as_503(self, client):
        resp = client.request("GET", "/api/health")
        body = assert_error(resp, 503, "temporarily_unavailable",
                            extra_keys=("status", "database"))
        assert body["status"] == "unavailable"
        assert body["database"] == "unavailable"

    def test_health_503_carries_retry_after(self, client):
        resp = client.request("GET", "/api/health")
        assert resp.status_code == 503
        _assert_retry_after(resp)
        assert_no_store(resp)

    def test_login_while_database_down_is_temporarily_unavailable(
            self, client, outage):
        user = outage["user"]
        resp = client.login(username=user["username"],
                            password=user["password"])
        assert_error(resp, 503, "temporarily_unavailable")
        _assert_retry_after(resp)

    def test_profile_while_database_down_is_temporarily_unavailable(
            self, client, outage):
        resp = client.profile(outage["access"])
        assert_error(resp, 503, "temporarily_unavailable")
        _assert_retry_after(resp)

    def test_outage_answers_leak_no_internals(self, client, stack, outage):
        socket_dir = stack.database_url.partition("host=")[2].split("&")[0]
        answers = [client.request("GET", "/api/health"),
                   client.profile(outage["access"])]
        for resp in answers:
            text = resp.text + str(resp.headers)
            for leak in ("FATAL", "could not connect", "PQ", "libpq",
                         ".s.PGSQL", "SELECT", "postgresql://"):
                assert leak not in text, (leak, text)
            if socket_dir:
                assert socket_dir not in text


# ------------------------------------------------------------ recovery

def test_service_recovers_after_database_restart(client, stack, db):
    user = create_user(stack, db, prefix="recover")
    try:
        _db_stop()
        down = client.request("GET", "/api/health")
        assert down.status_code == 503, down.text
    finally:
        _db_start()
    resp, ok = _poll(lambda: client.request("GET", "/api/health"),
                     lambda r: r.status_code == 200, RECOVERY_SECONDS)
    assert ok, f"health still {resp.status_code} {RECOVERY_SECONDS}s " \
        f"after restart: {resp.text}"
    assert json_body(resp) == {"status": "ok", "database": "ok"}
    resp, ok = _poll(lambda: client.login(username=user["username"],
                                          password=user["password"]),
                     lambda r: r.status_code != 503, RECOVERY_SECONDS)
    assert resp.status_code == 200, resp.text
    _warm_up(client, user)


def test_first_refresh_after_database_restart_is_served(client, stack, db):
    """After a restart every FastCGI process holds a connection its server
    closed (sending FATAL first). A refresh is not retried on a new
    connection (it is no idempotent statement), so its process must see
    the dead one before sending it: every auth.fcgi's first refresh after
    a restart was a 503 when the look read the FATAL as input and called
    the connection fine. Health (api.fcgi) says when the database is
    back, so no auth.fcgi process has used its connection before the
    refresh."""
    user = create_user(stack, db, prefix="restartrf")
    body = login_body(client, user)
    token = body["refresh_token"]
    # Every auth.fcgi process opens its connection before the restart:
    # requests two at a time reach both of the pool.
    bearer = {"Authorization": "Bearer " + body["access_token"]}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        codes = list(pool.map(
            lambda _: Client(client.base_url).request(
                "GET", "/auth/sessions", headers=bearer).status_code,
            range(16)))
    assert codes == [200] * 16, codes
    try:
        _db_stop()
    finally:
        _db_start()
    resp, ok = _poll(lambda: client.request("GET", "/api/health"),
                     lambda r: r.status_code == 200, RECOVERY_SECONDS)
    assert ok, f"health still {resp.status_code} after the restart"
    resp = client.refresh(token)
    assert resp.status_code == 200, resp.text[:300]
    assert json_body(resp)["refresh_token"] != token
    _warm_up(client, user)
