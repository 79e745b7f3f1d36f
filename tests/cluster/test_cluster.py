"""latch on several hosts (issue 15), each a network namespace of this
machine (cluster.sh): web hosts running lighttpd with latch's responders
from the shipped recipe, PgBouncer in transaction pooling (the shipped
pgbouncer.ini) in front of a PostgreSQL primary and its synchronous
streaming replica, and the clients (this pytest process). The web hosts'
DATABASE_URL is libpq's multi-host list through PgBouncer with
target_session_attrs=read-write.

In order (the failover is last: it takes the primary away):
  - each host is a namespace of its own, none of it in the root namespace;
  - the contract smoke through two web hosts;
  - rotation, grace (one token refreshed on two hosts at once) and reuse
    detection (a replay after the window) under a concurrent load over
    every host, nothing lost, every statement through PgBouncer;
  - the failover: the primary stopped (-m immediate) under load, the
    replica promoted (pg_ctl promote alone, see PGBOUNCER_FOLLOW), no web
    host restarted, reconfigured or told; every answer
    200 or 503 + Retry-After, every chain goes on, every token handed out
    is on the new primary, the invariants hold there. The unavailability
    window is measured and written to var/cluster-TAG.results.

CLUSTER_FULL=1 (make cluster-check) runs more clients for longer."""

import concurrent.futures
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from clusterload import HostLoad
from conftest import (BIN_DIR, FULL, REPO, TAG, VAR, Db, assert_invariants,
                      create_user, session_row, token_rows)
from deploy_smoke import contract_smoke
from latchlib import (Client, assert_error, db_h_bounds, latchctl_env,
                      login_body, refreshed_body, rotate_body, sid_of,
                      token_hash)
from loadmix import is_unavailable

GRACE = 10          # s: REFRESH_REUSE_GRACE of the web hosts (the default)
RESULTS = VAR / f"cluster-{TAG}.results"
# The failover is pg_ctl promote and nothing else: the web hosts' latch
# asks each PgBouncer's server itself whether it takes writes
# (lib/dbhosts.h). libpq's own target_session_attrs would not do:
# PgBouncer 1.18 answers logins with the startup parameters of its first
# server connection, so libpq kept choosing the dead primary's PgBouncer
# and refused the promoted one as read-only (docs in README "Failover").
# CLUSTER_PGBOUNCER_FOLLOW=1 adds PgBouncer's steps after the promotion
# (cluster.sh pgbouncer-follow: RECONNECT on the promoted server's,
# SHUTDOWN of the old primary's), an operator's fence that also makes the
# switch quicker.
PGBOUNCER_FOLLOW = os.environ.get("CLUSTER_PGBOUNCER_FOLLOW", "0") == "1"


BOUNDS = db_h_bounds()
# The longest one answer may take while the database goes away: a
# statement's deadline, then a connect to each of the two PgBouncers of
# the multi-host list (connect_timeout each), and the way back.
ANSWER_BOUND = (BOUNDS["DB_ANSWER_WAIT_MS"] / 1000 +
                2 * BOUNDS["DB_CONNECT_TIMEOUT_S"] + 1.5)
# The longest the test waits for every client to be served again after
# the promotion.
RECOVERY_BOUND = 30.0


def report(line):
    """A measured number: printed, and kept in var/cluster-TAG.results
    (make prints it after the run)."""
    print(line)
    with open(RESULTS, "a") as f:
        f.write(line + "\n")


@pytest.fixture(scope="module", autouse=True)
def results_file(cluster):
    RESULTS.write_text(f"# tests/cluster, tag {TAG}, {len(cluster.webs)} "
                       f"web hosts, cluster up in "
                       f"{cluster.setup_seconds:.1f} s\n")


def hosts(cluster):
    return [Client(u) for u in cluster.webs]


def fcgi_pids(cluster):
    """{web index: sorted pids of its latch responders} (by executable,
    under the web's own bin/)."""
    out = {}
    for i in range(len(cluster.webs)):
        bindir = str(cluster.web_dir(i) / "bin") + "/"
        pids = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                exe = os.readlink(p / "exe")
            except OSError:
                continue
            if exe.startswith(bindir):
                pids.append(int(p.name))
        out[i] = sorted(pids)
    return out


