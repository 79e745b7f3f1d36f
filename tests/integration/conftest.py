"""Fixtures for the black-box integration tests.

The stack under test is started by `deploy/dev/stack.sh up INSTANCE` (the
Makefile does it before pytest); the instance name comes from
LATCH_INSTANCE (default "check") and the files stack.sh writes under var/
tell us where it is. Binaries come from BIN_DIR (default build/).

The main web and the few extra webs that need persistent processes are
lighttpd + fcgi pairs; every other extra web only varies settings and is
answered as CGI (see Webs).
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests

from latchlib import CgiSite, Client, parse_key_list, serve_as_cgi

REPO = Path(__file__).resolve().parents[2]
INSTANCE = os.environ.get("LATCH_INSTANCE", "check")
BIN_DIR = Path(os.environ.get("BIN_DIR", str(REPO / "build")))
STACK_SH = REPO / "deploy" / "dev" / "stack.sh"
VAR = REPO / "var"


def _read_kv(path):
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        out[k.strip()] = v.strip()
    return out


class Stack:
    """What var/INSTANCE.* say about the running instance."""

    def __init__(self, instance):
        self.instance = instance
        env_file = VAR / f"{instance}.env"
        if not env_file.exists():
            pytest.fail(f"{env_file} missing: is `stack.sh up {instance}` "
                        "running?", pytrace=False)
        env = _read_kv(env_file)
        self.base_url = env["BASE_URL"]
        self.database_url = env["DATABASE_URL"]
        secrets = _read_kv(VAR / f"{instance}.secrets")
        self.access_secret_spec = secrets["JWT_ACCESS_SECRET"]
        self.refresh_secret_spec = secrets["JWT_REFRESH_SECRET"]
        self.access_keys = parse_key_list(self.access_secret_spec)
        self.refresh_keys = parse_key_list(self.refresh_secret_spec)
        demo = VAR / f"{instance}.demo"
        self.demo_password = demo.read_text().strip() if demo.exists() else None
        rundir = VAR / f"{instance}.rundir"
        self.rundir = Path(rundir.read_text().strip()) if rundir.exists() \
            else None

    @property
    def access_kid(self):
        return self.access_keys[0][0]

    @property
    def access_secret(self):
        return self.access_keys[0][1]

    @property
    def refresh_kid(self):
        return self.refresh_keys[0][0]

    @property
    def refresh_secret(self):
        return self.refresh_keys[0][1]


class Db:
    """A fresh autocommit connection per call, so that the tests survive the
    health test's database stop and restart."""

    def __init__(self, url):
        self.url = url

    def _run(self, sql, params, fetch):
        conn = psycopg2.connect(self.url, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                if fetch == "all":
                    return cur.fetchall()
                if fetch == "one":
                    return cur.fetchone()
                return cur.rowcount
        finally:
            conn.close()

    def all(self, sql, params=()):
        return self._run(sql, params, "all")

    def one(self, sql, params=()):
        return self._run(sql, params, "one")

    def scalar(self, sql, params=()):
        row = self.one(sql, params)
        return None if row is None else row[0]

    def execute(self, sql, params=()):
        return self._run(sql, params, None)


INVARIANTS_SQL = REPO / "tests" / "invariants.sql"


def invariant_violations(db, grace="10s", users="%"):
    """The rows of tests/invariants.sql: (invariant, offenders, example) for
    every invariant broken among the rows of users whose username is LIKE
    `users`, written by servers whose REFRESH_REUSE_GRACE is `grace`."""
    conn = psycopg2.connect(db.url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('latch.grace', %s, false), "
                        "set_config('latch.users', %s, false)",
                        (grace, users))
            cur.execute(INVARIANTS_SQL.read_text())
            return cur.fetchall()
    finally:
        conn.close()


def assert_invariants(db, grace="10s", users="%"):
    """Every load and fault test ends with this (issue 13)."""
    broken = invariant_violations(db, grace=grace, users=users)
    assert broken == [], f"invariants broken: {broken}"


def unique_name(prefix="u"):
    return f"t_{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def stack():
    return Stack(INSTANCE)


@pytest.fixture(scope="session")
def db(stack):
    return Db(stack.database_url)


@pytest.fixture(scope="session")
def client(stack):
    return Client(stack.base_url)


@pytest.fixture(scope="session")
def bin_dir():
    return BIN_DIR


def latchctl_user_add(stack, username, password, email=None, cost=4):
    """Runs `latchctl user add`; returns the CompletedProcess."""
    argv = [str(BIN_DIR / "latchctl"), "user", "add", username,
            "--password-stdin"]
    if email is not None:
        argv += ["--email", email]
    env = dict(os.environ, DATABASE_URL=stack.database_url,
               BCRYPT_COST=str(cost))
    return subprocess.run(argv, input=(password + "\n").encode(), env=env,
                          capture_output=True, timeout=60)


def create_user(stack, db, prefix="u", password=None, email=None, cost=4,
                username=None):
    """Creates a user with latchctl (bcrypt cost 4 unless told) and returns
    {"id", "username", "password", "email"}."""
    username = username or unique_name(prefix)
    password = password if password is not None else "pw-" + uuid.uuid4().hex
    proc = latchctl_user_add(stack, username, password, email, cost)
    assert proc.returncode == 0, \
        f"latchctl user add failed ({proc.returncode}): {proc.stderr!r}"
    uid = db.scalar("SELECT id FROM users WHERE username = %s", (username,))
    assert uid is not None, "latchctl reported success but no row"
    return {"id": uid, "username": username, "password": password,
            "email": email}


@pytest.fixture
def make_user(stack, db):
    """Factory fixture around create_user."""

    def make(**kw):
        return create_user(stack, db, **kw)

    return make


@pytest.fixture
def insert_user(db):
    """Factory: inserts a user row with the given password_hash by SQL
    (as an operator may); returns {"id", "username"}."""

    def insert(password_hash, prefix="sql", email=None):
        username = unique_name(prefix)
        uid = db.scalar(
            "INSERT INTO users (username, email, password_hash) "
            "VALUES (%s, %s, %s) RETURNING id",
            (username, email, password_hash))
        return {"id": uid, "username": username}

    return insert


def run_stack(*args, timeout=120, env=None):
    return subprocess.run([str(STACK_SH), *args], capture_output=True,
                          timeout=timeout, cwd=str(REPO), env=env)


def wait_http(base_url, timeout=10.0):
    """Polls GET /api/health until any HTTP answer (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(base_url + "/api/health", timeout=3)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main_port(stack):
    return int(stack.base_url.rsplit(":", 1)[1].split("/")[0])


def http_web(stack, name, port, settings):
    """Starts web name (a lighttpd + fcgi pair, stack.sh web-up) on port
    with the main web's settings and these overrides; its base URL.
    LOGIN_PROCS among them is web.sh's (the login pool's processes), not
    a setting of latch."""
    settings = dict(settings)
    procs = settings.pop("LOGIN_PROCS", None)
    env = None if procs is None else dict(os.environ, LOGIN_PROCS=procs)
    run_stack("web-down", INSTANCE, name)     # leftovers of a crash
    proc = run_stack("web-up", INSTANCE, name, str(port),
                     *[f"{k}={v}" for k, v in settings.items()], env=env)
    assert proc.returncode == 0, \
        f"stack.sh web-up {name} failed: {proc.stderr.decode()[-2000:]}"
    base_url = f"http://127.0.0.1:{port}"
    wait_http(base_url)
    return base_url


def cgi_web(stack, name, port, settings):
    """Web name answered as CGI (latchlib.CgiSite) at the base URL of port,
    with the main web's settings and these overrides (stack.sh web-conf
    writes its latch.conf); its base URL."""
    proc = run_stack("web-conf", INSTANCE, name,
                     *[f"{k}={v}" for k, v in settings.items()])
    assert proc.returncode == 0, \
        f"stack.sh web-conf {name} failed: {proc.stderr.decode()[-2000:]}"
    conf = proc.stdout.decode().strip().partition("LATCH_CONFIG=")[2]
    assert conf, proc.stdout
    base_url = f"http://127.0.0.1:{port}"
    serve_as_cgi(base_url, CgiSite(BIN_DIR, {"LATCH_CONFIG": conf},
                                   log=fcgi_log_path(stack, name)))
    return base_url


class Webs:
    """The extra webs of a pytest run, on the instance's database: each is
    the main web's settings with overrides (stack.sh writes its latch.conf
    and keeps its files in RUNDIR/web-NAME), started once under its name,
    always with the same port offset and settings.

    A web that only varies settings is answered as CGI (latchlib.CgiSite):
    a process per request, nothing to start or stop. One that needs
    persistent processes (timing, concurrent requests, a raw socket) is a
    lighttpd + fcgi pair of its own (stack.sh web-up)."""

    def __init__(self, stack):
        self.stack = stack
        self.started = {}

    def start(self, name, offset, settings, persistent=False):
        """The base URL of web name on the main web's port + offset."""
        key = (offset, settings, persistent)
        if name in self.started:
            assert self.started[name][0] == key, \
                f"web {name} started before with other settings"
            return self.started[name][1]
        port = main_port(self.stack) + offset
        start = http_web if persistent else cgi_web
        base_url = start(self.stack, name, port, settings)
        self.started[name] = (key, base_url)
        return base_url

    def stop(self):
        for name, ((_, _, persistent), _) in self.started.items():
            if persistent:
                run_stack("web-down", INSTANCE, name)


