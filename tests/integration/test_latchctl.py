"""latchctl, the operator's command: usage and exit statuses, migrate,
user add/passwd/disable/enable/list, session list/revoke, secret gen and
config check, run against the instance under test (its latch.conf) and
checked both in the database and over HTTP.

Exit status: 0 done, 1 refused or failed (one "latchctl: ..." line on
stderr), 2 bad usage (usage text on stderr); --help prints to stdout."""

import datetime
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import (INSTANCE, REPO, Db, cgi_web, session_row,
                      unique_name)
from latchlib import (ForwardedClient, assert_ctl_ok, assert_ctl_refused,
                      assert_ctl_usage, assert_error, assert_invalid_token,
                      b64url_decode, ctl_err, ctl_out, fresh_address,
                      json_body, jwt_parts, jwt_signature_ok, login_body,
                      parse_key_list, refreshed_body, rotate_body,
                      run_latchctl, sid_of)

MIGRATIONS = REPO / "migrations"
MIGRATION_FILES = sorted(
    (p.name for p in MIGRATIONS.glob("[0-9]*_*.sql")),
    key=lambda n: int(n.split("_", 1)[0]))
# The schema version `config check` reports: the number of the newest file.
LATEST_MIGRATION = int(MIGRATION_FILES[-1].split("_", 1)[0])
RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
SECRET_ITEM_RE = re.compile(r"^([A-Za-z0-9._-]{1,32}):([A-Za-z0-9_-]{43})$")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def conf(stack):
    assert stack.rundir is not None, f"var/{INSTANCE}.rundir missing"
    path = stack.rundir / "latch.conf"
    assert path.exists(), f"{path} missing"
    return path


@pytest.fixture
def ctl(conf, bin_dir):
    """ctl(*args, input=None, **settings): latchctl with the instance's
    latch.conf and nothing of our environment's latch settings."""

    def run(*args, input=None, config=conf, timeout=60, **settings):
        return run_latchctl(bin_dir, *args, config=config, input=input,
                            timeout=timeout, **settings)

    return run


@pytest.fixture
def web(proxy_web):
    """A client of the proxy-trusting web on the instance's database, with
    a client address of its own (failed logins then never add up against
    127.0.0.1, and the address column is ours to check)."""
    return ForwardedClient(proxy_web, fresh_address(),
                           user_agent="latchctl-tests/1.0 (ops)")


def db_url(url, dbname):
    """url with its database name replaced by dbname."""
    new, n = re.subn(r"^(postgresql://[^/]*/)[^?]*", r"\g<1>" + dbname, url)
    assert n == 1, url
    return new


@pytest.fixture
def fresh_db(stack):
    """Factory: creates an empty database on the instance's cluster and
    returns its URL; drops them all afterwards."""
    made = []
    admin_url = db_url(stack.database_url, "postgres")

    admin = Db(admin_url).execute

    def make():
        name = "t_ops_" + uuid.uuid4().hex[:12]
        admin(f'CREATE DATABASE "{name}"')
        made.append(name)
        return db_url(stack.database_url, name)

    yield make
    for name in made:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_user(ctl, db, prefix="ctl", password=None, email=None,
             username=None):
    """Creates a user with `latchctl user add` (bcrypt cost 4)."""
    username = username or unique_name(prefix)
    password = password if password is not None else \
        "pw-" + uuid.uuid4().hex
    args = ["user", "add", username, "--password-stdin"]
    if email is not None:
        args += ["--email", email]
    assert_ctl_ok(ctl(*args, input=password + "\n", BCRYPT_COST=4))
    uid = db.scalar("SELECT id FROM users WHERE username = %s", (username,))
    assert uid is not None
    return {"id": uid, "username": username, "password": password,
            "email": email}


@pytest.fixture
def user(ctl, db):
    return add_user(ctl, db)


def tsv(out):
    return [line.split("\t") for line in out.splitlines()]


def parse_time(text):
    return datetime.datetime.strptime(text, RFC3339).replace(
        tzinfo=datetime.timezone.utc)


