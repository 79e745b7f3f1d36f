"""Which responder process answers a request, made certain: a web's
auth.fcgi pool of two, one of them stopped with SIGSTOP while a request
is sent, so that only the other can answer it (issue 14: a proof used
once must be refused by every process).

lighttpd hands a request to the least loaded process of a pool, the
first one when all are idle; a request that waits on the stopped process
first (an unauthenticated GET /auth/sessions, answered 401 once the
process continues) makes it the loaded one. The stopped process is
always continued, whatever happens, and every wait is bounded."""

import os
import signal
import threading
import time

from test_memory_hygiene import workers_of


def auth_responders(bin_dir):
    """The pids of the auth.fcgi processes running bin_dir/auth.fcgi (one
    web's copy), sorted."""
    return sorted(workers_of(bin_dir / "auth.fcgi"))


def served_while_stopped(client, stopped, send, seconds=8.0):
    """send()'s answer, got while process `stopped` (one of the web's two
    auth.fcgi processes) was stopped, so the other process answered it.
    client: a latchlib.Client of that web (for the blocking request)."""
    out = {}

    def blocker():
        try:
            out["blocker"] = client.request("GET",
                                            "/auth/sessions").status_code
        except Exception as exc:        # reported below
            out["blocker"] = exc

    def run():
        out["answer"] = send()

    os.kill(stopped, signal.SIGSTOP)
    b = threading.Thread(target=blocker, daemon=True)
    t = threading.Thread(target=run, daemon=True)
    try:
        b.start()
        time.sleep(0.25)
        t.start()
        t.join(seconds)
        answered = not t.is_alive()
    finally:
        os.kill(stopped, signal.SIGCONT)
    b.join(15)
    t.join(15)
    assert answered, "the request waited for the stopped process"
    assert out.get("blocker") == 401, out
    assert "answer" in out, "send() raised (see its thread's report)"
    return out["answer"]
