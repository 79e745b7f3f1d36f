"""Concurrent refreshes: 50 simultaneous presentations of one token all get
the same successor and leave one successor row; 20 sessions rotating at
once for 10 s leave every session with exactly its own chain; with a 1 s
grace window, of 50 tabs presenting one token the 25 inside the window get
the successor and the 25 after it 403 (reuse, API.md: the session is then
revoked). Every test ends with tests/invariants.sql (issue 13)."""

import json
import threading
import time

import pytest
import requests

from conftest import (INSTANCE, assert_invariants, create_user, http_web,
                      main_port, run_stack, session_row, token_rows)
from latchlib import (TIMEOUT, Client, assert_error, cookie_header,
                      json_body, login_body, login_cookie, record_tokens,
                      refresh_cookie, refreshed_body, set_cookie_headers,
                      sid_of, token_hash)
from loadmix import LoadMix, verify_chains

THREADS = 50
SESSIONS = 20
ROTATE_SECONDS = 10.0
ROTATE_MAX_PER_SESSION = 400
USERS = "t_rfx_%"         # assert_invariants: this file's users
MIX_CLIENTS = 3           # the mixed load beside the stampedes
MIX_USERS = "t_mixrfx_%"

SHORT_GRACE = 1.0         # REFRESH_REUSE_GRACE of the short-grace web
SHORT_GRACE_WEB = "grace1shttp"
SHORT_GRACE_OFFSET = 23   # main web's port + 23 (see test_faults.py)
LATE_AFTER = SHORT_GRACE + 0.6   # the late half: this long after the first


@pytest.fixture
def user(make_user):
    return make_user(prefix="rfx")


@pytest.fixture
def mixed_load(stack, db, web):
    """Other users at the same time, on the same web (issue 13: under mixed
    load): MIX_CLIENTS clients logging in, following their refresh chains
    and calling profile (loadmix) for the whole test. Afterwards every one
    of their answers was a 200, every chain still refreshes, and their
    rows keep the invariants."""
    users = [create_user(stack, db, prefix="mixrfx")
             for _ in range(MIX_CLIENTS)]
    mix = LoadMix(web.base_url, users, seconds=60).start()
    assert mix.wait_answers(3, 30), "the load did not get going"
    yield mix
    answers = mix.stop()
    assert answers and not [a for a in answers if a.status != 200], \
        [a for a in answers if a.status != 200][:10]
    verify_chains(mix.clients)
    assert_invariants(db, users=MIX_USERS)


def _post_refresh(http, base_url, token, delivery):
    headers = {"User-Agent": "latch-integration-tests"}
    if delivery == "body":
        headers["Content-Type"] = "application/json"
        data = json.dumps({"refresh_token": token}).encode()
    else:
        headers["Cookie"] = cookie_header(token)
        data = b""
    resp = http.post(base_url + "/auth/refresh", data=data, headers=headers,
                     timeout=TIMEOUT, allow_redirects=False)
    record_tokens(resp)
    return resp


def _successor(resp, delivery):
    if delivery == "body":
        return json_body(resp)["refresh_token"]
    return refresh_cookie(resp)[0]


def _stampede(web, token, delivery):
    """THREADS threads present token at once (connections opened before
    the barrier); returns the responses (or exceptions), in thread order."""
    barrier = threading.Barrier(THREADS)
    results = [None] * THREADS

    def worker(i):
        http = requests.Session()
        try:
            http.get(web.base_url + "/api/health", timeout=TIMEOUT)
            barrier.wait(timeout=30)
            results[i] = _post_refresh(http, web.base_url, token,
                                       delivery)
        except Exception as exc:      # reported by the test
            results[i] = exc
        finally:
            http.close()

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def _check_stampede(web, db, token, delivery):
    results = _stampede(web, token, delivery)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    statuses = sorted(r.status_code for r in results)
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses == [200] * THREADS, statuses
    successors = {_successor(r, delivery) for r in results}
    assert len(successors) == 1, f"{len(successors)} different successors"
    successor = successors.pop()
    assert successor != token and sid_of(successor) == sid_of(token)
    accesses = {json_body(r)["access_token"] for r in results}
    assert len(accesses) == THREADS, "access tokens were handed out twice"

    sid = sid_of(token)
    rows = token_rows(db, sid)
    assert len(rows) == 2, f"{len(rows)} rows for the session"
    assert [(h, rot is None) for _, h, rot, _ in rows] == \
        [(token_hash(token), False), (token_hash(successor), True)]
    assert session_row(db, sid)["revoked_at"] is None
    return successor


def test_refresh_50_concurrent_duplicates_in_body_share_one_successor(
        web, db, user, mixed_load):
    token = login_body(web, user)["refresh_token"]
    successor = _check_stampede(web, db, token, "body")
    after = refreshed_body(web.refresh(successor))
    assert sid_of(after["refresh_token"]) == sid_of(token)
    assert_invariants(db, users=USERS)


def test_refresh_50_concurrent_duplicates_in_cookie_share_one_successor(
        web, db, user, mixed_load):
    _, token, _ = login_cookie(web, user)
    successor = _check_stampede(web, db, token, "cookie")
    resp = web.refresh(cookie=successor)
    assert resp.status_code == 200, resp.text
    assert len(set_cookie_headers(resp)) == 1
    assert_invariants(db, users=USERS)


