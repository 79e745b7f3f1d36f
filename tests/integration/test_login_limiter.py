"""API.md "POST /auth/login": the limiter holds under races, for IPv6
clients, across the names of one account, across Unicode spellings, and its
table reveals nothing.

Every attempt comes through a web that trusts 127.0.0.1 (or ::1) as a
proxy, from fresh X-Forwarded-For addresses, so that the suite's own
address collects no failures."""

import concurrent.futures
import hashlib
import secrets
import socket
import time

import pytest

from conftest import create_user, unique_name
from latchlib import (Client, ForwardedClient, assert_error, fresh_address,
                      fresh_ipv4, json_body)

PAIR_FREE = 4
ACCOUNT_FREE = 19


def _fail(client, name, times, field="username"):
    for i in range(times):
        resp = client.request("POST", "/auth/login", json_body={
            field: name, "password": f"wrong-password-{i}"})
        assert_error(resp, 401, "invalid_credentials")


def _ok(resp):
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:300]}"
    return resp


def _blocked(resp):
    assert_error(resp, 429, "too_many_requests")


@pytest.fixture
def proxy_web(fast_proxy_http_web):
    """Counts kept across attempts: persistent processes, with cheap
    hashes (conftest.fast_proxy_web says why). The races take
    proxy_http_web, at the server's cost, so that their checks overlap."""
    return fast_proxy_http_web


# ------------------------------------------------------------ races

def test_a_burst_of_parallel_guesses_counts_every_one(proxy_http_web, stack,
                                                     db):
    """With one guess left before the pair blocks, eight guesses sent at
    once get one 401 and seven 429s: each was counted before its password
    was checked. (The hash is of the server's cost, so that each check
    takes long enough for the guesses to overlap.)"""
    user = create_user(stack, db, prefix="burst", cost=12)
    addr = fresh_address()
    _fail(ForwardedClient(proxy_http_web, addr), user["username"], PAIR_FREE)

    def guess(i):
        return ForwardedClient(proxy_http_web, addr).login(
            username=user["username"], password=f"burst-{i}").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(guess, range(8)))
    assert codes == [401] + [429] * 7, codes


def test_parallel_guesses_from_many_addresses_all_count_on_the_account(
        proxy_http_web, stack, db):
    """Nineteen guesses at once from nineteen addresses use up the account
    key's allowance: one more guess from yet another address blocks it, so
    the next stranger is held back, even with the right password.

    The burst takes the whole allowance and the blocking guess comes
    alone: its block (2 s) starts when it is counted, and a burst of
    padded failures at the server's cost can take longer than that on a
    slow machine, so the block would be over before it was looked at."""
    user = create_user(stack, db, prefix="burstacct")

    def guess(i):
        return ForwardedClient(proxy_http_web, fresh_address()).login(
            username=user["username"], password=f"spray-{i}").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(guess, range(ACCOUNT_FREE)))
    assert codes == [401] * ACCOUNT_FREE, codes
    assert guess(ACCOUNT_FREE) == 401
    _blocked(ForwardedClient(proxy_http_web, fresh_address()).login(
        username=user["username"], password=user["password"]))


def test_a_right_password_in_a_burst_is_not_left_counted(proxy_web, stack,
                                                          db):
    """The attempt counted before the check is taken back when it
    succeeds: four failures, one success, then four more do not block."""
    user = create_user(stack, db, prefix="settle")
    client = ForwardedClient(proxy_web, fresh_address())
    _fail(client, user["username"], PAIR_FREE)
    _ok(client.login(username=user["username"], password=user["password"]))
    _fail(client, user["username"], PAIR_FREE)
    _ok(client.login(username=user["username"], password=user["password"]))


def test_concurrent_logins_of_one_account_all_succeed(web, stack, db):
    """Counting and settling lock the same rows in one order: eighty right
    passwords for one account from one address, eight at a time, are all
    200 (settling in another order deadlocked against a concurrent count).
    The fast-hash web keeps the attempts short and overlapping."""
    user = create_user(stack, db, prefix="crowd")

    def login(i):
        return web.login(username=user["username"],
                         password=user["password"]).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(login, range(80)))
    assert codes == [200] * 80, codes


