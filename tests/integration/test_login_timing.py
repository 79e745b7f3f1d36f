"""API.md "POST /auth/login": refusals are alike in body and in time (no
username oracle), and a weaker stored hash is replaced once.

The timing tests run against the web that trusts 127.0.0.1 as a proxy,
each attempt from a fresh X-Forwarded-For address, so that the limiter
never blocks one of them (and 127.0.0.1 collects no failures)."""

import ctypes
import ctypes.util
import statistics
import time
import uuid

import pytest

from conftest import create_user, unique_name
from latchlib import ForwardedClient, assert_error, fresh_address, json_body

TRIES = 15
SERVER_COST = 12          # BCRYPT_COST of the instance (the default)


def _timed_login(base_url, username, password):
    client = ForwardedClient(base_url, fresh_address())
    start = time.perf_counter()
    resp = client.login(username=username, password=password)
    elapsed = time.perf_counter() - start
    return resp, elapsed


@pytest.fixture
def proxy_web(proxy_http_web):
    """Timings compare logins within warm, persistent processes."""
    return proxy_http_web


@pytest.fixture(scope="module")
def cost12_user(stack, db):
    """A user whose hash has the server's own cost, as the dummy hash that
    unknown names are checked against."""
    user = create_user(stack, db, prefix="timing", cost=SERVER_COST)
    stored = db.scalar("SELECT password_hash FROM users WHERE id = %s",
                       (user["id"],))
    assert stored.startswith("$2b$%02d$" % SERVER_COST), stored
    return user


def test_unknown_user_and_wrong_password_take_alike_time(proxy_web,
                                                         cost12_user):
    # Warm up: fcgi processes, connections, caches.
    for _ in range(2):
        _timed_login(proxy_web, unique_name("warm"), "warm-up-password")
        _timed_login(proxy_web, cost12_user["username"], "warm-up-password")
    unknown, wrong = [], []
    for i in range(TRIES):                  # interleaved against drift
        resp, t = _timed_login(proxy_web, unique_name("nobody"),
                               "some-password-%d" % i)
        assert_error(resp, 401, "invalid_credentials")
        unknown.append(t)
        resp, t = _timed_login(proxy_web, cost12_user["username"],
                               "wrong-password-%d" % i)
        assert_error(resp, 401, "invalid_credentials")
        wrong.append(t)
    a, b = statistics.median(unknown), statistics.median(wrong)
    print(f"login medians: unknown user {a:.4f}s, wrong password {b:.4f}s")
    assert max(a, b) <= 1.25 * min(a, b), \
        f"median unknown {a:.4f}s, wrong password {b:.4f}s"


# ------------------------------------------------- imported hashes

# Hashes an operator imports from elsewhere, each cheaper to check than the
# server's $2b$12$: Node's bcrypt and PHP at their default cost 10, glibc's
# SHA-512 crypt and Debian's yescrypt (a few to some 60 ms here).
IMPORTED = {"2a10": ("$2a$", 10), "6": ("$6$", 0), "y": ("$y$", 0)}
IMPORTED_TRIES = 10       # API.md: medians of ten tries each


def _libcrypt():
    lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def _imported_hash(prefix, count, password):
    lib = _libcrypt()
    setting = lib.crypt_gensalt(prefix.encode(), count, None, 0)
    assert setting and not setting.startswith(b"*"), prefix
    stored = lib.crypt(password.encode(), setting)
    assert stored and stored.startswith(setting[:4]), prefix
    return stored.decode()