def assert_time_near(text, when, slack=1.0):
    """text is RFC 3339 UTC to the second, within slack s of datetime
    when (the database's value, rounded either way)."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    delta = abs((parse_time(text) - when).total_seconds())
    assert delta <= slack, f"{text} is {delta:.3f}s from {when.isoformat()}"


def live_session_ids(db, uid):
    return {str(r[0]) for r in db.all(
        "SELECT id FROM sessions WHERE user_id = %s AND revoked_at IS NULL",
        (uid,))}


def reasons(db, uid):
    return sorted((str(r[0]), r[1]) for r in db.all(
        "SELECT id, revoked_reason FROM sessions WHERE user_id = %s",
        (uid,)))


# ---------------------------------------------------------------- usage

def test_help_lists_every_command(ctl):
    proc = ctl("--help")
    out = assert_ctl_ok(proc)
    assert ctl_err(proc) == ""
    assert out.startswith("usage: latchctl")
    for word in ("migrate", "user add", "user passwd", "user disable",
                 "user enable", "user list", "session list",
                 "session revoke", "secret gen", "config check", "purge"):
        assert word in out, word


@pytest.mark.parametrize("args", [
    ["migrate", "--help"], ["user", "--help"], ["user", "add", "--help"],
    ["user", "passwd", "--help"], ["user", "disable", "--help"],
    ["user", "enable", "--help"], ["user", "list", "--help"],
    ["session", "--help"], ["session", "list", "--help"],
    ["session", "revoke", "--help"], ["secret", "--help"],
    ["secret", "gen", "--help"], ["config", "--help"],
    ["config", "check", "--help"], ["purge", "--help"],
], ids=lambda a: "_".join(x.strip("-") for x in a))
def test_subcommand_help_prints_usage_to_stdout_exit_0(ctl, args):
    proc = ctl(*args)
    assert proc.returncode == 0, \
        f"exit {proc.returncode}; stderr {ctl_err(proc)!r}"
    assert ctl_out(proc).startswith("usage: latchctl " + args[0]), \
        ctl_out(proc)
    assert ctl_err(proc) == ""


def test_no_command_is_bad_usage(ctl):
    assert_ctl_usage(ctl())


def test_unknown_command_is_bad_usage(ctl):
    proc = ctl("frobnicate")
    assert proc.returncode == 2
    assert ctl_out(proc) == ""
    assert "usage: latchctl" in ctl_err(proc)


@pytest.mark.parametrize("args", [
    ["user"], ["user", "frob"], ["user", "list", "--bogus"],
    ["user", "list", "extra"], ["user", "add", "x", "--keep-sessions"],
    ["user", "disable"], ["user", "enable", "a", "b"],
    ["session"], ["session", "list", "--bogus"], ["session", "list", "a",
                                                   "b"],
    ["session", "revoke"],
    ["secret"], ["secret", "gen", "extra"], ["secret", "gen", "--bogus"],
    ["config"], ["config", "check", "extra"],
    ["migrate", "--bogus"], ["migrate", "extra"],
    ["purge", "--bogus"], ["purge", "extra"],
], ids=lambda a: "_".join(x.strip("-") for x in a))
def test_malformed_arguments_are_bad_usage(ctl, args):
    assert_ctl_usage(ctl(*args))


# ---------------------------------------------------------------- migrate

def test_migrate_applies_every_migration_then_is_a_no_op(ctl, fresh_db):
    url = fresh_db()
    first = assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS,
                              DATABASE_URL=url))
    n = len(MIGRATION_FILES)
    dbname = re.match(r"postgresql://[^/]*/([^?]*)", url).group(1)
    stored = f"server settings stored for role latch in database {dbname}\n"
    assert first == "".join(f"applied {m}\n" for m in MIGRATION_FILES) + \
        stored + f"schema up to date ({n} migrations)\n"
    second = assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS,
                               DATABASE_URL=url))
    assert second == stored + f"schema up to date ({n} migrations)\n"
    rows = Db(url).all("SELECT version, name FROM schema_migrations "
                       "ORDER BY version")
    assert rows == [(int(m.split("_", 1)[0]), m) for m in MIGRATION_FILES]


# lib/db.h's db_settings, as pg_db_role_setting lists them.
ROLE_SETTINGS = ["statement_timeout=5000", "lock_timeout=3000",
                 "idle_in_transaction_session_timeout=10000", "TimeZone=UTC"]


def _role_settings(url):
    return Db(url).scalar(
        "SELECT setconfig FROM pg_db_role_setting WHERE setrole = "
        "current_user::regrole AND setdatabase = (SELECT oid FROM "
        "pg_database WHERE datname = current_database())")


def test_migrate_stores_the_server_settings_for_the_role(ctl, fresh_db):
    """So that every server connection has them from its start, as
    PgBouncer's transaction pooling needs (lib/db.h: db_settings); a
    second run stores the same, and a new connection has them."""
    url = fresh_db()
    assert _role_settings(url) is None
    assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, DATABASE_URL=url))
    assert _role_settings(url) == ROLE_SETTINGS
    assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, DATABASE_URL=url))
    assert _role_settings(url) == ROLE_SETTINGS
    assert Db(url).all(
        "SELECT current_setting('statement_timeout'), "
        "current_setting('lock_timeout'), "
        "current_setting('idle_in_transaction_session_timeout'), "
        "current_setting('TimeZone')") == [("5s", "3s", "10s", "UTC")]


def test_settings_missing_for_the_role_are_set_per_session_and_logged(
        ctl, fresh_db):
    """A database whose role has not got them (migrated by psql alone, or
    reset by hand): latch still runs under them, set for its own session,
    and says once that they are not stored; `latchctl migrate` stores
    them and the warning goes."""
    url = fresh_db()
    assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, DATABASE_URL=url))
    db = Db(url)
    db.execute("ALTER ROLE CURRENT_USER IN DATABASE "
               + db.scalar("SELECT quote_ident(current_database())")
               + " RESET ALL")
    proc = ctl("user", "list", DATABASE_URL=url)
    assert_ctl_ok(proc)
    err = ctl_err(proc)
    lines = [line for line in err.splitlines()
             if "db_settings_not_stored" in line]
    assert len(lines) == 1, err
    named = re.search(r" settings=(\S+) ", lines[0])
    assert named, lines[0]
    # TimeZone is the cluster's own setting here (UTC) already.
    assert sorted(named.group(1).split(",")) == [
        "idle_in_transaction_session_timeout", "lock_timeout",
        "statement_timeout"], lines[0]
    assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, DATABASE_URL=url))
    proc = ctl("user", "list", DATABASE_URL=url)
    assert_ctl_ok(proc)
    assert "db_settings_not_stored" not in ctl_err(proc)


def test_migrate_status_on_fresh_database_lists_all_pending(ctl, fresh_db):
    url = fresh_db()
    out = assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, "--status",
                            DATABASE_URL=url))
    assert out == "".join(f"pending {m}\n" for m in MIGRATION_FILES) + \
        f"{len(MIGRATION_FILES)} pending\n"
    # --status applies nothing.
    assert Db(url).scalar("SELECT to_regclass('users') IS NULL") is True
    assert Db(url).scalar("SELECT count(*) FROM schema_migrations") == 0


def test_migrate_status_after_migrate_lists_all_applied(ctl, fresh_db):
    url = fresh_db()
    assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, DATABASE_URL=url))
    out = assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, "--status",
                            DATABASE_URL=url))
    assert out == "".join(f"applied {m}\n" for m in MIGRATION_FILES) + \
        "0 pending\n"


def test_migrate_status_of_instance_has_nothing_pending(ctl):
    out = assert_ctl_ok(ctl("migrate", "--dir", MIGRATIONS, "--status"))
    assert out.splitlines()[-1] == "0 pending"


def test_concurrent_migrate_applies_each_migration_exactly_once(
        conf, bin_dir, fresh_db):
    from latchlib import latchctl_env
    url = fresh_db()
    env = latchctl_env(conf, DATABASE_URL=url)
    argv = [str(bin_dir / "latchctl"), "migrate", "--dir", str(MIGRATIONS)]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err.decode()
    applied = [line for out, _ in results
               for line in out.decode().splitlines()
               if line.startswith("applied ")]
    assert sorted(applied) == [f"applied {m}" for m in MIGRATION_FILES]
    db = Db(url)
    assert db.scalar("SELECT count(*) FROM schema_migrations") == \
        len(MIGRATION_FILES)
    assert db.all("SELECT version FROM schema_migrations ORDER BY 1") == \
        [(int(m.split("_", 1)[0]),) for m in MIGRATION_FILES]
    assert db.scalar("SELECT count(*) FROM pg_proc "
                     "WHERE proname = 'latch_purge_batch'") == 1


def test_migrate_missing_directory_refused(ctl, fresh_db):
    url = fresh_db()
    proc = ctl("migrate", "--dir", "/nonexistent/migrations",
               DATABASE_URL=url)
    line = assert_ctl_refused(proc)
    assert "/nonexistent/migrations" in line


# ---------------------------------------------------------------- user add

def test_user_add_creates_user_and_prints_its_id(ctl, db):
    name = unique_name("add")
    proc = ctl("user", "add", name, "--password-stdin",
               input="correct horse\n", BCRYPT_COST=4)
    out = assert_ctl_ok(proc)
    uid = db.scalar("SELECT id FROM users WHERE username = %s", (name,))
    assert uid is not None
    assert out == f"created user {name} (id {uid})\n"
    assert ctl_err(proc) == ""


def test_user_add_hashes_with_bcrypt_at_configured_cost(ctl, db):
    name = unique_name("add")
    assert_ctl_ok(ctl("user", "add", name, "--password-stdin",
                      input="correct horse\n", BCRYPT_COST=5))
    h = db.scalar("SELECT password_hash FROM users WHERE username = %s",
                  (name,))
    assert re.fullmatch(r"\$2b\$05\$[./A-Za-z0-9]{53}", h), h
    assert "correct horse" not in h


def test_user_add_password_logs_in_over_http(ctl, db, web):
    u = add_user(ctl, db, prefix="addhttp")
    body = login_body(web, u)
    assert jwt_parts(body["access_token"])[1]["sub"] == str(u["id"])


def test_user_add_with_email_stores_it(ctl, db, web):
    email = unique_name("mail") + "@Example.COM"
    u = add_user(ctl, db, prefix="addmail", email=email)
    assert db.scalar("SELECT email FROM users WHERE id = %s",
                     (u["id"],)) == email
    resp = web.login(email=email.lower(), password=u["password"],
                     token_delivery="body")
    assert resp.status_code == 200, resp.text


def test_user_add_taken_username_refused(ctl, db, user):
    proc = ctl("user", "add", user["username"], "--password-stdin",
               input="another-password\n", BCRYPT_COST=4)
    assert_ctl_refused(proc)
    assert db.scalar("SELECT count(*) FROM users WHERE lower(username) = "
                     "lower(%s)", (user["username"],)) == 1


def test_user_add_username_differing_only_in_case_refused(ctl, db, user):
    proc = ctl("user", "add", user["username"].upper(), "--password-stdin",
               input="another-password\n", BCRYPT_COST=4)
    assert_ctl_refused(proc)
    assert db.scalar("SELECT count(*) FROM users WHERE lower(username) = "
                     "lower(%s)", (user["username"],)) == 1


def test_user_add_taken_email_refused_case_insensitively(ctl, db):
    email = unique_name("dup") + "@example.com"
    add_user(ctl, db, prefix="dupa", email=email)
    name = unique_name("dupb")
    proc = ctl("user", "add", name, "--email", email.upper(),
               "--password-stdin", input="another-password\n",
               BCRYPT_COST=4)
    assert_ctl_refused(proc)
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


def test_user_add_without_name_is_bad_usage(ctl):
    assert_ctl_usage(ctl("user", "add", "--password-stdin",
                         input="long-enough-pw\n"))


def test_user_add_invalid_email_refused(ctl, db):
    name = unique_name("badmail")
    proc = ctl("user", "add", name, "--email", "not-an-address",
               "--password-stdin", input="long-enough-pw\n", BCRYPT_COST=4)
    assert_ctl_refused(proc)
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


@pytest.mark.parametrize("email", ["a b@c", "a@b@c", "@bc", "ab@",
                                   "a\tb@c"],
                         ids=["space", "two_at", "no_local", "no_domain",
                              "tab"])
def test_user_add_email_sign_up_refuses_is_refused(ctl, db, email):
    """latchctl holds emails to sign-up's rule (lib/user)."""
    name = unique_name("signmail")
    proc = ctl("user", "add", name, "--email", email,
               "--password-stdin", input="long-enough-pw\n", BCRYPT_COST=4)
    assert_ctl_refused(proc)
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


