"""Faults under mixed load (issue 13): PostgreSQL stopped, PostgreSQL made
unresponsive (a lock held on the sessions table; its processes stopped
with SIGSTOP), a worker killed with SIGKILL, and the refresh statement's
connection cut before its answer (tests/integration/pgproxy.py). The load
is loadmix's: clients logging in as cost-4 users, following their refresh
chains, calling profile, on a web of their own (LOAD_WEB) but for the
killed worker's, which is the main web's. Every test
ends with assert_invariants over its own users, and leaves PostgreSQL up
and answering, whatever happened.

The bounds come from lib/db.h, read here, so that the tests and the code
keep one set of numbers: DB_LOCK_TIMEOUT_MS, DB_CONNECT_TIMEOUT_S and the
client-side deadline DB_ANSWER_WAIT_MS."""

import os
import re
import signal
import time
from pathlib import Path

import psycopg2
import pytest

from conftest import (INSTANCE, REPO, LogTail, assert_invariants,
                      create_user, fcgi_log_path, http_web, main_port,
                      run_stack, token_rows)
from latchlib import (Client, db_h_bounds, json_body, login_body, sid_of,
                      token_hash)
from loadmix import (LoadMix, assert_only_ok_or_unavailable, is_unavailable,
                     verify_chains)
from pgproxy import PgProxy


BOUNDS = db_h_bounds()
ANSWER_WAIT = BOUNDS["DB_ANSWER_WAIT_MS"] / 1000
LOCK_TIMEOUT = BOUNDS["DB_LOCK_TIMEOUT_MS"] / 1000
CONNECT_TIMEOUT = BOUNDS["DB_CONNECT_TIMEOUT_S"]
# What a bound may be exceeded by: the way through lighttpd and back, a
# machine shared with other test runs, the coarse clock of lib/db.c.
MARGIN = 1.5
RECOVERY = 2.0              # issue 13: 2xx again within 2 s of the return
# How long the SIGSTOP test keeps PostgreSQL stopped: past the deadline,
# within REFRESH_REUSE_GRACE (10 s) minus a margin.
STOP_SECONDS = ANSWER_WAIT + 1.5
PROGRAMS = ("login.fcgi", "auth.fcgi", "api.fcgi")

# The web of the cut tests (through the proxy) and the proxy's port: the
# main web's port + 20 and + 21 (extra webs are + 10..79: web_instance's
# take + 10..19, and + 20..23 are this file's and the slow-client tests').
PROXY_WEB = "faultproxy"
PROXY_WEB_OFFSET = 20
PROXY_OFFSET = 21
PROXY_KEEPALIVES_IDLE = 20  # s, in the proxy web's DATABASE_URL
# The web of the database fault tests: the main web's settings with
# BCRYPT_COST=4, so that a login of a cost-4 user is not also a rehash at
# the main web's cost 12 (a third of a second of CPU, at a lower priority
# on a shared machine), on the main web's port + 22. The killed-worker test runs on the main web itself.
# The web of the late-call tests: through the same proxy, with a grace
# window shorter than the deadline, on the main web's port + 24.
LATE_WEB = "faultlate"
LATE_WEB_OFFSET = 24
LATE_GRACE = 2              # s: REFRESH_REUSE_GRACE there
LOAD_WEB = "faultload"
LOAD_WEB_OFFSET = 22


# ------------------------------------------------------------ helpers

def _pids_of(path):
    exe = os.path.realpath(path)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "exe") == exe:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return sorted(pids)


def main_workers(stack, web=None):
    """{program: [pids]} of the responders of the main web, or of extra
    web `web`."""
    bin_dir = stack.rundir / "bin" if web is None else \
        stack.rundir / f"web-{web}" / "bin"
    return {p: _pids_of(bin_dir / p) for p in PROGRAMS}


@pytest.fixture(scope="module")
def load_web(stack):
    """The base URL of LOAD_WEB, stopped after this file's tests."""
    try:
        yield http_web(stack, LOAD_WEB, main_port(stack) + LOAD_WEB_OFFSET,
                       {"COOKIE_SECURE": "0", "BCRYPT_COST": "4"})
    finally:
        run_stack("web-down", INSTANCE, LOAD_WEB)


def _stack_ok(*args):
    proc = run_stack(*args)
    assert proc.returncode == 0, \
        f"stack.sh {' '.join(args)}: {proc.stderr.decode()[-2000:]}"


def _wait_database(db, seconds=30.0):
    """Until the test's own connection gets an answer (bounded)."""
    end = time.monotonic() + seconds
    while True:
        try:
            return db.scalar("SELECT 1")
        except psycopg2.Error:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def _users(stack, db, prefix, n):
    return [create_user(stack, db, prefix=prefix) for _ in range(n)]


