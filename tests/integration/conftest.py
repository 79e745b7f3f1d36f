"""Fixtures for the black-box integration tests.

The stack under test is started by `deploy/dev/stack.sh up INSTANCE` (the
Makefile does it before pytest); the instance name comes from
LATCH_INSTANCE (default "check") and the files stack.sh writes under var/
tell us where it is. Binaries come from BIN_DIR (default build/).
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests

from latchlib import Client, parse_key_list

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


def run_stack(*args, timeout=120):
    return subprocess.run([str(STACK_SH), *args], capture_output=True,
                          timeout=timeout, cwd=str(REPO))


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


@pytest.fixture(scope="session")
def web_instance(stack):
    """Factory: starts (once per session) an extra lighttpd+fcgi pair with
    setting overrides against the same database; returns a Client."""
    started = {}

    main_port = int(stack.base_url.rsplit(":", 1)[1].split("/")[0])

    def start(name, offset, **settings):
        """offset: 0..9, the port is the main web's port + 10 + offset (so
        that the check and asan instances never collide)."""
        if name in started:
            return started[name]
        assert 0 <= offset <= 9
        port = main_port + 10 + offset
        run_stack("web-down", INSTANCE, name)     # leftovers of a crash
        kv = [f"{k}={v}" for k, v in settings.items()]
        proc = run_stack("web-up", INSTANCE, name, str(port), *kv)
        assert proc.returncode == 0, \
            f"stack.sh web-up {name} failed: {proc.stderr.decode()[-2000:]}"
        base_url = f"http://127.0.0.1:{port}"
        wait_http(base_url)
        started[name] = Client(base_url)
        return started[name]

    yield start
    for name in started:
        run_stack("web-down", INSTANCE, name)


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
