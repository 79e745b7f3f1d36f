"""A headless Chromium that a pytest test drives step by step:
tests/browser/driver.mjs (playwright-core, Debian's chromium) over its
line protocol, for tests whose assertions need the database, a plain
HTTP client or a web server's log between two browser steps.

    with BrowserDriver(args=[...]) as b:
        b.open(url, html)           # a page of the test's own at url
        b.call("login", user, pw)   # await window.T.login(user, pw)
        b.cookies(url)

Every call is bounded (its own timeout, and the driver's DRIVER_TIMEOUT);
on exit the driver closes Chromium, and whatever still runs is killed by
its process id: the node process (its group) and Chromium (its group:
playwright starts it as a group leader)."""

import json
import os
import selectors
import shutil
import subprocess
import time

from browser_run import ARTIFACTS_DIR, BROWSER_DIR, reap
from conftest import REPO

CALL_TIMEOUT = 30       # seconds for one command of the protocol
DRIVER_TIMEOUT = 150    # seconds the driver lives at most


class DriverError(AssertionError):
    """A command the driver answered with an error, or not in time."""


class BrowserDriver:
    def __init__(self, args=(), timeout=DRIVER_TIMEOUT):
        node = shutil.which("node")
        assert node, "node is missing: `make check` installs nodejs (deps.sh)"
        assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), \
            "tests/browser/node_modules is missing: `make check` runs npm ci"
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        self.stderr_path = (ARTIFACTS_DIR /
                            f"driver-{os.getpid()}-{time.monotonic_ns()}.log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [node, str(BROWSER_DIR / "driver.mjs")], cwd=str(REPO),
            env=dict(os.environ, DRIVER_TIMEOUT=str(timeout)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, start_new_session=True)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        self._next = 0
        self.chromium_pid = None
        try:
            self.chromium_pid = self._cmd("launch", args=list(args))["pid"]
        except BaseException:
            self.stop()
            raise

    # ---- the protocol

    def _readline(self, deadline):
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sel.select(timeout=left):
                raise DriverError("driver: no answer in time" + self._tail())
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise DriverError("driver: exited" + self._tail())
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _cmd(self, op, timeout=CALL_TIMEOUT, **fields):
        self._next += 1
        msg = dict(fields, id=self._next, op=op)
        try:
            self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise DriverError(f"driver: {e}" + self._tail()) from e
        deadline = time.monotonic() + timeout
        while True:
            ans = json.loads(self._readline(deadline))
            if ans.get("id") == self._next:
                break
        if not ans["ok"]:
            raise DriverError(f"driver {op}: {ans['error']}")
        return ans["value"]

    def _tail(self):
        try:
            self._stderr.flush()
            return "\n" + self.stderr_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    # ---- commands

    def open(self, url, html):
        return self._cmd("open", url=url, html=html)

    def call(self, name, *args, timeout=CALL_TIMEOUT):
        return self._cmd("call", name=name, args=list(args), timeout=timeout)

    def cookies(self, url):
        return self._cmd("cookies", url=url)

    def sent_cookies(self, path):
        """The Cookie header (None: none) of each request of the page to
        path so far, as Chromium sent it."""
        return self._cmd("sent", path=path)

    def console(self):
        return self._cmd("log")

    # ---- the end

    def stop(self):
        """Closes Chromium, then makes sure by pid that neither it nor the
        driver still runs."""
        if self.proc.poll() is None:
            try:
                self._cmd("close", timeout=10)
            except DriverError:
                pass
        reap(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
