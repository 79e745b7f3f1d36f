"""Issue 11: the shipped Apache 2.4 + mod_fcgid + mod_ssl recipe
(deploy/apache/), started once for this module by `stack.sh recipe-up
INSTANCE apache` (deploy/dev/recipes/apache.sh) as the service user, on
the instance's database, with a CA and certificate made for the run.

- the contract smoke over TLS, with COOKIE_SECURE=1 (__Secure- cookie);
- the plain-http virtual host only redirects, to the same path on https;
- a responder killed with SIGKILL, idle or in the middle of a login, is
  replaced by mod_fcgid and the next request is served (the one it was
  serving gets Apache's error, which the site words as API.md's JSON);
- a graceful restart (SIGUSR1 to Apache: mod_fcgid sends SIGTERM to every
  responder) lets a login in hand finish with 200;
- a login flood (4x the login processes, cost 12) does not stall refresh.
  mod_fcgid gives a process one request at a time and keeps the rest
  waiting for a free process of the class (it looks again once a second,
  for about a minute, then answers 503 itself): so under Apache the
  logins past capacity wait in Apache, not in login.fcgi's bounded queue,
  and what is asserted is that every one of them is answered, 200 or a
  refusal with Retry-After, long before a hang, while refresh, in its own
  class, keeps answering 200.
"""

import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import INSTANCE, assert_invariants, create_user, run_stack
from deploy_smoke import contract_smoke, recipe_env, recipe_port
from latchlib import Client, json_body, rotate_body
from test_memory_hygiene import workers_of

KIND = "apache"
LOGIN_PROCS = 2         # the login class's processes in this recipe
FLOOD = 4 * LOGIN_PROCS
HUNG = 60               # seconds: an answer later than this is a hang
FLOOD_ANSWER_MAX = 45   # every flood login answered by then (5-10 s seen)
REFRESH_MAX = 5         # seconds: a refresh slower than this is stalled


def _recipe_dir(stack):
    assert stack.rundir is not None, "var/INSTANCE.rundir missing"
    return stack.rundir / f"recipe-{KIND}"


def _cpu_ticks(pid):
    """utime + stime of pid, in clock ticks (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def _wait_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _alive(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = [ln for ln in status.splitlines() if ln.startswith("State:")]
    return bool(state) and "Z" not in state[0].split()[1]


@pytest.fixture(scope="module")
def apache(stack):
    """The recipe's URLs and CA file: {"base", "redirect", "ca", "dir"}."""
    port = recipe_port(stack, "apache-tls")
    env = dict(recipe_env(), LOGIN_PROCS=str(LOGIN_PROCS),
               APACHE_REDIRECT_PORT=str(recipe_port(stack,
                                                    "apache-redirect")))
    run_stack("recipe-down", INSTANCE, KIND, env=env)   # a crash's leftovers
    proc = run_stack("recipe-up", INSTANCE, KIND, str(port),
                     "COOKIE_SECURE=1", "BCRYPT_COST=12", env=env)
    assert proc.returncode == 0, \
        f"recipe-up {KIND} failed: {proc.stderr.decode()[-3000:]}"
    out = dict(line.split("=", 1) for line in
               proc.stdout.decode().splitlines() if "=" in line)
    yield {"base": out["BASE_URL"], "redirect": out["REDIRECT_URL"],
           "ca": out["CA_FILE"], "dir": _recipe_dir(stack)}
    down = run_stack("recipe-down", INSTANCE, KIND, env=env)
    assert down.returncode == 0, down.stderr.decode()[-2000:]
    with pytest.raises(AssertionError, match="no process runs"):
        workers_of(_recipe_dir(stack) / "bin" / "login.fcgi")


def test_contract_smoke_over_tls(stack, db, apache):
    assert apache["base"] == \
        f"https://127.0.0.1:{recipe_port(stack, 'apache-tls')}"
    contract_smoke(stack, db, apache["base"], secure=True,
                   verify=apache["ca"])


def test_responder_sockets_are_the_web_servers_alone(apache):
    """mod_fcgid's sockets (one a process) are Unix sockets only their
    owner, the user Apache runs as, can open, in a directory of its own."""
    client = Client(apache["base"], verify=apache["ca"])
    for path in ("/auth/login", "/auth/refresh", "/api/health"):
        client.request("GET", path)     # a process of each family
    ipc = apache["dir"] / "fcgid"
    assert ipc.stat().st_mode & 0o077 == 0, oct(ipc.stat().st_mode)
    socks = [p for p in ipc.iterdir() if stat.S_ISSOCK(p.lstat().st_mode)]
    assert len(socks) >= 3, socks
    for sock in socks:
        st = sock.lstat()
        assert st.st_mode & 0o077 == 0, (sock, oct(st.st_mode))
        assert st.st_uid == ipc.stat().st_uid, sock