def test_wrong_password_for_imported_hash_takes_unknown_user_time(
        proxy_web, db, insert_user):
    """A wrong password for an imported (cheaper) hash must not tell the
    account exists: it costs what an unknown name's dummy bcrypt does."""
    users = {}
    for scheme, (prefix, count) in IMPORTED.items():
        password = "pw-" + uuid.uuid4().hex
        stored = _imported_hash(prefix, count, password)
        if count:
            assert stored.startswith("%s%02d$" % (prefix, count)), stored
        users[scheme] = dict(insert_user(stored, prefix="imp" + scheme),
                             password=password)
    # Warm up both fcgi processes: connections, and each one's measured
    # cost of a full check (its first padded failure calibrates).
    for _ in range(3):
        _timed_login(proxy_web, unique_name("warm"), "warm-up-password")
    for user in users.values():
        _timed_login(proxy_web, user["username"], "warm-up-password")
    kinds = ["unknown", *IMPORTED]
    times = {kind: [] for kind in kinds}
    for i in range(IMPORTED_TRIES):
        # Interleaved against drift, the order rotated so that none is
        # always the one after (or before) the others.
        for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
            name = (unique_name("nobody") if kind == "unknown"
                    else users[kind]["username"])
            resp, t = _timed_login(proxy_web, name, "wrong-password-%d" % i)
            assert_error(resp, 401, "invalid_credentials")
            times[kind].append(t)
    medians = {kind: statistics.median(ts) for kind, ts in times.items()}
    print("login medians: " + ", ".join(
        f"{kind} {m:.4f}s" for kind, m in medians.items()))
    a = medians["unknown"]
    for scheme in IMPORTED:
        b = medians[scheme]
        assert max(a, b) <= 1.25 * min(a, b), \
            f"median unknown {a:.4f}s, wrong password for ${scheme} {b:.4f}s"
    # Failures leave the imported hashes alone; the right password still
    # logs in, unpadded, and replaces them.
    for scheme, user in users.items():
        assert _stored(db, user).startswith(IMPORTED[scheme][0])
        resp = ForwardedClient(proxy_web, fresh_address()).login(
            username=user["username"], password=user["password"])
        assert resp.status_code == 200, resp.text
        assert _stored(db, user).startswith("$2b$%02d$" % SERVER_COST)


def test_unknown_user_costs_a_real_password_check(proxy_web):
    """The dummy check is a bcrypt at the configured cost (12 takes well
    over 20 ms on any machine), not a shortcut."""
    times = []
    for i in range(3):
        resp, t = _timed_login(proxy_web, unique_name("nobody"),
                               "some-password-%d" % i)
        assert_error(resp, 401, "invalid_credentials")
        times.append(t)
    assert statistics.median(times) > 0.02, times


def test_disabled_user_refusal_is_alike_for_right_and_wrong_password(
        proxy_web, stack, db):
    user = create_user(stack, db, prefix="timingoff")
    db.execute("UPDATE users SET disabled_at = now() WHERE id = %s",
               (user["id"],))
    right, _ = _timed_login(proxy_web, user["username"], user["password"])
    wrong, _ = _timed_login(proxy_web, user["username"], "wrong-password")
    ghost, _ = _timed_login(proxy_web, unique_name("nobody"),
                            "wrong-password")
    for resp in (right, wrong):
        assert_error(resp, 401, "invalid_credentials")
        assert resp.headers.get("WWW-Authenticate") == 'Bearer realm="latch"'
        assert resp.raw.headers.getlist("Set-Cookie") == []
    assert right.content == wrong.content == ghost.content


# ------------------------------------------------------------ re-hash

def _stored(db, user):
    return db.scalar("SELECT password_hash FROM users WHERE id = %s",
                     (user["id"],))


def test_rehash_of_lower_cost_happens_once(client, stack, db):
    """test_login.py checks that $2b$04$ becomes $2b$12$; here: the second
    login keeps that new hash as it is, and still succeeds."""
    user = create_user(stack, db, prefix="rehash1", cost=4)
    assert _stored(db, user).startswith("$2b$04$")
    first = client.login(username=user["username"], password=user["password"])
    assert first.status_code == 200, first.text
    upgraded = _stored(db, user)
    assert upgraded.startswith("$2b$12$"), upgraded
    second = client.login(username=user["username"],
                          password=user["password"])
    assert second.status_code == 200, second.text
    assert "access_token" in json_body(second)
    assert _stored(db, user) == upgraded


def test_higher_cost_hash_is_left_alone(proxy_web, stack, db):
    user = create_user(stack, db, prefix="rehash13", cost=13)
    before = _stored(db, user)
    assert before.startswith("$2b$13$"), before
    resp = ForwardedClient(proxy_web, fresh_address()).login(
        username=user["username"], password=user["password"])
    assert resp.status_code == 200, resp.text
    assert _stored(db, user) == before