def test_settling_waits_in_the_order_counting_locks(stack, db):
    """Deterministically: an attempt being counted holds the account row
    (latch_throttle_begin locks account, address, pair in that order) when
    a success is settled on the same keys; the settle must wait without
    holding the pair row, so the count can go on to lock it. (Settling
    pair first deadlocked: PostgreSQL then aborts one of the two.)"""
    import threading
    import psycopg2

    keys = {scope: secrets.token_bytes(32)
            for scope in ("pair", "address", "account")}
    for scope, key in keys.items():
        db.execute("INSERT INTO login_throttle (scope, key_hash, failures,"
                   " last_failure_at) VALUES (%s, %s, 1, now())",
                   (scope, key))
    scopes = ",".join(keys)
    hexes = ",".join(k.hex() for k in keys.values())
    counting = psycopg2.connect(stack.database_url)
    settling = psycopg2.connect(stack.database_url)
    errors = []
    try:
        with counting.cursor() as cur:
            cur.execute("SET lock_timeout = '5s'")
            cur.execute("SELECT 1 FROM login_throttle WHERE scope = "
                        "'account' AND key_hash = %s FOR UPDATE",
                        (keys["account"],))

        def settle():
            try:
                with settling.cursor() as cur:
                    cur.execute("SET lock_timeout = '5s'")
                    cur.execute("SELECT latch_throttle_settle(%s, %s)",
                                (scopes, hexes))
                settling.commit()
            except psycopg2.Error as exc:
                errors.append(exc.pgcode)
                settling.rollback()

        t = threading.Thread(target=settle)
        t.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not db.scalar(
                "SELECT count(*) FROM pg_locks WHERE NOT granted"):
            time.sleep(0.02)
        try:
            with counting.cursor() as cur:
                for scope in ("address", "pair"):
                    cur.execute("SELECT 1 FROM login_throttle WHERE scope ="
                                " %s AND key_hash = %s FOR UPDATE",
                                (scope, keys[scope]))
            counting.commit()
        except psycopg2.Error as exc:
            errors.append(exc.pgcode)
            counting.rollback()
        t.join(timeout=10)
        assert not t.is_alive()
    finally:
        counting.close()
        settling.close()
    assert errors == [], errors          # 40P01 deadlock_detected before
    # The settle happened: pair deleted, the others lost their failure.
    rows = dict(db.all("SELECT scope, failures FROM login_throttle WHERE "
                       "key_hash IN (%s, %s, %s)", tuple(keys.values())))
    assert rows == {"address": 0, "account": 0}, rows


# ------------------------------------------------------------ memory

T0 = "2001-01-01 00:00:00+00"       # a clock of our own: nothing else there


def _row(db, scope, key):
    return db.one("SELECT failures, extract(epoch FROM blocked_until - %s)"
                  " FROM login_throttle WHERE scope = %s AND key_hash = %s",
                  (T0, scope, key))


def _begin_at(db, scope, key, seconds):
    return db.scalar("SELECT latch_throttle_begin(%s, %s, %s::timestamptz"
                     " + make_interval(secs => %s))",
                     (scope, key.hex(), T0, seconds))


@pytest.mark.parametrize("scope", ["account", "device"])
def test_an_account_key_is_not_forgotten_when_its_longest_block_ends(db,
                                                                      scope):
    """A key at its longest block (15 minutes) that is tried again right
    after counts on: a patient attacker does not get a fresh allowance
    each half hour. Only a day left alone forgets it."""
    key = secrets.token_bytes(32)
    db.execute("INSERT INTO login_throttle (scope, key_hash, failures,"
               " last_failure_at, blocked_until) VALUES (%s, %s, 40, %s,"
               " %s::timestamptz + interval '900 seconds')", (scope, key,
                                                               T0, T0))
    assert _begin_at(db, scope, key, 899) == 1          # still blocked
    assert _begin_at(db, scope, key, 901) == 0          # counted...
    failures, blocked = _row(db, scope, key)
    assert failures == 41 and blocked == 901 + 900      # ...and blocked
    # Left alone for a day after that block: forgotten.
    assert _begin_at(db, scope, key, 1801 + 86400 + 1) == 0
    assert _row(db, scope, key) == (1, None)


