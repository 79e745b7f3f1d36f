"""Issue 10, item 1: login and sign-up run in a process pool of their own
(login.fcgi), at a low CPU priority, and a login the pool cannot start
within its wait bound is refused at once or at its deadline: 503
temporarily_unavailable with Retry-After, nothing hashed, nothing counted
by the limiter.

- routing: each binary answers its own routes only, so a web server that
  sends a login to auth.fcgi gets a 404 at once instead of the old shape
  (a refresh queued behind bcrypt) without anyone noticing;
- priority: the main web's login processes (every thread) run at nice 10,
  in an autogroup of their own at nice 10 where Linux has autogroups; the
  fast routes' processes at 0;
- admission: a web with one login process at cost 12 gets many concurrent
  logins: every answer is 200 or the JSON 503, at least one 503 happened,
  nothing hung, each 200 is one session row, and the limiter counted none
  of the 503s.

No timing target is asserted here (that is `make bench`); the only time
bound is the request timeout that tells a hung connection.
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from conftest import (INSTANCE, assert_invariants, create_user, http_web,
                      main_port, run_stack)
from latchlib import ForwardedClient, claims_of, fresh_address, parse_cgi
from test_cgi import cgi_env, run_cgi
from test_memory_hygiene import FREED_HEAD, _copies, workers_of

NICE = 10               # lib/server.h, SERVER_ADMITTED_NICE
ADMIT_WEB = "admit"
ADMIT_OFFSET = 70       # main web's port + 70: clear of the other webs'
CONCURRENT = 24         # > what one process hashes within the wait bound
HUNG = 60               # seconds: an answer later than this is a hang


def _stat_nice(stat_path):
    """The nice field of /proc/.../stat (the 19th; the command name, in
    parentheses, may hold spaces)."""
    text = Path(stat_path).read_text()
    return int(text[text.rindex(")") + 2:].split()[16])


def _main_workers(stack, binary):
    assert stack.rundir is not None, "var/INSTANCE.rundir missing"
    return workers_of(stack.rundir / "bin" / binary)


def _autogroups_on():
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled") \
            .read_text().strip() == "1"
    except OSError:
        return False


# ------------------------------------------------------------- routing

def _cgi(stack, binary, path, body=b"{}"):
    env = cgi_env(stack, method="POST", uri=path,
                  CONTENT_TYPE="application/json",
                  CONTENT_LENGTH=str(len(body)))
    proc = run_cgi(binary, env, body)
    assert proc.returncode == 0, proc.stderr[-2000:]
    headers, answer = parse_cgi(proc.stdout)
    status = int(headers[0][1].split()[0])
    return status, json.loads(answer)


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
def test_auth_binary_does_not_answer_the_bcrypt_routes(stack, path):
    status, body = _cgi(stack, "auth.fcgi", path)
    assert (status, body["error"]) == (404, "not_found"), body


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/logout",
                                  "/auth/sessions", "/api/health"])
def test_login_binary_answers_only_its_routes(stack, path):
    status, body = _cgi(stack, "login.fcgi", path)
    assert (status, body["error"]) == (404, "not_found"), body


def test_login_binary_answers_login(stack, db):
    user = create_user(stack, db, prefix="admitcgi")
    status, body = _cgi(stack, "login.fcgi", "/auth/login", json.dumps(
        {"username": user["username"], "password": user["password"],
         "token_delivery": "body"}).encode())
    assert status == 200, body
    assert claims_of(body["access_token"])["sub"] == str(user["id"])


# ------------------------------------------------------------ priority

def test_login_processes_run_at_a_low_priority(stack, client, db):
    user = create_user(stack, db, prefix="admitnice")
    # a login through the main web: its pool is up and has served
    resp = client.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    pids = _main_workers(stack, "login.fcgi")
    assert pids
    for pid in pids:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        assert len(tasks) == 3, tasks   # acceptor, worker, reaper
        for task in tasks:
            assert _stat_nice(task / "stat") == NICE, (pid, task.name)
        if _autogroups_on():
            group = Path(f"/proc/{pid}/autogroup").read_text()
            assert group.split()[-1] == str(NICE), group
            main = _main_workers(stack, "auth.fcgi")[0]
            assert Path(f"/proc/{main}/autogroup").read_text() != group


@pytest.mark.parametrize("binary", ["auth.fcgi", "api.fcgi"])
def test_fast_route_processes_keep_their_priority(stack, binary):
    for pid in _main_workers(stack, binary):
        assert _stat_nice(f"/proc/{pid}/stat") == 0, pid


# ----------------------------------------------------------- admission

@pytest.fixture(scope="module")
def admit_web(stack):
    """A web with one login process at cost 12 that trusts 127.0.0.1 as
    a proxy (so that the test picks its client address); stopped at the
    end of the module."""
    base_url = http_web(stack, ADMIT_WEB, main_port(stack) + ADMIT_OFFSET,
                        {"BCRYPT_COST": "12", "COOKIE_SECURE": "0",
                         "TRUSTED_PROXIES": "127.0.0.1", "LOGIN_PROCS": "1"})
    yield base_url
    run_stack("web-down", INSTANCE, ADMIT_WEB)


def _throttle_rows(db):
    return {(scope, bytes(key)): failures for scope, key, failures in
            db.all("SELECT scope, key_hash, failures FROM login_throttle")}


def _flood(base_url, addr, user, n):
    """n logins at once; [(status, headers, body, seconds)] in any order,
    or an exception's text in place of the status."""
    results = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def one():
        client = ForwardedClient(base_url, addr)
        start.wait(timeout=30)
        t0 = time.monotonic()
        try:
            resp = client.login(username=user["username"],
                                password=user["password"],
                                token_delivery="body")
            item = (resp.status_code, resp.headers, resp.text,
                    time.monotonic() - t0)
        except Exception as e:          # a hang ends as a timeout
            item = (repr(e), {}, "", time.monotonic() - t0)
        with lock:
            results.append(item)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=HUNG)
    assert not any(t.is_alive() for t in threads), "a login hung"
    return results


