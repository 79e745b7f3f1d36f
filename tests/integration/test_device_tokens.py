"""API.md "POST /auth/login", "Device tokens": no stranger can keep an
account's owner out.

A successful login returns a device token bound to that user (the cookie
latch_device on Path=/auth/login, or "device_token" in the body for body
delivery). A login that presents a valid one is limited on that device's own
key only; logins without one share the account's limit for untrusted clients
(at most 20 failures before 429). Only a keyed hash of a device token is
stored.

Every test talks to a web that trusts 127.0.0.1 as a proxy, from fresh
X-Forwarded-For addresses, so that 127.0.0.1 collects no failures."""

import hashlib
import re

import time

import pytest

from conftest import create_user
from latchlib import (DEVICE_TOKEN_SHAPE, ForwardedClient, assert_error,
                      device_cookie, fresh_address, json_body, retry_after,
                      run_latchctl)

ACCOUNT_FREE = 19        # untrusted failures an account takes before 429
DEVICE_FREE = 4          # failures one device takes before 429


@pytest.fixture
def proxy_web(fast_proxy_web):
    """The trusted-proxy web with cheap hashes (conftest.fast_proxy_web):
    these tests count attempts one after another."""
    return fast_proxy_web


@pytest.fixture
def secure_proxy_web(harden_web):
    """COOKIE_SECURE=1 (the __Secure- names) behind a trusted proxy, with
    cheap hashes as proxy_web."""
    return harden_web("proxysecure", 51, COOKIE_SECURE="1",
                      TRUSTED_PROXIES="127.0.0.1", BCRYPT_COST="4")


def _client(base_url):
    return ForwardedClient(base_url, fresh_address())


def _cookie_login(client, user, device=None, secure=False, password=None):
    name = ("__Secure-latch_device" if secure else "latch_device")
    headers = {"Cookie": f"{name}={device}"} if device else None
    return client.login(username=user["username"],
                        password=password or user["password"],
                        headers=headers)


def _body_login(client, user, device=None, password=None):
    body = {"username": user["username"],
            "password": password or user["password"],
            "token_delivery": "body"}
    if device is not None:
        body["device_token"] = device
    return client.request("POST", "/auth/login", json_body=body)


def _ok(resp):
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:300]}"
    return resp


def _attack(base_url, user, times):
    """times wrong guesses, each from a fresh address: no pair or address
    key ever blocks, only the account key counts them. The first ones are
    refused (401) until the account key blocks, the rest held back (429),
    as an attacker who does not stop sees it. Returns the 401 count."""
    codes = []
    for i in range(times):
        resp = _client(base_url).login(username=user["username"],
                                       password=f"guess-{i}")
        if resp.status_code == 429:
            assert_error(resp, 429, "too_many_requests")
        else:
            assert_error(resp, 401, "invalid_credentials")
        codes.append(resp.status_code)
    first_429 = codes.index(429) if 429 in codes else len(codes)
    # Nothing is held back before the account's 20 failures, and after
    # them the block (2 s, doubling) lets at most a few more through.
    assert first_429 == min(times, ACCOUNT_FREE + 1), codes
    assert codes.count(401) <= ACCOUNT_FREE + 4, codes
    return codes.count(401)


def test_cookie_login_sets_a_device_cookie(proxy_web, stack, db):
    user = create_user(stack, db, prefix="dev")
    resp = _ok(_cookie_login(_client(proxy_web), user))
    token = device_cookie(resp)
    assert token is not None and re.fullmatch(DEVICE_TOKEN_SHAPE, token)
    assert "device_token" not in json_body(resp)


def test_body_login_returns_a_device_token_and_no_cookie(proxy_web, stack,
                                                         db):
    user = create_user(stack, db, prefix="dev")
    resp = _ok(_body_login(_client(proxy_web), user))
    assert re.fullmatch(DEVICE_TOKEN_SHAPE, json_body(resp)["device_token"])
    assert resp.raw.headers.getlist("Set-Cookie") == []


def _block_holds(base_url, user):
    """Makes sure the account's block has at least a second to run, so
    that the stranger's attempt that follows meets it however long the
    attack took: the block is seconds long (2 s, doubling), and 30
    attempts held back can outlast the first on a slow machine. One more
    wrong guess from a fresh address shows it: 429 with more than a second
    left, or else (after waiting out the rest) a 401 that is one more
    failure and starts a longer block. Bounded: a few guesses at most."""
    for _ in range(4):
        resp = _client(base_url).login(username=user["username"],
                                       password="guess-again")
        if resp.status_code == 429:
            left = retry_after(resp)
            if left >= 2:
                return
            time.sleep(left + 0.2)
            continue
        assert_error(resp, 401, "invalid_credentials")
        return
    raise AssertionError("the block neither held nor ended")


