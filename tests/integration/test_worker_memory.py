"""No leak per request (issue 13): the VmRSS of every FastCGI process of
the main web (api.fcgi, auth.fcgi, login.fcgi, two of each) stays within
1 MiB over 100 000 mixed requests, measured after a warm-up, the same
processes throughout (a respawn would hide a leak).

The mix, over keep-alive connections with pipelining (tests/integration/
rawhttp.py; requests is too slow for this count): health and profile,
refresh following each connection's own chains, the sessions list, and
error answers of every pool: 401 (no Bearer), 400 (bodies that are not
JSON, to refresh and to login), 404, 405 (api and login pools) and 413 (a
body over MAX_BODY_BYTES). A few logins besides, one at a time.

Under sanitizers (make asan) RSS measures ASan's quarantine and shadow,
not latch, so the test is skipped there; LeakSanitizer checks every
process's heap at its exit instead.
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest

import rawhttp
from conftest import assert_invariants, create_user
from latchlib import Client, login_body
from test_memory_hygiene import workers_of

WARMUP = 5000             # requests before the first measurement
MEASURED = 100000         # requests between the two measurements
CONNECTIONS = 8           # pipelining connections (api and auth pools)
CHAINS = 6                # of them refresh a chain of their own
LOGINS = 4                # logins during the measured requests
LOGIN_PROCS = 2           # the main web's login pool
GROWTH_MAX_KB = 1024
WALL_MAX = 120.0          # a hang, not a slow run: the test takes ~25 s
BINARIES = ("api.fcgi", "auth.fcgi", "login.fcgi")
MAX_BODY_BYTES = 16 * 1024    # API.md's default


def _vmrss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _start_time(pid):
    """The process's start (clock ticks after boot): a pid reused by
    another process would have another one."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


def _workers(stack):
    out = {}
    for name in BINARIES:
        for pid in workers_of(stack.rundir / "bin" / name):
            out[pid] = (name, _start_time(pid))
    return out


class Mixer:
    """One connection's share: batches of pipelined requests, each batch
    ending with one refresh of each of its chains."""

    def __init__(self, target, access, chains):
        self.target = target
        self.chains = list(chains)
        self.conn = rawhttp.Conn(target)
        req = rawhttp.request_bytes
        bearer = [("Authorization", "Bearer " + access)]
        js = [("Content-Type", "application/json")]
        big = b'{"refresh_token":"' + b"a" * MAX_BODY_BYTES + b'"}'
        # (expected status, request bytes)
        self.fixed = [
            *[(200, req(target, "GET", "/api/health"))] * 8,
            *[(200, req(target, "GET", "/api/profile", bearer))] * 8,
            (401, req(target, "GET", "/api/profile")),
            (404, req(target, "GET", "/api/nope")),
            (405, req(target, "POST", "/api/health")),
            (200, req(target, "GET", "/auth/sessions", bearer)),
            (400, req(target, "POST", "/auth/refresh", js, b"{")),
            (413, req(target, "POST", "/auth/refresh", js, big)),
        ]
        self.done = 0
        self.reconnects = 0
        self.statuses = {}
        self.batches = 0

    def batch(self):
        """One batch; returns its request count. Where the server ends the
        connection after an answer (lighttpd: max-keep-alive-requests),
        the requests pipelined behind it were never read: they go again on
        a new connection."""
        items = [(want, r, None) for want, r in self.fixed]
        items += [(200, rawhttp.request_bytes(
            self.target, "POST", "/auth/refresh",
            [("Content-Type", "application/json")],
            json.dumps({"refresh_token": t}).encode()), i)
            for i, t in enumerate(self.chains)]
        pending = items
        for _ in range(10):
            if not pending:
                break
            self.conn.send(b"".join(r for _, r, _ in pending))
            answered = 0
            for want, _, chain in pending:
                resp = self.conn.read_response()
                answered += 1
                assert resp.status == want, \
                    (want, resp.status, resp.body[:200])
                self.statuses[want] = self.statuses.get(want, 0) + 1
                if chain is not None:
                    self.chains[chain] = \
                        json.loads(resp.body)["refresh_token"]
                if rawhttp.server_closes(resp):
                    self.conn.close()
                    self.conn = rawhttp.Conn(self.target)
                    self.reconnects += 1
                    break
            pending = pending[answered:]
        assert not pending, "a batch was cut off ten times"
        self.batches += 1
        self.done += len(items)
        return len(items)


def _run(mixers, total, side=None):
    """Every mixer in a thread of its own until `total` requests were sent
    among them (bounded by WALL_MAX), and side(stop_event) beside them;
    the failures."""
    share = -(-total // len(mixers))
    failures = []
    deadline = time.monotonic() + WALL_MAX
    stop = threading.Event()

    def loop(m):
        goal = m.done + share
        try:
            while m.done < goal:
                assert time.monotonic() < deadline, "the load ran too long"
                m.batch()
        except Exception as exc:     # reported by the test
            failures.append(repr(exc))

    def beside():
        try:
            side(stop)
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=loop, args=(m,)) for m in mixers]
    extra = [threading.Thread(target=beside)] if side else []
    for t in threads + extra:
        t.start()
    for t in threads:
        t.join(timeout=WALL_MAX + 30)
    stop.set()
    for t in extra:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads + extra), "a thread hung"
    return failures