@pytest.fixture(scope="session")
def webs(stack):
    w = Webs(stack)
    yield w
    w.stop()


@pytest.fixture(scope="session")
def web_instance(webs):
    """Factory: web_instance(name, offset, **settings) is a Client of an
    extra web with setting overrides, answered as CGI. offset: 0..9, the
    port is the main web's port + 10 + offset (so that the check and asan
    instances never collide)."""

    def start(name, offset, **settings):
        assert 0 <= offset <= 9
        return Client(webs.start(name, 10 + offset, settings))

    return start


@pytest.fixture(scope="session")
def http_web_instance(webs):
    """web_instance, but a lighttpd + fcgi pair: for the tests that need
    persistent processes (concurrent requests, raw HTTP)."""

    def start(name, offset, **settings):
        assert 0 <= offset <= 9
        return Client(webs.start(name, 10 + offset, settings,
                                 persistent=True))

    return start


def revoke_session(db, sid):
    """Ends session sid the way an operator would (UPDATE revoked_at; the
    schema pairs it with revoked_reason when it has that column)."""
    has_reason = db.scalar(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'sessions' AND column_name = 'revoked_reason'")
    if has_reason:
        return db.execute("UPDATE sessions SET revoked_at = now(), "
                          "revoked_reason = 'revoked' WHERE id = %s", (sid,))
    return db.execute("UPDATE sessions SET revoked_at = now() WHERE id = %s",
                      (sid,))


# ------------------------------------------------ refresh-token lifecycle
#
# Extra web instances of the refresh/logout/sessions tests (offsets 4..8 of
# web_instance; 0..3 belong to the older tests: shortaccess, securecookie,
# smallbody, rotatedkeys). securecookie is shared: same name, offset and
# settings as test_login.py uses.

LIFECYCLE = "lifecycle"


@pytest.fixture(scope="session")
def web(http_web_instance):
    """The instance most refresh/logout/sessions tests talk to: the main
    web's settings with BCRYPT_COST=4, so that their hundreds of logins take
    milliseconds instead of a cost-12 bcrypt each (the refresh paths never
    hash a password). A few tests also run on the main web (`client`). A
    lighttpd web: test_refresh_concurrency.py races requests,
    test_sessions.py sends raw HTTP, and its thousands of requests are
    cheaper so."""
    return http_web_instance(LIFECYCLE, 8, COOKIE_SECURE="0",
                             BCRYPT_COST="4")


def secure_web_of(web_instance):
    return web_instance("securecookie", 1, COOKIE_SECURE="1")


@pytest.fixture(scope="session")
def secure_web(web_instance):
    """COOKIE_SECURE=1: the cookie is __Secure-refresh_token."""
    return secure_web_of(web_instance)


@pytest.fixture(scope="session")
def grace1s_web(web_instance):
    """REFRESH_REUSE_GRACE=1s: the duplicate window closes quickly."""
    return web_instance("grace1s", 4, COOKIE_SECURE="0", BCRYPT_COST="4",
                        REFRESH_REUSE_GRACE="1s")


@pytest.fixture(scope="session")
def reuse_user_web(web_instance):
    """REUSE_REVOKES=user."""
    return web_instance("reuseuser", 5, COOKIE_SECURE="0", BCRYPT_COST="4",
                        REUSE_REVOKES="user")


LIFETIME_REFRESH = 3      # JWT_REFRESH_EXPIRES of the lifetimes instance
LIFETIME_SESSION = 8      # SESSION_MAX_AGE of the lifetimes instance


@pytest.fixture(scope="session")
def lifetimes_web(web_instance):
    """Second-scale lifetimes: 3 s of inactivity, 8 s absolute."""
    return web_instance("lifetimes", 6, COOKIE_SECURE="0", BCRYPT_COST="4",
                        JWT_REFRESH_EXPIRES=f"{LIFETIME_REFRESH}s",
                        SESSION_MAX_AGE=f"{LIFETIME_SESSION}s",
                        REFRESH_REUSE_GRACE="1s")


ALLOWED_ORIGIN = "https://app.example.com"


@pytest.fixture(scope="session")
def origins_web(web_instance):
    """ALLOWED_ORIGINS=https://app.example.com."""
    return web_instance("origins", 7, COOKIE_SECURE="0", BCRYPT_COST="4",
                        ALLOWED_ORIGINS=ALLOWED_ORIGIN)


def fcgi_log_path(stack, web_name=None):
    """The fcgi stderr log of the main web, or of extra web web_name."""
    assert stack.rundir is not None, "var/INSTANCE.rundir missing"
    base = stack.rundir if web_name is None else stack.rundir / \
        f"web-{web_name}"
    return base / "fcgi.stderr.log"


class LogTail:
    """Lines appended to a log file after construction."""

    def __init__(self, path):
        self.path = Path(path)
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def lines(self):
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.start)
            data = f.read()
        return data.decode("utf-8", "replace").splitlines()

    def wait_for(self, predicate, timeout=3.0):
        """The new lines once one satisfies predicate (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if any(predicate(line) for line in lines) or \
                    time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def session_row(db, sid):
    """{"revoked_at", "revoked_reason", "last_used_at", "idle_expires_at",
    "absolute_expires_at", "created_at"} of session sid, or None."""
    row = db.one("SELECT revoked_at, revoked_reason, last_used_at, "
                 "idle_expires_at, absolute_expires_at, created_at "
                 "FROM sessions WHERE id = %s", (sid,))
    if row is None:
        return None
    keys = ("revoked_at", "revoked_reason", "last_used_at",
            "idle_expires_at", "absolute_expires_at", "created_at")
    return dict(zip(keys, row))


def token_rows(db, sid):
    """[(id, token_hash bytes, rotated_at, successor_id), ...] of session
    sid's refresh_tokens rows, oldest first."""
    return [(r[0], bytes(r[1]), r[2], r[3]) for r in db.all(
        "SELECT t.id, t.token_hash, t.rotated_at, (SELECT s.id FROM "
        "refresh_tokens s WHERE s.predecessor_id = t.id) FROM refresh_tokens t "
        "WHERE t.session_id = %s ORDER BY t.id", (sid,))]