def test_attack_from_fifty_addresses_blocks_strangers_not_the_owner_cookie(
        proxy_web, stack, db):
    user = create_user(stack, db, prefix="devatk")
    owner = _client(proxy_web)
    device = device_cookie(_ok(_cookie_login(owner, user)))
    _attack(proxy_web, user, 50)
    _block_holds(proxy_web, user)
    # A stranger, even with the right password, is held back...
    resp = _cookie_login(_client(proxy_web), user)
    assert_error(resp, 429, "too_many_requests")
    assert retry_after(resp) >= 1
    # ...the owner's device is not, from its own or from a new address.
    resp = _ok(_cookie_login(owner, user, device=device))
    device = device_cookie(resp)
    assert device is not None
    _ok(_cookie_login(_client(proxy_web), user, device=device))


def test_attack_from_fifty_addresses_blocks_strangers_not_the_owner_body(
        proxy_web, stack, db):
    user = create_user(stack, db, prefix="devatkb")
    owner = _client(proxy_web)
    device = json_body(_ok(_body_login(owner, user)))["device_token"]
    _attack(proxy_web, user, 50)
    _block_holds(proxy_web, user)
    assert_error(_body_login(_client(proxy_web), user), 429,
                 "too_many_requests")
    resp = _ok(_body_login(owner, user, device=device))
    assert "refresh_token" in json_body(resp)
    assert json_body(resp)["device_token"] != device


def test_secure_device_cookie_lets_the_owner_in(secure_proxy_web, stack, db):
    user = create_user(stack, db, prefix="devsec")
    owner = _client(secure_proxy_web)
    device = device_cookie(_ok(_cookie_login(owner, user, secure=True)),
                           secure=True)
    assert device is not None
    _attack(secure_proxy_web, user, ACCOUNT_FREE + 1)
    assert_error(_cookie_login(_client(secure_proxy_web), user, secure=True),
                 429, "too_many_requests")
    # The plain-http name is not read when COOKIE_SECURE=1.
    assert_error(_cookie_login(owner, user, device=device), 429,
                 "too_many_requests")
    _ok(_cookie_login(owner, user, device=device, secure=True))


def test_nineteen_untrusted_failures_do_not_block(proxy_web, stack, db):
    user = create_user(stack, db, prefix="devfree")
    _attack(proxy_web, user, ACCOUNT_FREE)
    _ok(_cookie_login(_client(proxy_web), user))


def test_device_token_is_replaced_at_each_login(proxy_web, stack, db):
    """The token a login presents is spent: only its successor is trusted
    afterwards, so a copy taken earlier buys nothing once the owner logged
    in again."""
    user = create_user(stack, db, prefix="devrot")
    owner = _client(proxy_web)
    first = json_body(_ok(_body_login(owner, user)))["device_token"]
    second = json_body(_ok(_body_login(owner, user, device=first)))[
        "device_token"]
    assert second != first
    _attack(proxy_web, user, ACCOUNT_FREE + 1)
    assert_error(_body_login(owner, user, device=first), 429,
                 "too_many_requests")
    _ok(_body_login(owner, user, device=second))


def test_device_token_of_another_user_is_not_trusted(proxy_web, stack, db):
    victim = create_user(stack, db, prefix="devvic")
    other = create_user(stack, db, prefix="devoth")
    foreign = json_body(_ok(_body_login(_client(proxy_web), other)))[
        "device_token"]
    _attack(proxy_web, victim, ACCOUNT_FREE + 1)
    assert_error(_body_login(_client(proxy_web), victim, device=foreign), 429,
                 "too_many_requests")


@pytest.mark.parametrize("garbage", [
    "x", "not-a-device-token", "k1." + "A" * 43, "." + "A" * 43,
    "dev-refresh-1." + "A" * 42, "dev-refresh-1." + "!" * 43,
    "dev-refresh-1.." + "A" * 42, "é" * 20])
def test_garbage_device_tokens_are_untrusted_not_errors(proxy_web, stack, db,
                                                        garbage):
    user = create_user(stack, db, prefix="devjunk")
    _ok(_body_login(_client(proxy_web), user, device=garbage))
    _ok(_cookie_login(_client(proxy_web), user,
                      device=garbage if garbage.isascii() else "x"))


def test_device_token_over_its_limit_or_of_wrong_type_is_400(proxy_web, stack,
                                                              db):
    user = create_user(stack, db, prefix="devbad")
    client = _client(proxy_web)
    for value in ("A" * 129, 12345, None, ["a"], {"a": 1}, True):
        body = {"username": user["username"], "password": "wrong",
                "device_token": value}
        assert_error(client.request("POST", "/auth/login", json_body=body),
                     400, "invalid_request")


def test_several_device_cookies_are_400(proxy_web, stack, db):
    user = create_user(stack, db, prefix="devtwo")
    resp = _client(proxy_web).login(
        username=user["username"], password=user["password"],
        headers={"Cookie": "latch_device=a; latch_device=b"})
    assert_error(resp, 400, "invalid_request")


