"""API.md "POST /auth/login" and "Common rules": the brute-force limiter.

Failures are counted in PostgreSQL under three keys: the case-folded login
name with the client address ("pair", blocked from its 5th failure), the
address alone ("address", from its 30th) and the account from any
address ("account", from its 20th: untrusted clients only, see
test_device_tokens.py for clients with a device token). A block lasts 2 s, doubling with each
further failure. While it holds every attempt gets 429 too_many_requests
with Retry-After and Cache-Control: no-store, even with the right
password; a blocked attempt is not a failure, a 400 is not counted, and a
successful login clears its pair.

Every test talks to the web that trusts 127.0.0.1 as a proxy, from fresh
X-Forwarded-For addresses, so that 127.0.0.1 itself (which the rest of the
suite logs in from) never collects failures here."""

import json
import time

import pytest

from conftest import create_user, unique_name
from latchlib import (Client, ForwardedClient, assert_error, fresh_address,
                      fresh_ipv4, json_body, retry_after, sid_of)

PAIR_FREE = 4            # failures a pair may make without a block
ADDRESS_FREE = 29
ACCOUNT_FREE = 19       # untrusted clients (no device token) only


def _fail(client, name, times, field="username"):
    """times wrong-password logins of name from client's address, each
    asserted to be a plain 401 (so not yet blocked)."""
    for i in range(times):
        resp = client.request("POST", "/auth/login", json_body={
            field: name, "password": "wrong-password-%d" % i})
        assert_error(resp, 401, "invalid_credentials")


def _assert_blocked(resp, at_most=None):
    """resp is the limiter's 429; returns its Retry-After."""
    assert_error(resp, 429, "too_many_requests")
    seconds = retry_after(resp)
    if at_most is not None:
        assert seconds <= at_most, seconds
    assert resp.raw.headers.getlist("Set-Cookie") == []
    return seconds


def _ok(resp):
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:300]}"
    assert "access_token" in json_body(resp)
    return resp


def _wait_out(seconds):
    """Sleeps out a Retry-After (bounded: blocks under test are short)."""
    assert seconds <= 4, f"Retry-After {seconds} is longer than expected"
    time.sleep(seconds + 0.15)


@pytest.fixture
def proxy_web(fast_proxy_web):
    """The trusted-proxy web with cheap hashes (conftest.fast_proxy_web):
    these tests count attempts one after another."""
    return fast_proxy_web


@pytest.fixture
def user(stack, db):
    return create_user(stack, db, prefix="rl")


@pytest.fixture
def from_x(proxy_web):
    return ForwardedClient(proxy_web, fresh_address())


@pytest.fixture
def from_y(proxy_web):
    return ForwardedClient(proxy_web, fresh_address())


# ------------------------------------------------------------ pair

def test_four_failures_do_not_block(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE)
    _ok(from_x.login(username=user["username"], password=user["password"]))