def test_a_pair_key_is_forgotten_15_minutes_after_its_block(db):
    key = secrets.token_bytes(32)
    db.execute("INSERT INTO login_throttle (scope, key_hash, failures,"
               " last_failure_at, blocked_until) VALUES ('pair', %s, 14, %s,"
               " %s::timestamptz + interval '900 seconds')", (key, T0, T0))
    assert _begin_at(db, "pair", key, 901) == 0
    assert _row(db, "pair", key) == (15, 901 + 900)
    assert _begin_at(db, "pair", key, 1801 + 901) == 0
    assert _row(db, "pair", key) == (1, None)


def test_the_purge_forgets_limiter_rows_only_when_they_are_forgotten(db):
    """latch_purge_batch deletes a limiter row when latch_throttle_begin
    would have forgotten it, not sooner (that would hand out a fresh
    allowance too)."""
    rows = {}
    for scope, idle in (("account", 3600), ("account", 86400 + 60),
                        ("pair", 600), ("pair", 960)):
        key = secrets.token_bytes(32)
        rows[(scope, idle)] = key
        # Its block ended `idle` seconds before the purge's clock.
        db.execute("INSERT INTO login_throttle (scope, key_hash, failures,"
                   " last_failure_at, blocked_until) VALUES (%s, %s, 30,"
                   " %s::timestamptz - make_interval(secs => %s + 900),"
                   " %s::timestamptz - make_interval(secs => %s))",
                   (scope, key, T0, idle, T0, idle))
    db.scalar("SELECT throttle_deleted FROM latch_purge_batch(100000, NULL,"
              " %s::timestamptz)", (T0,))
    left = {k for k, key in rows.items() if db.scalar(
        "SELECT count(*) FROM login_throttle WHERE key_hash = %s", (key,))}
    assert left == {("account", 3600), ("pair", 600)}, left


# ------------------------------------------------------------ IPv6

def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def proxy6_web(http_harden_web):
    """A web trusting only ::1 as its proxy, reached over IPv6 loopback
    (stack.sh makes every lighttpd listen on [::1] too), with cheap hashes
    (its tests count attempts one after another)."""
    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    base = http_harden_web("proxy6", 50, COOKIE_SECURE="0",
                           TRUSTED_PROXIES="::1", BCRYPT_COST="4")
    return base.replace("127.0.0.1", "[::1]")


def _random_slash64():
    groups = ["%x" % (0x1000 + secrets.randbelow(0xf000)) for _ in range(2)]
    return "2001:db8:" + ":".join(groups)


def _in64(prefix):
    return prefix + ":" + ":".join(
        "%x" % (1 + secrets.randbelow(0xfffe)) for _ in range(4))


def test_lighttpd_answers_over_ipv6_loopback(proxy6_web, stack, db):
    user = create_user(stack, db, prefix="v6")
    resp = _ok(Client(proxy6_web).login(username=user["username"],
                                        password=user["password"]))
    sid = json_body(resp)["access_token"]
    assert sid
    # Without X-Forwarded-For the peer itself is the client: ::1.
    rows = db.all("SELECT host(ip) FROM sessions WHERE user_id = %s",
                  (user["id"],))
    assert rows == [("::1",)]


