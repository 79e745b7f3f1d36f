"""Helpers for the black-box integration tests: HTTP calls with exact bytes,
JWT decoding and forging (HS256 with hmac/hashlib), key lists as API.md
("Key lists") defines them, Set-Cookie parsing from the raw header, and the
assertions every answer under /auth/ and /api/ must satisfy."""

import base64
import hashlib
import hmac
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import requests.adapters
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

TIMEOUT = 15
WWW_AUTH_PLAIN = 'Bearer realm="latch"'
WWW_AUTH_INVALID_TOKEN_PREFIX = \
    'Bearer realm="latch", error="invalid_token", error_description="'
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
JWT_SHAPE = r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REFRESH_LIFETIME = 7 * 24 * 3600
ACCESS_LIFETIME = 15 * 60


# ---------------------------------------------------------------- base64url

def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


# ---------------------------------------------------------------- key lists

def parse_key_list(spec):
    """API.md "Key lists": comma separated KID:SECRET items (white space
    around items ignored, split at the first ':'), or one bare secret whose
    kid is the first 8 characters of base64url(SHA-256(secret)).
    Returns [(kid, secret_bytes), ...] in order; the first one signs."""
    spec = spec.strip()
    if ":" not in spec and "," not in spec:
        kid = b64url_encode(hashlib.sha256(spec.encode()).digest())[:8]
        return [(kid, spec.encode())]
    keys = []
    for item in spec.split(","):
        item = item.strip()
        kid, _, secret = item.partition(":")
        keys.append((kid, secret.encode()))
    return keys


# ---------------------------------------------------------------- JWT

def jwt_parts(token):
    """(header dict, claims dict, signing input bytes, signature bytes)."""
    h, c, s = token.split(".")
    return (json.loads(b64url_decode(h)), json.loads(b64url_decode(c)),
            (h + "." + c).encode("ascii"), b64url_decode(s))


def jwt_signature_ok(token, secret):
    _, _, signing_input, sig = jwt_parts(token)
    want = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return hmac.compare_digest(want, sig)


def jwt_encode(header, claims, secret=None, alg="sha256"):
    """Builds a token from the given header and claims dicts (serialized
    compactly). secret None: empty signature (as alg none uses)."""
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    c = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = (h + "." + c).encode("ascii")
    if secret is None:
        sig = ""
    else:
        sig = b64url_encode(hmac.new(secret, signing_input,
                                     getattr(hashlib, alg)).digest())
    return h + "." + c + "." + sig


# ---------------------------------------------------------------- HTTP

class Client:
    """Talks to one web front (BASE_URL) with exact bytes and headers."""

    def __init__(self, base_url, user_agent="latch-integration-tests",
                 verify=None):
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        # https: a CA file (a recipe's test certificate); None: the default
        self.verify = True if verify is None else verify

    def request(self, method, path, body=None, content_type=None,
                headers=None, json_body=None):
        hdrs = {"User-Agent": self.user_agent}
        data = body
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            if content_type is None:
                content_type = "application/json"
        if isinstance(data, str):
            data = data.encode("utf-8")
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        with requests.Session() as http:
            site = CGI_SITES.get(_origin(self.base_url))
            if site is not None:
                http.mount(self.base_url + "/", site)
            resp = http.request(method, self.base_url + path, data=data,
                                headers=hdrs, timeout=TIMEOUT,
                                allow_redirects=False, verify=self.verify)
        record_tokens(resp)
        return resp

    def login(self, username=None, password=None, email=None,
              token_delivery=None, headers=None):
        body = {}
        if username is not None:
            body["username"] = username
        if email is not None:
            body["email"] = email
        body["password"] = password
        if token_delivery is not None:
            body["token_delivery"] = token_delivery
        return self.request("POST", "/auth/login", json_body=body,
                            headers=headers)

    def profile(self, token=None, authorization=None):
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token is not None:
            headers["Authorization"] = "Bearer " + token
        return self.request("GET", "/api/profile", headers=headers)


    # ---- refresh-token lifecycle (API.md: refresh, logout, sessions)

    def refresh(self, token=None, cookie=None, secure=False, headers=None,
                body=None, content_type=None):
        """POST /auth/refresh. token: sent in the body as refresh_token;
        cookie: sent as the refresh cookie (name per `secure`)."""
        return self._token_post("/auth/refresh", token, cookie, secure,
                                headers, body, content_type)

    def logout(self, token=None, cookie=None, secure=False, headers=None,
               body=None, content_type=None):
        return self._token_post("/auth/logout", token, cookie, secure,
                                headers, body, content_type)

    def _token_post(self, path, token, cookie, secure, headers, body,
                    content_type):
        hdrs = dict(headers or {})
        if cookie is not None:
            hdrs["Cookie"] = cookie_header(cookie, secure)
        if token is not None:
            return self.request("POST", path,
                                json_body={"refresh_token": token},
                                headers=hdrs)
        return self.request("POST", path, body=body,
                            content_type=content_type, headers=hdrs)

    def bearer(self, method, path, access, headers=None):
        hdrs = dict(headers or {})
        if access is not None:
            hdrs["Authorization"] = "Bearer " + access
        return self.request(method, path, headers=hdrs)

    def logout_all(self, access, headers=None):
        return self.bearer("POST", "/auth/logout-all", access, headers)

    def sessions(self, access):
        return self.bearer("GET", "/auth/sessions", access)

    def delete_session(self, access, sid):
        return self.bearer("DELETE", "/auth/sessions/" + sid, access)