def test_certificate_is_checked(apache):
    """The https site is really TLS with the run's own CA: without it the
    certificate is refused (so the smoke's verify was not a formality)."""
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(apache["base"] + "/api/health", timeout=10)


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/health"), ("GET", "/auth/sessions?x=1"), ("GET", "/"),
    ("POST", "/auth/login"), ("POST", "/auth/refresh")])
def test_plain_http_only_redirects_to_the_same_path(stack, apache, method,
                                                    path):
    assert apache["redirect"] == \
        f"http://127.0.0.1:{recipe_port(stack, 'apache-redirect')}"
    resp = requests.request(method, apache["redirect"] + path,
                            json={"username": "x", "password": "y"}
                            if method == "POST" else None,
                            allow_redirects=False, timeout=10)
    assert resp.status_code in (301, 308), (resp.status_code, resp.text)
    assert resp.headers["Location"] == apache["base"] + path
    # Nothing of latch answered: no JSON, no cookie.
    assert "Set-Cookie" not in resp.headers
    assert not resp.headers.get("Content-Type", "").startswith(
        "application/json")


def test_killed_responders_are_replaced(stack, db, apache):
    client = Client(apache["base"], verify=apache["ca"])
    user = create_user(stack, db, prefix="apkill")
    # Every family has a process: a login, a refresh, a health.
    resp = client.login(username=user["username"], password=user["password"],
                        token_delivery="body")
    assert resp.status_code == 200, resp.text
    token, _ = rotate_body(client, json_body(resp)["refresh_token"])
    assert client.request("GET", "/api/health").status_code == 200
    bin_dir = apache["dir"] / "bin"
    killed = {b: workers_of(bin_dir / b)
              for b in ("login.fcgi", "auth.fcgi", "api.fcgi")}
    for pids in killed.values():
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    everyone = [p for pids in killed.values() for p in pids]
    assert _wait_gone(everyone, 10), "SIGKILL did not end the responders"

    # The next request of each family is served, by a new process.
    resp = client.request("GET", "/api/health")
    assert resp.status_code == 200, resp.text
    token, _ = rotate_body(client, token)
    resp = client.login(username=user["username"], password=user["password"],
                        token_delivery="body")
    assert resp.status_code == 200, resp.text
    for binary, pids in killed.items():
        now = workers_of(bin_dir / binary)
        assert not set(now) & set(pids), (binary, pids, now)
    assert_invariants(db, users="t_apkill_%")


class LoginInFlight:
    """A login of user (a cost-13 hash: long enough to act during it)
    started in a thread once the login pool is up; .busy is the pid of the
    login process that started hashing it, found by its CPU time."""

    def __init__(self, client, user, login_bin):
        # A login first, so that the pool is up and the next one only
        # hashes.
        first = client.login(username=user["username"],
                             password=user["password"], token_delivery="body")
        assert first.status_code == 200, first.text
        before = {p: _cpu_ticks(p) for p in workers_of(login_bin)}
        self.result = {}
        self.thread = threading.Thread(target=self._login,
                                       args=(client, user))
        self.thread.start()
        self.busy = None
        deadline = time.monotonic() + 10
        while self.busy is None and time.monotonic() < deadline \
                and "at" not in self.result:
            for pid in workers_of(login_bin):
                ticks = _cpu_ticks(pid)
                before.setdefault(pid, ticks)   # a process spawned now
                if ticks >= before[pid] + 5:    # 50 ms of hashing
                    self.busy = pid
            time.sleep(0.01)
        assert self.busy is not None, \
            f"no login process started hashing: {self.result}"
        self.acted = time.monotonic()

    def _login(self, client, user):
        try:
            self.result["resp"] = client.login(username=user["username"],
                                               password=user["password"],
                                               token_delivery="body")
        except requests.RequestException as e:
            self.result["error"] = repr(e)
        self.result["at"] = time.monotonic()

    def answer(self):
        """The login's response, once it came after the action."""
        self.thread.join(timeout=HUNG)
        assert not self.thread.is_alive(), "the login hung"
        assert "resp" in self.result, self.result
        assert self.result["at"] > self.acted, "the login ended before"
        return self.result["resp"]


def test_responder_killed_mid_request_is_replaced(stack, db, apache):
    """SIGKILL to a login process in the middle of a hash: that request
    gets Apache's own error, in API.md's JSON shape, and the next login is
    served by a new process."""
    client = Client(apache["base"], verify=apache["ca"])
    user = create_user(stack, db, prefix="apmid", cost=13)
    login_bin = apache["dir"] / "bin" / "login.fcgi"
    flight = LoginInFlight(client, user, login_bin)
    os.kill(flight.busy, signal.SIGKILL)
    resp = flight.answer()
    assert resp.status_code == 500, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    assert json_body(resp)["error"] == "server_error"
    resp = client.login(username=user["username"], password=user["password"],
                        token_delivery="body")
    assert resp.status_code == 200, resp.text
    assert flight.busy not in workers_of(login_bin)
    assert_invariants(db, users="t_apmid_%")


