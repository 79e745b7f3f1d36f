"""Which responder process answers a request, made certain: a web's
auth.fcgi pool of two, one of them stopped with SIGSTOP while a request
is sent, so that only the other can answer it (issue 14: a proof used
once must be refused by every process).

lighttpd hands a request to the least loaded process of a pool; a
request that waits on the stopped process first (an unauthenticated GET
/auth/sessions, answered 401 once the process continues) makes it the
loaded one, so the request that matters goes to the other. The stopped process is
always continued, whatever happens, and every wait is bounded."""

import os
import signal
import threading

from test_memory_hygiene import workers_of


def auth_responders(bin_dir):
    """The pids of the auth.fcgi processes running bin_dir/auth.fcgi (one
    web's copy), sorted."""
    return sorted(workers_of(bin_dir / "auth.fcgi"))


def served_while_stopped(client, stopped, send, seconds=8.0):
    """send()'s answer, got while process `stopped` (one of the web's two
    auth.fcgi processes) was stopped, so the other process answered it.
    client: a latchlib.Client of that web (for the blocking request).

    lighttpd gives a request to the first of its least loaded processes.
    A blocking request sent first goes to the stopped process and waits
    there (then send() goes to the other, the only idle one), or goes to
    the running one and is answered (then that one comes first, and so
    it takes send() too). Either way an answer to send() while `stopped`
    is stopped is the other's; a send() that waits is a failure."""
    answers = []

    def blocker():
        try:
            answers.append(client.request("GET",
                                          "/auth/sessions").status_code)
        except Exception as exc:        # reported below
            answers.append(exc)

    out = {}

    def run():
        try:
            out["answer"] = send()
        except Exception as exc:        # reported below
            out["error"] = exc

    os.kill(stopped, signal.SIGSTOP)
    b = threading.Thread(target=blocker, daemon=True)
    t = threading.Thread(target=run, daemon=True)
    try:
        b.start()
        b.join(0.25)
        t.start()
        t.join(seconds)
        answered = not t.is_alive()
    finally:
        os.kill(stopped, signal.SIGCONT)
    b.join(15)
    t.join(15)
    assert answered, "the request waited for the stopped process"
    assert answers == [401], answers
    assert "answer" in out, f"send() failed: {out.get('error')!r}"
    return out["answer"]