# ---------------------------------------------------------------- CGI
# A web that only varies settings needs no server of its own: its base URL
# is answered by running the binaries as CGI programs, one process per
# request, with the environment a web server gives them (RFC 3875). The
# answer is a requests.Response like any other.

# The sanitizers' settings reach every run (make asan).
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")

# Every base URL answered as CGI ("http://127.0.0.1:PORT", and the same
# port on [::1]), see serve_as_cgi.
CGI_SITES = {}


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def with_sanitizer_env(env):
    """env, plus the sanitizer settings of ours it does not set."""
    return dict({k: os.environ[k] for k in SANITIZER_ENV if k in os.environ},
                **env)


def cgi_run(program, env, body=b"", log=None, timeout=30):
    """Runs program as one CGI request (env: its whole environment, body:
    its standard input). Its stderr is appended to log when given: the web's
    fcgi.stderr.log, which LogTail reads and `make asan` searches for
    sanitizer reports. Returns the CompletedProcess."""
    proc = subprocess.run([str(program)], env=with_sanitizer_env(env),
                          input=body, capture_output=True, timeout=timeout)
    if log is not None and proc.stderr:
        with open(log, "ab") as f:
            f.write(proc.stderr)
    return proc


def parse_cgi(stdout):
    """([(name, value)], body bytes) of CGI output, headers in order;
    header lines may end in CRLF or LF."""
    ends = [i for i in (stdout.find(b"\r\n\r\n"), stdout.find(b"\n\n"))
            if i >= 0]
    assert ends, f"no blank line after the CGI headers: {stdout[:500]!r}"
    end = min(ends)
    head = stdout[:end].decode("latin-1")
    body = stdout[end:].lstrip(b"\r\n")
    headers = []
    for line in re.split(r"\r?\n", head):
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return headers, body


def cgi_request_env(method, url, headers, body_length):
    """The meta-variables of one request as lighttpd passes them: the
    client address is the host the URL names (127.0.0.1 or ::1), headers
    become HTTP_*, except Content-Type and Content-Length."""
    parts = urlsplit(url)
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "latch-tests",
        "SERVER_NAME": parts.hostname,
        "SERVER_ADDR": parts.hostname,
        "SERVER_PORT": str(parts.port or 80),
        "REMOTE_ADDR": parts.hostname,
        "REMOTE_PORT": "50000",
        "REQUEST_METHOD": method,
        "REQUEST_URI": parts.path + ("?" + parts.query if parts.query
                                     else ""),
        "QUERY_STRING": parts.query,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env["HTTP_" + key] = value
    if body_length and "CONTENT_LENGTH" not in env:
        env["CONTENT_LENGTH"] = str(body_length)
    return env