def _started_load(base_url, users):
    """The load, once every client is logged in: the logins come first,
    beside the other clients' refreshes and profiles, and so before the
    fault. (Several logins at once may be shed by login.fcgi's admission,
    503 with Retry-After, on a busy machine: not the fault's doing, and
    not to be counted in its recovery time.)"""
    mix = LoadMix(base_url, users, seconds=90).start()
    assert mix.wait_answers(3, 30), "the load did not get going"
    return mix


def _late(answers, since):
    return [a for a in answers if a.start >= since]


def _assert_back(answers, since):
    """Every answer to a request that started after since is a 200."""
    late = _late(answers, since)
    assert late, "no request after the recovery point"
    bad = [a for a in late if a.status != 200]
    assert not bad, f"not 2xx after the database's return: {bad[:10]}"


# ------------------------------------------------------------ outage

def test_database_stopped_under_load(stack, db, load_web):
    """PostgreSQL stopped (pg_ctl -m fast) for two seconds under load:
    meanwhile only 503 with Retry-After, no worker dies, 2xx again within
    2 s of its return, and no session lost or rotated behind a client's
    back."""
    users = _users(stack, db, "fltout", 6)
    before = main_workers(stack, LOAD_WEB)
    mix = _started_load(load_web, users)
    try:
        try:
            _stack_ok("db-stop", INSTANCE)
            t_down = time.monotonic()
            time.sleep(2.0)
            t_end = time.monotonic()
        finally:
            _stack_ok("db-start", INSTANCE)
        t_up = time.monotonic()
        time.sleep(RECOVERY + 1.5)
    finally:
        answers = mix.stop()
    _wait_database(db)

    assert_only_ok_or_unavailable(answers)
    during = [a for a in answers if a.start >= t_down and a.end <= t_end]
    assert during, "no request during the outage"
    assert all(is_unavailable(a) for a in during), during[:10]
    # The bound is on what the fault decides: answers to requests that
    # met the outage. (A login's 200 may be slow for its own reasons: its
    # pool runs at a lower priority, on a shared machine, under ASan.)
    met = [a for a in answers if a.status != 200 or t_down <= a.start <= t_end]
    slow = [a for a in met if a.seconds > CONNECT_TIMEOUT + MARGIN]
    assert not slow, f"held too long: {slow[:10]}"
    _assert_back(answers, t_up + RECOVERY)
    assert main_workers(stack, LOAD_WEB) == before, \
        "a worker died or was replaced"
    verify_chains(mix.clients)
    assert_invariants(db, users="t_fltout_%")


# ------------------------------------------------------------ unresponsive