@pytest.mark.parametrize("password", ["", "seven77", "x" * 73, "y" * 200],
                         ids=["empty", "7bytes", "73bytes", "200bytes"])
def test_user_add_password_outside_8_to_72_bytes_refused(ctl, db, password):
    name = unique_name("badpw")
    proc = ctl("user", "add", name, "--password-stdin",
               input=password + "\n", BCRYPT_COST=4)
    assert_ctl_refused(proc)
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


def test_user_add_without_password_on_stdin_refused(ctl, db):
    name = unique_name("nopw")
    assert_ctl_refused(ctl("user", "add", name, "--password-stdin",
                           input="", BCRYPT_COST=4))
    assert db.scalar("SELECT count(*) FROM users WHERE username = %s",
                     (name,)) == 0


def test_user_add_password_without_final_newline_logs_in(ctl, db, web):
    name = unique_name("nonl")
    assert_ctl_ok(ctl("user", "add", name, "--password-stdin",
                      input="  spaced password  ", BCRYPT_COST=4))
    login_body(web, {"username": name, "password": "  spaced password  "})


def test_user_add_72_byte_multibyte_password_logs_in(ctl, db, web):
    password = "\u00e9" * 36            # 72 bytes of UTF-8
    u = add_user(ctl, db, prefix="pw72", password=password)
    login_body(web, u)


def test_user_add_8_byte_password_accepted(ctl, db, web):
    u = add_user(ctl, db, prefix="pw8", password="eight888")
    login_body(web, u)


# ---------------------------------------------------------------- passwd

def passwd(ctl, name, password, *extra):
    return ctl("user", "passwd", name, "--password-stdin", *extra,
               input=password + "\n", BCRYPT_COST=4)


def test_user_passwd_revokes_sessions_and_reports_count(ctl, db, web, user):
    sids = {sid_of(login_body(web, user)["refresh_token"]) for _ in range(2)}
    out = assert_ctl_ok(passwd(ctl, user["username"], "brand-new-password"))
    assert out == \
        f"password of {user['username']} changed; 2 sessions revoked\n"
    assert reasons(db, user["id"]) == sorted(
        (sid, "password_changed") for sid in sids)