# ------------------------------------------------ security hardening
#
# Extra web instances of the hardening tests (test_key_rotation.py,
# test_rate_limit.py, test_login_timing.py, test_signup.py,
# test_hostile_input.py, test_disabled_users.py). Their base URLs are the
# main web's port + 40..59, clear of web_instance's + 10..19 (+ 53: the CGI
# web of test_check_order.py).

@pytest.fixture(scope="session")
def harden_web(webs):
    """Factory: harden_web(name, offset, **settings) is the base URL of an
    extra web with setting overrides on the main web's port + offset
    (40..59), answered as CGI. A name must always come with the same offset
    and settings."""

    def start(name, offset, **settings):
        assert 40 <= offset <= 59
        return webs.start(name, offset, settings)

    return start


@pytest.fixture(scope="session")
def http_harden_web(webs):
    """harden_web, but a lighttpd + fcgi pair: for timing, and for what
    lighttpd itself does (listening on [::1])."""

    def start(name, offset, **settings):
        assert 40 <= offset <= 59
        return webs.start(name, offset, settings, persistent=True)

    return start


@pytest.fixture
def proxy_web(harden_web):
    """Base URL of an instance with TRUSTED_PROXIES=127.0.0.1: talk to it
    through latchlib.ForwardedClient to choose the client address."""
    return harden_web("proxy", 40, COOKIE_SECURE="0",
                      TRUSTED_PROXIES="127.0.0.1")