class CgiSite(requests.adapters.BaseAdapter):
    """A requests transport that answers by running BIN_DIR/login.fcgi for
    /auth/login and /auth/register, BIN_DIR/auth.fcgi for the rest of
    /auth/... and BIN_DIR/api.fcgi for /api/... as CGI (the prefixes
    lighttpd routes, deploy/dev/web.sh). settings: the programs'
    environment besides the request (LATCH_CONFIG); log: where their
    stderr goes."""

    def __init__(self, bin_dir, settings, log=None):
        super().__init__()
        self.bin_dir = Path(bin_dir)
        self.settings = {"PATH": "/usr/local/bin:/usr/bin:/bin",
                         "LANG": "C", "LC_ALL": "C", **settings}
        self.log = log

    def send(self, request, stream=False, timeout=None, verify=True,
             cert=None, proxies=None):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert isinstance(body, bytes), "a CGI web takes whole bodies only"
        path = urlsplit(request.url).path
        family = "login" if path in ("/auth/login", "/auth/register") \
            else "auth" if path.startswith("/auth/") \
            else "api" if path.startswith("/api/") else None
        if family is None:
            return self.build(request, 404, "Not Found",
                              [("Content-Type", "text/html")], b"")
        env = dict(self.settings, **cgi_request_env(
            request.method, request.url, request.headers, len(body)))
        proc = cgi_run(self.bin_dir / f"{family}.fcgi", env, body, self.log,
                       TIMEOUT)
        assert proc.stdout, f"{family}.fcgi exited {proc.returncode} " \
            f"without an answer: {proc.stderr[-2000:]!r}"
        headers, content = parse_cgi(proc.stdout)
        status = [v for n, v in headers if n.lower() == "status"]
        code, _, reason = (status[0] if status else "200 OK").partition(" ")
        headers = [(n, v) for n, v in headers if n.lower() != "status"]
        if request.method == "HEAD" or code in ("204", "304"):
            content = b""
        else:
            headers.append(("Content-Length", str(len(content))))
        return self.build(request, int(code), reason, headers, content)

    def build(self, request, code, reason, headers, content):
        raw = HTTPResponse(body=io.BytesIO(content),
                           headers=HTTPHeaderDict(headers), status=code,
                           reason=reason, preload_content=False,
                           decode_content=False)
        return requests.adapters.HTTPAdapter().build_response(request, raw)

    def close(self):
        pass


def serve_as_cgi(base_url, site):
    """From now on Client(base_url) (and the same port on [::1]) is
    answered by site."""
    port = urlsplit(base_url).port
    for host in ("127.0.0.1", "[::1]"):
        CGI_SITES[f"http://{host}:{port}"] = site


# ---------------------------------------------------------------- cookies

COOKIE_NAME = "refresh_token"
SECURE_COOKIE_NAME = "__Secure-refresh_token"
REFRESH_COOKIE_RE = re.compile(
    r"^refresh_token=(" + JWT_SHAPE + r"); Path=/auth; Max-Age=(\d+); "
    r"HttpOnly; SameSite=Strict$")
SECURE_REFRESH_COOKIE_RE = re.compile(
    r"^__Secure-refresh_token=(" + JWT_SHAPE + r"); Path=/auth; "
    r"Max-Age=(\d+); HttpOnly; Secure; SameSite=Strict$")
CLEAR_COOKIE = "refresh_token=; Path=/auth; Max-Age=0; HttpOnly; " \
    "SameSite=Strict"
SECURE_CLEAR_COOKIE = "__Secure-refresh_token=; Path=/auth; Max-Age=0; " \
    "HttpOnly; Secure; SameSite=Strict"


def cookie_header(token, secure=False):
    """A Cookie header value carrying token as the refresh cookie."""
    return (SECURE_COOKIE_NAME if secure else COOKIE_NAME) + "=" + token


# API.md "Device tokens": a successful cookie login also sets this one.
DEVICE_TOKEN_SHAPE = r"[A-Za-z0-9._-]{1,32}\.[A-Za-z0-9_-]{43}"
DEVICE_COOKIE_NAME = "latch_device"
SECURE_DEVICE_COOKIE_NAME = "__Secure-latch_device"
DEVICE_COOKIE_LIFETIME = 180 * 24 * 3600
DEVICE_COOKIE_RE = re.compile(
    r"^latch_device=(" + DEVICE_TOKEN_SHAPE + r"); Path=/auth/login; "
    r"Max-Age=" + str(DEVICE_COOKIE_LIFETIME) + r"; HttpOnly; "
    r"SameSite=Strict$")
SECURE_DEVICE_COOKIE_RE = re.compile(
    r"^__Secure-latch_device=(" + DEVICE_TOKEN_SHAPE + r"); "
    r"Path=/auth/login; Max-Age=" + str(DEVICE_COOKIE_LIFETIME) +
    r"; HttpOnly; Secure; SameSite=Strict$")


