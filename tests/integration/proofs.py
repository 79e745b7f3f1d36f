"""Proofs of possession as a client makes them with a key of its own (issue
14), for the tests of DPoP (RFC 9449) and DBSC (W3C webappsec-dbsc):

- ClientKey: an ES256 (P-256, JOSE r||s signatures), RS256 (RSA 2048,
  PKCS#1 v1.5) or EdDSA (Ed25519) key pair, its public JWK and its RFC 7638
  thumbprint;
- dpop_proof / dbsc_proof: compact JWS proofs, every header member and
  claim overridable (DROP removes one), so that a test builds the bad ones
  from the good one;
- parse_registration / parse_challenge: the values of
  Secure-Session-Registration and Secure-Session-Challenge (RFC 9651
  structured fields: a list of inner lists or items with parameters),
  strictly: a value the parser does not understand is an assertion;
- binding: a session's session_keys row, as the tests compare it.

python3-cryptography does the arithmetic; nothing here talks HTTP."""

import hashlib
import json
import re
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature)

from latchlib import b64url_decode, b64url_encode

DPOP_TYP = "dpop+jwt"
DBSC_TYP = "dbsc+jwt"


class _Drop:
    """Marks a header member or claim to leave out of a proof."""

    def __repr__(self):
        return "DROP"


DROP = _Drop()


def _int_bytes(n, length=None):
    length = length or max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(length, "big")


# RFC 7638 section 3.2: the members a thumbprint hashes, per key type.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"),
                      "RSA": ("e", "kty", "n"),
                      "OKP": ("crv", "kty", "x")}