class LoginPool:
    """The login pool's share, one request at a time on one connection (so
    that latch's login queue never refuses one for being busy): 400 (not
    JSON) and 405 (GET) in turn, and now and then a real login."""

    def __init__(self, target, users):
        js = [("Content-Type", "application/json")]
        self.errors = [
            (400, rawhttp.request_bytes(target, "POST", "/auth/login", js,
                                        b"{")),
            (405, rawhttp.request_bytes(target, "GET", "/auth/login"))]
        self.logins = [rawhttp.request_bytes(
            target, "POST", "/auth/login", js,
            json.dumps({"username": u["username"], "password": u["password"],
                        "token_delivery": "body"}).encode()) for u in users]
        self.ka = rawhttp.KeepAlive(target)
        self.done = 0
        self.statuses = {}
        self.login_statuses = []

    def run(self, stop, logins=0, every=0.5):
        """Until stop is set and `logins` logins were made."""
        next_login = time.monotonic() + every
        deadline = time.monotonic() + WALL_MAX
        for i in range(1000000):
            if stop.is_set() and len(self.login_statuses) >= logins:
                break
            assert time.monotonic() < deadline, "the login pool ran too long"
            if len(self.login_statuses) < logins and \
                    time.monotonic() >= next_login:
                _, resp = self.ka.timed(self.logins[len(self.login_statuses)])
                self.login_statuses.append(resp.status)
                next_login = time.monotonic() + every
            else:
                want, req = self.errors[i % 2]
                _, resp = self.ka.timed(req)
                assert resp.status == want, (want, resp.status,
                                             resp.body[:200])
                self.statuses[want] = self.statuses.get(want, 0) + 1
            self.done += 1

    def close(self):
        self.ka.close()


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                    reason="RSS under ASan is its quarantine and shadow")
def test_worker_rss_flat_over_100000_mixed_requests(stack, db):
    t_start = time.monotonic()
    client = Client(stack.base_url)
    users = [create_user(stack, db, prefix="wmem")
             for _ in range(CHAINS + LOGINS)]
    sessions = [None] * CHAINS

    def login(first):
        # One login at a time per login process: more at once would be
        # refused by its queue (503) once hashes run slow.
        for i in range(first, CHAINS, LOGIN_PROCS):
            sessions[i] = login_body(client, users[i])

    threads = [threading.Thread(target=login, args=(i,))
               for i in range(LOGIN_PROCS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(sessions), "a login failed"

    target = rawhttp.Target(stack.base_url)
    mixers = [Mixer(target, sessions[c % CHAINS]["access_token"],
                    [sessions[c]["refresh_token"]] if c < CHAINS else [])
              for c in range(CONNECTIONS)]
    pool = LoginPool(target, users[CHAINS:])
    try:
        failures = _run(mixers, WARMUP, pool.run)
        assert not failures, failures[:3]
        before_workers = _workers(stack)
        assert sorted(n for n, _ in before_workers.values()) == \
            sorted([b for b in BINARIES for _ in range(2)]), before_workers
        before = {pid: _vmrss_kb(pid) for pid in before_workers}
        done_before = sum(m.done for m in mixers) + pool.done

        t0 = time.monotonic()
        failures = _run(mixers, MEASURED,
                        lambda stop: pool.run(stop, logins=LOGINS))
        elapsed = time.monotonic() - t0
        after_workers = _workers(stack)
        after = {pid: _vmrss_kb(pid) for pid in after_workers}
    finally:
        for m in mixers:
            m.conn.close()
        pool.close()
    measured = sum(m.done for m in mixers) + pool.done - done_before
    statuses = dict(pool.statuses)
    for m in mixers:
        for k, v in m.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    print(f"\n{measured} requests in {elapsed:.1f} s "
          f"({measured / elapsed:.0f}/s; the whole test "
          f"{time.monotonic() - t_start:.1f} s), statuses {statuses} "
          f"(login pool {pool.statuses}), logins {pool.login_statuses}, "
          f"reconnects {sum(m.reconnects for m in mixers)}")
    for pid, (name, _) in sorted(before_workers.items(),
                                 key=lambda kv: kv[1]):
        print(f"  {name} {pid}: VmRSS {before[pid]} kB -> "
              f"{after.get(pid)} kB")

    assert not failures, failures[:3]
    assert measured >= MEASURED
    assert pool.login_statuses == [200] * LOGINS, pool.login_statuses
    # The same processes: none died and was replaced.
    assert after_workers == before_workers, (before_workers, after_workers)
    growth = {pid: after[pid] - before[pid] for pid in before}
    assert all(g <= GROWTH_MAX_KB for g in growth.values()), \
        {before_workers[p][0] + f" {p}": g for p, g in growth.items()}
    assert_invariants(db, users="t_wmem_%")
