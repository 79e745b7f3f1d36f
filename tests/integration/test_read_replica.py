"""Reads from a streaming replica (DATABASE_READ_URL, lib/reads.h): the
routes that only read (GET /api/profile, GET /auth/sessions) ask the
replica, and the primary when the replica lacks a row or fails; every
write goes to the primary. The replica is the instance's cluster copied by
pg_basebackup and kept by streaming (deploy/dev/recipes/replica.sh, `stack.sh
recipe-up INSTANCE replica PORT`); pausing its replay makes its lag as long
as a test needs, so what lag does to each route is seen, not guessed."""

import os
import re
import signal
import time

import psycopg2
import pytest

from conftest import create_user, fcgi_log_path, run_stack
from deploy_smoke import recipe_env, recipe_port
from latchlib import (Client, assert_invalid_token, json_body, login_body,
                      rotate_body, sid_of)


@pytest.fixture(scope="module")
def replica(stack):
    port = recipe_port(stack, "replica")
    proc = run_stack("recipe-up", stack.instance, "replica", str(port),
                     env=recipe_env())
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    base = re.search(rb"^BASE_URL=(\S+)$", proc.stdout, re.M)
    url = re.search(rb"^READ_DATABASE_URL=(\S+)$", proc.stdout, re.M)
    assert base and url, proc.stdout
    yield {"client": Client(base.group(1).decode()),
           "url": url.group(1).decode(),
           "dir": stack.rundir / "recipe-replica"}
    down = run_stack("recipe-down", stack.instance, "replica")
    assert down.returncode == 0, down.stderr


def _replica_sql(replica, sql):
    conn = psycopg2.connect(replica["url"], connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0] if cur.description else None
    finally:
        conn.close()


def _caught_up(replica, db, timeout=10.0):
    """Waits (bounded) until the replica has replayed all the primary has
    written so far: up to its insert position, since this cluster commits
    asynchronously (synchronous_commit = off) and its WAL writer writes
    a commit out a moment later."""
    target = db.scalar("SELECT pg_current_wal_insert_lsn()::text")
    deadline = time.monotonic() + timeout
    while True:
        if _replica_sql(replica, "SELECT pg_last_wal_replay_lsn() >= "
                        f"'{target}'::pg_lsn"):
            return
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)


class _Paused:
    """Replay on the replica paused for the with block: it then holds
    the primary's state of the moment it was paused."""

    def __init__(self, replica, db):
        self.replica, self.db = replica, db

    def __enter__(self):
        _caught_up(self.replica, self.db)
        _replica_sql(self.replica, "SELECT pg_wal_replay_pause()")
        return self

    def __exit__(self, *exc):
        _replica_sql(self.replica, "SELECT pg_wal_replay_resume()")
        _caught_up(self.replica, self.db)


def test_a_revoked_session_reads_as_live_for_the_lag(stack, db, replica):
    """The lag the README warns of: the session is ended on the primary,
    the paused replica still has it live, and the read routes answer from
    the replica, until it has replayed the logout."""
    client = replica["client"]
    user = create_user(stack, db, prefix="rrlag")
    body = login_body(client, user)
    access, sid = body["access_token"], sid_of(body["access_token"])
    with _Paused(replica, db):
        resp = client.logout(body["refresh_token"])
        assert resp.status_code == 200, resp.text
        assert db.scalar("SELECT revoked_at IS NOT NULL FROM sessions "
                         "WHERE id = %s", (sid,)) is True
        resp = client.profile(access)
        assert resp.status_code == 200, resp.text
        listed = client.sessions(access)
        assert listed.status_code == 200, listed.text
        assert [s["id"] for s in json_body(listed)["sessions"]] == [sid]
    assert_invalid_token(client.profile(access))
    assert_invalid_token(client.sessions(access))


def test_a_session_the_replica_lacks_is_read_on_the_primary(stack, db,
                                                            replica):
    """Made after the replica's moment: the replica has no row, so its
    "no" is not believed and the primary answers."""
    client = replica["client"]
    user = create_user(stack, db, prefix="rrnew")
    with _Paused(replica, db):
        body = login_body(client, user)
        sid = sid_of(body["access_token"])
        assert _replica_sql(replica, "SELECT count(*) FROM sessions WHERE "
                            f"id = '{sid}'") == 0
        resp = client.profile(body["access_token"])
        assert resp.status_code == 200, resp.text
        assert json_body(resp)["username"] == user["username"]
        listed = client.sessions(body["access_token"])
        assert listed.status_code == 200, listed.text
        assert [s["id"] for s in json_body(listed)["sessions"]] == [sid]