def test_user_passwd_new_password_logs_in_old_does_not(ctl, web, user):
    assert_ctl_ok(passwd(ctl, user["username"], "brand-new-password"))
    assert_error(web.login(username=user["username"],
                           password=user["password"]),
                 401, "invalid_credentials")
    resp = web.login(username=user["username"],
                     password="brand-new-password", token_delivery="body")
    assert resp.status_code == 200, resp.text


def test_user_passwd_ends_old_refresh_and_access_tokens(ctl, web, user):
    body = login_body(web, user)
    assert_ctl_ok(passwd(ctl, user["username"], "brand-new-password"))
    assert_error(web.refresh(body["refresh_token"]), 403, "invalid_grant")
    assert_invalid_token(web.profile(body["access_token"]))


def test_user_passwd_keep_sessions_leaves_them_live(ctl, db, web, user):
    body = login_body(web, user)
    out = assert_ctl_ok(passwd(ctl, user["username"], "brand-new-password",
                               "--keep-sessions"))
    assert out == \
        f"password of {user['username']} changed; 0 sessions revoked\n"
    assert session_row(db, sid_of(body["refresh_token"]))["revoked_at"] \
        is None
    refreshed_body(web.refresh(body["refresh_token"]))


def test_user_passwd_unknown_user_refused(ctl):
    assert_ctl_refused(passwd(ctl, unique_name("nobody"),
                              "brand-new-password"))


def test_user_passwd_short_password_refused_hash_unchanged(ctl, db, user):
    before = db.scalar("SELECT password_hash FROM users WHERE id = %s",
                       (user["id"],))
    assert_ctl_refused(passwd(ctl, user["username"], "short"))
    assert db.scalar("SELECT password_hash FROM users WHERE id = %s",
                     (user["id"],)) == before


def test_user_passwd_without_name_is_bad_usage(ctl):
    assert_ctl_usage(ctl("user", "passwd", "--password-stdin",
                         input="brand-new-password\n"))


# ---------------------------------------------------------------- disable

def test_user_disable_revokes_sessions_and_reports_count(ctl, db, web, user):
    sids = {sid_of(login_body(web, user)["refresh_token"]) for _ in range(3)}
    out = assert_ctl_ok(ctl("user", "disable", user["username"]))
    assert out == f"disabled {user['username']}; 3 sessions revoked\n"
    assert db.scalar("SELECT disabled_at IS NOT NULL FROM users "
                     "WHERE id = %s", (user["id"],)) is True
    assert reasons(db, user["id"]) == sorted(
        (sid, "user_disabled") for sid in sids)


def test_user_disable_refuses_login(ctl, web, user):
    assert_ctl_ok(ctl("user", "disable", user["username"]))
    assert_error(web.login(username=user["username"],
                           password=user["password"]),
                 401, "invalid_credentials")


def test_user_disable_refuses_refresh(ctl, web, user):
    body = login_body(web, user)
    assert_ctl_ok(ctl("user", "disable", user["username"]))
    assert_error(web.refresh(body["refresh_token"]), 403, "invalid_grant")


def test_user_disable_refuses_access_token(ctl, web, user):
    body = login_body(web, user)
    assert_ctl_ok(ctl("user", "disable", user["username"]))
    assert_invalid_token(web.profile(body["access_token"]))


def test_user_enable_lets_user_log_in_again(ctl, db, web, user):
    assert_ctl_ok(ctl("user", "disable", user["username"]))
    out = assert_ctl_ok(ctl("user", "enable", user["username"]))
    assert out == f"enabled {user['username']}\n"
    assert db.scalar("SELECT disabled_at FROM users WHERE id = %s",
                     (user["id"],)) is None
    body = login_body(web, user)
    assert web.profile(body["access_token"]).status_code == 200


@pytest.mark.parametrize("action", ["disable", "enable"])
def test_user_disable_enable_unknown_user_refused(ctl, action):
    assert_ctl_refused(ctl("user", action, unique_name("nobody")))


# ---------------------------------------------------------------- list

def test_user_list_line_of_a_user(ctl, db):
    email = unique_name("lst") + "@example.com"
    u = add_user(ctl, db, prefix="lst", email=email)
    created = db.scalar("SELECT created_at FROM users WHERE id = %s",
                        (u["id"],))
    rows = [r for r in tsv(assert_ctl_ok(ctl("user", "list")))
            if r[1] == u["username"]]
    assert len(rows) == 1
    row = rows[0]
    assert len(row) == 5, row
    assert row[0] == str(u["id"])
    assert row[2] == email
    assert_time_near(row[3], created)
    assert row[4] == "enabled"


def test_user_list_shows_dash_without_email_and_disabled_state(ctl, db,
                                                               user):
    assert_ctl_ok(ctl("user", "disable", user["username"]))
    rows = [r for r in tsv(assert_ctl_ok(ctl("user", "list")))
            if r[1] == user["username"]]
    assert len(rows) == 1
    assert rows[0][2] == "-"
    assert rows[0][4] == "disabled"


def test_user_list_every_line_has_five_fields(ctl, db, user):
    rows = tsv(assert_ctl_ok(ctl("user", "list")))
    assert rows, "no users listed"
    assert all(len(r) == 5 for r in rows), [r for r in rows if len(r) != 5]
    assert len(rows) == db.scalar("SELECT count(*) FROM users")


def test_user_list_json(ctl, db):
    email = unique_name("js") + "@example.com"
    u = add_user(ctl, db, prefix="js", email=email)
    plain = add_user(ctl, db, prefix="jsp")
    assert_ctl_ok(ctl("user", "disable", plain["username"]))
    out = assert_ctl_ok(ctl("user", "list", "--json"))
    data = json.loads(out)
    assert isinstance(data, list)
    by_name = {o["username"]: o for o in data}
    for o in data:
        assert set(o) == {"id", "username", "email", "created_at",
                          "disabled"}, o
    a, b = by_name[u["username"]], by_name[plain["username"]]
    assert a["id"] == str(u["id"])
    assert a["email"] == email and a["disabled"] is False
    assert_time_near(a["created_at"], db.scalar(
        "SELECT created_at FROM users WHERE id = %s", (u["id"],)))
    assert b["id"] == str(plain["id"])
    assert b["email"] is None and b["disabled"] is True


