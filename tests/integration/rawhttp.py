"""HTTP/1.1 over raw sockets for the load tests (issue 13): keep-alive,
pipelining, exact bytes, and clients that send slowly on purpose.

requests makes one Python round trip per request (a few hundred a second
on this machine); the worker-memory test needs 100 000 in seconds, and
the slow-client test needs connections that stop half-way through a
header. Everything here is bounded: every socket has a timeout, every
loop a count or a deadline.

Only what latch's answers need is parsed: the status line, headers,
Content-Length or chunked bodies.
"""

import math
import socket
import ssl
import time
from urllib.parse import urlsplit

SOCKET_TIMEOUT = 15.0


class Target:
    """Where to connect: host, port, TLS (a CA file) from a base URL."""

    def __init__(self, base_url, ca_file=None):
        parts = urlsplit(base_url)
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = parts.netloc
        self.context = None
        if self.tls:
            self.context = ssl.create_default_context(cafile=ca_file)

    def connect(self, timeout=SOCKET_TIMEOUT):
        sock = socket.create_connection((self.host, self.port),
                                        timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = self.context.wrap_socket(sock, server_hostname=self.host)
        return sock


def request_bytes(target, method, path, headers=(), body=b""):
    """One HTTP/1.1 request, keep-alive, as bytes. headers: (name, value)
    pairs; Content-Length is added for a body (and for POST)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.authority}",
             "User-Agent: latch-integration-tests"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # lower-case name -> last value
        self.body = body


class ProtocolError(Exception):
    pass


class Conn:
    """A keep-alive connection: send requests (pipelined or not), read
    their answers in order."""

    def __init__(self, target, timeout=SOCKET_TIMEOUT):
        self.target = target
        self.sock = target.connect(timeout)
        self.buf = bytearray()
        self.closed_by_peer = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            self.closed_by_peer = True
            raise ProtocolError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while True:
            at = self.buf.find(b"\r\n")
            if at >= 0:
                line = bytes(self.buf[:at])
                del self.buf[:at + 2]
                return line
            if len(self.buf) > 65536:
                raise ProtocolError("header line too long")
            self._fill()

    def _exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, head=False):
        """The next answer (head: a HEAD request's, no body)."""
        status_line = self._line()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        headers = {}
        for _ in range(200):
            line = self._line()
            if not line:
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = \
                value.strip().decode("latin-1")
        else:
            raise ProtocolError("too many header lines")
        if head or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        else:                       # read to close
            body = bytes(self.buf)
            self.buf.clear()
            try:
                while True:
                    self._fill()
            except ProtocolError:
                body += bytes(self.buf)
                self.buf.clear()
        return Response(status, headers, body)

    def _chunked(self):
        out = bytearray()
        for _ in range(100000):
            size = int(self._line().split(b";")[0], 16)
            if size == 0:
                while self._line():     # trailers
                    pass
                return bytes(out)
            out += self._exactly(size)
            self._exactly(2)
        raise ProtocolError("too many chunks")

    def exchange(self, data, count=1):
        """Sends data (count pipelined requests) and reads count answers."""
        self.send(data)
        return [self.read_response() for _ in range(count)]


def timed_get(conn, request):
    """Sends one request on conn and reads its answer: (seconds, Response)."""
    t0 = time.perf_counter()
    conn.send(request)
    resp = conn.read_response()
    return time.perf_counter() - t0, resp


def server_closes(resp):
    """True when the server said it closes the connection after resp."""
    return "close" in resp.headers.get("connection", "").lower()


class KeepAlive:
    """One client that sends a request at a time on a kept connection,
    connecting again (untimed) where the server closed it after an answer
    (Apache: MaxKeepAliveRequests)."""

    def __init__(self, target):
        self.target = target
        self.conn = None
        self.reconnects = 0

    def timed(self, request):
        """(seconds, Response) of one request, connecting first if needed;
        the time is the request's alone."""
        if self.conn is None:
            self.conn = Conn(self.target)
            self.reconnects += 1
        t0 = time.perf_counter()
        self.conn.send(request)
        resp = self.conn.read_response()
        elapsed = time.perf_counter() - t0
        if server_closes(resp):
            self.close()
        return elapsed, resp

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def percentile(values, p):
    """The p-th percentile (nearest rank) of values (non-empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