def canonical_jwk(jwk):
    """The RFC 7638 input of a public JWK: its required members only, in
    lexicographic order, no white space, as UTF-8 bytes."""
    members = THUMBPRINT_MEMBERS[jwk["kty"]]
    return json.dumps({k: jwk[k] for k in members}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()


def thumbprint(jwk):
    """The RFC 7638 SHA-256 thumbprint of jwk: 32 bytes."""
    return hashlib.sha256(canonical_jwk(jwk)).digest()


class ClientKey:
    """A client's key pair. alg: "ES256", "RS256" or "EdDSA" (Ed25519);
    rsa_bits: the RSA modulus size."""

    def __init__(self, alg="ES256", rsa_bits=2048):
        self.alg = alg
        if alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537,
                                                    key_size=rsa_bits)
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"no such alg {alg!r}")

    def public_jwk(self):
        """The public JWK (public members only, as a client sends it)."""
        if self.alg == "ES256":
            nums = self.private.public_key().public_numbers()
            return {"kty": "EC", "crv": "P-256",
                    "x": b64url_encode(_int_bytes(nums.x, 32)),
                    "y": b64url_encode(_int_bytes(nums.y, 32))}
        if self.alg == "RS256":
            nums = self.private.public_key().public_numbers()
            return {"kty": "RSA", "n": b64url_encode(_int_bytes(nums.n)),
                    "e": b64url_encode(_int_bytes(nums.e))}
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}

    def private_jwk(self):
        """The JWK with its private members too (what a client must never
        send: a test sends it to see it refused)."""
        jwk = self.public_jwk()
        if self.alg == "ES256":
            d = self.private.private_numbers().private_value
            jwk["d"] = b64url_encode(_int_bytes(d, 32))
        elif self.alg == "RS256":
            nums = self.private.private_numbers()
            jwk.update(d=b64url_encode(_int_bytes(nums.d)),
                       p=b64url_encode(_int_bytes(nums.p)),
                       q=b64url_encode(_int_bytes(nums.q)))
        else:
            jwk["d"] = b64url_encode(self.private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                serialization.NoEncryption()))
        return jwk

    def thumbprint(self):
        """RFC 7638 SHA-256 thumbprint: 32 bytes (session_keys.jkt)."""
        return thumbprint(self.public_jwk())

    def jkt(self):
        """The thumbprint as RFC 9449 writes it (base64url)."""
        return b64url_encode(self.thumbprint())

    def sign(self, data):
        """The JWS signature of data for this key's alg (ES256: the 64
        bytes r||s of RFC 7518 section 3.4, not DER)."""
        if self.alg == "ES256":
            der = self.private.sign(data, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            return _int_bytes(r, 32) + _int_bytes(s, 32)
        if self.alg == "RS256":
            return self.private.sign(data, padding.PKCS1v15(),
                                     hashes.SHA256())
        return self.private.sign(data)


def _segment(part):
    """A JWS segment: a dict is compact JSON, bytes or str are taken as
    they are (to send what is not JSON)."""
    if isinstance(part, dict):
        part = json.dumps(part, separators=(",", ":")).encode()
    elif isinstance(part, str):
        part = part.encode()
    return b64url_encode(part)


def _merge(base, overrides):
    out = dict(base)
    for k, v in (overrides or {}).items():
        if v is DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def compact_jws(header, payload, key=None, signature=None):
    """header.payload.signature. header, payload: dicts (compact JSON) or
    raw bytes/str. The signature is key's over the signing input unless
    signature (bytes, or "" for none) is given."""
    signing_input = _segment(header) + "." + _segment(payload)
    if signature is None:
        signature = key.sign(signing_input.encode("ascii")) if key else b""
    if isinstance(signature, str):
        return signing_input + "." + signature
    return signing_input + "." + b64url_encode(signature)


def new_jti():
    return uuid.uuid4().hex


def dpop_proof(key, htm, htu, iat=None, jti=None, header=None, claims=None,
               signature=None, signer=None):
    """An RFC 9449 proof for a request htm htu: header {typ dpop+jwt, alg,
    jwk (public)}, claims {jti (fresh unless given), htm, htu, iat (now
    unless given)}. header/claims: overrides (DROP removes a member);
    signer: sign with this ClientKey instead of key (the jwk stays key's);
    signature: the signature bytes (or str) to send as they are."""
    hdr = _merge({"typ": DPOP_TYP, "alg": key.alg, "jwk": key.public_jwk()},
                 header)
    body = _merge({"jti": jti or new_jti(), "htm": htm, "htu": htu,
                   "iat": int(time.time()) if iat is None else iat}, claims)
    return compact_jws(hdr, body, signer or key, signature)


def dbsc_proof(key, challenge, registration=True, header=None, claims=None,
               signature=None, signer=None):
    """A DBSC proof as Chromium sends it: header {alg, typ dbsc+jwt, and the
    public jwk when registration}, payload {jti: challenge}. Overrides as
    dpop_proof's."""
    base = {"alg": key.alg, "typ": DBSC_TYP}
    if registration:
        base["jwk"] = key.public_jwk()
    hdr = _merge(base, header)
    body = _merge({"jti": challenge}, claims)
    return compact_jws(hdr, body, signer or key, signature)


def jws_parts(token):
    """(header dict, payload dict) of a compact JWS (no verification)."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


# ---------------------------------------------------------------- RFC 9651

_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")


class _Token(str):
    """An sf-token (distinct from an sf-string)."""


class _Parser:
    def __init__(self, text):
        self.s = text
        self.i = 0

    def fail(self, what):
        raise AssertionError(f"structured field {self.s!r}: {what} at "
                             f"{self.i}")

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def ows(self):
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def sp(self):
        while self.peek() == " ":
            self.i += 1

    def bare_item(self):
        c = self.peek()
        if c == '"':
            self.i += 1
            out = []
            while True:
                c = self.peek()
                if c == "":
                    self.fail("unterminated string")
                self.i += 1
                if c == "\\":
                    c = self.peek()
                    if c not in ('"', "\\"):
                        self.fail("bad escape")
                    self.i += 1
                    out.append(c)
                elif c == '"':
                    return "".join(out)
                elif not (" " <= c <= "~"):
                    self.fail("character outside a string's range")
                else:
                    out.append(c)
        if c == "?":
            self.i += 1
            v = self.peek()
            if v not in ("0", "1"):
                self.fail("bad boolean")
            self.i += 1
            return v == "1"
        m = _INTEGER.match(self.s, self.i)
        if m and (c == "-" or c.isdigit()):
            self.i = m.end()
            return int(m.group())
        m = _TOKEN.match(self.s, self.i)
        if m:
            self.i = m.end()
            return _Token(m.group())
        self.fail("no bare item")

    def params(self):
        out = {}
        while self.peek() == ";":
            self.i += 1
            self.sp()
            m = _KEY.match(self.s, self.i)
            if not m:
                self.fail("bad parameter key")
            self.i = m.end()
            value = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare_item()
            out[m.group()] = value
        return out

    def member(self):
        if self.peek() == "(":
            self.i += 1
            items = []
            while True:
                self.sp()
                if self.peek() == ")":
                    self.i += 1
                    break
                items.append((self.bare_item(), self.params()))
                if self.peek() not in (" ", ")"):
                    self.fail("inner list items not separated")
            return items, self.params()
        return self.bare_item(), self.params()

    def list(self):
        self.sp()
        out = []
        while self.i < len(self.s):
            out.append(self.member())
            self.ows()
            if self.i >= len(self.s):
                break
            if self.peek() != ",":
                self.fail("expected ','")
            self.i += 1
            self.ows()
            if self.i >= len(self.s):
                self.fail("trailing ','")
        return out


def parse_sf_list(text):
    """An RFC 9651 List: [(item or [(item, params)], params), ...]; an
    sf-token comes back as a str subclass, is_token tells them apart."""
    return _Parser(text).list()


def is_token(value):
    return isinstance(value, _Token)


def parse_registration(value):
    """Secure-Session-Registration: (ALG ...);path="...";challenge="..."
    (one member; the algs are tokens, path and challenge strings) ->
    {"algs": [...], "path": str, "challenge": str, "params": {...}}."""
    members = parse_sf_list(value)
    assert len(members) == 1, f"one registration expected: {value!r}"
    inner, params = members[0]
    assert isinstance(inner, list), f"not an inner list: {value!r}"
    algs = []
    for item, item_params in inner:
        assert is_token(item) and item_params == {}, value
        algs.append(str(item))
    for name in ("path", "challenge"):
        assert isinstance(params.get(name), str) and \
            not is_token(params[name]), f"{name} not a string: {value!r}"
    return {"algs": algs, "path": params["path"],
            "challenge": params["challenge"], "params": params}


def parse_challenge(value):
    """Secure-Session-Challenge: "CHALLENGE";id="SID" (one member) ->
    {"challenge": str, "id": str, "params": {...}}."""
    members = parse_sf_list(value)
    assert len(members) == 1, f"one challenge expected: {value!r}"
    item, params = members[0]
    assert isinstance(item, str) and not is_token(item), \
        f"challenge not a string: {value!r}"
    assert isinstance(params.get("id"), str) and not is_token(params["id"]), \
        f"id not a string: {value!r}"
    return {"challenge": item, "id": params["id"], "params": params}


# ---------------------------------------------------------------- storage

def binding(db, sid):
    """(kind, alg, jkt bytes, public_jwk text) of session sid's
    session_keys row (migration 011), or None when it is unbound."""
    row = db.one("SELECT kind, alg, jkt, public_jwk FROM session_keys "
                 "WHERE session_id = %s", (sid,))
    return None if row is None else (row[0], row[1], bytes(row[2]), row[3])