def test_user_list_json_escapes_names(ctl, db):
    name = unique_name("esc") + '"q\\b\u00fc\u2603'
    add_user(ctl, db, username=name)
    data = json.loads(assert_ctl_ok(ctl("user", "list", "--json")))
    assert name in {o["username"] for o in data}


# ---------------------------------------------------------------- sessions

def login_as(base_url, user, addr, ua):
    client = ForwardedClient(base_url, addr, user_agent=ua)
    return login_body(client, user)


def test_session_list_user_lines_newest_first(ctl, db, proxy_web, user):
    addr1, addr2 = fresh_address(), fresh_address()
    first = login_as(proxy_web, user, addr1, "Agent/One")
    time.sleep(1.1)                     # created_at is to the second
    second = login_as(proxy_web, user, addr2, "Agent/Two (x; y)")
    rows = tsv(assert_ctl_ok(ctl("session", "list", user["username"])))
    assert [r[0] for r in rows] == [sid_of(second["refresh_token"]),
                                    sid_of(first["refresh_token"])]
    for row, addr, ua in ((rows[0], addr2, "Agent/Two (x; y)"),
                          (rows[1], addr1, "Agent/One")):
        assert len(row) == 7, row
        s = session_row(db, row[0])
        assert row[1] == user["username"]
        assert_time_near(row[2], s["created_at"])
        assert_time_near(row[3], s["last_used_at"])
        assert_time_near(row[4], min(s["idle_expires_at"],
                                     s["absolute_expires_at"]))
        assert row[5] == addr
        assert row[6] == ua


def test_session_list_expires_at_is_idle_end_when_earlier(ctl, db, web,
                                                          user):
    sid = sid_of(login_body(web, user)["refresh_token"])
    db.execute("UPDATE sessions SET idle_expires_at = now() + "
               "interval '1 hour' WHERE id = %s", (sid,))
    s = session_row(db, sid)
    row, = tsv(assert_ctl_ok(ctl("session", "list", user["username"])))
    assert_time_near(row[4], s["idle_expires_at"])


def test_session_list_omits_revoked_and_ended_sessions(ctl, db, web, user):
    live = sid_of(login_body(web, user)["refresh_token"])
    out_body = login_body(web, user)
    assert web.logout(out_body["refresh_token"]).status_code == 200
    idle = sid_of(login_body(web, user)["refresh_token"])
    db.execute("UPDATE sessions SET idle_expires_at = now() - "
               "interval '1 second' WHERE id = %s", (idle,))
    rows = tsv(assert_ctl_ok(ctl("session", "list", user["username"])))
    assert [r[0] for r in rows] == [live]


def test_session_list_json(ctl, db, web, user):
    sid = sid_of(login_body(web, user)["refresh_token"])
    data = json.loads(assert_ctl_ok(ctl("session", "list",
                                        user["username"], "--json")))
    assert isinstance(data, list) and len(data) == 1
    o = data[0]
    assert set(o) == {"id", "username", "created_at", "last_used_at",
                      "expires_at", "ip", "user_agent", "binding"}, o
    s = session_row(db, sid)
    assert o["id"] == sid
    assert o["username"] == user["username"]
    assert_time_near(o["created_at"], s["created_at"])
    assert_time_near(o["last_used_at"], s["last_used_at"])
    assert_time_near(o["expires_at"], min(s["idle_expires_at"],
                                          s["absolute_expires_at"]))
    assert o["ip"] == web.addr
    assert o["user_agent"] == web.user_agent
    assert o["binding"] is None     # a password login binds no key


def test_session_list_json_escapes_user_agent(ctl, proxy_web, user):
    ua = 'Agent "quoted" \\ back/slash {x}'
    login_as(proxy_web, user, fresh_address(), ua)
    data = json.loads(assert_ctl_ok(ctl("session", "list",
                                        user["username"], "--json")))
    assert [o["user_agent"] for o in data] == [ua]


def test_session_list_without_user_lists_every_users_sessions(ctl, db, web):
    a, b = add_user(ctl, db, prefix="sla"), add_user(ctl, db, prefix="slb")
    sa = sid_of(login_body(web, a)["refresh_token"])
    sb = sid_of(login_body(web, b)["refresh_token"])
    rows = tsv(assert_ctl_ok(ctl("session", "list")))
    by_id = {r[0]: r for r in rows}
    assert by_id[sa][1] == a["username"]
    assert by_id[sb][1] == b["username"]
    assert all(len(r) == 7 for r in rows)


def test_session_list_user_without_sessions_is_empty(ctl, user):
    proc = ctl("session", "list", user["username"])
    assert assert_ctl_ok(proc) == ""
    proc = ctl("session", "list", user["username"], "--json")
    assert assert_ctl_ok(proc) == "[]\n"


@pytest.mark.parametrize("json_flag", [False, True], ids=["plain", "json"])
def test_session_list_unknown_user_refused(ctl, json_flag):
    args = ["session", "list", unique_name("nobody")]
    if json_flag:
        args.append("--json")
    assert_ctl_refused(ctl(*args))


def test_session_list_tab_in_user_agent_keeps_seven_fields(ctl, proxy_web,
                                                           user):
    login_as(proxy_web, user, fresh_address(), "Evil\tAgent")
    rows = tsv(assert_ctl_ok(ctl("session", "list", user["username"])))
    assert len(rows) == 1 and len(rows[0]) == 7, rows


# ---------------------------------------------------------------- revoke

def test_session_revoke_id_prints_and_records_admin(ctl, db, web, user):
    sid = sid_of(login_body(web, user)["refresh_token"])
    out = assert_ctl_ok(ctl("session", "revoke", sid))
    assert out == f"revoked session {sid}\n"
    s = session_row(db, sid)
    assert s["revoked_at"] is not None
    assert s["revoked_reason"] == "admin"


def test_session_revoke_id_ends_refresh_and_access_tokens(ctl, web, user):
    body = login_body(web, user)
    assert_ctl_ok(ctl("session", "revoke", sid_of(body["refresh_token"])))
    assert_error(web.refresh(body["refresh_token"]), 403, "invalid_grant")
    assert_invalid_token(web.profile(body["access_token"]))


def test_session_revoke_id_leaves_other_sessions_live(ctl, web, user):
    victim = login_body(web, user)
    other = login_body(web, user)
    assert_ctl_ok(ctl("session", "revoke", sid_of(victim["refresh_token"])))
    refreshed_body(web.refresh(other["refresh_token"]))
    assert web.profile(other["access_token"]).status_code == 200


