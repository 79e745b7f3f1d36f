"""Helpers for the black-box integration tests: HTTP calls with exact bytes,
JWT decoding and forging (HS256 with hmac/hashlib), key lists as API.md
("Key lists") defines them, Set-Cookie parsing from the raw header, and the
assertions every answer under /auth/ and /api/ must satisfy."""

import base64
import hashlib
import hmac
import json
import re
import time

import requests

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

    def __init__(self, base_url, user_agent="latch-integration-tests"):
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent

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
        return requests.request(method, self.base_url + path, data=data,
                                headers=hdrs, timeout=TIMEOUT,
                                allow_redirects=False)

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
