"""POST /auth/login: successful logins, what they answer, what they store."""

import ctypes
import ctypes.util
import hashlib
import os
import re
import uuid
import warnings

import pytest

from latchlib import (ACCESS_LIFETIME, DEVICE_COOKIE_RE, DEVICE_TOKEN_SHAPE,
                      JWT_SHAPE, REFRESH_LIFETIME, SECURE_DEVICE_COOKIE_RE,
                      UUID_RE, Client, assert_no_store, json_body, jwt_parts,
                      jwt_signature_ok, now, set_cookie_headers)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated since 3.11, still shipped by Debian 12

COOKIE_RE = re.compile(
    r"^refresh_token=(" + JWT_SHAPE + r"); Path=/auth; Max-Age=(\d+); "
    r"HttpOnly; SameSite=Strict$")


def _libcrypt_gensalt(prefix, count=0):
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    salt = lib.crypt_gensalt(prefix.encode(), count, None, 0)
    assert salt and not salt.startswith(b"*"), prefix
    return salt.decode()


def _ok_login(client, user, **kw):
    resp = client.login(username=user["username"], password=user["password"],
                        **kw)
    assert resp.status_code == 200, resp.text
    return resp


def _split_cookies(resp, refresh_re, device_re):
    """The two Set-Cookie lines of a cookie login: (refresh match, device
    match); each must be exactly as specified."""
    lines = set_cookie_headers(resp)
    assert len(lines) == 2, lines
    refresh = [refresh_re.match(line) for line in lines if refresh_re.match(line)]
    device = [device_re.match(line) for line in lines if device_re.match(line)]
    assert len(refresh) == 1 and len(device) == 1, \
        f"Set-Cookie not as specified: {lines!r}"
    return refresh[0], device[0]


def _the_cookie(resp):
    m, _ = _split_cookies(resp, COOKIE_RE, DEVICE_COOKIE_RE)
    return m.group(1), int(m.group(2))


# ------------------------------------------------------------ the answer

def test_login_cookie_delivery_returns_exact_body(client, make_user):
    resp = _ok_login(client, make_user())
    body = json_body(resp)
    assert set(body) == {"access_token", "token_type", "expires_in"}, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_LIFETIME
    assert re.fullmatch(JWT_SHAPE, body["access_token"])


def test_login_response_is_not_cacheable(client, make_user):
    assert_no_store(_ok_login(client, make_user()))


def test_login_cookie_delivery_sets_exact_cookie(client, make_user):
    token, max_age = _the_cookie(_ok_login(client, make_user()))
    assert REFRESH_LIFETIME - 3 <= max_age <= REFRESH_LIFETIME, max_age


def test_login_explicit_cookie_delivery_sets_cookie(client, make_user):
    resp = _ok_login(client, make_user(), token_delivery="cookie")
    assert set(json_body(resp)) == {"access_token", "token_type",
                                    "expires_in"}
    _the_cookie(resp)


def test_login_cookie_holds_refresh_token_of_same_session(client, stack,
                                                          make_user):
    user = make_user()
    resp = _ok_login(client, user)
    refresh, max_age = _the_cookie(resp)
    access = json_body(resp)["access_token"]
    rh, rc, _, _ = jwt_parts(refresh)
    _, ac, _, _ = jwt_parts(access)
    assert rh == {"alg": "HS256", "typ": "refresh+jwt",
                  "kid": stack.refresh_kid}
    assert jwt_signature_ok(refresh, stack.refresh_secret)
    assert rc["sub"] == str(user["id"])
    assert rc["sid"] == ac["sid"]
    assert rc["jti"] != ac["jti"]
    assert abs(rc["exp"] - (now() + max_age)) <= 3


def test_login_access_token_header_is_hs256_at_jwt_with_first_kid(
        client, stack, make_user):
    access = json_body(_ok_login(client, make_user()))["access_token"]
    header, _, _, _ = jwt_parts(access)
    assert header == {"alg": "HS256", "typ": "at+jwt",
                      "kid": stack.access_kid}


def test_login_access_token_verifies_with_access_secret(client, stack,
                                                        make_user):
    access = json_body(_ok_login(client, make_user()))["access_token"]
    assert jwt_signature_ok(access, stack.access_secret)
    assert not jwt_signature_ok(access, stack.refresh_secret)


def test_login_access_token_claims_match_user_and_lifetime(client, stack,
                                                           make_user):
    user = make_user()
    before = now()
    access = json_body(_ok_login(client, user))["access_token"]
    after = now()
    _, claims, _, _ = jwt_parts(access)
    assert set(claims) == {"sub", "sid", "jti", "iat", "exp"}, claims
    assert claims["sub"] == str(user["id"])
    assert isinstance(claims["sid"], str) and UUID_RE.match(claims["sid"])
    assert isinstance(claims["jti"], str) and claims["jti"] != ""
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert before - 1 <= claims["iat"] <= after + 1
    assert claims["exp"] - claims["iat"] == ACCESS_LIFETIME


