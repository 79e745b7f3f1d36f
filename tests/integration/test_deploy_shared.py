"""Shared hosting (README "Shared hosting"): Apache configured as a host
configures it (deploy/dev/recipes/shared-host.conf: AllowOverride for the
account's directory, nothing of latch), run as an unprivileged user, and
of latch only what a user without root puts in a directory: the shipped
.htaccess of deploy/shared-hosting/, the binaries in public_html/latch/,
and ~/latch.conf, which the binaries find by the no-SetEnv rule (lib/
config.c: LATCH_CONFIG unset, so latch.conf in the home directory of the
user they run as). Each recipe is started once, as plain CGI (shared-cgi)
and as mod_fcgid through .htaccess (shared-fcgid)."""

import http.client
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import INSTANCE, REPO, Db, create_user, run_stack
from deploy_smoke import contract_smoke, recipe_env, recipe_port
from latchlib import (Client, claims_of, json_body, login_body,
                      run_latchctl, sid_of)

KINDS = ("shared-cgi", "shared-fcgid")
SHIPPED = REPO / "deploy" / "shared-hosting"
MIGRATIONS = REPO / "migrations"
BINARIES = ("auth.fcgi", "login.fcgi", "api.fcgi")


def issuer_of(kind):
    """JWT_ISSUER of recipe kind: a value that only its ~/latch.conf holds
    (the main web's is unset), so a token carrying it proves the file was
    read."""
    return f"latch-{kind}-{INSTANCE}"


class Recipe:
    def __init__(self, stack, kind):
        self.kind = kind
        self.dir = stack.rundir / f"recipe-{kind}"
        self.home = self.dir / "home"
        self.docroot = self.home / "public_html"
        self.config = self.home / "latch.conf"
        self.port = recipe_port(stack, kind)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = self.dir / "fcgi.stderr.log"

    def responders(self):
        """{pid: environment} of the latch processes running from the
        site's latch/ directory (mod_fcgid's; CGI ones are gone by the
        time we look)."""
        out = {}
        bin_dir = str(self.docroot / "latch") + "/"
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                exe = os.readlink(p / "exe")
                env = (p / "environ").read_bytes()
            except OSError:
                continue
            if exe.startswith(bin_dir):
                out[int(p.name)] = dict(
                    item.split("=", 1) for item in
                    env.decode("utf-8", "replace").split("\0") if "=" in item)
        return out


def start_recipe(stack, kind):
    env = recipe_env()
    run_stack("recipe-down", INSTANCE, kind, env=env)   # leftovers of a crash
    proc = run_stack("recipe-up", INSTANCE, kind,
                     str(recipe_port(stack, kind)), "COOKIE_SECURE=0",
                     f"JWT_ISSUER={issuer_of(kind)}", env=env)
    assert proc.returncode == 0, \
        f"stack.sh recipe-up {kind} failed: {proc.stderr.decode()[-3000:]}"
    r = Recipe(stack, kind)
    assert f"BASE_URL={r.base_url}" in proc.stdout.decode(), proc.stdout
    return r


def stop_recipe(kind):
    run_stack("recipe-down", INSTANCE, kind, env=recipe_env())


@pytest.fixture(scope="module")
def shared_cgi(stack):
    yield start_recipe(stack, "shared-cgi")
    stop_recipe("shared-cgi")


@pytest.fixture(scope="module")
def shared_fcgid(stack):
    yield start_recipe(stack, "shared-fcgid")
    stop_recipe("shared-fcgid")


@pytest.fixture(scope="module", params=KINDS)
def recipe(request):
    """Each recipe in turn (each started once per run)."""
    return request.getfixturevalue(request.param.replace("-", "_"))


def test_contract_smoke(stack, db, recipe):
    contract_smoke(stack, db, recipe.base_url)


