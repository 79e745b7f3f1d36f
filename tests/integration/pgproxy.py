"""A small PostgreSQL proxy for the fault tests: it listens on 127.0.0.1:PORT
and joins each connection to the cluster's Unix socket (the dev stack's
PostgreSQL listens on nothing else), reading the frontend protocol as it
passes so that it can cut one connection at a chosen moment of the refresh
statement (latch_refresh):

  "committed":   the refresh (Bind ... Sync) goes through, PostgreSQL runs
                 and commits it (its ReadyForQuery reaches the proxy), and
                 the connection is cut before any of the answer reaches the
                 client: a dropped connection before COMMIT's answer.
  "uncommitted": the refresh's Bind and Execute go through and run (a
                 Flush the proxy adds brings their CommandComplete back to
                 the proxy), but its Sync never does: the connection is cut
                 with the statement done inside a transaction that was not
                 committed, which PostgreSQL then rolls back.

  "late":        the refresh's messages are held, unsent, for `hold`
                 seconds or until the client gives up and closes, then
                 sent on: PostgreSQL runs the statement late, as a server
                 stopped with SIGSTOP does when it resumes. If the client
                 is still there, the answer goes back to it as usual; if
                 not, the proxy waits for PostgreSQL's ReadyForQuery (the
                 statement done) and then closes.

Every connection is served by a thread of its own; stop() closes them all.
"""

import select
import socket
import struct
import threading
import time

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
REFRESH_SQL = b"latch_refresh("


class _Frontend:
    """Splits what a client sends into whole messages: the untyped startup
    packets first, then typed ones."""

    def __init__(self):
        self.buf = b""
        self.started = False

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            if not self.started:
                if len(self.buf) < 8:
                    break
                n, code = struct.unpack("!ii", self.buf[:8])
                if len(self.buf) < n:
                    break
                msg, self.buf = self.buf[:n], self.buf[n:]
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    self.started = True
                out.append((None, msg))
                continue
            if len(self.buf) < 5:
                break
            n = struct.unpack("!i", self.buf[1:5])[0]
            if len(self.buf) < 1 + n:
                break
            msg, self.buf = self.buf[:1 + n], self.buf[1 + n:]
            out.append((msg[:1], msg))
        return out


def _backend_types(buf):
    """(types of the whole backend messages in buf, the rest)."""
    types = []
    while len(buf) >= 5:
        n = struct.unpack("!i", buf[1:5])[0]
        if len(buf) < 1 + n:
            break
        types.append(buf[:1])
        buf = buf[1 + n:]
    return types, buf


def _cstrings(payload, count):
    parts = payload.split(b"\0", count)
    return parts[:count]


class PgProxy:
    def __init__(self, unix_path, port):
        self.unix_path = unix_path
        self.port = port
        self.refresh_names = set()     # statement names of latch_refresh
        self.lock = threading.Lock()
        self.armed = None              # "committed" | "uncommitted" |
                                       # "late" | None
        self.hold = None               # "late": seconds (None: until the
                                       # client closes)
        self.cuts = []                 # modes of the cuts done
        self.cut_done = threading.Event()
        self._closing = threading.Event()
        self._threads = []
        self._socks = []

    # ------------------------------------------------------------ control

    def start(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._closing.set()
        for t in self._threads:
            t.join(5)
        self.listener.close()
        with self.lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass

    def arm(self, mode, hold=None):
        assert mode in ("committed", "uncommitted", "late")
        with self.lock:
            self.cut_done.clear()
            self.armed = mode
            self.hold = hold

    def disarm(self):
        with self.lock:
            self.armed = None

    # ------------------------------------------------------------ serving

    def _accept_loop(self):
        while not self._closing.is_set():
            try:
                csock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(csock,),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _is_refresh(self, mtype, msg):
        """Whether msg starts the refresh statement; notes the names of
        prepared latch_refresh statements as they pass."""
        payload = msg[5:]
        if mtype == b"P":
            name, query = _cstrings(payload, 2)
            if REFRESH_SQL in query:
                self.refresh_names.add(name)
            return False
        if mtype == b"B":
            _portal, stmt = _cstrings(payload, 2)
            return stmt in self.refresh_names
        if mtype == b"Q":
            return REFRESH_SQL in payload
        return False

    def _run_late(self, ssock, pending):
        """The client has gone: sends its held messages on, and waits (at
        most 15 s) for PostgreSQL to have run them."""
        ssock.sendall(pending)
        seen = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r, _, _ = select.select([ssock], [], [], 0.2)
            if not r:
                continue
            data = ssock.recv(65536)
            if not data:
                break
            seen += data
            types, _ = _backend_types(seen)
            if b"Z" in types:
                with self.lock:
                    self.cuts.append(("late", types))
                break
        self.cut_done.set()

    def _serve(self, csock):
        ssock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ssock.connect(self.unix_path)
        except OSError:
            csock.close()
            ssock.close()
            return
        with self.lock:
            self._socks += [csock, ssock]
        front = _Frontend()
        cutting = None      # the mode, once this connection is the one
        held = b""          # backend bytes kept from the client meanwhile
        pending = b""       # "late": the client's messages not yet sent
        release_at = None   # "late": when they go (None: at the close)
        try:
            while not self._closing.is_set():
                if cutting == "late" and release_at is not None and \
                        time.monotonic() >= release_at:
                    ssock.sendall(pending)
                    pending = b""
                    cutting = None      # the answer goes to the client
                    release_at = None
                    with self.lock:
                        self.cuts.append(("late", b"answered"))
                    self.cut_done.set()
                r, _, _ = select.select([csock, ssock], [], [], 0.05)
                if csock in r:
                    data = csock.recv(65536)
                    if not data:
                        if cutting == "late":
                            self._run_late(ssock, pending)
                        return
                    out = b""
                    for mtype, msg in front.feed(data):
                        if cutting == "late":
                            if mtype != b"X":   # not the client's goodbye
                                pending += msg
                            continue
                        if cutting == "uncommitted" and mtype == b"S":
                            # The Sync stays here; a Flush instead brings
                            # the statement's outcome back to us.
                            out += b"H" + struct.pack("!i", 4)
                            cutting = "uncommitted-sent"
                            continue
                        if cutting == "uncommitted-sent":
                            continue
                        if cutting is None and mtype is not None and \
                                self._is_refresh(mtype, msg):
                            with self.lock:
                                cutting, self.armed = self.armed, None
                                hold = self.hold
                            if cutting == "late":
                                pending = msg
                                release_at = None if hold is None else \
                                    time.monotonic() + hold
                                continue
                        out += msg
                    if out:
                        ssock.sendall(out)
                if ssock in r:
                    data = ssock.recv(65536)
                    if not data:
                        return
                    if cutting is None:
                        csock.sendall(data)
                        continue
                    held += data
                    types, _ = _backend_types(held)
                    done = (b"Z" in types if cutting == "committed" else
                            b"C" in types or b"E" in types)
                    if done:
                        with self.lock:
                            self.cuts.append((cutting.split("-")[0],
                                              types))
                        self.cut_done.set()
                        return
        finally:
            for s in (csock, ssock):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
