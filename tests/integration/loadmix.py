"""Mixed load for the fault tests (issue 13): a few clients, each logging
in as its own cost-4 user, then following its refresh chain and calling
GET /api/profile in turn, every answer recorded with its times. Bounded in
count (requests per client) and in time (a deadline), and stopped early on
request.

What a client holds is what a browser would: the last refresh token it was
given. A refresh answered 503 leaves it holding the token it presented
(the answer may have been lost after the rotation committed: its retry,
within the grace window, must then get the same successor), which
verify_chains checks once the fault is over."""

import re
import threading
import time

import requests

from latchlib import Client, json_body

MAX_REQUESTS = 2000         # per client: a bound, never reached in a test
PAUSE = 0.01                # between a client's requests (2 cores shared)


class Answer:
    """One request: what was asked, when (monotonic), and what came back
    (status None: no HTTP answer at all, error says why)."""

    __slots__ = ("client", "kind", "start", "end", "status", "retry_after",
                 "code", "error")

    def __init__(self, client, kind, start, end, status=None,
                 retry_after=None, code=None, error=None):
        self.client = client
        self.kind = kind
        self.start = start
        self.end = end
        self.status = status
        self.retry_after = retry_after
        self.code = code
        self.error = error

    @property
    def seconds(self):
        return self.end - self.start

    def __repr__(self):
        return (f"<{self.kind} #{self.client} {self.status} "
                f"{self.code or ''} {self.error or ''} "
                f"t={self.start:.2f}+{self.seconds:.2f}s>")


class MixClient:
    """One user's client. token/access: what it holds."""

    def __init__(self, index, base_url, user):
        self.index = index
        self.client = Client(base_url)
        self.user = user
        self.token = None
        self.access = None
        self.answers = []
        self.sid = None

    def _record(self, kind, start, resp=None, error=None):
        end = time.monotonic()
        if resp is None:
            ans = Answer(self.index, kind, start, end, error=error)
        else:
            code = None
            if resp.status_code >= 400:
                try:
                    code = json_body(resp).get("error")
                except Exception:       # a web server's own page
                    code = "not-json"
            ans = Answer(self.index, kind, start, end, resp.status_code,
                         resp.headers.get("Retry-After"), code)
        self.answers.append(ans)
        return ans

    def _call(self, kind, fn):
        start = time.monotonic()
        try:
            resp = fn()
        except requests.RequestException as exc:
            self._record(kind, start, error=type(exc).__name__)
            return None
        self._record(kind, start, resp)
        return resp

    def login(self):
        resp = self._call("login", lambda: self.client.login(
            username=self.user["username"], password=self.user["password"],
            token_delivery="body"))
        if resp is not None and resp.status_code == 200:
            body = json_body(resp)
            self.token = body["refresh_token"]
            self.access = body["access_token"]
        return resp

    def refresh(self):
        resp = self._call("refresh", lambda: self.client.refresh(self.token))
        if resp is not None and resp.status_code == 200:
            body = json_body(resp)
            self.token = body["refresh_token"]
            self.access = body["access_token"]
        return resp

    def profile(self):
        return self._call("profile", lambda: self.client.profile(self.access))

    def step(self):
        """One round: a login while it holds nothing, else profile and
        refresh."""
        if self.token is None:
            self.login()
            return
        self.profile()
        self.refresh()


class LoadMix:
    """N clients on base_url in threads, until stop() or seconds."""

    def __init__(self, base_url, users, seconds=60.0):
        self.clients = [MixClient(i, base_url, u) for i, u in
                        enumerate(users)]
        self.seconds = seconds
        self._stop = threading.Event()
        self._threads = []

    def _run(self, c):
        deadline = time.monotonic() + self.seconds
        for _ in range(MAX_REQUESTS):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            c.step()
            time.sleep(PAUSE)

    def start(self):
        for c in self.clients:
            t = threading.Thread(target=self._run, args=(c,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout=30.0):
        """Stops every client and waits for its request in flight
        (bounded); returns every answer, in order of start."""
        self._stop.set()
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), \
            "a load client is still waiting for an answer"
        return self.answers()

    def answers(self):
        return sorted((a for c in self.clients for a in c.answers),
                      key=lambda a: a.start)

    def wait_answers(self, n, timeout):
        """Waits (bounded) until every client is logged in and has at
        least n answers."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(c.token is not None and len(c.answers) >= n
                   for c in self.clients):
                return True
            time.sleep(0.05)
        return False


def is_unavailable(a):
    """503 temporarily_unavailable with a Retry-After of whole seconds."""
    return (a.status == 503 and a.code == "temporarily_unavailable" and
            a.retry_after is not None and
            re.fullmatch(r"[1-9][0-9]*", a.retry_after) is not None)


def assert_only_ok_or_unavailable(answers):
    """Every answer a 200, or a 503 with Retry-After: never a 500, never
    a hang or a reset (no answer), never a refusal of a live token."""
    bad = [a for a in answers if a.status != 200 and not is_unavailable(a)]
    assert not bad, f"answers neither 200 nor 503+Retry-After: {bad[:10]}"


def verify_chains(clients):
    """After the fault: every client refreshes with the token it holds
    (its last 200's, or the one whose refresh got a 503: inside the grace
    window) and gets 200, then refreshes what it got, 200 again: no session
    lost, none rotated behind a client's back without its retry being
    answered. Returns the clients' tokens."""
    for c in clients:
        if c.token is None:
            # Never logged in (the fault came first): it must now.
            resp = c.login()
            assert resp is not None and resp.status_code == 200, \
                f"client {c.index}: login after the fault: {c.answers[-1]}"
            continue
        for _ in range(2):
            resp = c.refresh()
            assert resp is not None and resp.status_code == 200, \
                (f"client {c.index}: refresh after the fault: "
                 f"{c.answers[-1]} ({resp.text[:200] if resp is not None else ''})")
        resp = c.profile()
        assert resp is not None and resp.status_code == 200, \
            f"client {c.index}: profile after the fault: {c.answers[-1]}"