def test_logins_past_capacity_are_refused_unhashed_and_uncounted(
        stack, db, admit_web):
    pids = workers_of(stack.rundir / f"web-{ADMIT_WEB}" / "bin" /
                      "login.fcgi")
    assert len(pids) == 1, pids
    user = create_user(stack, db, prefix="admitflood", cost=12)
    addr = fresh_address()
    # One login first: the process is up, the user's hash is at cost 12.
    first = ForwardedClient(admit_web, addr).login(
        username=user["username"], password=user["password"])
    assert first.status_code == 200, first.text
    before = _throttle_rows(db)

    results = _flood(admit_web, addr, user, CONCURRENT)

    statuses = sorted(str(r[0]) for r in results)
    assert len(results) == CONCURRENT
    assert set(statuses) <= {"200", "503"}, statuses
    refused = [r for r in results if r[0] == 503]
    ok = [r for r in results if r[0] == 200]
    assert refused, f"no login was refused: {statuses}"
    assert ok, f"no login was served: {statuses}"
    for status, headers, text, _ in refused:
        body = json.loads(text)
        assert body["error"] == "temporarily_unavailable", body
        assert isinstance(body.get("error_description"), str), body
        assert int(headers["Retry-After"]) >= 1, headers
        assert headers["Content-Type"].startswith("application/json")
        assert headers["Cache-Control"] == "no-store"

    # Each 200 is one session, stored once.
    sids = [claims_of(json.loads(r[2])["access_token"])["sid"] for r in ok]
    assert len(set(sids)) == len(sids), sids
    stored = {row[0] for row in db.all(
        "SELECT id::text FROM sessions WHERE user_id = %s", (user["id"],))}
    assert set(sids) <= stored
    assert len(stored) == len(ok) + 1, (len(stored), len(ok))

    # The limiter: every served login was counted and settled, the
    # refused ones never counted. No key holds more failures than before
    # (a refused login counted would leave one more under this address,
    # and past four the pair key would block the next login).
    after = _throttle_rows(db)
    grown = {k: (before.get(k, 0), v) for k, v in after.items()
             if v > before.get(k, 0)}
    assert not grown, grown
    again = ForwardedClient(admit_web, addr).login(
        username=user["username"], password=user["password"])
    assert again.status_code == 200, again.text
    assert_invariants(db, users="t_admitflood_%")


def test_refused_login_leaves_no_copy_of_the_password(stack, db, admit_web):
    """The refusal reads the body (the password) through libfcgi and wipes
    it, as a served request's is."""
    user = create_user(stack, db, prefix="admitwipe", cost=12,
                       password="admission-wipe-" + os.urandom(12).hex())
    results = _flood(admit_web, fresh_address(), user, CONCURRENT)
    assert any(r[0] == 503 for r in results), \
        sorted(str(r[0]) for r in results)
    pids = workers_of(stack.rundir / f"web-{ADMIT_WEB}" / "bin" /
                      "login.fcgi")
    needle = {"password": user["password"][FREED_HEAD:].encode()}
    deadline = time.monotonic() + 3
    while True:
        found = _copies(pids, needle)["password"]
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not found, found
