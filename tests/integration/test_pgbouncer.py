"""latch behind PgBouncer in transaction pooling (deploy/pgbouncer/, started
by `stack.sh recipe-up INSTANCE pgbouncer PORT`): PgBouncer 1.18 gives each
statement whichever server connection is free and carries no prepared
statement from one to another, while latch runs its statements prepared
(lib/db.c). With six responders on two server connections, statements
prepared on one server connection are run on the other all the time."""

import concurrent.futures
import re

import pytest

from conftest import create_user, run_stack
from deploy_smoke import contract_smoke, recipe_env, recipe_port
from latchlib import Client, json_body, login_body, rotate_body


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


def test_statements_move_between_server_connections(stack, db, pooled):
    client = Client(pooled)
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
