"""Issue 11, signals: SIGTERM (web servers, systemd; mod_fcgid follows it
with SIGKILL about 3 s later) and SIGUSR1 (mod_fcgid, Apache's graceful
restart) make a FastCGI process finish the request in hand and exit; an
idle process exits at once. SIGHUP and SIGINT do the same (lib/server.c,
stop_signals). The web server starts a fresh process and keeps answering.

Real processes under lighttpd, on an extra web of their own (stack.sh
web-up "sig": one login process at cost 12, so that a login holds it for
a whole hash and one more request waits in its queue), so that the main
web's processes are never signalled:

- login.fcgi busy with a cost-12 login: SIGTERM lets that login finish
  with 200; a login waiting in its queue is refused at once with the 503
  of the admission queue, before the hash in hand ends;
- api.fcgi in the middle of reading a request (the web server has sent
  its parameters but not yet its body, spoken to the process's own socket
  as the web server would): the signal does not cut the request, which is
  answered 200 once the body comes;
- an idle api.fcgi exits within IDLE_EXIT seconds of each stop signal;
- after each, the web answers again (lighttpd started another process).

Every wait is bounded; signals go to pids read from /proc (the web's own
copies of the binaries), never by name.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import (INSTANCE, LogTail, assert_invariants, create_user,
                      http_web, main_port, run_stack)
from latchlib import Client

SIG_WEB = "sig"
SIG_OFFSET = 72         # main web's port + 72: clear of the other webs'
IDLE_EXIT = 2.0         # seconds an idle process may take to exit
HUNG = 60               # seconds: an answer later than this is a hang
RESPAWN = 20            # seconds for lighttpd to answer again
CLK_TCK = os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def sig_web(stack):
    """The web "sig": its base URL and directory; stopped at the end of
    the module."""
    base_url = http_web(stack, SIG_WEB, main_port(stack) + SIG_OFFSET,
                        {"BCRYPT_COST": "12", "COOKIE_SECURE": "0",
                         "LOGIN_PROCS": "1"})
    yield base_url, stack.rundir / f"web-{SIG_WEB}"
    run_stack("web-down", INSTANCE, SIG_WEB)


# ------------------------------------------------------------ /proc

def _pids(web_dir, binary):
    """Live pids running web_dir's copy of binary (possibly none)."""
    exe = os.path.realpath(web_dir / "bin" / binary)
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _alive(int(entry.name)):
            try:
                if os.readlink(entry / "exe") == exe:
                    out.append(int(entry.name))
            except OSError:
                continue
    return sorted(out)