def device_cookie(resp, secure=False):
    """The device token a cookie login set (exactly as API.md writes the
    cookie), or None when it set none."""
    pattern = SECURE_DEVICE_COOKIE_RE if secure else DEVICE_COOKIE_RE
    name = SECURE_DEVICE_COOKIE_NAME if secure else DEVICE_COOKIE_NAME
    found = [line for line in set_cookie_headers(resp)
             if line.startswith(name + "=")]
    if not found:
        return None
    assert len(found) == 1, found
    m = pattern.match(found[0])
    assert m, f"device Set-Cookie not as specified: {found[0]!r}"
    return m.group(1)


def refresh_cookie(resp, secure=False):
    """The refresh cookie of resp, which must be set exactly as API.md
    writes it, and be the one Set-Cookie besides (after a login) the device
    cookie: returns (token, max_age)."""
    lines = set_cookie_headers(resp)
    pattern = SECURE_REFRESH_COOKIE_RE if secure else REFRESH_COOKIE_RE
    device = SECURE_DEVICE_COOKIE_RE if secure else DEVICE_COOKIE_RE
    others = [line for line in lines if not device.match(line)]
    assert len(others) == 1 and len(lines) - len(others) <= 1, \
        f"expected the refresh cookie (and a device cookie), got {lines!r}"
    m = pattern.match(others[0])
    assert m, f"Set-Cookie not as specified: {others[0]!r}"
    return m.group(1), int(m.group(2))


def assert_clears_cookie(resp, secure=False):
    lines = set_cookie_headers(resp)
    want = SECURE_CLEAR_COOKIE if secure else CLEAR_COOKIE
    assert lines == [want], f"expected the clearing cookie, got {lines!r}"


# ---------------------------------------------------------------- registry

# Every access, refresh or device token any response carried during this
# pytest run (bodies and Set-Cookie lines), for test_zz_storage.py. (A
# device token ends like a JWT: '.' and 43 base64url characters.)
SEEN_TOKENS = set()
_TOKEN_RE = re.compile(JWT_SHAPE)


