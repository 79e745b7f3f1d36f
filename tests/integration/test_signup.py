"""API.md "POST /auth/register (off unless ALLOW_SIGNUP=1)".

Off (the main web): 404 not_found whatever the method. On (the "signup"
web, BCRYPT_COST=5, trusting 127.0.0.1 as a proxy): every request comes
from a fresh X-Forwarded-For address, as every sign-up attempt counts
against the limiter (test_rate_limit.py)."""

import crypt
import re
import uuid

import pytest

from latchlib import (ForwardedClient, assert_error, claims_of,
                      fresh_address, json_body, set_cookie_headers)

PASSWORD = "signup-password-1"


def _name(prefix="s"):
    return prefix + uuid.uuid4().hex[:12]


@pytest.fixture
def signup(signup_web):
    """register(body or raw bytes) -> response, from a fresh address."""

    def register(body=None, raw=None, method="POST"):
        client = ForwardedClient(signup_web, fresh_address())
        if raw is not None:
            return client.request(method, "/auth/register", body=raw,
                                  content_type="application/json")
        return client.request(method, "/auth/register", json_body=body)

    return register


@pytest.fixture
def login_at(signup_web):
    def login(**kw):
        return ForwardedClient(signup_web, fresh_address()).login(**kw)

    return login


def _created(resp, username):
    assert resp.status_code == 201, f"{resp.status_code}: {resp.text[:300]}"
    body = json_body(resp)
    assert set(body) == {"id", "username"}, body
    assert body["username"] == username
    assert isinstance(body["id"], str) and re.fullmatch(r"[1-9][0-9]*",
                                                        body["id"]), body
    return body


# ------------------------------------------------------------ off

@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_register_is_not_found_when_signup_is_off(client, method):
    # A body only where one belongs (lighttpd refuses a GET with a body).
    body = {"username": _name(), "password": PASSWORD} \
        if method in ("POST", "PUT", "PATCH") else None
    resp = client.request(method, "/auth/register", json_body=body)
    assert_error(resp, 404, "not_found")


def test_register_when_off_creates_nothing(client, db):
    name = _name()
    client.request("POST", "/auth/register",
                   json_body={"username": name, "password": PASSWORD})
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


# ------------------------------------------------------------ success

def test_register_answers_201_with_id_and_username(signup, db):
    name = _name()
    body = _created(signup({"username": name, "password": PASSWORD}), name)
    row = db.one("SELECT id, username, email, disabled_at FROM users "
                 "WHERE id = %s", (int(body["id"]),))
    assert row == (int(body["id"]), name, None, None)


def test_register_sets_no_cookie_and_gives_no_token(signup):
    name = _name()
    resp = signup({"username": name, "password": PASSWORD})
    _created(resp, name)
    assert set_cookie_headers(resp) == []
    assert "token" not in resp.text


def test_registered_user_can_log_in(signup, login_at):
    name = _name()
    body = _created(signup({"username": name, "password": PASSWORD}), name)
    resp = login_at(username=name, password=PASSWORD,
                    token_delivery="body")
    assert resp.status_code == 200, resp.text
    assert claims_of(json_body(resp)["access_token"])["sub"] == body["id"]


def test_registered_user_with_email_can_log_in_by_email(signup, login_at,
                                                        db):
    name = _name()
    email = name + "@Example.ORG"
    body = _created(signup({"username": name, "password": PASSWORD,
                            "email": email}), name)
    assert db.scalar("SELECT email FROM users WHERE id = %s",
                     (int(body["id"]),)).lower() == email.lower()
    resp = login_at(email=email.lower(), password=PASSWORD)
    assert resp.status_code == 200, resp.text


def test_register_stores_2b_hash_at_bcrypt_cost(signup, db):
    name = _name()
    body = _created(signup({"username": name, "password": PASSWORD}), name)
    stored = db.scalar("SELECT password_hash FROM users WHERE id = %s",
                       (int(body["id"]),))
    assert stored.startswith("$2b$05$"), stored
    assert crypt.crypt(PASSWORD, stored) == stored