def test_login_body_delivery_returns_refresh_token_without_cookie(
        client, make_user):
    resp = _ok_login(client, make_user(), token_delivery="body")
    body = json_body(resp)
    assert set(body) == {"access_token", "token_type", "expires_in",
                         "refresh_token", "refresh_expires_in",
                         "device_token"}, body
    assert re.fullmatch(DEVICE_TOKEN_SHAPE, body["device_token"]), \
        body["device_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_LIFETIME
    assert REFRESH_LIFETIME - 3 <= body["refresh_expires_in"] \
        <= REFRESH_LIFETIME
    assert set_cookie_headers(resp) == []
    assert_no_store(resp)


def test_login_body_delivery_refresh_token_is_refresh_jwt(client, stack,
                                                          make_user):
    user = make_user()
    body = json_body(_ok_login(client, user, token_delivery="body"))
    header, claims, _, _ = jwt_parts(body["refresh_token"])
    assert header == {"alg": "HS256", "typ": "refresh+jwt",
                      "kid": stack.refresh_kid}
    assert jwt_signature_ok(body["refresh_token"], stack.refresh_secret)
    assert {"sub", "sid", "jti", "iat", "exp"} <= set(claims)
    assert claims["sub"] == str(user["id"])
    assert claims["sid"] == jwt_parts(body["access_token"])[1]["sid"]
    assert abs(claims["exp"] - claims["iat"] - body["refresh_expires_in"]) \
        <= 3


def test_login_accepts_json_with_charset_utf8(client, make_user):
    user = make_user()
    resp = client.request(
        "POST", "/auth/login", content_type="application/json; charset=utf-8",
        body=('{"username": "%s", "password": "%s"}'
              % (user["username"], user["password"])))
    assert resp.status_code == 200, resp.text
    assert set(json_body(resp)) == {"access_token", "token_type",
                                    "expires_in"}


def test_login_accepts_password_of_72_bytes(client, make_user):
    password = "é" * 30 + "p" * 12             # 72 bytes of UTF-8
    assert len(password.encode()) == 72
    user = make_user(password=password)
    _ok_login(client, user)


def test_login_accepts_username_of_255_bytes(client, make_user):
    name = "t_long_" + uuid.uuid4().hex
    name += "x" * (255 - len(name))
    user = make_user(username=name)
    _ok_login(client, user)


# ------------------------------------------------------------ by email

def test_login_by_email_matches_case_insensitively(client, make_user):
    email = f"Mixed.Case.{uuid.uuid4().hex[:10]}@Example.COM"
    user = make_user(email=email)
    resp = client.login(email=email.swapcase(), password=user["password"])
    assert resp.status_code == 200, resp.text
    claims = jwt_parts(json_body(resp)["access_token"])[1]
    assert claims["sub"] == str(user["id"])


# ------------------------------------------------------------ storage

def _session_ids(db, user_id):
    return [str(r[0]) for r in db.all(
        "SELECT id FROM sessions WHERE user_id = %s", (user_id,))]


def test_login_stores_refresh_token_only_as_sha256(client, db, make_user):
    user = make_user()
    body = json_body(_ok_login(client, user, token_delivery="body"))
    token = body["refresh_token"]
    digest = hashlib.sha256(token.encode()).digest()
    sid = jwt_parts(token)[1]["sid"]
    rows = db.all("SELECT session_id::text FROM refresh_tokens "
                  "WHERE token_hash = %s", (digest,))
    assert rows == [(sid,)]


def _text_columns(db):
    return db.all(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns c "
        "JOIN information_schema.tables t "
        "  ON t.table_schema = c.table_schema "
        " AND t.table_name = c.table_name "
        "WHERE t.table_type = 'BASE TABLE' "
        "  AND c.table_schema NOT IN ('pg_catalog', 'information_schema') "
        "  AND c.table_schema NOT LIKE 'pg\\_%%' "
        "  AND c.data_type IN ('text', 'character varying', 'character', "
        "                      'json', 'jsonb', 'bytea')")


def test_login_stores_no_token_in_any_column(client, db, make_user):
    from psycopg2 import sql
    body = json_body(_ok_login(client, make_user(), token_delivery="body"))
    columns = _text_columns(db)
    assert any(t == "refresh_tokens" for _, t, _, _ in columns)
    for token in (body["refresh_token"], body["access_token"]):
        for schema, table, column, dtype in columns:
            ident = sql.SQL("{}.{}").format(sql.Identifier(schema),
                                            sql.Identifier(table))
            col = sql.Identifier(column)
            if dtype == "bytea":
                q = sql.SQL("SELECT count(*) FROM {} WHERE "
                            "position(%s::bytea in {}) > 0").format(ident,
                                                                   col)
                needle = token.encode()
            else:
                q = sql.SQL("SELECT count(*) FROM {} WHERE "
                            "strpos({}::text, %s) > 0").format(ident, col)
                needle = token
            assert db.scalar(q, (needle,)) == 0, \
                f"{schema}.{table}.{column} holds a token"


def test_login_creates_one_session_with_user_agent_and_ip(stack, db,
                                                          make_user):
    user = make_user()
    agent = "latch-tests/" + uuid.uuid4().hex
    assert _session_ids(db, user["id"]) == []
    resp = _ok_login(Client(stack.base_url, user_agent=agent), user)
    sid = jwt_parts(json_body(resp)["access_token"])[1]["sid"]
    rows = db.all("SELECT id::text, user_agent, host(ip), revoked_at "
                  "FROM sessions WHERE user_id = %s", (user["id"],))
    assert rows == [(sid, agent, "127.0.0.1", None)]


def test_login_twice_creates_two_sessions(client, db, make_user):
    user = make_user()
    a = jwt_parts(json_body(_ok_login(client, user))["access_token"])[1]
    b = jwt_parts(json_body(_ok_login(client, user))["access_token"])[1]
    assert a["sid"] != b["sid"] and a["jti"] != b["jti"]
    assert sorted(_session_ids(db, user["id"])) == sorted([a["sid"],
                                                           b["sid"]])


def test_login_never_logs_password_or_tokens(client, stack, make_user):
    assert stack.rundir is not None and stack.rundir.is_dir(), \
        "var/INSTANCE.rundir missing"
    user = make_user(password="pw-loggable-" + uuid.uuid4().hex)
    body = json_body(_ok_login(client, user, token_delivery="body"))
    needles = [user["password"].encode(), body["refresh_token"].encode(),
               body["access_token"].encode()]
    for root, dirs, files in os.walk(stack.rundir):
        dirs[:] = [d for d in dirs if d != "pgdata"]    # table files
        for name in files:
            path = os.path.join(root, name)
            try:
                if not os.path.isfile(path) or \
                        os.path.getsize(path) > 50 * 1024 * 1024:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for needle in needles:
                assert needle not in data, f"{path} holds a secret"


# ------------------------------------------------------------ hash schemes

def _pgcrypto_bf(db, password):
    db.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    return db.scalar("SELECT crypt(%s, gen_salt('bf', 6))", (password,))


HASHERS = {
    "2a_pgcrypto": _pgcrypto_bf,
    "2y": lambda db, pw: crypt.crypt(pw, _libcrypt_gensalt("$2y$", 5)),
    "6": lambda db, pw: crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512)),
    "y": lambda db, pw: crypt.crypt(pw, _libcrypt_gensalt("$y$")),
}
PREFIXES = {"2a_pgcrypto": "$2a$06$", "2y": "$2y$05$", "6": "$6$",
            "y": "$y$"}