def test_an_ipv6_slash64_shares_one_budget(proxy6_web, stack, db):
    user = create_user(stack, db, prefix="v6pair")
    net = _random_slash64()
    for i in range(PAIR_FREE + 1):            # each from a new address
        _fail(ForwardedClient(proxy6_web, _in64(net)), user["username"], 1)
    _blocked(ForwardedClient(proxy6_web, _in64(net)).login(
        username=user["username"], password=user["password"]))
    # Another /64 is another client.
    _ok(ForwardedClient(proxy6_web, _in64(_random_slash64())).login(
        username=user["username"], password=user["password"]))


def test_an_ipv6_slash64_shares_one_address_budget(proxy6_web, stack, db):
    net = _random_slash64()
    victims = [create_user(stack, db, prefix="v6addr") for _ in range(9)]
    for victim in victims[:7]:                 # 7 x 4 + 2 = 30 failures
        _fail(ForwardedClient(proxy6_web, _in64(net)), victim["username"],
              PAIR_FREE)
    _fail(ForwardedClient(proxy6_web, _in64(net)), victims[7]["username"], 2)
    _blocked(ForwardedClient(proxy6_web, _in64(net)).login(
        username=victims[8]["username"], password=victims[8]["password"]))


def test_ipv4_mapped_ipv6_is_the_ipv4_address(proxy6_web, stack, db):
    user = create_user(stack, db, prefix="v4map")
    v4 = fresh_ipv4()
    for i in range(PAIR_FREE + 1):
        addr = v4 if i % 2 else "::ffff:" + v4
        _fail(ForwardedClient(proxy6_web, addr), user["username"], 1)
    _blocked(ForwardedClient(proxy6_web, v4).login(
        username=user["username"], password=user["password"]))
    _blocked(ForwardedClient(proxy6_web, "::ffff:" + v4).login(
        username=user["username"], password=user["password"]))


# ------------------------------------------------------------ one account

def test_username_and_email_share_one_budget(proxy_web, stack, db):
    name = unique_name("both")
    user = create_user(stack, db, username=name, email=name + "@example.org")
    for i in range(ACCOUNT_FREE + 1):
        field, value = (("username", name) if i % 2
                        else ("email", name.upper() + "@EXAMPLE.ORG"))
        _fail(ForwardedClient(proxy_web, fresh_address()), value, 1,
              field=field)
    for field, value in (("username", name),
                         ("email", name + "@example.org")):
        resp = ForwardedClient(proxy_web, fresh_address()).request(
            "POST", "/auth/login",
            json_body={field: value, "password": user["password"]})
        _blocked(resp)


def test_username_and_email_share_one_pair(proxy_web, stack, db):
    name = unique_name("bothpair")
    user = create_user(stack, db, username=name, email=name + "@example.org")
    client = ForwardedClient(proxy_web, fresh_address())
    _fail(client, name, 3)
    _fail(client, name + "@example.org", 2, field="email")
    _blocked(client.login(username=name, password=user["password"]))


def test_unknown_names_keep_their_own_budgets(proxy_web):
    """An unknown email and an unknown username are two budgets (nothing
    links them), limited alike."""
    client = ForwardedClient(proxy_web, fresh_address())
    ghost = unique_name("ghost")
    _fail(client, ghost, PAIR_FREE + 1)
    _blocked(client.login(username=ghost, password="whatever-pw"))
    _fail(client, ghost + "@example.org", 1, field="email")


def test_failures_on_a_username_tell_nothing_about_an_email(proxy_web,
                                                           stack, db):
    """Twenty failures on the username "E" (no such username) must not
    tell whether some account has the email "E": the email login that
    follows is answered alike whether it exists or not."""
    name = unique_name("oracle")
    existing = name + "@example.org"
    create_user(stack, db, username=name, email=existing)
    absent = unique_name("nobody") + "@example.org"
    answers = []
    for email in (existing, absent):
        for i in range(ACCOUNT_FREE + 1):
            _fail(ForwardedClient(proxy_web, fresh_address()), email, 1)
        resp = ForwardedClient(proxy_web, fresh_address()).request(
            "POST", "/auth/login",
            json_body={"email": email, "password": "wrong-password"})
        answers.append((resp.status_code, resp.content))
    assert answers[0] == answers[1], answers
    assert answers[0][0] == 401, answers