@pytest.mark.parametrize("password", [
    "a" * 8, "a" * 72, "\u00e9" * 4, "\u00e9" * 36],
    ids=["8_ascii", "72_ascii", "8_bytes_4_chars", "72_bytes_36_chars"])
def test_register_accepts_password_of_8_to_72_bytes(signup, login_at,
                                                    password):
    name = _name()
    _created(signup({"username": name, "password": password}), name)
    assert login_at(username=name, password=password).status_code == 200


VALID_NAMES = {
    "32_chars": lambda h: "a" + h[:31],
    "digit_first": lambda h: "9" + h[:11],
    "punctuation": lambda h: "a.b_c-" + h[:8],
    "punctuation_last": lambda h: "b" + h[:8] + "._-",
    "capitals": lambda h: "Az" + h[:10].upper(),
}


@pytest.mark.parametrize("case", sorted(VALID_NAMES))
def test_register_accepts_valid_username(signup, case):
    username = VALID_NAMES[case](uuid.uuid4().hex)
    assert 3 <= len(username) <= 32
    _created(signup({"username": username, "password": PASSWORD}), username)


def test_register_accepts_username_of_3_chars(signup, db):
    """The shortest name: a random unused one of 3 characters."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    for _ in range(50):
        raw = uuid.uuid4().int
        name = "q" + alphabet[raw % 36] + alphabet[(raw // 36) % 36]
        if db.scalar("SELECT count(*) FROM users WHERE lower(username) = "
                     "%s", (name,)) == 0:
            break
    _created(signup({"username": name, "password": PASSWORD}), name)


# ------------------------------------------------------------ conflicts

def test_taken_username_is_409(signup):
    name = _name()
    _created(signup({"username": name, "password": PASSWORD}), name)
    assert_error(signup({"username": name, "password": PASSWORD + "x"}), 409,
                 "username_taken")


def test_username_differing_only_in_case_is_taken(signup):
    name = _name()
    _created(signup({"username": name, "password": PASSWORD}), name)
    assert_error(signup({"username": name.upper(), "password": PASSWORD}),
                 409, "username_taken")


def test_username_of_latchctl_user_is_taken(signup, make_user):
    user = make_user(prefix="taken")
    assert_error(signup({"username": user["username"],
                         "password": PASSWORD}), 409, "username_taken")


def test_taken_email_is_409(signup):
    email = _name() + "@example.org"
    first = _name()
    _created(signup({"username": first, "password": PASSWORD,
                     "email": email}), first)
    assert_error(signup({"username": _name(), "password": PASSWORD,
                         "email": email}), 409, "username_taken")


def test_email_differing_only_in_case_is_taken(signup):
    email = _name() + "@example.org"
    first = _name()
    _created(signup({"username": first, "password": PASSWORD,
                     "email": email}), first)
    assert_error(signup({"username": _name(), "password": PASSWORD,
                         "email": email.upper()}), 409, "username_taken")


def test_conflict_creates_no_second_row(signup, db):
    name = _name()
    _created(signup({"username": name, "password": PASSWORD}), name)
    signup({"username": name.upper(), "password": PASSWORD})
    assert db.scalar("SELECT count(*) FROM users WHERE lower(username) = "
                     "lower(%s)", (name,)) == 1


def test_conflict_answer_is_the_same_for_username_and_email(signup):
    name, email = _name(), _name() + "@example.org"
    _created(signup({"username": name, "password": PASSWORD,
                     "email": email}), name)
    by_name = signup({"username": name, "password": PASSWORD})
    by_mail = signup({"username": _name(), "password": PASSWORD,
                      "email": email})
    assert by_name.status_code == by_mail.status_code == 409
    assert by_name.content == by_mail.content


# ------------------------------------------------------------ passwords

@pytest.mark.parametrize("password", [
    "a" * 7, "a" * 73, "\u00e9" * 3 + "a", "\u00e9" * 36 + "a", ""],
    ids=["7_ascii", "73_ascii", "7_bytes_4_chars", "73_bytes_37_chars",
         "empty"])
def test_register_refuses_password_outside_8_to_72_bytes(signup, db,
                                                         password):
    name = _name()
    assert_error(signup({"username": name, "password": password}), 400,
                 "weak_password")
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


# ------------------------------------------------------------ usernames

@pytest.mark.parametrize("username", [
    "ab", "a" * 33, "_abc", ".abc", "-abc", "ab cd", "ab@cd", "ab+cd",
    "ab/cd", "\u00e9abc", "abc\u00e9", "", " abc", "abc\t", "ab:cd"],
    ids=["2_chars", "33_chars", "underscore_first", "dot_first",
         "dash_first", "space", "at", "plus", "slash", "non_ascii_first",
         "non_ascii_last", "empty", "leading_space", "trailing_tab",
         "colon"])
def test_register_refuses_invalid_username(signup, username):
    assert_error(signup({"username": username, "password": PASSWORD}), 400,
                 "invalid_request")


# ------------------------------------------------------------ emails

@pytest.mark.parametrize("email", [
    "no-at-sign.example.org", "two@@example.org", "a@b@example.org",
    "has space@example.org", "tab\t@example.org", "@example.org", "user@",
    ""],
    ids=["no_at", "double_at", "two_ats", "space", "tab", "empty_local",
         "empty_domain", "empty"])
def test_register_refuses_invalid_email(signup, email):
    assert_error(signup({"username": _name(), "password": PASSWORD,
                         "email": email}), 400, "invalid_request")


# ------------------------------------------------------------ shapes

BAD_BODIES = {
    "username_number": lambda n: {"username": 12345, "password": PASSWORD},
    "username_array": lambda n: {"username": [n], "password": PASSWORD},
    "password_number": lambda n: {"username": n, "password": 123456789},
    "password_object": lambda n: {"username": n, "password": {"p": 1}},
    "email_number": lambda n: {"username": n, "password": PASSWORD,
                               "email": 5},
    "email_array": lambda n: {"username": n, "password": PASSWORD,
                              "email": [n + "@example.org"]},
    "unknown_member": lambda n: {"username": n, "password": PASSWORD,
                                 "role": "admin"},
    "missing_username": lambda n: {"password": PASSWORD},
    "username_null": lambda n: {"username": None, "password": PASSWORD},
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_register_refuses_malformed_body(signup, db, case):
    name = _name()
    assert_error(signup(BAD_BODIES[case](name)), 400, "invalid_request")
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


RAW_BODIES = {
    "duplicate_username": lambda n: (
        '{"username": "%s", "username": "%sx", "password": "%s"}'
        % (n, n, PASSWORD)).encode(),
    "nul_in_username": lambda n: (
        '{"username": "%s\\u0000x", "password": "%s"}'
        % (n, PASSWORD)).encode(),
    "nul_in_password": lambda n: (
        '{"username": "%s", "password": "%s\\u0000"}'
        % (n, PASSWORD)).encode(),
    "invalid_utf8_in_password": lambda n: (
        '{"username": "%s", "password": "%s' % (n, PASSWORD)).encode()
    + b'\xff"}',
    "not_an_object": lambda n: b'["%s"]' % n.encode(),
    "truncated": lambda n: ('{"username": "%s", "password": "%s"'
                            % (n, PASSWORD)).encode(),
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_register_refuses_bad_json(signup, db, case):
    name = _name()
    assert_error(signup(raw=RAW_BODIES[case](name)), 400, "invalid_request")
    assert db.scalar("SELECT count(*) FROM users WHERE lower(username) "
                     "LIKE lower(%s)", (name + "%",)) == 0


# ------------------------------------------------------------ methods

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_register_other_method_is_405_when_on(signup, method):
    resp = signup(raw=b"", method=method)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "POST"


def test_register_body_of_other_type_is_415(signup_web):
    client = ForwardedClient(signup_web, fresh_address())
    resp = client.request("POST", "/auth/register",
                          body=b'{"username": "abcdef", "password": "x"}',
                          content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")