def test_refresh_20_sessions_rotating_concurrently_keep_their_chains(
        web, db, user):
    deliveries = ["body" if i % 2 == 0 else "cookie"
                  for i in range(SESSIONS)]
    starts = [None] * SESSIONS

    def login(i):
        try:
            if deliveries[i] == "body":
                starts[i] = login_body(web, user)["refresh_token"]
            else:
                starts[i] = login_cookie(web, user)[1]
        except Exception as exc:
            starts[i] = exc

    threads = [threading.Thread(target=login, args=(i,))
               for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(s, str) for s in starts), starts

    barrier = threading.Barrier(SESSIONS)
    outcome = [None] * SESSIONS     # (successes, last token, failure)

    def rotate(i):
        http = requests.Session()
        token, done, failure = starts[i], 0, None
        try:
            barrier.wait(timeout=30)
            deadline = time.monotonic() + ROTATE_SECONDS
            while time.monotonic() < deadline and \
                    done < ROTATE_MAX_PER_SESSION:
                resp = _post_refresh(http, web.base_url, token,
                                     deliveries[i])
                if resp.status_code != 200:
                    failure = f"{resp.status_code} {resp.text[:200]}"
                    break
                token = _successor(resp, deliveries[i])
                done += 1
        except Exception as exc:
            failure = repr(exc)
        finally:
            http.close()
        outcome[i] = (done, token, failure)

    threads = [threading.Thread(target=rotate, args=(i,))
               for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=ROTATE_SECONDS + 60)
    assert not any(t.is_alive() for t in threads), "a thread hung"

    failures = [(i, o[2]) for i, o in enumerate(outcome) if o[2]]
    assert not failures, failures[:5]
    for i, (done, last, _) in enumerate(outcome):
        assert done > 0, f"session {i} never rotated"
        sid = sid_of(starts[i])
        assert session_row(db, sid)["revoked_at"] is None, f"session {i}"
        rows = token_rows(db, sid)
        assert len(rows) == 1 + done, (i, len(rows), done)
        live = [h for _, h, rot, _ in rows if rot is None]
        assert live == [token_hash(last)], f"session {i}"
    # Every session still refreshes.
    for i, (_, last, _) in enumerate(outcome):
        if deliveries[i] == "body":
            refreshed_body(web.refresh(last))
        else:
            assert web.refresh(cookie=last).status_code == 200
    assert_invariants(db, users=USERS)


@pytest.fixture(scope="module")
def short_grace_web(stack):
    """A lighttpd web (persistent processes, real concurrency) with
    REFRESH_REUSE_GRACE=1s, for this module only."""
    base = http_web(stack, SHORT_GRACE_WEB,
                    main_port(stack) + SHORT_GRACE_OFFSET,
                    {"COOKIE_SECURE": "0", "BCRYPT_COST": "4",
                     "REFRESH_REUSE_GRACE": f"{int(SHORT_GRACE)}s"})
    yield Client(base)
    down = run_stack("web-down", INSTANCE, SHORT_GRACE_WEB)
    assert down.returncode == 0, down.stderr.decode()[-2000:]


def test_refresh_50_tabs_across_a_short_grace_window(short_grace_web, db,
                                                      make_user):
    """50 tabs present one token: 25 at once (the first rotates it, the
    other 24 are concurrent duplicates), the other 25 at once 1.6 s later,
    past the 1 s window. No 5xx; the 25 inside get 200 with the one
    successor, the 25 after get 403 invalid_grant; one successor row; and,
    the late ones being reuse (API.md), the session is revoked, so the
    successor no longer refreshes."""
    web = short_grace_web
    user = make_user(prefix="rfxshort")
    token = login_body(web, user)["refresh_token"]
    half = THREADS // 2
    early_go = threading.Barrier(half)
    late_go = threading.Barrier(THREADS - half)
    released = []                  # when the early half was let go
    results = [None] * THREADS

    def worker(i):
        http = requests.Session()
        try:
            http.get(web.base_url + "/api/health", timeout=TIMEOUT)
            if i < half:
                if early_go.wait(timeout=30) == 0:
                    released.append(time.monotonic())
            else:
                deadline = time.monotonic() + 30
                while not released and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert released, "the early half never started"
                pause = released[0] + LATE_AFTER - time.monotonic()
                time.sleep(max(0.0, pause))
                late_go.wait(timeout=30)
            results[i] = (time.monotonic(),
                          _post_refresh(http, web.base_url, token, "body"))
        except Exception as exc:      # reported by the test
            results[i] = exc
        finally:
            http.close()

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]

    statuses = [r.status_code for _, r in results]
    assert not [s for s in statuses if s >= 500], statuses
    early = [r for _, r in results[:half]]
    late = [r for _, r in results[half:]]
    assert [r.status_code for r in early] == [200] * half, \
        [r.status_code for r in early]
    successors = {_successor(r, "body") for r in early}
    assert len(successors) == 1, f"{len(successors)} different successors"
    successor = successors.pop()
    assert successor != token and sid_of(successor) == sid_of(token)
    # The late half was sent after the window: the last early answer came
    # back before any late request left.
    last_early = max(t for t, _ in results[:half])
    first_late_sent = released[0] + LATE_AFTER
    assert last_early < first_late_sent, (last_early, first_late_sent)
    for r in late:
        assert_error(r, 403, "invalid_grant")

    sid = sid_of(token)
    rows = token_rows(db, sid)
    assert [(h, rot is None) for _, h, rot, _ in rows] == \
        [(token_hash(token), False), (token_hash(successor), True)], \
        f"{len(rows)} rows for the session"
    row = session_row(db, sid)
    assert row["revoked_at"] is not None and \
        row["revoked_reason"] == "reuse", row
    assert_error(web.refresh(successor), 403, "invalid_grant")
    assert_invariants(db, grace=f"{int(SHORT_GRACE)}s",
                      users="t_rfxshort_%")