def record_tokens(resp):
    """Adds the tokens resp carries to SEEN_TOKENS; never fails."""
    try:
        for line in resp.raw.headers.getlist("Set-Cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0].strip()
            if name.strip() in (COOKIE_NAME, SECURE_COOKIE_NAME) and value:
                SEEN_TOKENS.add(value)
            if name.strip() in (DEVICE_COOKIE_NAME,
                                SECURE_DEVICE_COOKIE_NAME) and \
                    re.fullmatch(DEVICE_TOKEN_SHAPE, value):
                SEEN_TOKENS.add(value)
        if resp.headers.get("Content-Type", "").startswith(
                "application/json") and resp.content:
            body = json.loads(resp.content.decode("utf-8"))
            if isinstance(body, dict):
                for key in ("access_token", "refresh_token"):
                    value = body.get(key)
                    if isinstance(value, str) and _TOKEN_RE.fullmatch(value):
                        SEEN_TOKENS.add(value)
                value = body.get("device_token")
                if isinstance(value, str) and \
                        re.fullmatch(DEVICE_TOKEN_SHAPE, value):
                    SEEN_TOKENS.add(value)
    except Exception:       # a malformed answer is some other test's failure
        pass


def set_cookie_headers(resp):
    """Every Set-Cookie header line of resp, unmerged, in order."""
    return resp.raw.headers.getlist("Set-Cookie")


# ---------------------------------------------------------------- assertions

def json_body(resp):
    ctype = resp.headers.get("Content-Type")
    assert ctype == "application/json", \
        f"Content-Type {ctype!r} for {resp.status_code} {resp.url}"
    return json.loads(resp.content.decode("utf-8"))


def assert_no_store(resp):
    assert resp.headers.get("Cache-Control") == "no-store", \
        f"Cache-Control {resp.headers.get('Cache-Control')!r}"


def assert_error(resp, status, code, extra_keys=()):
    """resp is status with the one error shape of API.md, JSON,
    Cache-Control: no-store; returns the body."""
    assert resp.status_code == status, \
        f"expected {status} {code}, got {resp.status_code}: {resp.text[:300]}"
    body = json_body(resp)
    assert_no_store(resp)
    assert isinstance(body, dict), body
    assert set(body) == {"error", "error_description"} | set(extra_keys), body
    assert body["error"] == code, body
    assert isinstance(body["error_description"], str), body
    assert body["error_description"] != "", body
    if status == 401:
        assert "WWW-Authenticate" in resp.headers
    return body


def assert_invalid_token(resp):
    """401 invalid_token as "Bearer failures" in API.md fixes it."""
    body = assert_error(resp, 401, "invalid_token")
    www = resp.headers.get("WWW-Authenticate")
    assert www is not None and www.startswith(WWW_AUTH_INVALID_TOKEN_PREFIX) \
        and www.endswith('"'), f"WWW-Authenticate {www!r}"
    return body


def assert_missing_credential(resp):
    """401 invalid_request: no usable Bearer credential."""
    body = assert_error(resp, 401, "invalid_request")
    assert resp.headers.get("WWW-Authenticate") == WWW_AUTH_PLAIN, \
        f"WWW-Authenticate {resp.headers.get('WWW-Authenticate')!r}"
    return body


def now():
    return int(time.time())


# ---------------------------------------------------------------- sessions

def login_body(client, user):
    """Logs user in with body delivery; returns the answer's JSON."""
    resp = client.login(username=user["username"], password=user["password"],
                        token_delivery="body")
    assert resp.status_code == 200, resp.text
    return json_body(resp)


def login_cookie(client, user, secure=False):
    """Logs user in with cookie delivery; returns (body, refresh token,
    cookie Max-Age)."""
    resp = client.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    token, max_age = refresh_cookie(resp, secure)
    return json_body(resp), token, max_age


def claims_of(token):
    return jwt_parts(token)[1]


def sid_of(token):
    return claims_of(token)["sid"]


def token_hash(token):
    return hashlib.sha256(token.encode("ascii")).digest()


def refreshed_body(resp):
    """resp is a 200 body-delivery refresh answer: returns its JSON."""
    assert resp.status_code == 200, \
        f"refresh: {resp.status_code} {resp.text[:300]}"
    body = json_body(resp)
    assert "refresh_token" in body, body
    return body


def rotate_body(client, token):
    """Refreshes token (body delivery): returns (successor, access)."""
    body = refreshed_body(client.refresh(token))
    return body["refresh_token"], body["access_token"]


def rotate_cookie(client, token, secure=False, headers=None):
    """Refreshes token (cookie delivery): returns (successor, access)."""
    resp = client.refresh(cookie=token, secure=secure, headers=headers)
    assert resp.status_code == 200, \
        f"refresh: {resp.status_code} {resp.text[:300]}"
    successor, _ = refresh_cookie(resp, secure)
    return successor, json_body(resp)["access_token"]


# ---------------------------------------------------------------- hardening
# Helpers of the security-hardening tests (test_rate_limit.py and friends).

def fresh_address():
    """A random documentation IPv6 address (2001:db8::/32) in the canonical
    text inet_ntop(3) writes: no zero group, lower case. Fresh per call, so
    that failures counted under it never meet those of another test (or of
    an earlier run within the limiter's 15 minutes)."""
    import secrets as _secrets
    groups = ["%x" % (0x1000 + _secrets.randbelow(0xf000)) for _ in range(6)]
    return "2001:db8:" + ":".join(groups)


def fresh_ipv4():
    """A random address of 198.18.0.0/15 (benchmarking), neither .0 nor
    .255 in the last octet."""
    import secrets as _secrets
    n = _secrets.randbelow(1 << 17)
    return "198.%d.%d.%d" % (18 + (n >> 16), (n >> 8) & 0xff,
                             1 + _secrets.randbelow(254))


class ForwardedClient(Client):
    """A Client whose every request carries X-Forwarded-For: addr, for an
    instance with TRUSTED_PROXIES=127.0.0.1 (lighttpd talks from there):
    the server then sees addr as the client address."""

    def __init__(self, base_url, addr, user_agent="latch-integration-tests"):
        super().__init__(base_url, user_agent)
        self.addr = addr

    def request(self, method, path, body=None, content_type=None,
                headers=None, json_body=None):
        hdrs = {"X-Forwarded-For": self.addr}
        hdrs.update(headers or {})
        return super().request(method, path, body=body,
                               content_type=content_type, headers=hdrs,
                               json_body=json_body)


def retry_after(resp):
    """The Retry-After of a 429 as whole seconds >= 1 (asserted)."""
    value = resp.headers.get("Retry-After")
    assert value is not None and re.fullmatch(r"[1-9][0-9]*", value), \
        f"Retry-After {value!r}"
    return int(value)


# ---------------------------------------------------------------- latchctl
# Helpers of the operator-tooling tests (test_latchctl.py, test_purge.py,
# test_pg_cron.py).

# Settings latchctl reads from its environment (which beats LATCH_CONFIG's
# file): none of the caller's may leak into a run. The configuration keys
# are the binary's own list (`latchctl config keys`, lib/config.c); the
# rest are libpq's defaults and the config file's name.
LIBPQ_ENV_KEYS = ("LATCH_CONFIG", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER",
                  "PGSERVICE")
_config_keys = []


def config_keys():
    """The configuration keys of BIN_DIR/latchctl (read once)."""
    if not _config_keys:
        bin_dir = Path(os.environ.get(
            "BIN_DIR", str(Path(__file__).resolve().parents[2] / "build")))
        proc = subprocess.run([str(bin_dir / "latchctl"), "config", "keys"],
                              capture_output=True, text=True, timeout=30)
        keys = proc.stdout.split()
        assert proc.returncode == 0 and keys, \
            f"latchctl config keys failed: {proc.stderr!r}"
        _config_keys.extend(keys)
    return tuple(_config_keys)


def latchctl_env(config=None, **settings):
    """The caller's environment without any latch setting, plus
    LATCH_CONFIG=config (when given) and the given settings."""
    import os as _os
    drop = set(config_keys()) | set(LIBPQ_ENV_KEYS)
    env = {k: v for k, v in _os.environ.items() if k not in drop}
    if config is not None:
        env["LATCH_CONFIG"] = str(config)
    env.update({k: str(v) for k, v in settings.items()})
    return env


def run_latchctl(bin_dir, *args, config=None, input=None, timeout=60,
                 **settings):
    """Runs bin_dir/latchctl ARGS with latchctl_env(config, **settings);
    input: text for stdin (None: empty). Returns the CompletedProcess with
    stdout and stderr as text."""
    import subprocess as _subprocess
    from pathlib import Path as _Path
    return _subprocess.run(
        [str(_Path(bin_dir) / "latchctl"), *[str(a) for a in args]],
        input=(input or "").encode("utf-8"),
        env=latchctl_env(config, **settings), capture_output=True,
        timeout=timeout)


def ctl_out(proc):
    return proc.stdout.decode("utf-8", "replace")


def ctl_err(proc):
    return proc.stderr.decode("utf-8", "replace")


def assert_ctl_ok(proc):
    """Exit 0; returns stdout as text."""
    assert proc.returncode == 0, \
        f"latchctl exit {proc.returncode}: stderr {ctl_err(proc)!r}"
    return ctl_out(proc)


def assert_ctl_refused(proc, stdout_empty=True):
    """Exit 1 with the reason as the one "latchctl: ..." line, last on
    stderr (and nothing on stdout unless told); returns that line."""
    err = ctl_err(proc)
    assert proc.returncode == 1, \
        f"expected exit 1, got {proc.returncode}: stdout " \
        f"{ctl_out(proc)!r} stderr {err!r}"
    lines = err.splitlines()
    # The database layer may log its error first, as a structured
    # "latch prog=latchctl ..." line; the operator's message comes last.
    assert lines and lines[-1].startswith("latchctl: ") and \
        err.endswith("\n") and \
        all(line.startswith("latch prog=latchctl ") for line in lines[:-1]), \
        f"stderr not one latchctl: line: {err!r}"
    if stdout_empty:
        assert ctl_out(proc) == "", f"stdout on failure: {ctl_out(proc)!r}"
    return lines[-1]


def assert_ctl_usage(proc):
    """Exit 2 with the usage text on stderr and nothing on stdout."""
    assert proc.returncode == 2, \
        f"expected exit 2, got {proc.returncode}: {ctl_err(proc)!r}"
    assert ctl_out(proc) == "", f"stdout on bad usage: {ctl_out(proc)!r}"
    # (getopt may first say which option it did not know)
    assert "usage: latchctl" in ctl_err(proc), ctl_err(proc)


def db_h_bounds():
    """The #defines of lib/db.h (DB_*), their expressions evaluated, so that
    the bounds the fault and cluster tests check follow the code's."""
    text = (Path(__file__).resolve().parents[2] / "lib" / "db.h").read_text()
    defs = dict(re.findall(r"^#define (DB_[A-Z_]+)\s+(.+?)\s*$", text, re.M))
    values = {}
    for name, expr in defs.items():
        if re.fullmatch(r"[0-9A-Z_ ()+*-]+", expr):
            values[name] = eval(re.sub(r"DB_[A-Z_]+",  # noqa: S307
                                       lambda m: str(values[m.group(0)]),
                                       expr))
    return values