def _alive(pid):
    """Whether pid runs (a zombie lighttpd has not reaped yet is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


def _wait_pids(web_dir, binary, timeout=RESPAWN):
    """The pids of binary once there is one (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = _pids(web_dir, binary)
        if pids or time.monotonic() > deadline:
            assert pids, f"no {binary} process within {timeout}s"
            return pids
        time.sleep(0.05)


def _wait_gone(pid, timeout):
    """Seconds until pid exits, or None when it still runs after timeout."""
    start = time.monotonic()
    while _alive(pid):
        if time.monotonic() - start > timeout:
            return None
        time.sleep(0.01)
    return time.monotonic() - start


def _cpu_ticks(pid):
    """utime + stime of pid, all threads (clock ticks)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def _sockets(pid):
    """How many sockets pid holds open (listening, database, accepted)."""
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            n += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return n


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.005)


def _answers_again(base_url, path="/api/health", method="GET", body=None):
    """The first non-5xx answer of the web to path (bounded): lighttpd
    starts a process in place of the one that exited."""
    client = Client(base_url)
    deadline = time.monotonic() + RESPAWN
    while True:
        try:
            resp = client.request(method, path, json_body=body)
            if resp.status_code < 500:
                return resp
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, \
            f"{base_url}{path} answered no non-5xx within {RESPAWN}s"
        time.sleep(0.2)


def _stopped(tail, prog, name):
    """Whether the log says prog stopped gracefully on SIGname (waits a
    little: the line may follow the exit we saw)."""
    def match(line):
        return f"prog={prog} " in line and "event=stopped" in line and \
            f"signal={name}" in line
    return any(match(line) for line in tail.wait_for(match, timeout=5))


# ------------------------------------------------------- login.fcgi

def _login_in_thread(base_url, user, results, key):
    def run():
        try:
            resp = Client(base_url).login(username=user["username"],
                                          password=user["password"],
                                          token_delivery="body")
            results[key] = (resp, time.monotonic())
        except Exception as e:         # noqa: BLE001 - reported below
            results[key] = (e, time.monotonic())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_sigterm_lets_the_login_in_hand_finish(stack, db, sig_web):
    base_url, web_dir = sig_web
    user = create_user(stack, db, prefix="sigterm", cost=12)
    # the pool serves: a login before (the database connection is open)
    first = Client(base_url).login(username=user["username"],
                                   password=user["password"])
    assert first.status_code == 200, first.text
    [pid] = _wait_pids(web_dir, "login.fcgi")
    tail = LogTail(web_dir / "fcgi.stderr.log")
    results = {}

    cpu0 = _cpu_ticks(pid)
    busy = _login_in_thread(base_url, user, results, "busy")
    # in the hash: the process has burnt 30 ms of CPU on it (a cost-12
    # hash is about 300 ms; the rest of a login, a millisecond)
    _wait_for(lambda: _cpu_ticks(pid) - cpu0 >= 0.03 * CLK_TCK, HUNG,
              "login.fcgi busy hashing")
    held = _sockets(pid)
    queued = _login_in_thread(base_url, user, results, "queued")
    _wait_for(lambda: _sockets(pid) > held, 10,
              "the second login accepted into the queue")
    assert "busy" not in results, "the hash ended before the signal: " \
        "nothing was in hand"
    os.kill(pid, signal.SIGTERM)
    signalled = time.monotonic()

    busy.join(HUNG)
    queued.join(HUNG)
    resp, busy_done = results["busy"]
    assert not isinstance(resp, Exception), resp
    assert resp.status_code == 200, resp.text
    assert resp.json()["access_token"]
    refused, queued_done = results["queued"]
    assert not isinstance(refused, Exception), refused
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "temporarily_unavailable"
    assert refused.headers.get("Retry-After") == "3"
    # refused at once, not after the hash in hand
    assert queued_done < busy_done, (queued_done - signalled,
                                     busy_done - signalled)

    assert _wait_gone(pid, HUNG) is not None, \
        f"login.fcgi {pid} still runs {HUNG}s after SIGTERM"
    assert _stopped(tail, "login", "TERM"), tail.lines()

    again = _answers_again(base_url, "/auth/login", "POST",
                           {"username": user["username"],
                            "password": user["password"],
                            "token_delivery": "body"})
    assert again.status_code == 200, again.text
    assert pid not in _pids(web_dir, "login.fcgi")
    assert_invariants(db, users="t_sigterm_%")


# --------------------------------------------------------- api.fcgi

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, \
    FCGI_STDOUT = 1, 3, 4, 5, 6


def _record(kind, content, request_id=1):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + \
        content


def _pair(name, value):
    def length(n):
        return struct.pack(">B", n) if n < 128 else \
            struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


def _read_answer(sock):
    """STDOUT of request 1 until END_REQUEST (bounded by the socket's
    timeout)."""
    data, out = b"", b""
    while True:
        while len(data) < 8:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before END_REQUEST: {out!r}"
            data += chunk
        _, kind, _, length, padding = struct.unpack(">BBHHB", data[:7])
        while len(data) < 8 + length + padding:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed in a record: {out!r}"
            data += chunk
        if kind == FCGI_STDOUT:
            out += data[8:8 + length]
        data = data[8 + length + padding:]
        if kind == FCGI_END_REQUEST:
            return out


def _listening_path(pid):
    """The Unix socket path pid accepts on (its descriptor 0)."""
    inode = os.readlink(f"/proc/{pid}/fd/0")
    assert inode.startswith("socket:["), inode
    inode = inode[len("socket:["):-1]
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] == inode:
            return fields[7]
    raise AssertionError(f"no path for socket {inode} of {pid}")


def test_sigterm_does_not_cut_a_request_being_read(sig_web):
    """The process waits for the body of a request it accepted when the
    signal comes: it reads on, answers, and only then exits."""
    base_url, web_dir = sig_web
    _answers_again(base_url)
    pid = _wait_pids(web_dir, "api.fcgi")[0]
    path = _listening_path(pid)
    tail = LogTail(web_dir / "fcgi.stderr.log")
    body = b"{}"
    params = b"".join(_pair(k, v) for k, v in (
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/api/health"),
        ("SCRIPT_NAME", "/api/health"), ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("HTTP_HOST", "127.0.0.1"), ("REMOTE_ADDR", "127.0.0.1"),
        ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", str(len(body)))))
    idle = _sockets(pid)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(HUNG)
        sock.connect(path)
        sock.sendall(_record(FCGI_BEGIN_REQUEST,
                             struct.pack(">HB5x", 1, 0)) +
                     _record(FCGI_PARAMS, params) + _record(FCGI_PARAMS, b""))
        _wait_for(lambda: _sockets(pid) > idle, 10, "the request accepted")
        time.sleep(0.3)             # reading: its parameters, then the body
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        assert _alive(pid), "exited with the request in hand unanswered"
        sock.sendall(_record(FCGI_STDIN, body) + _record(FCGI_STDIN, b""))
        answer = _read_answer(sock)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"Status: 200 OK", answer
    assert json.loads(payload)["status"] == "ok", answer
    assert _wait_gone(pid, IDLE_EXIT) is not None, \
        f"api.fcgi {pid} still runs {IDLE_EXIT}s after answering"
    assert _stopped(tail, "api", "TERM"), tail.lines()
    assert _answers_again(base_url).status_code == 200


@pytest.mark.parametrize("name", ["TERM", "USR1", "HUP", "INT"])
def test_idle_process_exits_at_once(sig_web, name):
    base_url, web_dir = sig_web
    assert _answers_again(base_url).status_code == 200
    pids = _wait_pids(web_dir, "api.fcgi")
    tail = LogTail(web_dir / "fcgi.stderr.log")
    os.kill(pids[0], getattr(signal, "SIG" + name))
    took = _wait_gone(pids[0], IDLE_EXIT)
    assert took is not None, \
        f"idle api.fcgi {pids[0]} still runs {IDLE_EXIT}s after SIG{name}"
    # a graceful stop (its own line), not the signal's default action
    assert _stopped(tail, "api", name), tail.lines()
    assert _answers_again(base_url).status_code == 200


# ------------------------------------- processes sharing one socket

def _fcgi_get(path, uri):
    """One GET of uri over the FastCGI socket at path; the raw answer."""
    params = b"".join(_pair(k, v) for k, v in (
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri),
        ("SCRIPT_NAME", uri), ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("HTTP_HOST", "127.0.0.1"), ("REMOTE_ADDR", "127.0.0.1")))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(HUNG)
        sock.connect(path)
        sock.sendall(_record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 0))
                     + _record(FCGI_PARAMS, params) + _record(FCGI_PARAMS, b"")
                     + _record(FCGI_STDIN, b""))
        return _read_answer(sock)


def _where(pid):
    """What pid is doing, for a failure's message."""
    out = []
    for name in ("syscall", "wchan", "stack"):
        try:
            out.append(f"{name}={Path(f'/proc/{pid}/{name}').read_text()!r}")
        except OSError:
            pass
    return " ".join(out)


def test_processes_sharing_one_socket_each_exit_when_idle(sig_web):
    """spawn-fcgi -F 2: two api.fcgi share one listening socket, so every
    connection wakes both and one of them finds nothing to accept. That
    one must go back to waiting where a stop signal ends it (latch makes
    the socket non-blocking for this), not block in accept: after a
    burst of concurrent requests, both are alive, and each exits at once
    on SIGTERM."""
    _, web_dir = sig_web
    path = web_dir / "shared-api.sock"
    if path.exists():
        path.unlink()
    owner = (web_dir / "bin").stat()
    cmd = ["spawn-fcgi", "-F", "2", "-s", str(path), "-M", "0600"]
    if os.geteuid() == 0:
        cmd += ["-u", str(owner.st_uid), "-g", str(owner.st_gid),
                "-U", str(owner.st_uid), "-G", str(owner.st_gid)]
    cmd += ["--", str(web_dir / "bin" / "api.fcgi")]
    env = dict(os.environ, LATCH_CONFIG=str(web_dir / "latch.conf"))
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=30,
                          check=False)
    pids = [int(p) for p in re.findall(rb"PID: (\d+)", proc.stdout)]
    try:
        assert proc.returncode == 0 and len(pids) == 2, \
            (proc.returncode, proc.stdout, proc.stderr)
        # Concurrent connections: the losing process only sees a
        # connection that is gone when both woke for it at once.
        answers = []

        def client():
            for _ in range(30):
                answers.append(_fcgi_get(str(path), "/api/health"))

        threads = [threading.Thread(target=client, daemon=True)
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HUNG)
        assert len(answers) == 180, f"{len(answers)} of 180 answered"
        for answer in answers:
            assert answer.split(b"\r\n")[0] == b"Status: 200 OK", answer
        time.sleep(0.3)
        assert all(_alive(p) for p in pids), "a process exited unasked"
        for p in pids:
            os.kill(p, signal.SIGTERM)
        for p in pids:
            assert _wait_gone(p, IDLE_EXIT) is not None, \
                f"api.fcgi {p} (shared socket) still runs {IDLE_EXIT}s " \
                f"after SIGTERM: {_where(p)}"
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if path.exists():
            path.unlink()