def test_session_revoke_id_twice_refused(ctl, db, web, user):
    sid = sid_of(login_body(web, user)["refresh_token"])
    assert_ctl_ok(ctl("session", "revoke", sid))
    before = session_row(db, sid)
    assert_ctl_refused(ctl("session", "revoke", sid))
    assert session_row(db, sid) == before


def test_session_revoke_unknown_id_refused(ctl):
    assert_ctl_refused(ctl("session", "revoke", str(uuid.uuid4())))


@pytest.mark.parametrize("bad", [
    "nope", "", "1234", "00000000-0000-0000-0000-00000000000g",
    "00000000-0000-0000-0000-0000000000000", "{00000000-0000-0000-0000-"
    "000000000000}", "' OR 1=1 --"])
def test_session_revoke_not_a_uuid_refused(ctl, bad):
    assert_ctl_refused(ctl("session", "revoke", bad))


def test_session_revoke_user_revokes_all_and_counts(ctl, db, web, user):
    bodies = [login_body(web, user) for _ in range(2)]
    out = assert_ctl_ok(ctl("session", "revoke", "--user",
                            user["username"]))
    assert out == f"revoked 2 sessions of {user['username']}\n"
    assert reasons(db, user["id"]) == sorted(
        (sid_of(b["refresh_token"]), "admin") for b in bodies)
    for b in bodies:
        assert_error(web.refresh(b["refresh_token"]), 403, "invalid_grant")
        assert_invalid_token(web.profile(b["access_token"]))


def test_session_revoke_user_leaves_other_users_alone(ctl, db, web, user):
    other = add_user(ctl, db, prefix="other")
    login_body(web, user)
    kept = login_body(web, other)
    assert_ctl_ok(ctl("session", "revoke", "--user", user["username"]))
    assert live_session_ids(db, other["id"]) == \
        {sid_of(kept["refresh_token"])}
    refreshed_body(web.refresh(kept["refresh_token"]))


def test_session_revoke_user_without_sessions_reports_zero(ctl, user):
    out = assert_ctl_ok(ctl("session", "revoke", "--user", user["username"]))
    assert out == f"revoked 0 sessions of {user['username']}\n"


def test_session_revoke_unknown_user_refused(ctl):
    assert_ctl_refused(ctl("session", "revoke", "--user",
                           unique_name("nobody")))


def test_session_revoke_id_and_user_together_is_bad_usage(ctl, user):
    assert_ctl_usage(ctl("session", "revoke", str(uuid.uuid4()), "--user",
                         user["username"]))


# ---------------------------------------------------------------- secret

def gen(ctl, *args):
    proc = ctl("secret", "gen", *args)
    out = assert_ctl_ok(proc)
    m = SECRET_ITEM_RE.match(out.rstrip("\n"))
    assert m and out.endswith("\n") and out.count("\n") == 1, repr(out)
    return m.group(1), m.group(2), proc


def test_secret_gen_prints_one_kid_secret_line_of_32_bytes(ctl):
    kid, secret, _ = gen(ctl)
    raw = b64url_decode(secret)
    assert len(raw) == 32
    assert len(secret) == 43


def test_secret_gen_hint_is_one_stderr_line_without_the_secret(ctl):
    kid, secret, proc = gen(ctl)
    err = ctl_err(proc)
    assert len(err.splitlines()) == 1 and err.endswith("\n"), repr(err)
    assert err.startswith("latchctl: ")
    assert secret not in err
    assert secret[:16] not in err


def test_secret_gen_default_kid_is_utc_timestamp(ctl):
    before = datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0)
    kid, _, _ = gen(ctl)
    after = datetime.datetime.now(datetime.timezone.utc)
    m = re.fullmatch(r"k(\d{14})", kid)
    assert m, kid
    when = datetime.datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(
        tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=1) <= when <= after, kid


def test_secret_gen_twice_gives_different_secrets(ctl):
    secrets = {gen(ctl)[1] for _ in range(3)}
    assert len(secrets) == 3


@pytest.mark.parametrize("kid", ["v2", "a.b_c-D9", "K" * 32, "0"])
def test_secret_gen_uses_given_kid(ctl, kid):
    got, _, _ = gen(ctl, "--kid", kid)
    assert got == kid


@pytest.mark.parametrize("kid", ["", "K" * 33, "a:b", "a b", "a,b", "k\u00e9",
                                 "a/b", "a=b"],
                         ids=["empty", "33chars", "colon", "space", "comma",
                              "nonascii", "slash", "equals"])
def test_secret_gen_bad_kid_refused(ctl, kid):
    assert_ctl_refused(ctl("secret", "gen", "--kid", kid))


def write_conf(tmp_path, lines, name="latch.conf"):
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_secret_gen_output_accepted_by_config_check(ctl, stack, tmp_path):
    akid, asecret, _ = gen(ctl, "--kid", "acc1")
    rkid, rsecret, _ = gen(ctl, "--kid", "ref1")
    conf = write_conf(tmp_path, [
        f"DATABASE_URL={stack.database_url}",
        f"JWT_ACCESS_SECRET={akid}:{asecret}",
        f"JWT_REFRESH_SECRET={rkid}:{rsecret}"])
    proc = ctl("config", "check", config=conf)
    out = assert_ctl_ok(proc)
    lines = out.splitlines()
    assert "access_keys=acc1 (signing: acc1)" in lines
    assert "refresh_keys=ref1 (signing: ref1)" in lines
    assert asecret not in out + ctl_err(proc)
    assert rsecret not in out + ctl_err(proc)


@pytest.fixture
def genkeys_web(ctl, stack):
    """A web on the instance's database whose key lists are fresh
    `latchctl secret gen` items; yields (client, access item, refresh
    item)."""
    main_port = int(stack.base_url.rsplit(":", 1)[1].split("/")[0])
    port = main_port + 61
    akid, asecret, _ = gen(ctl, "--kid", "gen-acc")
    rkid, rsecret, _ = gen(ctl, "--kid", "gen-ref")
    base_url = cgi_web(stack, "genkeys", port, {
        "COOKIE_SECURE": "0", "TRUSTED_PROXIES": "127.0.0.1",
        "JWT_ACCESS_SECRET": f"{akid}:{asecret}",
        "JWT_REFRESH_SECRET": f"{rkid}:{rsecret}"})
    yield (ForwardedClient(base_url, fresh_address()), (akid, asecret),
           (rkid, rsecret))