def test_a_trusted_device_is_limited_on_its_own_key(proxy_web, stack, db):
    """A stolen device token does not buy unlimited guesses: the device's
    own key blocks after 5 failures, while untrusted clients (who share
    the account key, untouched by the device's failures) still get in."""
    user = create_user(stack, db, prefix="devown")
    device = json_body(_ok(_body_login(_client(proxy_web), user)))[
        "device_token"]
    for i in range(DEVICE_FREE + 1):
        assert_error(_body_login(_client(proxy_web), user, device=device,
                                 password=f"wrong-{i}"),
                     401, "invalid_credentials")
    assert_error(_body_login(_client(proxy_web), user, device=device), 429,
                 "too_many_requests")
    _ok(_body_login(_client(proxy_web), user))


def test_trusted_device_is_not_held_by_the_address_limit(proxy_web, stack,
                                                          db):
    """30 failures from one address block it for strangers; the owner's
    device at that same address still logs in."""
    user = create_user(stack, db, prefix="devaddr")
    owner_addr = fresh_address()
    owner = ForwardedClient(proxy_web, owner_addr)
    device = json_body(_ok(_body_login(owner, user)))["device_token"]
    victims = [create_user(stack, db, prefix="devaddrv") for _ in range(8)]
    for n, victim in enumerate(victims):     # 7 x 4 + 2: 30 failures
        for i in range(4 if n < 7 else 2):
            assert_error(owner.login(username=victim["username"],
                                     password=f"w{i}"),
                         401, "invalid_credentials")
    assert_error(_body_login(owner, user), 429, "too_many_requests")
    _ok(_body_login(owner, user, device=device))


def test_only_a_keyed_hash_of_a_device_token_is_stored(proxy_web, stack, db):
    user = create_user(stack, db, prefix="devstore")
    device = json_body(_ok(_body_login(_client(proxy_web), user)))[
        "device_token"]
    rows = db.all("SELECT token_hash, created_at, expires_at "
                  "FROM device_tokens WHERE user_id = %s", (user["id"],))
    assert len(rows) == 1
    stored = bytes(rows[0][0])
    assert len(stored) == 32
    raw = device.encode()
    assert stored != hashlib.sha256(raw).digest()
    assert raw not in stored and device.split(".", 1)[1].encode() not in \
        stored
    dump = db.all("SELECT t::text FROM device_tokens t")
    assert not any(device in row[0] or device.split(".", 1)[1] in row[0]
                   for row in dump)
    life = (rows[0][2] - rows[0][1]).total_seconds()
    assert life == 180 * 24 * 3600


def test_a_user_keeps_a_bounded_number_of_device_tokens(proxy_web, stack,
                                                         db):
    user = create_user(stack, db, prefix="devcap")
    client = _client(proxy_web)
    for _ in range(34):
        _ok(_body_login(client, user))
    assert db.scalar("SELECT count(*) FROM device_tokens WHERE user_id = %s",
                     (user["id"],)) == 32


# ------------------------------------------------------------ revocation

def _trusted(proxy_web, user, device):
    """Whether device still lets user in while strangers are held back
    (the account key must already be blocked)."""
    return _body_login(_client(proxy_web), user, device=device).status_code


def _logged_in_with_device(proxy_web, user):
    body = json_body(_ok(_body_login(_client(proxy_web), user)))
    return body["device_token"], body["access_token"]


def test_logout_all_forgets_the_users_device_tokens(proxy_web, stack, db):
    """Logging out everywhere is how an owner shuts an intruder out: the
    intruder's device token must not stay trusted."""
    user = create_user(stack, db, prefix="devlo")
    intruder, _ = _logged_in_with_device(proxy_web, user)
    _, access = _logged_in_with_device(proxy_web, user)
    resp = _client(proxy_web).logout_all(access)
    assert resp.status_code == 200, resp.text
    assert db.scalar("SELECT count(*) FROM device_tokens WHERE user_id = %s",
                     (user["id"],)) == 0
    _attack(proxy_web, user, ACCOUNT_FREE + 1)
    assert _trusted(proxy_web, user, intruder) == 429


@pytest.mark.parametrize("command", [["passwd", "--keep-sessions"],
                                     ["passwd"], ["disable"]])
def test_latchctl_password_change_and_disable_forget_device_tokens(
        proxy_web, stack, db, bin_dir, command):
    user = create_user(stack, db, prefix="devctl")
    intruder, _ = _logged_in_with_device(proxy_web, user)
    argv = ["user", command[0], user["username"], *command[1:]]
    new_password = "new-" + user["password"]
    if command[0] == "passwd":
        argv.append("--password-stdin")
    proc = run_latchctl(bin_dir, *argv, input=new_password + "\n",
                        DATABASE_URL=stack.database_url, BCRYPT_COST="4")
    assert proc.returncode == 0, proc.stderr
    assert db.scalar("SELECT count(*) FROM device_tokens WHERE user_id = %s",
                     (user["id"],)) == 0
