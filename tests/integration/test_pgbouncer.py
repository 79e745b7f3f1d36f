"""latch behind PgBouncer in transaction pooling (deploy/pgbouncer/, started
by `stack.sh recipe-up INSTANCE pgbouncer PORT`): PgBouncer 1.18 gives each
statement whichever server connection is free and carries no prepared
statement from one to another, while latch runs its statements prepared
(lib/db.c). With six responders on two server connections, statements
prepared on one server connection are run on the other all the time."""

import concurrent.futures
import re

import psycopg2
import pytest

from conftest import REPO, create_user, run_stack
from deploy_smoke import contract_smoke, recipe_env, recipe_port
from latchlib import (Client, json_body, login_body, rotate_body,
                      run_latchctl)


@pytest.fixture(scope="module")
def pooled(stack):
    port = recipe_port(stack, "pgbouncer")
    proc = run_stack("recipe-up", stack.instance, "pgbouncer", str(port),
                     env=recipe_env())
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    m = re.search(rb"^BASE_URL=(\S+)$", proc.stdout, re.M)
    assert m, proc.stdout
    yield m.group(1).decode()
    down = run_stack("recipe-down", stack.instance, "pgbouncer")
    assert down.returncode == 0, down.stderr


def test_contract_through_pgbouncer(stack, db, pooled):
    contract_smoke(stack, db, pooled)


def missing_statement_errors(stack):
    """How often the cluster's log says one of latch's prepared statements
    was missing on the server connection that got a statement."""
    log = stack.rundir / "pg.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r'prepared statement "latch_[0-9a-f]{32}" does not '
                          r'exist', text))


def _pgbouncer_url(stack, dbname):
    port = recipe_port(stack, "pgbouncer")
    return f"postgresql://latch@:{port}/{dbname}?host=" \
        f"{stack.rundir / 'recipe-pgbouncer'}"


def reconnect_server_connections(stack):
    """Has PgBouncer close every server connection to latch's database
    (each once released; none is in use between tests) and open new ones,
    which hold no prepared statement. Returns the backend pids it had."""
    admin = psycopg2.connect(_pgbouncer_url(stack, "pgbouncer"),
                             connect_timeout=5)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW SERVERS")
            cols = [c.name for c in cur.description]
            before = {row[cols.index("remote_pid")] for row in cur.fetchall()}
            cur.execute("RECONNECT latch")
    finally:
        admin.close()
    return before


def test_statements_move_between_server_connections(stack, db, pooled):
    client = Client(pooled)
    # The tests before this one may have prepared every statement below on
    # both server connections already (CI saw it), and then none would
    # move: start from new server connections, which hold none, while the
    # responders still take for prepared what they prepared before.
    reconnect_server_connections(stack)
    missing_before = missing_statement_errors(stack)
    users = [create_user(stack, db, prefix="pgb") for _ in range(4)]

    # The logins one by one (concurrent logins are the admission tests'
    # business), then everything else at once.
    logins = [login_body(client, user) for user in users]

    def chain(user, body):
        """Rounds of profile, refresh and health: each kind of statement,
        each from whichever process lighttpd picks."""
        token, access = body["refresh_token"], body["access_token"]
        codes = []
        for _ in range(25):
            resp = client.profile(token=access)
            codes.append(resp.status_code)
            assert json_body(resp)["username"] == user["username"]
            token, access = rotate_body(client, token)
            codes.append(200)
            codes.append(client.request("GET", "/api/health").status_code)
        return codes

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(chain, users, logins, timeout=120))
    assert all(code == 200 for codes in results for code in codes)
    assert sum(len(codes) for codes in results) == 4 * 25 * 3

    # Each user's session is one row, rotated 25 times, nothing lost.
    for user in users:
        assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s",
                         (user["id"],)) == 1
    log = stack.rundir / "recipe-pgbouncer" / "fcgi.stderr.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    assert "db_error" not in text and "db_unavailable" not in text, \
        text[-2000:]
    # And the case this is about did happen: statements were sent where
    # their server connection lacked them, and were prepared again there.
    assert missing_statement_errors(stack) > missing_before


def test_new_server_connections_run_under_latchs_settings(stack, pooled):
    """The timeouts and time zone latch's statements rely on
    (lib/db.h: db_settings) are the role's, stored by `latchctl migrate`,
    so a server connection PgBouncer opens has them before any latch
    process has said a word on it; session settings made by one client
    would reach only the server connection it happened to get."""
    before = reconnect_server_connections(stack)
    conn = psycopg2.connect(_pgbouncer_url(stack, "latch"), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid(), "
                        "current_setting('statement_timeout'), "
                        "current_setting('lock_timeout'), "
                        "current_setting('idle_in_transaction_session_"
                        "timeout'), current_setting('TimeZone')")
            pid, *settings = cur.fetchone()
        conn.rollback()
    finally:
        conn.close()
    assert pid not in before, "RECONNECT left the old server connection"
    assert settings == ["5s", "3s", "10s", "UTC"]


def test_latchctl_migrate_through_pgbouncer(stack, db, bin_dir, pooled):
    """latchctl migrate keeps nothing on a session: its lock is a
    transaction's, so none stays behind on the server connection that
    PgBouncer keeps after latchctl has gone, and a second run (on any
    server connection) is not stuck behind it."""
    url = _pgbouncer_url(stack, "latch")
    n = len(list((REPO / "migrations").glob("[0-9]*_*.sql")))
    for _ in range(2):
        proc = run_latchctl(bin_dir, "migrate", "--dir", REPO / "migrations",
                            DATABASE_URL=url, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().splitlines()[-1] == \
            f"schema up to date ({n} migrations)"
        assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = "
                         "'advisory' AND objid = 7316001") == 0