def test_secret_gen_output_accepted_by_fcgi_binaries(ctl, db, genkeys_web):
    client, (akid, asecret), (rkid, rsecret) = genkeys_web
    u = add_user(ctl, db, prefix="genk")
    body = login_body(client, u)
    header, _, _, _ = jwt_parts(body["access_token"])
    assert header["kid"] == akid
    assert jwt_signature_ok(body["access_token"], asecret.encode())
    rheader, _, _, _ = jwt_parts(body["refresh_token"])
    assert rheader["kid"] == rkid
    assert jwt_signature_ok(body["refresh_token"], rsecret.encode())
    assert client.profile(body["access_token"]).status_code == 200
    rotate_body(client, body["refresh_token"])


# ---------------------------------------------------------------- config

def check_lines(out):
    pairs = []
    for line in out.splitlines():
        assert "=" in line, f"not key=value: {line!r}"
        k, _, v = line.partition("=")
        pairs.append((k, v))
    return pairs


def base_conf_lines(stack):
    return [f"DATABASE_URL={stack.database_url}",
            f"JWT_ACCESS_SECRET={stack.access_secret_spec}",
            f"JWT_REFRESH_SECRET={stack.refresh_secret_spec}"]


def kids_line(keys):
    kids = [k for k, _ in keys]
    return ",".join(kids) + f" (signing: {kids[0]})"


def test_config_check_reports_configuration_and_database(ctl, stack,
                                                         tmp_path):
    conf = write_conf(tmp_path, base_conf_lines(stack))
    proc = ctl("config", "check", config=conf)
    out = assert_ctl_ok(proc)
    assert ctl_err(proc) == ""
    pairs = check_lines(out)
    d = dict(pairs)
    assert len(d) == len(pairs), "a key printed twice"
    assert pairs[0] == ("configuration", "ok")
    assert d["access_keys"] == kids_line(stack.access_keys)
    assert d["refresh_keys"] == kids_line(stack.refresh_keys)
    assert d["access_ttl"] == "900s"
    assert d["refresh_ttl"] == "604800s"
    assert d["session_max_age"] == "2592000s"
    assert d["reuse_grace"] == "10s"
    assert d["reuse_revokes"] == "session"
    assert d["database"] == "ok"
    assert d["schema_version"] == str(LATEST_MIGRATION) == \
        str(len(MIGRATION_FILES))


def test_config_check_reports_overrides(ctl, stack, tmp_path):
    conf = write_conf(tmp_path, base_conf_lines(stack) + [
        "JWT_ACCESS_EXPIRES=5m", "JWT_REFRESH_EXPIRES=2d",
        "SESSION_MAX_AGE=3d", "REFRESH_REUSE_GRACE=3s",
        "REUSE_REVOKES=user"])
    d = dict(check_lines(assert_ctl_ok(ctl("config", "check",
                                           config=conf))))
    assert d["access_ttl"] == "300s"
    assert d["refresh_ttl"] == "172800s"
    assert d["session_max_age"] == "259200s"
    assert d["reuse_grace"] == "3s"
    assert d["reuse_revokes"] == "user"


def test_config_check_lists_every_kid_of_a_rotated_list(ctl, stack,
                                                        tmp_path):
    new = "new-1:" + "N" * 40
    conf = write_conf(tmp_path, [
        f"DATABASE_URL={stack.database_url}",
        f"JWT_ACCESS_SECRET={new}, {stack.access_secret_spec}",
        f"JWT_REFRESH_SECRET={stack.refresh_secret_spec}"])
    d = dict(check_lines(assert_ctl_ok(ctl("config", "check",
                                           config=conf))))
    kids = ["new-1"] + [k for k, _ in stack.access_keys]
    assert d["access_keys"] == ",".join(kids) + " (signing: new-1)"


def test_config_check_never_prints_a_secret(ctl, stack, tmp_path):
    bare = "bare-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
    listed = "listed-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
    url = stack.database_url.replace("latch@", "latch:hunter2-db-pass@")
    conf = write_conf(tmp_path, [
        f"DATABASE_URL={url}",
        f"JWT_ACCESS_SECRET={bare}",
        f"JWT_REFRESH_SECRET=r1:{listed}"])
    proc = ctl("config", "check", config=conf)
    text = ctl_out(proc) + ctl_err(proc)
    assert proc.returncode == 0, text
    for secret in (bare, listed, "hunter2-db-pass"):
        assert secret not in text
        assert secret[:16] not in text
    # the bare key shows as its derived kid
    assert dict(check_lines(ctl_out(proc)))["access_keys"] == \
        kids_line(parse_key_list(bare))


@pytest.mark.parametrize("key,value", [
    ("JWT_ACCESS_SECRET", "short"),
    ("JWT_ACCESS_SECRET", "k1:" + "s" * 31),
    ("JWT_REFRESH_SECRET", "k1:short"),
    ("JWT_ACCESS_SECRET", "bad kid!:" + "s" * 40),
    ("JWT_ACCESS_EXPIRES", "fifteen minutes"),
    ("REUSE_REVOKES", "everyone"),
], ids=["access_bare_short", "access_31_bytes", "refresh_short",
        "access_bad_kid", "access_expires", "reuse_revokes"])
def test_config_check_bad_value_refused_naming_the_key(ctl, stack, tmp_path,
                                                       key, value):
    lines = [line for line in base_conf_lines(stack)
             if not line.startswith(key + "=")] + [f"{key}={value}"]
    conf = write_conf(tmp_path, lines)
    proc = ctl("config", "check", config=conf)
    line = assert_ctl_refused(proc)
    assert key in line, line
    secret = value.split(":", 1)[-1]
    if key.endswith("_SECRET") and len(secret) >= 8:
        assert secret not in line


@pytest.mark.parametrize("missing", ["JWT_ACCESS_SECRET",
                                     "JWT_REFRESH_SECRET"])
def test_config_check_missing_key_list_refused(ctl, stack, tmp_path,
                                               missing):
    conf = write_conf(tmp_path, [line for line in base_conf_lines(stack)
                                 if not line.startswith(missing + "=")])
    line = assert_ctl_refused(ctl("config", "check", config=conf))
    assert missing in line, line