def test_sessions_table_locked_under_load(stack, db, load_web):
    """A transaction of the test holds ACCESS EXCLUSIVE on sessions: every
    request that needs the table (refresh, profile, login) is answered 503
    after lock_timeout, never later, and all is well once it is
    released. Two clients, so that no request waits in lighttpd's queue
    behind another (each pool has two processes)."""
    users = _users(stack, db, "fltlock", 2)
    before = main_workers(stack, LOAD_WEB)
    mix = _started_load(load_web, users)
    conn = psycopg2.connect(db.url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            cur.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            t_lock = time.monotonic()
            health = Client(load_web).request("GET", "/api/health")
            time.sleep(LOCK_TIMEOUT + 2.0)
            t_release = time.monotonic()
    finally:
        conn.rollback()
        conn.close()
    try:
        time.sleep(RECOVERY + 1.0)
    finally:
        answers = mix.stop()

    assert health.status_code == 200, "health needs no lock: still served"
    assert_only_ok_or_unavailable(answers)
    # Requests that were in flight while the table was locked (some began
    # before the lock and met it when their statement ran).
    held = [a for a in answers if a.end > t_lock and a.start < t_release]
    assert any(is_unavailable(a) for a in held), \
        f"no 503 while the table was locked: {held[:10]}"
    for a in answers:
        if a.status == 200 and a not in held:
            continue        # met no lock (see test_database_stopped_...)
        assert a.seconds <= LOCK_TIMEOUT + MARGIN, f"held too long: {a}"
        if is_unavailable(a):
            # What answered was lock_timeout: each waited for it.
            assert a.seconds >= LOCK_TIMEOUT - 0.5, a
    _assert_back(answers, t_release + 1.0)
    assert main_workers(stack, LOAD_WEB) == before, \
        "a worker died or was replaced"
    verify_chains(mix.clients)
    assert_invariants(db, users="t_fltlock_%")


def _latch_backends(db):
    return [r[0] for r in db.all(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = "
        "'client backend' AND application_name IN ('auth', 'api', 'login')")]


def _postmaster(stack):
    return int((stack.rundir / "pgdata" / "postmaster.pid").read_text()
               .split()[0])


def test_database_sigstopped_under_load(stack, db, load_web):
    """The postmaster and the backends serving latch stopped with SIGSTOP:
    nothing answers and nothing is refused, so only lib/db.c's deadline
    ends the waits: 503 within DB_ANSWER_WAIT_MS (a connection in use) or
    connect_timeout (a new one), no worker lost, and service is back after
    SIGCONT."""
    users = _users(stack, db, "fltstop", 2)
    log = LogTail(fcgi_log_path(stack, LOAD_WEB))
    before = main_workers(stack, LOAD_WEB)
    mix = _started_load(load_web, users)
    stopped = []
    try:
        try:
            targets = [_postmaster(stack)] + _latch_backends(db)
            for pid in targets:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            t_stop = time.monotonic()
            # Past the deadline: a statement sent to a stopped backend
            # still runs when it resumes; one later than its grace window
            # changes nothing (migration 010, README "A call that reaches
            # the database too late", tested deterministically below).
            time.sleep(STOP_SECONDS)
            t_end = time.monotonic()
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        t_cont = time.monotonic()
        time.sleep(RECOVERY + 1.5)
    finally:
        answers = mix.stop()
    _wait_database(db)

    assert len(stopped) >= 2, "no backend of latch to stop"
    assert_only_ok_or_unavailable(answers)
    # Everything was stopped before these began: none can have been
    # served before SIGCONT.
    during = [a for a in answers if t_stop <= a.start <= t_end]
    assert during, "no request while the database was stopped"
    served = [a for a in during if not is_unavailable(a) and a.end < t_cont]
    assert not served, served[:10]
    for a in answers:
        if a.status == 200 and not t_stop <= a.start <= t_end:
            continue        # met no stop (see test_database_stopped_...)
        assert a.seconds <= ANSWER_WAIT + MARGIN, f"held too long: {a}"
    assert any(" event=db_timeout " in f" {line} " or "event=db_timeout"
               in line for line in log.lines()), \
        "the client-side deadline never fired"
    _assert_back(answers, t_cont + RECOVERY)
    assert main_workers(stack, LOAD_WEB) == before, \
        "a worker died or was replaced"
    verify_chains(mix.clients)
    assert_invariants(db, users="t_fltstop_%")


# ------------------------------------------------------------ killed worker

def _wait_dead(pid, seconds=5.0):
    """When pid is gone or a zombie (bounded): SIGKILL is not instant, an
    ASan process's teardown takes a while."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
        except OSError:
            break
        if state.split()[0] in ("Z", "X"):
            break
        time.sleep(0.005)
    return time.monotonic()


def test_worker_killed_under_load(stack, db):
    """SIGKILL to one auth.fcgi process (refresh, sessions) of the main
    web under load: only requests it held fail, lighttpd starts another
    in its place, the other pools are untouched, and every chain goes on."""
    users = _users(stack, db, "fltkill", 4)
    before = main_workers(stack)
    victim = before["auth.fcgi"][0]
    mix = _started_load(stack.base_url, users)
    try:
        time.sleep(0.5)
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        t_dead = _wait_dead(victim)
        time.sleep(3.0)
    finally:
        answers = mix.stop()
    end = time.monotonic() + 10
    while True:
        after = main_workers(stack)
        if (len(after["auth.fcgi"]) == len(before["auth.fcgi"]) and
                victim not in after["auth.fcgi"]) or time.monotonic() > end:
            break
        time.sleep(0.1)

    # The killed process answers /auth/ but login: of the load's
    # requests, only refreshes. Profiles go to api.fcgi and must all be
    # served; a login may be shed by login.fcgi's admission (503 with
    # Retry-After, nothing done: its service time just rose with the
    # faults of other tests), never fail otherwise.
    assert all(a.status == 200 for a in answers if a.kind == "profile"), \
        [a for a in answers if a.kind == "profile" and a.status != 200][:10]
    assert all(a.status == 200 or is_unavailable(a) for a in answers
               if a.kind == "login"), [a for a in answers if a.kind ==
                                       "login" and a.status != 200][:10]
    failed = [a for a in answers if a.kind == "refresh" and a.status != 200]
    # Held: in flight when the signal was sent, or handed to the process
    # (queued on its socket) before it was gone.
    for a in failed:
        assert a.start <= t_dead and a.end >= t_kill, \
            f"a request the killed worker did not hold failed: {a}"
    assert len(failed) <= 2, f"more failed than one worker held: {failed}"
    assert victim not in after["auth.fcgi"]
    assert len(after["auth.fcgi"]) == len(before["auth.fcgi"]), \
        f"lighttpd did not replace the worker: {after}"
    assert after["api.fcgi"] == before["api.fcgi"]
    assert after["login.fcgi"] == before["login.fcgi"]
    served = [a for a in answers if a.start > t_kill + 1.0]
    assert any(a.kind == "refresh" and a.status == 200 for a in served)
    verify_chains(mix.clients)
    assert_invariants(db, users="t_fltkill_%")


# ------------------------------------------------------------ lost answer

def _proxy_url(stack):
    # keepalives_idle: an override of lib/db.h's default, which
    # test_keepalives_reach_tcp_connections looks for.
    return (f"postgresql://latch@127.0.0.1:{main_port(stack) + PROXY_OFFSET}"
            f"/latch?sslmode=disable&gssencmode=disable"
            f"&keepalives_idle={PROXY_KEEPALIVES_IDLE}")


@pytest.fixture(scope="module")
def proxied(stack):
    """(proxy, client): a lighttpd web whose DATABASE_URL is the proxy on
    127.0.0.1, which joins it to the cluster's Unix socket."""
    host = re.search(r"host=([^&]+)", stack.database_url).group(1)
    port = main_port(stack) + PROXY_OFFSET
    proxy = PgProxy(f"{host}/.s.PGSQL.5432", port).start()
    try:
        base = http_web(stack, PROXY_WEB, main_port(stack) + PROXY_WEB_OFFSET,
                        {"DATABASE_URL": _proxy_url(stack),
                         "COOKIE_SECURE": "0", "BCRYPT_COST": "4"})
        yield proxy, Client(base)
    finally:
        run_stack("web-down", INSTANCE, PROXY_WEB)
        proxy.stop()


@pytest.fixture(scope="module")
def proxied_short_grace(stack, proxied):
    """(proxy, client, web name): a second web through the same proxy,
    whose grace window (LATE_GRACE) is shorter than lib/db.h's deadline,
    so that a call can reach the database later than its grace window
    both while latch still waits for it and after latch gave up."""
    proxy, _ = proxied
    try:
        base = http_web(stack, LATE_WEB, main_port(stack) + LATE_WEB_OFFSET,
                        {"DATABASE_URL": _proxy_url(stack),
                         "COOKIE_SECURE": "0", "BCRYPT_COST": "4",
                         "REFRESH_REUSE_GRACE": f"{LATE_GRACE}s"})
        yield proxy, Client(base)
    finally:
        run_stack("web-down", INSTANCE, LATE_WEB)


def _successor_of(db, token):
    """(rotated, hash of its successor or None) of token's row."""
    rows = token_rows(db, sid_of(token))
    by_id = {r[0]: r for r in rows}
    row = next(r for r in rows if r[1] == token_hash(token))
    succ = by_id.get(row[3]) if row[3] is not None else None
    return row[2] is not None, (succ[1] if succ else None), len(rows)


@pytest.mark.parametrize("mode", ["committed", "uncommitted"])
def test_refresh_connection_cut_before_its_answer(stack, db, proxied, mode):
    """The connection is cut after latch_refresh reached PostgreSQL and
    before its answer reached latch, committed or not: the client gets 503
    with Retry-After, its retry with the same token within the grace
    window gets 200 (the very successor the lost answer held, when the
    rotation committed; a new one when not), and the session lives on."""
    proxy, client = proxied
    user = create_user(stack, db, prefix="fltcut")
    body = login_body(client, user)
    token = body["refresh_token"]
    # One rotation first: the refresh statement is prepared by now on
    # whichever connection ran it (and, below, on the others as needed).
    resp = client.refresh(token)
    assert resp.status_code == 200, resp.text
    token = json_body(resp)["refresh_token"]

    proxy.arm(mode)
    try:
        resp = client.refresh(token)
    finally:
        proxy.disarm()
    assert proxy.cut_done.wait(5), "the proxy cut nothing"
    assert proxy.cuts[-1][0] == mode
    assert is_unavailable_resp(resp), (resp.status_code, resp.text)

    rotated, successor, nrows = _successor_of(db, token)
    if mode == "committed":
        assert rotated and successor is not None, \
            "the rotation was to have committed"
    else:
        assert not rotated and successor is None, \
            "an uncommitted rotation left a trace"

    retry = client.refresh(token)
    assert retry.status_code == 200, retry.text
    new = json_body(retry)["refresh_token"]
    rotated2, successor2, nrows2 = _successor_of(db, token)
    assert rotated2 and successor2 == token_hash(new)
    if mode == "committed":
        assert successor2 == successor and nrows2 == nrows, \
            "the retry did not get the successor of the lost answer"
    else:
        assert nrows2 == nrows + 1
    # The session lives on: the successor rotates, profile answers.
    resp = client.refresh(new)
    assert resp.status_code == 200, resp.text
    assert client.profile(json_body(resp)["access_token"]).status_code == 200
    assert_invariants(db, users="t_fltcut_%")


@pytest.mark.parametrize("held", ["answered", "abandoned"])
def test_refresh_reaching_the_database_too_late_changes_nothing(
        stack, db, proxied_short_grace, held):
    """A refresh statement that reaches PostgreSQL later than the grace
    window after its request (a server that resumes after SIGSTOP runs
    what waited in its socket) changes nothing (migration 010). Held past
    the window but within latch's deadline ("answered"), latch hears
    'late' and answers 503 itself; held until latch gave up and closed the
    connection ("abandoned"), PostgreSQL runs it with nobody waiting. Either
    way the client's retry with the same token rotates it, where a
    rotation dated by the request would have made that retry a reuse
    (more than the window after it) and ended the session."""
    proxy, client = proxied_short_grace
    user = create_user(stack, db, prefix="fltlate")
    token = login_body(client, user)["refresh_token"]
    resp = client.refresh(token)        # prepared on its connection now
    assert resp.status_code == 200, resp.text
    token = json_body(resp)["refresh_token"]
    log = LogTail(fcgi_log_path(stack, LATE_WEB))

    proxy.arm("late", hold=LATE_GRACE + 1.0 if held == "answered" else None)
    t0 = time.monotonic()
    try:
        resp = client.refresh(token)
    finally:
        proxy.disarm()
    elapsed = time.monotonic() - t0
    assert proxy.cut_done.wait(20), "the proxy held nothing"
    assert proxy.cuts[-1][0] == "late", proxy.cuts
    assert is_unavailable_resp(resp), (resp.status_code, elapsed, proxy.cuts)
    if held == "answered":
        assert LATE_GRACE < elapsed < ANSWER_WAIT, elapsed
        lines = log.wait_for(lambda line: "event=refresh_late" in line)
        assert any("event=refresh_late" in line for line in lines), \
            "latch did not log the late call"
    else:
        # The statement ran (its ReadyForQuery came) after latch's deadline.
        assert b"Z" in proxy.cuts[-1][1], proxy.cuts[-1]
        assert elapsed >= ANSWER_WAIT - 0.5, elapsed
    rotated, successor, nrows = _successor_of(db, token)
    assert not rotated and successor is None, "a late call rotated the token"

    retry = client.refresh(token)
    assert retry.status_code == 200, retry.text
    new = json_body(retry)["refresh_token"]
    assert _successor_of(db, token)[1] == token_hash(new)
    resp = client.refresh(new)
    assert resp.status_code == 200, resp.text
    assert client.profile(json_body(resp)["access_token"]).status_code == 200
    assert_invariants(db, grace=f"{LATE_GRACE}s", users="t_fltlate_%")


def is_unavailable_resp(resp):
    value = resp.headers.get("Retry-After")
    return (resp.status_code == 503 and
            json_body(resp).get("error") == "temporarily_unavailable" and
            value is not None and re.fullmatch(r"[1-9][0-9]*", value))


def _keepalive_timers(port):
    """Seconds left on the keepalive timers of the established TCP
    connections to 127.0.0.1:port (/proc/net/tcp: timer kind 2, its
    expiry in clock ticks), one per connection that has one."""
    left = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        kind, when = f[5].split(":")
        if f[2] == f"0100007F:{port:04X}" and f[3] == "01" and kind == "02":
            left.append(int(when, 16) / os.sysconf("SC_CLK_TCK"))
    return left


def test_keepalives_reach_tcp_connections(stack, proxied):
    """lib/db.c asks for TCP keepalives, and the connection string's
    values win over its defaults: the proxy web's connections (whose
    DATABASE_URL says keepalives_idle=20) carry a keepalive timer, the one
    just used more than the default's 10 s ahead, none more than 20 s."""
    proxy, client = proxied
    assert client.request("GET", "/api/health").status_code == 200
    timers = _keepalive_timers(proxy.port)
    assert timers, "no keepalive timer on latch's connections to the proxy"
    assert max(timers) > BOUNDS["DB_KEEPALIVES_IDLE_S"], timers
    assert all(t <= PROXY_KEEPALIVES_IDLE + 0.5 for t in timers), timers