def test_right_password_is_429_after_five_failures(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    resp = from_x.login(username=user["username"], password=user["password"])
    _assert_blocked(resp, at_most=2)


def test_block_ends_after_retry_after(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    seconds = _assert_blocked(from_x.login(username=user["username"],
                                           password=user["password"]))
    _wait_out(seconds)
    _ok(from_x.login(username=user["username"], password=user["password"]))


def test_wrong_password_while_blocked_is_429_not_401(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    resp = from_x.login(username=user["username"], password="still-wrong")
    _assert_blocked(resp, at_most=2)


def test_block_doubles_with_the_next_failure(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    first = _assert_blocked(from_x.login(username=user["username"],
                                         password="x-wrong-1"), at_most=2)
    _wait_out(first)
    _fail(from_x, user["username"], 1)                # the 6th failure
    second = _assert_blocked(from_x.login(username=user["username"],
                                          password=user["password"]))
    assert 2 < second <= 4, second


def test_blocked_attempts_are_not_counted_as_failures(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    for _ in range(6):
        _assert_blocked(from_x.login(username=user["username"],
                                     password="x-wrong"), at_most=2)
    _wait_out(2)
    _fail(from_x, user["username"], 1)
    # Counted, the six would have made this the 12th failure (256 s).
    assert retry_after(from_x.login(username=user["username"],
                                    password="x-wrong")) <= 4


def test_block_does_not_lock_out_the_same_user_elsewhere(from_x, from_y,
                                                         user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    _assert_blocked(from_x.login(username=user["username"],
                                 password=user["password"]))
    _ok(from_y.login(username=user["username"], password=user["password"]))


def test_block_does_not_touch_other_users_at_the_same_address(
        from_x, user, stack, db):
    other = create_user(stack, db, prefix="rlother")
    _fail(from_x, user["username"], PAIR_FREE + 1)
    _ok(from_x.login(username=other["username"], password=other["password"]))


def test_successful_login_clears_the_pair(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE)
    _ok(from_x.login(username=user["username"], password=user["password"]))
    _fail(from_x, user["username"], PAIR_FREE)
    # 8 failures in all, but only 4 since the success.
    _ok(from_x.login(username=user["username"], password=user["password"]))


def test_unknown_username_is_blocked_alike(from_x, user):
    """No existence oracle: a name nobody has is limited exactly as a real
    one, with the same 429."""
    ghost = unique_name("ghost")
    _fail(from_x, ghost, PAIR_FREE + 1)
    ghost_429 = from_x.login(username=ghost, password="whatever-password")
    _assert_blocked(ghost_429, at_most=2)
    _fail(from_x, user["username"], PAIR_FREE + 1)
    real_429 = from_x.login(username=user["username"],
                            password=user["password"])
    _assert_blocked(real_429, at_most=2)
    assert ghost_429.content == real_429.content


def test_username_case_variants_share_one_limit(from_x, user):
    name = user["username"]
    variants = [name.upper(), name.title(), name.swapcase(), name.upper(),
                name.capitalize()]
    for variant in variants:
        _fail(from_x, variant, 1)
    _assert_blocked(from_x.login(username=name, password=user["password"]))


def test_email_case_variants_share_one_limit(from_x, stack, db):
    name = unique_name("rlmail")
    email = name + "@example.org"
    user = create_user(stack, db, username=name, email=email)
    for variant in [email.upper(), email, email.title(), email.swapcase(),
                    "T" + email[1:]]:
        _fail(from_x, variant, 1, field="email")
    resp = from_x.login(email=email, password=user["password"])
    _assert_blocked(resp)


def test_malformed_bodies_are_not_counted(from_x, user):
    bad = [
        {"username": user["username"], "password": 12345678},
        {"username": user["username"]},
        {"username": user["username"], "password": "x" * 73},
        {"username": user["username"], "password": "x", "extra": 1},
        {"username": user["username"], "password": "x",
         "token_delivery": "sms"},
        {"username": user["username"], "password": ""},
    ]
    for body in bad:
        resp = from_x.request("POST", "/auth/login", json_body=body)
        assert_error(resp, 400, "invalid_request")
    _fail(from_x, user["username"], PAIR_FREE)
    _ok(from_x.login(username=user["username"], password=user["password"]))


def test_malformed_body_while_blocked_is_400(from_x, user):
    """The body check answers before the limiter (Common rules' order)."""
    _fail(from_x, user["username"], PAIR_FREE + 1)
    resp = from_x.request("POST", "/auth/login",
                          json_body={"username": user["username"],
                                     "password": 12345678})
    assert_error(resp, 400, "invalid_request")


def test_429_is_json_no_store_with_retry_after(from_x, user):
    _fail(from_x, user["username"], PAIR_FREE + 1)
    resp = from_x.login(username=user["username"], password=user["password"])
    assert resp.status_code == 429
    assert resp.headers.get("Content-Type") == "application/json"
    assert resp.headers.get("Cache-Control") == "no-store"
    assert 1 <= retry_after(resp) <= 2
    body = json.loads(resp.content)
    assert set(body) == {"error", "error_description"}
    assert user["username"] not in resp.text


# ------------------------------------------------------------ address

def test_address_is_blocked_after_thirty_failures_on_many_names(
        proxy_web, stack, db):
    client = ForwardedClient(proxy_web, fresh_address())
    victims = [create_user(stack, db, prefix="rladdr") for _ in range(9)]
    failures = 0
    for victim in victims[:8]:               # 4 each: no pair is blocked
        take = min(PAIR_FREE, ADDRESS_FREE + 1 - failures)
        _fail(client, victim["username"], take)
        failures += take
        if failures == ADDRESS_FREE + 1:
            break
    assert failures == ADDRESS_FREE + 1
    fresh = victims[8]
    resp = client.login(username=fresh["username"],
                        password=fresh["password"])
    _assert_blocked(resp, at_most=2)
    # The same user from another address is fine.
    _ok(ForwardedClient(proxy_web, fresh_address()).login(
        username=fresh["username"], password=fresh["password"]))


def test_twenty_nine_failures_do_not_block_the_address(proxy_web, stack, db):
    client = ForwardedClient(proxy_web, fresh_address())
    victims = [create_user(stack, db, prefix="rladdr") for _ in range(9)]
    failures = 0
    for victim in victims[:8]:
        take = min(PAIR_FREE, ADDRESS_FREE - failures)
        if take == 0:
            break
        _fail(client, victim["username"], take)
        failures += take
    assert failures == ADDRESS_FREE
    _ok(client.login(username=victims[8]["username"],
                     password=victims[8]["password"]))


# ------------------------------------------------------------ account

def test_account_is_blocked_after_twenty_failures_from_many_addresses(
        proxy_web, user):
    for _ in range(ACCOUNT_FREE + 1):
        _fail(ForwardedClient(proxy_web, fresh_address()), user["username"],
              1)
    newcomer = ForwardedClient(proxy_web, fresh_address())
    resp = newcomer.login(username=user["username"],
                          password=user["password"])
    # The account block starts at 2 s (and doubles up to 15 minutes).
    _assert_blocked(resp, at_most=2)


# ------------------------------------------------------------ addresses

def _session_ip(db, resp):
    sid = sid_of(json_body(resp)["access_token"])
    return db.scalar("SELECT host(ip) FROM sessions WHERE id = %s", (sid,))


def test_trusted_proxy_takes_right_most_forwarded_address(proxy_web, user,
                                                          db):
    addr = fresh_ipv4()
    client = Client(proxy_web)
    resp = client.login(username=user["username"], password=user["password"],
                        headers={"X-Forwarded-For":
                                 "203.0.113.9, 192.0.2.1, " + addr})
    _ok(resp)
    assert _session_ip(db, resp) == addr


def test_trusted_proxy_skips_trusted_entries_from_the_right(proxy_web, user,
                                                            db):
    addr = fresh_ipv4()
    client = Client(proxy_web)
    resp = client.login(username=user["username"], password=user["password"],
                        headers={"X-Forwarded-For":
                                 "192.0.2.1, " + addr + ", 127.0.0.1"})
    _ok(resp)
    assert _session_ip(db, resp) == addr


def test_forwarded_address_from_untrusted_peer_is_ignored(client, user, db):
    """The main web trusts no proxy: a spoofed X-Forwarded-For does not
    move the address (only a successful login here: no failures are ever
    made from 127.0.0.1)."""
    resp = client.login(username=user["username"], password=user["password"],
                        headers={"X-Forwarded-For": "203.0.113.77"})
    _ok(resp)
    assert _session_ip(db, resp) == "127.0.0.1"


def test_spoofed_forwarded_address_does_not_escape_a_block(proxy_web, user):
    """A client behind the trusted proxy that adds its own XFF entries
    (left of the one the proxy appended) keeps its address and its block."""
    addr = fresh_address()
    client = ForwardedClient(proxy_web, addr)
    _fail(client, user["username"], PAIR_FREE + 1)
    resp = client.login(username=user["username"], password=user["password"],
                        headers={"X-Forwarded-For":
                                 fresh_address() + ", " + addr})
    _assert_blocked(resp)


# ------------------------------------------------------------ sign-up

def test_signup_attempts_count_and_block(signup_web):
    client = ForwardedClient(signup_web, fresh_address())
    name = "rl" + fresh_address().replace(":", "")[-12:]
    body = {"username": name, "password": "signup-password-1"}
    resp = client.request("POST", "/auth/register", json_body=body)
    assert resp.status_code == 201, resp.text
    for _ in range(PAIR_FREE):                       # 5 attempts in all
        assert_error(client.request("POST", "/auth/register",
                                    json_body=body), 409, "username_taken")
    resp = client.request("POST", "/auth/register", json_body=body)
    _assert_blocked(resp, at_most=2)


def test_signup_of_fresh_names_counts_against_the_address(signup_web):
    """Every sign-up attempt counts, successful ones too: 30 sign-ups from
    one address block its 31st."""
    client = ForwardedClient(signup_web, fresh_address())
    stem = "rl" + fresh_address().replace(":", "")[-10:]
    for i in range(ADDRESS_FREE + 1):
        resp = client.request("POST", "/auth/register", json_body={
            "username": f"{stem}{i}", "password": "signup-password-1"})
        assert resp.status_code == 201, (i, resp.text)
    resp = client.request("POST", "/auth/register", json_body={
        "username": f"{stem}x", "password": "signup-password-1"})
    _assert_blocked(resp, at_most=2)