def missing_statement_errors(cluster):
    """How often the primary's log says a prepared statement of latch was
    missing on the server connection PgBouncer gave a statement to."""
    log = cluster.rundir / "pg1" / "pg.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(r'prepared statement "latch_[0-9a-f]{32}" does not '
                          r'exist', text))


# ------------------------------------------------------------ the hosts

def test_each_host_is_a_namespace_of_its_own(cluster):
    def ns_inode(path):
        return os.stat(path).st_ino

    seen = set()
    for i in range(len(cluster.webs)):
        pid = cluster.lighttpd_pid(i)
        want = ns_inode(f"/run/netns/lc-{TAG}-w{i + 1}")
        assert ns_inode(f"/proc/{pid}/ns/net") == want, f"web host {i + 1}"
        seen.add(want)
    for host, pidfile in (("pg1", "pg1/pgdata/postmaster.pid"),
                          ("pg2", "pg2/pgdata/postmaster.pid"),
                          ("pgb", "pgb-6432/pgbouncer.pid"),
                          ("pgb", "pgb-6433/pgbouncer.pid")):
        pid = int((cluster.rundir / pidfile).read_text().split()[0])
        want = ns_inode(f"/run/netns/lc-{TAG}-{host}")
        assert ns_inode(f"/proc/{pid}/ns/net") == want, pidfile
        seen.add(want)
    assert ns_inode("/proc/self/ns/net") == \
        ns_inode(f"/run/netns/{cluster.client_ns}")
    # A namespace per host, none the root one, and the cluster's subnet
    # nowhere in the root namespace's routes.
    assert cluster.root_ns_inode not in seen
    assert len(seen) == len(cluster.webs) + 3
    net = cluster.primary_url.split("@")[1].rsplit(".", 1)[0] + "."
    assert net not in cluster.root_routes


# ------------------------------------------------------------ PgBouncer

def test_contract_smoke_through_pgbouncer(cluster, db):
    for base_url in cluster.webs[:2]:
        contract_smoke(cluster, db, base_url)