def test_writes_go_to_the_primary_only(stack, db, replica):
    """With the replica frozen, every route that writes still works: a
    write sent to a standby would be refused (25006), and answered 503."""
    client = replica["client"]
    user = create_user(stack, db, prefix="rrwrite")
    with _Paused(replica, db):
        first = login_body(client, user)
        second = login_body(client, user)
        token, access = rotate_body(client, first["refresh_token"])
        resp = client.request(
            "DELETE", f"/auth/sessions/{sid_of(second['access_token'])}",
            headers={"Authorization": f"Bearer {access}"})
        assert resp.status_code == 204, resp.text
        resp = client.logout_all(access)
        assert resp.status_code == 200, resp.text
        assert json_body(resp) == {"revoked": 1}
        assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s "
                         "AND revoked_at IS NULL", (user["id"],)) == 0
        assert _replica_sql(replica, "SELECT count(*) FROM sessions WHERE "
                            f"user_id = {int(user['id'])}") == 0
    log = (replica["dir"] / "fcgi.stderr.log").read_text(errors="replace")
    assert "25006" not in log and "db_unavailable" not in log, log[-2000:]


def test_a_standby_listed_first_is_passed_over_for_the_primary(
        stack, db, replica, harden_web):
    """A DATABASE_URL listing the standby before the primary and asking
    for a read-write server (target_session_attrs=read-write): latch asks
    each host itself whether it takes writes (lib/dbhosts.h), passes the
    standby over and writes on the primary; as CGI, so every request
    connects afresh and is passed over again."""
    def host_port(url):
        m = re.match(r"postgresql://latch@:(\d+)/latch\?host=([^&]+)$", url)
        assert m, url
        return m.group(2), m.group(1)

    (primary, p_port), (standby, s_port) = \
        host_port(stack.database_url), host_port(replica["url"])
    url = (f"postgresql://latch@/latch?host={standby},{primary}"
           f"&port={s_port},{p_port}&target_session_attrs=read-write")
    client = Client(harden_web("standbyfirst", 56, COOKIE_SECURE="0",
                               BCRYPT_COST="4", DATABASE_URL=url))
    user = create_user(stack, db, prefix="rrfirst")
    log_path = fcgi_log_path(stack, "standbyfirst")
    skipped = "event=db_host_skipped host_index=0 reason=read_only"

    def times_skipped():
        return log_path.read_text(errors="replace").count(skipped) \
            if log_path.exists() else 0

    before = times_skipped()
    body = login_body(client, user)
    token, access = rotate_body(client, body["refresh_token"])
    resp = client.profile(access)
    assert resp.status_code == 200, resp.text
    assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s",
                     (user["id"],)) == 1
    # latch's own question, not libpq's, passed the standby over (libpq
    # alone would have too, on a direct connection: through a pooler it
    # cannot tell; tests/cluster shows that case).
    # One request, one process, one connection: each of the three.
    assert times_skipped() - before == 3, \
        log_path.read_text(errors="replace")[-2000:]


def test_a_stopped_replica_leaves_the_reads_to_the_primary(stack, db,
                                                           replica):
    """Last: the replica's postmaster is stopped (SIGQUIT, by PID). The
    read routes go on from the primary, each process trying the replica
    once and then leaving it alone for a while (lib/reads.h: READS_RESTING_S),
    and health, which never asks the replica, stays as it was."""
    client = replica["client"]
    user = create_user(stack, db, prefix="rrstop")
    body = login_body(client, user)
    pid = int((replica["dir"] / "pgdata" / "postmaster.pid").read_text()
              .split()[0])
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, "the replica did not stop"
        time.sleep(0.05)
    log_path = replica["dir"] / "fcgi.stderr.log"
    before = log_path.read_text(errors="replace").count("read_db_unavailable")
    t0 = time.monotonic()
    for _ in range(20):
        resp = client.profile(body["access_token"])
        assert resp.status_code == 200, resp.text
        resp = client.sessions(body["access_token"])
        assert resp.status_code == 200, resp.text
    elapsed = time.monotonic() - t0
    resp = client.request("GET", "/api/health")
    assert resp.status_code == 200
    assert json_body(resp) == {"status": "ok", "database": "ok"}
    failures = log_path.read_text(errors="replace") \
        .count("read_db_unavailable") - before
    # One per process that met it (the recipe's web runs two api and two
    # auth processes, web.sh's var.latch_procs), within the resting time:
    # not one per request.
    assert elapsed < 10, elapsed
    assert 1 <= failures <= 4, failures
