"""The one way the browser tests' pytest wrappers run a test of
tests/browser/: a BrowserServer (`node tests/browser/serve.mjs`: one
Chromium, launched once) runs them one after the other, each in browser
contexts of its own, as `node tests/browser/run.mjs FILE NAME` runs one
(the same ctx, output and bound: timeout - 30 s for the test). A test
module keeps one server (its module fixture) instead of a node start and
a Chromium launch per test. The node process and Chromium are ours: on
stop, and whenever a test outlives its bound, both are stopped by their
process groups (the server starts afresh for the next test)."""

import json
import os
import selectors
import shutil
import signal
import subprocess
import time

import pytest

from conftest import INSTANCE, REPO, VAR

BROWSER_DIR = REPO / "tests" / "browser"
ARTIFACTS_DIR = VAR / INSTANCE / "browser"
NODE_TIMEOUT = 120      # seconds for one test, from its command to its answer
LAUNCH_TIMEOUT = 60     # seconds for serve.mjs to have Chromium running


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_group(pid):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + 3
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


def reap(node):
    """The end of a node process that was asked to close its Chromium
    (node: a BrowserServer or browser_driver.Driver): waits for it
    (bounded), then makes sure by pid that neither it nor Chromium still
    runs, and closes its pipes and its stderr file (removed when empty)."""
    if node.proc.poll() is None:
        try:
            node.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    if node.proc.poll() is None:
        _kill_group(node.proc.pid)
        node.proc.wait(timeout=5)
    if node.chromium_pid is not None and _alive(node.chromium_pid):
        _kill_group(node.chromium_pid)
    node._sel.close()
    node._stderr.close()
    if node.stderr_path.stat().st_size == 0:
        node.stderr_path.unlink()
    for f in (node.proc.stdin, node.proc.stdout):
        try:
            f.close()
        except OSError:
            pass


def _node():
    node = shutil.which("node")
    assert node, "node is missing: `make check` installs nodejs (deps.sh)"
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), \
        "tests/browser/node_modules is missing: `make check` runs npm ci there"
    return node


class BrowserServer:
    """tests/browser/serve.mjs, started at the first test it runs."""

    def __init__(self):
        self.proc = None
        self.chromium_pid = None
        self._next = 0

    def _start(self):
        node = _node()
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        self.stderr_path = (ARTIFACTS_DIR /
                            f"serve-{os.getpid()}-{time.monotonic_ns()}.log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [node, str(BROWSER_DIR / "serve.mjs")], cwd=str(REPO),
            env=dict(os.environ, ARTIFACTS_DIR=str(ARTIFACTS_DIR)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, start_new_session=True)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        try:
            ready = self._answer(0, time.monotonic() + LAUNCH_TIMEOUT)
            assert ready is not None and ready["ok"], \
                f"serve.mjs: no Chromium: {ready}{self._tail()}"
            self.chromium_pid = ready["value"]["pid"]
        except BaseException:
            self.stop()
            raise

    def _answer(self, want, deadline):
        """The answer with id want; None when none came before deadline or
        the server ended."""
        while True:
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not self._sel.select(timeout=left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    return None
                self._buf += chunk
            line, _, self._buf = self._buf.partition(b"\n")
            ans = json.loads(line)
            if ans.get("id") == want:
                return ans

    def _tail(self, start=0):
        """What the server (and the commands a test ran) wrote to stderr
        since offset start, its last 3000 characters."""
        try:
            self._stderr.flush()
            with open(self.stderr_path, "rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")[-3000:]
            return "\nstderr:\n" + text if text else ""
        except (OSError, AttributeError):
            return ""

    def run(self, test_file, name, env, timeout=NODE_TIMEOUT):
        """Runs export name of tests/browser/test_file with env added to
        the environment (ARTIFACTS_DIR set); returns its output, or fails
        with it unless the test passed."""
        if self.proc is not None and self.proc.poll() is not None:
            self.stop()         # it ended itself between tests (SERVE_IDLE)
        if self.proc is None:
            self._start()
        self._stderr.flush()
        mark = self.stderr_path.stat().st_size
        self._next += 1
        cmd = {"id": self._next, "file": str(BROWSER_DIR / test_file),
               "name": name, "env": dict(env), "timeout": timeout - 30}
        try:
            self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass                # gone: no answer below says so
        ans = self._answer(self._next, time.monotonic() + timeout)
        tail = ""
        if ans is None or ans["status"] != 0:
            tail = self._tail(mark)
            code = self.proc.poll()
            self.stop()         # the next test gets a server of its own
            if ans is None:
                pytest.fail(f"{name}: no answer from serve.mjs (exit status "
                            f"{code}; bound {timeout} s){tail}",
                            pytrace=False)
        text = ans["output"]
        assert ans["status"] == 0 and f"PASS {test_file}:{name}" in text, \
            f"{name} failed (status {ans['status']}):\n{text[-6000:]}{tail}"
        return text

    def stop(self):
        """Closes Chromium, then makes sure by pid that neither it nor the
        server still runs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self._next += 1
                self.proc.stdin.write(json.dumps(
                    {"id": self._next, "op": "close"}).encode() + b"\n")
                self.proc.stdin.flush()
                self._answer(self._next, time.monotonic() + 10)
            except OSError:
                pass
        reap(self)
        self.proc = None
        self.chromium_pid = None


def browser_server():
    """The body of a test module's fixture: one BrowserServer for the
    module, stopped at its end."""
    server = BrowserServer()
    try:
        yield server
    finally:
        server.stop()