def test_migrate_through_pgbouncer_says_up_to_date(cluster, db):
    """cluster.sh migrated the primary directly; latchctl migrate again,
    through PgBouncer in transaction pooling (its lock is a transaction's,
    its settings stored for the role), finds nothing to do."""
    before = db.scalar("SELECT count(*) FROM schema_migrations")
    env = latchctl_env(DATABASE_URL=cluster.pooler_primary_url)
    proc = subprocess.run(
        [str(BIN_DIR / "latchctl"), "migrate", "--dir",
         str(REPO / "migrations")], env=env, capture_output=True,
        timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert re.fullmatch(rb"server settings stored for role latch in "
                        rb"database latch\n"
                        rb"schema up to date \([0-9]+ migrations\)\n",
                        proc.stdout), proc.stdout
    assert db.scalar("SELECT count(*) FROM schema_migrations") == before


def test_rotation_grace_and_reuse_under_load_over_every_host(cluster, db):
    web = hosts(cluster)
    other = web[1 % len(web)]
    missing_before = missing_statement_errors(cluster)
    n_load = 12 if FULL else 4
    users = [create_user(cluster, db, prefix="clrot") for _ in range(n_load)]
    grace_users = [create_user(cluster, db, prefix="clgrace")
                   for _ in range(6 if FULL else 3)]
    reuse_users = [create_user(cluster, db, prefix="clreuse")
                   for _ in range(2)]
    load = HostLoad(cluster.webs, users, seconds=90).start()
    try:
        assert load.wait_answers(4, 30), "the load did not start"

        # Reuse: A rotated to B now, on two hosts; A replayed after the
        # grace window, below, while the load goes on.
        reuse = []
        for u in reuse_users:
            a = login_body(web[0], u)["refresh_token"]
            b, _ = rotate_body(other, a)
            reuse.append((u, a, b, time.monotonic()))

        # Grace: one token refreshed on two hosts at the same moment:
        # both 200, the same successor, each its own access token; the
        # session goes on.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for u in grace_users:
                token = login_body(web[0], u)["refresh_token"]
                barrier = threading.Barrier(2)

                def refresh_on(h, token=token, barrier=barrier):
                    barrier.wait(10)
                    return h.refresh(token)

                first, second = pool.map(refresh_on, [web[0], other],
                                         timeout=30)
                b1, b2 = refreshed_body(first), refreshed_body(second)
                assert b1["refresh_token"] == b2["refresh_token"]
                assert b1["access_token"] != b2["access_token"]
                third, _ = rotate_body(web[0], b1["refresh_token"])
                assert third not in (token, b1["refresh_token"])
                sid = sid_of(token)
                assert session_row(db, sid)["revoked_at"] is None
                rows = token_rows(db, sid)
                assert len(rows) == 3, rows
                assert [rot is None for _, _, rot, _ in rows] == \
                    [False, False, True]

        # The replays, once the window is over.
        wait = reuse[-1][3] + GRACE + 0.5 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        for u, a, b, _ in reuse:
            assert_error(web[0].refresh(a), 403, "invalid_grant")
            assert session_row(db, sid_of(a))["revoked_at"] is not None
            assert_error(other.refresh(b), 403, "invalid_grant")
        if FULL:
            time.sleep(10)
    finally:
        answers = load.stop()

    bad = [a for a in answers if a.status != 200]
    assert not bad, f"answers other than 200 under load: {bad[:10]}"
    refreshes = sum(1 for a in answers if a.kind == "refresh")
    assert refreshes >= 2 * n_load
    for c in load.clients:
        # One session per user, every token it was given stored, each
        # chain's hosts alternating.
        assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s",
                         (c.user["id"],)) == 1
        assert db.scalar(
            "SELECT count(*) FROM refresh_tokens t JOIN sessions s ON "
            "s.id = t.session_id WHERE s.user_id = %s",
            (c.user["id"],)) == len(c.issued)
        assert len(set(c.host_of)) == len(cluster.webs)
    log = cluster.fcgi_logs()
    assert "db_error" not in log and "db_unavailable" not in log, log[-2000:]
    # Statements did move between PgBouncer's server connections (and
    # were prepared again where one lacked them).
    moved = missing_statement_errors(cluster) - missing_before
    assert moved > 0
    assert_invariants(db, grace=f"{GRACE}s")
    report(f"under load: {len(answers)} answers ({refreshes} refreshes) "
           f"over {len(cluster.webs)} hosts, all 200; statements prepared "
           f"again on another server connection: {moved}")


# ------------------------------------------------------------ failover