# ------------------------------------------------------------ Unicode

def _is_utf8_cluster(db):
    return db.scalar("SHOW lc_ctype") not in ("C", "POSIX")


@pytest.fixture
def utf8(db):
    ctype = db.scalar("SHOW lc_ctype")
    assert ctype not in ("C", "POSIX"), \
        f"the test cluster must have a UTF-8 locale, has lc_ctype={ctype}"
    # The fold that makes these tests meaningful: the database's lower()
    # folds the Kelvin sign and the dotted capital I.
    assert db.scalar("SELECT lower(%s)", ("\u212a",)) == "k"
    assert db.scalar("SELECT lower(%s)", ("\u0130",)) == "i"


def test_unicode_spellings_of_an_email_share_its_budget(utf8, proxy_web,
                                                        stack, db):
    stem = unique_name("kim")
    email = f"k{stem}@example.org"
    user = create_user(stack, db, email=email)
    client = ForwardedClient(proxy_web, fresh_address())
    spellings = [f"\u212a{stem}@example.org",          # KELVIN SIGN
                 f"K{stem}@example.org", email,
                 f"\u212a{stem}@EXAMPLE.ORG", f"k{stem}@example.org"]
    for spelling in spellings:
        _fail(client, spelling, 1, field="email")
    resp = client.request("POST", "/auth/login", json_body={
        "email": email, "password": user["password"]})
    _blocked(resp)
    assert user


def test_unicode_spellings_of_an_unknown_name_share_its_budget(utf8,
                                                               proxy_web):
    stem = unique_name("ist")
    client = ForwardedClient(proxy_web, fresh_address())
    spellings = [f"\u0130{stem}", f"i{stem}", f"I{stem}", f"\u0130{stem}",
                 f"i{stem}"]
    for spelling in spellings:
        _fail(client, spelling, 1)
    _blocked(client.login(username=f"i{stem}", password="whatever-pw"))


def test_the_kelvin_spelling_logs_in_and_counts_as_the_account(utf8,
                                                               proxy_web,
                                                               stack, db):
    stem = unique_name("kel")
    user = create_user(stack, db, email=f"k{stem}@example.org")
    _ok(ForwardedClient(proxy_web, fresh_address()).request(
        "POST", "/auth/login", json_body={
            "email": f"\u212a{stem}@example.org",
            "password": user["password"]}))
    for i in range(ACCOUNT_FREE + 1):
        spelling = (f"\u212a{stem}@example.org" if i % 2
                    else f"k{stem}@example.org")
        _fail(ForwardedClient(proxy_web, fresh_address()), spelling, 1,
              field="email")
    _blocked(ForwardedClient(proxy_web, fresh_address()).login(
        username=user["username"], password=user["password"]))


# ------------------------------------------------------------ the table

def test_limiter_rows_reveal_no_name_or_address(proxy_web, stack, db):
    """The keys are HMACs under a server key: SHA-256 of anything an
    attacker can guess (name, address, both, in the forms 003 used) is not
    in the table."""
    user = create_user(stack, db, prefix="hmac")
    addr = fresh_address()
    name = user["username"]
    _fail(ForwardedClient(proxy_web, addr), name, 2)
    stored = {bytes(r[0]) for r in db.all(
        "SELECT key_hash FROM login_throttle")}
    assert stored, "no limiter rows at all"
    guesses = set()
    for n in (name, name.lower(), "id:%d" % user["id"], str(user["id"])):
        for a in (addr, addr + "/64", "6:" + addr, ""):
            for text in (f"{n}\n{a}", f"\n{a}", f"{n}\n", n, a,
                         f"pair\0{n}\0{a}", f"address\0{a}",
                         f"account\0{n}"):
                guesses.add(hashlib.sha256(text.encode()).digest())
    assert not stored & guesses
    assert all(len(k) == 32 for k in stored)