@pytest.fixture
def fast_proxy_web(harden_web):
    """proxy_web's settings with cheap hashes (BCRYPT_COST=4), for the
    tests that count failures one attempt after another
    (test_rate_limit.py, test_device_tokens.py): what the limiter counts
    and blocks does not depend on what a check costs, and at the default
    cost each of their hundreds of wrong guesses took a cost-12 bcrypt's
    padding (about 0.4 s). The tests whose point is what a check costs
    (test_login_timing.py) or whose guesses must overlap
    (test_login_limiter.py's races: proxy_http_web) keep the server's
    cost."""
    return harden_web("proxyfast", 49, COOKIE_SECURE="0",
                      TRUSTED_PROXIES="127.0.0.1", BCRYPT_COST="4")


@pytest.fixture
def proxy_http_web(http_harden_web):
    """proxy_web's settings on a lighttpd web, for the timing and race
    tests: logins within warm, persistent processes. A login process for
    each of the (up to ten) guesses a race test sends at once, so that all
    of them run at the same time and none waits in a login process's queue
    (where, past its wait bound, it would be refused unhashed and
    uncounted: test_login_admission.py)."""
    return http_harden_web("proxyhttp", 52, COOKIE_SECURE="0",
                           TRUSTED_PROXIES="127.0.0.1", LOGIN_PROCS="10")