def test_failover_loses_no_rotation(cluster, db):
    web = hosts(cluster)
    n_clients = 16 if FULL else 6
    users = [create_user(cluster, db, prefix="clfail")
             for _ in range(n_clients)]
    lighttpd = [cluster.lighttpd_pid(i) for i in range(len(cluster.webs))]
    responders = fcgi_pids(cluster)
    confs = [(cluster.web_dir(i) / "latch.conf").read_bytes()
             for i in range(len(cluster.webs))]

    load = HostLoad(cluster.webs, users, seconds=180, relogin_every=8)
    load.start()
    try:
        assert load.wait_answers(4, 30), "the load did not start"
        time.sleep(5 if FULL else 1)
        t_kill = time.monotonic()
        cluster.kill_primary()
        t_down = time.monotonic()
        cluster.promote()
        if PGBOUNCER_FOLLOW:
            cluster.pgbouncer_follow()
        t_promoted = time.monotonic()

        def served_again(c):
            return sum(1 for a in c.answers
                       if a.status == 200 and a.start > t_promoted) >= 3

        deadline = t_promoted + RECOVERY_BOUND
        while time.monotonic() < deadline:
            if all(served_again(c) for c in load.clients):
                break
            time.sleep(0.1)
        time.sleep(5 if FULL else 0.5)
    finally:
        answers = load.stop()

    # (an answer that started before the primary was down may have been
    # served by it)
    after = [a for a in answers if a.start >= t_down]
    ok_after = [a for a in after if a.status == 200]
    first_ok = min((a.end for a in ok_after), default=None)
    unavailable = [a for a in answers if is_unavailable(a)]
    window = None if first_ok is None else first_ok - t_kill
    report(f"failover: {len(users)} clients over {len(cluster.webs)} hosts, "
           f"{len(answers)} answers ({len(unavailable)} 503 + Retry-After); "
           f"primary stopped in {t_down - t_kill:.2f} s, replica promoted "
           f"in {t_promoted - t_down:.2f} s; unavailable from the stop to "
           f"the first 200: "
           + (f"{window:.2f} s" if window is not None else "never served"))
    gaps = []
    for c in load.clients:
        mine = c.answers
        last_ok_before = max((a.end for a in mine
                              if a.status == 200 and a.start < t_down),
                             default=t_kill)
        first_ok_after = min((a.end for a in mine
                              if a.status == 200 and a.start >= t_down),
                             default=None)
        if first_ok_after is not None:
            gaps.append(first_ok_after - last_ok_before)
    if gaps:
        report(f"failover: per client, from its last 200 of a request sent "
               f"before the primary was down to its first 200 after: "
               f"max {max(gaps):.2f} s, min {min(gaps):.2f} s")
    # Requests sent while there was no primary that were answered 200:
    # they waited (in PgBouncer, or in latch's reconnect) rather than fail.
    waited = [a for a in answers
              if t_down <= a.start < t_promoted and a.status == 200]
    report(f"failover: requests sent between the stop and the promotion: "
           f"{sum(1 for a in answers if t_down <= a.start < t_promoted)}, "
           f"answered 200: {len(waited)}")
    slowest = max(answers, key=lambda a: a.seconds)
    report(f"failover: slowest answer {slowest.seconds:.2f} s "
           f"({slowest.kind} {slowest.status})")

    # Only 200 or 503 with Retry-After (and latch's JSON error), nothing
    # slower than the bound.
    bad = [a for a in answers if a.status != 200 and not is_unavailable(a)]
    assert not bad, \
        f"answers neither 200 nor 503+Retry-After: {bad[:10]}\n" + \
        cluster.fcgi_logs()[-3000:]
    slow = [a for a in answers if a.seconds > ANSWER_BOUND]
    assert not slow, f"answers slower than {ANSWER_BOUND:.1f} s: {slow[:10]}"
    not_served = [c.index for c in load.clients if not served_again(c)]
    assert not not_served, \
        (f"clients not served again within {RECOVERY_BOUND:.0f} s of the "
         f"promotion: {not_served}\n" + cluster.fcgi_logs()[-3000:])

    # No web host restarted, none reconfigured, no responder replaced.
    assert [cluster.lighttpd_pid(i) for i in range(len(cluster.webs))] == \
        lighttpd
    assert fcgi_pids(cluster) == responders
    assert [(cluster.web_dir(i) / "latch.conf").read_bytes()
            for i in range(len(cluster.webs))] == confs

    new_primary = Db(cluster.replica_url)
    assert new_primary.scalar("SELECT pg_is_in_recovery()") is False

    # Every refresh token any server handed out (by a login or a refresh
    # answered 200), before or after the stop, is on the new primary.
    issued = {token_hash(t) for c in load.clients for t in c.issued}
    found = {bytes(r[0]) for r in new_primary.all(
        "SELECT token_hash FROM refresh_tokens WHERE token_hash = ANY(%s)",
        (list(issued),))}
    assert issued == found, \
        f"{len(issued - found)} of {len(issued)} tokens handed out are " \
        "not on the new primary"

    # Every client goes on from what it holds, on each host in turn.
    for c in load.clients:
        last = c.last("refresh")
        assert c.token is not None, f"client {c.index} never logged in"
        token = c.token
        for h in web[:2]:
            resp = h.refresh(token)
            assert resp.status_code == 200, \
                (f"client {c.index} (last refresh {last}): refresh after "
                 f"the failover: {resp.status_code} {resp.text[:200]}")
            token = refreshed_body(resp)["refresh_token"]

    assert_invariants(new_primary, grace=f"{GRACE}s")