def test_graceful_restart_lets_a_busy_login_finish(stack, db, apache):
    """SIGUSR1 to Apache (apachectl graceful, logrotate): mod_fcgid's
    process manager restarts and sends SIGTERM to every responder; the one
    in the middle of a login's hash answers it (200), then exits."""
    user = create_user(stack, db, prefix="apgrace", cost=13)
    client = Client(apache["base"], verify=apache["ca"])
    flight = LoginInFlight(client, user, apache["dir"] / "bin" / "login.fcgi")
    apache_pid = int((apache["dir"] / "apache2.pid").read_text().split()[0])
    os.kill(apache_pid, signal.SIGUSR1)
    resp = flight.answer()
    assert resp.status_code == 200, resp.text
    assert _wait_gone([flight.busy], 15), "the busy process did not exit"
    # The restarted server serves.
    deadline = time.monotonic() + 15
    while True:
        try:
            resp = client.request("GET", "/api/health")
            if resp.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "no health answer after restart"
        time.sleep(0.2)
    assert_invariants(db, users="t_apgrace_%")


def test_web_server_errors_are_json(apache):
    """A body over FcgidMaxRequestLen never reaches latch: Apache refuses
    it (mod_fcgid's 500), in API.md's shape all the same."""
    client = Client(apache["base"], verify=apache["ca"])
    resp = client.request("POST", "/auth/login", body=b"{" + b" " * 70000 +
                          b"}", content_type="application/json")
    assert resp.status_code == 500, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = json_body(resp)
    assert body["error"] == "server_error"
    assert isinstance(body["error_description"], str)


def test_login_flood_does_not_stall_refresh(stack, db, apache):
    client = Client(apache["base"], verify=apache["ca"])
    flooders = [create_user(stack, db, prefix="apflood", cost=12)
                for _ in range(LOGIN_PROCS)]
    refresher = create_user(stack, db, prefix="aprefresh")
    resp = client.login(username=refresher["username"],
                        password=refresher["password"], token_delivery="body")
    assert resp.status_code == 200, resp.text
    token = json_body(resp)["refresh_token"]
    # The login pool up before the flood.
    for user in flooders:
        resp = client.login(username=user["username"],
                            password=user["password"], token_delivery="body")
        assert resp.status_code == 200, resp.text

    logins = []
    refreshes = []
    lock = threading.Lock()
    start = threading.Barrier(FLOOD + 1)
    flooding = threading.Event()
    flooding.set()

    def login(user):
        start.wait(timeout=30)
        t0 = time.monotonic()
        try:
            r = client.login(username=user["username"],
                             password=user["password"], token_delivery="body")
            item = (r.status_code, r.headers, time.monotonic() - t0)
        except requests.RequestException as e:
            item = (repr(e), {}, time.monotonic() - t0)
        with lock:
            logins.append(item)

    def refresh_loop():
        nonlocal token
        start.wait(timeout=30)
        for _ in range(2000):                   # bounded; ends with flood
            if not flooding.is_set():
                break
            t0 = time.monotonic()
            try:
                r = client.refresh(token)
                status = r.status_code
                if status == 200:
                    token = json_body(r)["refresh_token"]
            except requests.RequestException as e:
                status = repr(e)
            refreshes.append((status, time.monotonic() - t0))
            time.sleep(0.05)

    threads = [threading.Thread(target=login, args=(flooders[i % LOGIN_PROCS],))
               for i in range(FLOOD)]
    refresher_thread = threading.Thread(target=refresh_loop)
    refresher_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=HUNG)
    flooding.clear()
    refresher_thread.join(timeout=HUNG)
    assert not any(t.is_alive() for t in threads), "a login hung"
    assert not refresher_thread.is_alive(), "a refresh hung"

    assert len(logins) == FLOOD
    for status, headers, seconds in logins:
        assert status == 200 or (status in (429, 503) and
                                 int(headers["Retry-After"]) >= 1), \
            (status, dict(headers))
        assert seconds < FLOOD_ANSWER_MAX, (status, seconds)
    assert any(item[0] == 200 for item in logins), logins
    # Refresh kept answering, each in far less than a stall, all along.
    assert len(refreshes) >= 3, refreshes
    assert all(status == 200 for status, _ in refreshes), refreshes
    slowest = max(seconds for _, seconds in refreshes)
    assert slowest < REFRESH_MAX, refreshes
    assert_invariants(db, users="t_apflood_%")
    assert_invariants(db, users="t_aprefresh_%")