def test_config_check_same_secret_in_both_lists_refused(ctl, stack,
                                                        tmp_path):
    secret = "same-" + uuid.uuid4().hex
    conf = write_conf(tmp_path, [f"DATABASE_URL={stack.database_url}",
                                 f"JWT_ACCESS_SECRET=a1:{secret}",
                                 f"JWT_REFRESH_SECRET=r1:{secret}"])
    line = assert_ctl_refused(ctl("config", "check", config=conf))
    assert secret not in line


def test_config_check_unknown_key_in_file_refused(ctl, stack, tmp_path):
    conf = write_conf(tmp_path, base_conf_lines(stack) +
                      ["JWT_ACESS_EXPIRES=5m"])
    line = assert_ctl_refused(ctl("config", "check", config=conf))
    assert "JWT_ACESS_EXPIRES" in line, line


def test_config_check_reaches_the_read_database(ctl, stack, tmp_path):
    """DATABASE_READ_URL (here the primary itself, which reads as well):
    checked like DATABASE_URL, and said; unset, said as '-'."""
    out = assert_ctl_ok(ctl("config", "check", config=write_conf(
        tmp_path, base_conf_lines(stack))))
    assert "read_database=-" in out.splitlines()
    conf = write_conf(tmp_path, base_conf_lines(stack) +
                      [f"DATABASE_READ_URL={stack.database_url}"])
    out = assert_ctl_ok(ctl("config", "check", config=conf))
    assert "read_database=ok" in out.splitlines()


def test_config_check_read_database_down_refused(ctl, stack, tmp_path):
    conf = write_conf(tmp_path, base_conf_lines(stack) + [
        "DATABASE_READ_URL=postgresql://latch@:5432/latch?host=/nonexistent"])
    proc = ctl("config", "check", config=conf, timeout=30)
    line = assert_ctl_refused(proc, stdout_empty=False)
    assert "DATABASE_READ_URL" in line, line
    assert "read_database=ok" not in ctl_out(proc)


def test_config_check_read_database_without_the_schema_refused(
        ctl, stack, tmp_path, fresh_db):
    """A DATABASE_READ_URL that answers but is not latch's database (here
    an empty one): its every read would fail over to the primary."""
    conf = write_conf(tmp_path, base_conf_lines(stack) +
                      [f"DATABASE_READ_URL={fresh_db()}"])
    line = assert_ctl_refused(ctl("config", "check", config=conf),
                              stdout_empty=False)
    assert "DATABASE_READ_URL" in line and "schema" in line, line


def test_missing_config_file_refused(ctl, tmp_path):
    missing = tmp_path / "nope.conf"
    line = assert_ctl_refused(ctl("config", "check", config=missing))
    assert str(missing) in line, line


def test_config_check_database_down_refused(ctl, stack, tmp_path):
    conf = write_conf(tmp_path, [
        "DATABASE_URL=postgresql://latch@:5432/latch?host=/nonexistent",
        f"JWT_ACCESS_SECRET={stack.access_secret_spec}",
        f"JWT_REFRESH_SECRET={stack.refresh_secret_spec}"])
    t0 = time.monotonic()
    proc = ctl("config", "check", config=conf, timeout=30)
    assert time.monotonic() - t0 < 20
    line = assert_ctl_refused(proc, stdout_empty=False)
    assert "database" in line.lower(), line
    out = ctl_out(proc)
    assert "database=ok" not in out
    assert "schema_version=" not in out


def test_config_check_unmigrated_database_refused(ctl, stack, tmp_path,
                                                  fresh_db):
    url = fresh_db()
    conf = write_conf(tmp_path, [
        f"DATABASE_URL={url}",
        f"JWT_ACCESS_SECRET={stack.access_secret_spec}",
        f"JWT_REFRESH_SECRET={stack.refresh_secret_spec}"])
    line = assert_ctl_refused(ctl("config", "check", config=conf),
                              stdout_empty=False)
    assert "migrate" in line, line


def test_config_check_of_the_instance_passes(ctl, stack):
    proc = ctl("config", "check")
    out = assert_ctl_ok(proc)
    d = dict(check_lines(out))
    assert d["database"] == "ok"
    assert d["schema_version"] == str(LATEST_MIGRATION) == \
        str(len(MIGRATION_FILES))
    for _, secret in stack.access_keys + stack.refresh_keys:
        assert secret.decode() not in out + ctl_err(proc)


# ---------------------------------------------------------------- config keys

# API.md's configuration table, in its order: the names scripts read from
# `latchctl config keys` rather than keep a copy of.
API_SETTINGS = [
    "DATABASE_URL", "JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET",
    "JWT_ACCESS_EXPIRES", "JWT_REFRESH_EXPIRES", "SESSION_MAX_AGE",
    "REFRESH_REUSE_GRACE", "REUSE_REVOKES", "JWT_ISSUER", "JWT_AUDIENCE",
    "BCRYPT_COST", "COOKIE_SECURE", "ALLOWED_ORIGINS", "ALLOW_SIGNUP",
    "TRUSTED_PROXIES", "MAX_BODY_BYTES", "DBSC_COOKIE_LIFETIME",
    "DATABASE_READ_URL"]


def test_config_keys_prints_every_setting_in_api_order(ctl, tmp_path):
    # It reads no configuration: a file that does not exist is no matter.
    proc = ctl("config", "keys", config=tmp_path / "missing.conf")
    assert assert_ctl_ok(proc).splitlines() == API_SETTINGS
    assert ctl_err(proc) == ""


def test_config_keys_are_what_a_config_file_may_set(ctl, stack, tmp_path):
    keys = assert_ctl_ok(ctl("config", "keys")).splitlines()
    base = base_conf_lines(stack)
    given = {line.partition("=")[0] for line in base}
    # Every printed key is accepted in a file (empty: its default)...
    conf = write_conf(tmp_path, base + [f"{k}=" for k in keys
                                        if k not in given])
    assert_ctl_ok(ctl("config", "check", config=conf))
    # ...and LATCH_CONFIG, which names the file, is no setting of it.
    assert "LATCH_CONFIG" not in keys
    conf = write_conf(tmp_path, base + ["LATCH_CONFIG=/etc/latch.conf"],
                      name="self.conf")
    assert_ctl_refused(ctl("config", "check", config=conf))


@pytest.mark.parametrize("args", [["config", "keys", "extra"],
                                  ["config", "key"]])
def test_config_keys_bad_usage(ctl, args):
    assert_ctl_usage(ctl(*args))