@pytest.mark.parametrize("scheme", sorted(HASHERS))
def test_login_accepts_crypt_hash_scheme(client, db, insert_user, scheme):
    password = "pw-" + uuid.uuid4().hex
    stored = HASHERS[scheme](db, password)
    assert stored.startswith(PREFIXES[scheme]), stored
    user = insert_user(stored, prefix="h" + scheme[:2])
    resp = client.login(username=user["username"], password=password)
    assert resp.status_code == 200, resp.text
    claims = jwt_parts(json_body(resp)["access_token"])[1]
    assert claims["sub"] == str(user["id"])


def test_login_rehashes_foreign_scheme_to_2b_at_bcrypt_cost(client, db,
                                                            insert_user):
    password = "pw-" + uuid.uuid4().hex
    user = insert_user(HASHERS["6"](db, password), prefix="rh6")
    user["password"] = password
    _ok_login(client, user)
    stored = db.scalar("SELECT password_hash FROM users WHERE id = %s",
                       (user["id"],))
    assert stored.startswith("$2b$12$"), stored
    assert crypt.crypt(password, stored) == stored
    _ok_login(client, user)


def test_login_rehashes_lower_cost_bcrypt_to_bcrypt_cost(client, db,
                                                         make_user):
    user = make_user(cost=4)
    stored = db.scalar("SELECT password_hash FROM users WHERE id = %s",
                       (user["id"],))
    assert stored.startswith("$2b$04$"), stored
    _ok_login(client, user)
    stored = db.scalar("SELECT password_hash FROM users WHERE id = %s",
                       (user["id"],))
    assert stored.startswith("$2b$12$"), stored
    assert crypt.crypt(user["password"], stored) == stored


# ------------------------------------------------------------ COOKIE_SECURE=1

SECURE_COOKIE_RE = re.compile(
    r"^__Secure-refresh_token=(" + JWT_SHAPE + r"); Path=/auth; "
    r"Max-Age=(\d+); HttpOnly; Secure; SameSite=Strict$")


def test_login_with_cookie_secure_sets_secure_prefixed_cookie(
        web_instance, stack, make_user):
    secure = web_instance("securecookie", 1, COOKIE_SECURE="1")
    user = make_user()
    resp = secure.login(username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    m, _ = _split_cookies(resp, SECURE_COOKIE_RE, SECURE_DEVICE_COOKIE_RE)
    assert REFRESH_LIFETIME - 3 <= int(m.group(2)) <= REFRESH_LIFETIME
    assert jwt_signature_ok(m.group(1), stack.refresh_secret)
    assert jwt_parts(m.group(1))[1]["sub"] == str(user["id"])