@pytest.fixture
def fast_proxy_http_web(http_harden_web):
    """fast_proxy_web's settings (BCRYPT_COST=4) on a lighttpd web, for
    test_login_limiter.py's attempts one after another."""
    return http_harden_web("proxyhttp4", 54, COOKIE_SECURE="0",
                           TRUSTED_PROXIES="127.0.0.1", BCRYPT_COST="4")


@pytest.fixture
def signup_web(harden_web):
    """Base URL of an instance with ALLOW_SIGNUP=1 and BCRYPT_COST=5 (cheap
    sign-ups, and a cost that shows the setting is used) that also trusts
    127.0.0.1 as a proxy (sign-ups count against the limiter: give each
    its own address with ForwardedClient)."""
    return harden_web("signup", 41, COOKIE_SECURE="0", ALLOW_SIGNUP="1",
                      TRUSTED_PROXIES="127.0.0.1", BCRYPT_COST="5")


# ------------------------------------------------ operator tooling
#
# test_latchctl.py, test_purge.py and test_pg_cron.py use the main web's
# port + 60..79: + 60 web "purgedb" (on a database of its own), + 61 web
# "genkeys", + 70 the pg_cron instance "cron<INSTANCE>" (LATCH_CRON_PORT
# overrides). Their latchctl helpers are in latchlib.py (run_latchctl).