def raw_get(recipe, path):
    """GET path exactly as written (no client-side normalisation of
    '..'); (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", recipe.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_configuration_is_not_reachable_over_http(recipe):
    text = recipe.config.read_bytes()
    secret_line = next(line for line in text.splitlines()
                       if line.startswith(b"JWT_REFRESH_SECRET="))
    secret = secret_line.partition(b"=")[2].split(b":")[-1]
    assert len(secret) >= 32
    # Where it is: outside the document root, private to the account.
    assert recipe.docroot.resolve() not in recipe.config.resolve().parents
    assert stat.S_IMODE(recipe.config.stat().st_mode) == 0o600
    for path in ("/latch.conf", "/../latch.conf", "/%2e%2e/latch.conf",
                 "/latch/../../latch.conf", "/latch/%2e%2e/%2e%2e/latch.conf",
                 "/home/latch.conf", "/latch/latch.conf", "/.htaccess",
                 "/latch/api.fcgi", "/api/../../latch.conf",
                 "/auth/..%2f..%2flatch.conf"):
        status, body = raw_get(recipe, path)
        assert status in (400, 403, 404), (path, status, body[:200])
        assert secret not in body, path
        assert b"JWT_ACCESS_SECRET" not in body, path


def test_nothing_names_the_configuration(recipe):
    """Neither the host's configuration nor the site's .htaccess sets
    LATCH_CONFIG or any environment: the binaries find ~/latch.conf by
    themselves (the no-SetEnv rule)."""
    htaccess = (recipe.docroot / ".htaccess").read_text()
    host = (recipe.dir / "apache.conf").read_text()
    for text in (htaccess, host):
        assert "LATCH_CONFIG" not in text
        assert "SetEnv" not in text
        assert "DefaultInitEnv" not in text
    assert "FcgidInitialEnv" not in htaccess
    assert [line for line in host.splitlines() if "FcgidInitialEnv" in line
            and "SAN_OPTIONS" not in line] == []


def test_binaries_read_the_home_configuration(stack, db, recipe):
    client = Client(recipe.base_url)
    user = create_user(stack, db, prefix="shared")
    body = login_body(client, user)
    # JWT_ISSUER is in ~/latch.conf only.
    assert claims_of(body["access_token"])["iss"] == issuer_of(recipe.kind)
    resp = client.profile(token=body["access_token"])
    assert resp.status_code == 200, resp.text[:300]
    if recipe.kind == "shared-fcgid":
        procs = recipe.responders()
        assert procs, "no mod_fcgid process runs from public_html/latch/"
        for pid, env in procs.items():
            assert "LATCH_CONFIG" not in env, (pid, env)
            assert "HOME" not in env, (pid, env)


def wait_for_log(path, start, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_cgi_refuses_a_configuration_others_can_read(shared_cgi):
    """The file found by the rule must be the account's alone: group
    readable, every CGI start refuses it (one line in the error log) and
    the request fails; chmod 600 again and the next one is served. (As
    plain CGI because it reads the file per request; mod_fcgid's
    processes read it once, at start.)"""
    recipe = shared_cgi
    client = Client(recipe.base_url)
    start = recipe.log.stat().st_size
    os.chmod(recipe.config, 0o640)
    try:
        resp = client.request("GET", "/api/health")
        assert resp.status_code == 500, (resp.status_code, resp.text[:200])
        log = wait_for_log(recipe.log, start, "chmod 600")
        assert f"latch.conf: {recipe.config} must belong to uid" in log, log
        assert "readable by it alone (chmod 600)" in log, log
    finally:
        os.chmod(recipe.config, 0o600)
    resp = client.request("GET", "/api/health")
    assert resp.status_code == 200, resp.text[:200]
    assert json_body(resp)["database"] == "ok"


# ------------------------------------------------ the account's own tools

def as_account(recipe, command, timeout=60):
    """Runs the shell command as the account of the recipe, with the
    environment cron gives a crontab line (HOME, LOGNAME, SHELL, PATH) and
    nothing else: DIR/account.sh (deploy/dev/recipes/shared-account.sh)
    makes the home the password database's. Returns the CompletedProcess
    (text)."""
    user = recipe.dir.owner()
    env = ["HOME=" + str(recipe.home), "LOGNAME=" + user, "SHELL=/bin/sh",
           "PATH=/usr/bin:/bin"]
    return subprocess.run(
        [str(recipe.dir / "account.sh"), str(recipe.dir), "env", "-i", *env,
         "/bin/sh", "-c", command], capture_output=True, text=True,
        timeout=timeout, env={"PATH": "/usr/bin:/bin"}, cwd="/")


def crontab_command():
    """The command of the shipped crontab line (after its five time
    fields)."""
    lines = [line for line in (SHIPPED / "crontab").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["*/15", "*", "*", "*", "*"], fields
    return fields[5]


def test_crontab_line_purges_with_the_home_configuration(stack, db,
                                                         shared_cgi):
    """The shipped crontab line, run as cron runs it for the account,
    finds ~/latch.conf and purges: a session revoked two days ago is
    gone, a live one stays."""
    client = Client(shared_cgi.base_url)
    user = create_user(stack, db, prefix="cron")
    ended = sid_of(login_body(client, user)["access_token"])
    live = sid_of(login_body(client, user)["access_token"])
    db.execute("UPDATE sessions SET revoked_at = now() - interval '2 days', "
               "revoked_reason = 'revoked' "
               "WHERE id = %s", (ended,))
    command = crontab_command()
    assert "LATCH_CONFIG" not in command
    proc = as_account(shared_cgi, command)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert db.scalar("SELECT count(*) FROM sessions WHERE id = %s",
                     (ended,)) == 0
    assert db.scalar("SELECT count(*) FROM sessions WHERE id = %s",
                     (live,)) == 1


def test_latchctl_migrate_from_the_account(shared_cgi):
    proc = as_account(shared_cgi, "$HOME/bin/latchctl migrate "
                      "--dir $HOME/latch-migrations")
    assert proc.returncode == 0, proc.stderr
    n = len(list(MIGRATIONS.glob("[0-9]*_*.sql")))
    assert proc.stdout.strip().splitlines()[-1] == \
        f"schema up to date ({n} migrations)", proc.stdout
    proc = as_account(shared_cgi, "$HOME/bin/latchctl migrate "
                      "--dir $HOME/latch-migrations --status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 pending", proc.stdout


def db_url(url, dbname):
    """url naming database dbname instead (libpq applies a URI's query
    parameters after its path)."""
    return f"{url}{'&' if '?' in url else '?'}dbname={dbname}"


@pytest.fixture
def two_fresh_dbs(stack):
    admin = Db(db_url(stack.database_url, "postgres")).execute
    names = ["t_shared_" + uuid.uuid4().hex[:12] for _ in range(2)]
    for name in names:
        admin(f'CREATE DATABASE "{name}"')
    yield [db_url(stack.database_url, name) for name in names]
    for name in names:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_of(url):
    proc = subprocess.run(["pg_dump", "--schema-only", "--no-owner", url],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines()
            if not line.startswith(("-- Dumped", "\\restrict ",
                                    "\\unrestrict "))]


def test_psql_migrate_is_latchctl_migrate(bin_dir, two_fresh_dbs):
    """deploy/shared-hosting/psql-migrate.sh makes the schema latchctl
    migrate makes, and keeps schema_migrations as latchctl does: latchctl
    then finds nothing pending, and a second run applies nothing."""
    by_ctl, by_psql = two_fresh_dbs
    proc = run_latchctl(bin_dir, "migrate", "--dir", MIGRATIONS,
                        DATABASE_URL=by_ctl)
    assert proc.returncode == 0, proc.stderr
    script = [str(SHIPPED / "psql-migrate.sh"), str(MIGRATIONS)]
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": by_psql, "HOME": "/"}
    proc = subprocess.run(script, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    n = len(list(MIGRATIONS.glob("[0-9]*_*.sql")))
    assert proc.stdout.count("applied ") == n, proc.stdout
    assert schema_of(by_psql) == schema_of(by_ctl)
    proc = run_latchctl(bin_dir, "migrate", "--dir", MIGRATIONS, "--status",
                        DATABASE_URL=by_psql)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip().splitlines()[-1] == "0 pending"
    proc = subprocess.run(script, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "applied " not in proc.stdout, proc.stdout
