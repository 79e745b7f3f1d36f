"""Scheduling the purge (API.md "Database"; migrations/004_purge.sql;
README "The scheduled purge"): where pg_cron is loaded and created before
the migrations, migration 004 schedules job 'latch-purge' ('*/15 * * * *',
'CALL latch_purge(5000)') and that job does the purge; elsewhere no
pg_cron is created and the cron.d entry or the systemd timer in deploy/
runs `latchctl purge` every 15 minutes.

The pg_cron tests bring up an instance of their own (`STACK_PG_CRON=1
stack.sh up cron<INSTANCE>`, on the main web's port + 70) and delete it
afterwards."""

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import BIN_DIR, INSTANCE, REPO, STACK_SH, VAR, Db, wait_http
from latchlib import (Client, assert_ctl_ok, latchctl_env, login_body,
                      rotate_body, run_latchctl, sid_of)

CRON_NAME = ("cron" + INSTANCE)[:12]
CRON_OFFSET = 70
JOB_SCHEDULE = "*/15 * * * *"
JOB_COMMAND = "CALL latch_purge(5000)"
RUN_WAIT = 75                        # seconds: the next minute, and some
CRON_D = REPO / "deploy" / "cron" / "latch-purge"
SERVICE = REPO / "deploy" / "systemd" / "latch-purge.service"
TIMER = REPO / "deploy" / "systemd" / "latch-purge.timer"


def _read_kv(path):
    out = {}
    for line in path.read_text().splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def _stack(*args, env=None, timeout=240):
    return subprocess.run([str(STACK_SH), *args], capture_output=True,
                          timeout=timeout, cwd=str(REPO), env=env)


class CronStack:
    def __init__(self, name):
        env = _read_kv(VAR / f"{name}.env")
        self.base_url = env["BASE_URL"]
        self.database_url = env["DATABASE_URL"]
        self.db = Db(self.database_url)
        self.client = Client(self.base_url)
        self.conf = Path((VAR / f"{name}.rundir").read_text().strip()) / \
            "latch.conf"

    def ctl(self, *args, input=None, **settings):
        return run_latchctl(BIN_DIR, *args, config=self.conf, input=input,
                            **settings)

    def user(self):
        name = "t_cron_" + uuid.uuid4().hex[:12]
        password = "pw-" + uuid.uuid4().hex
        assert_ctl_ok(self.ctl("user", "add", name, "--password-stdin",
                               input=password + "\n", BCRYPT_COST=4))
        return {"username": name, "password": password}


@pytest.fixture(scope="module")
def cron_stack(stack):
    main_port = int(stack.base_url.rsplit(":", 1)[1].split("/")[0])
    port = int(os.environ.get("LATCH_CRON_PORT", main_port + CRON_OFFSET))
    _stack("clean", CRON_NAME)              # leftovers of a crash
    env = latchctl_env(STACK_PG_CRON="1", PORT=str(port),
                       BIN_DIR=str(BIN_DIR))
    try:
        proc = _stack("up", CRON_NAME, env=env)
        assert proc.returncode == 0, \
            f"stack.sh up {CRON_NAME} failed: {proc.stderr.decode()[-3000:]}"
        cs = CronStack(CRON_NAME)
        wait_http(cs.base_url)
        yield cs
    finally:
        _stack("clean", CRON_NAME)
        try:
            (VAR / f"{CRON_NAME}.lock").unlink()
        except FileNotFoundError:
            pass


def purge_job(db):
    rows = db.all("SELECT jobid, schedule, command, database, username, "
                  "active FROM cron.job WHERE jobname = 'latch-purge'")
    assert len(rows) == 1, rows
    return rows[0]


# ---------------------------------------------------------------- pg_cron

def test_pg_cron_extension_created_on_cron_instance(cron_stack):
    assert cron_stack.db.all("SELECT 1 FROM pg_extension "
                             "WHERE extname = 'pg_cron'") == [(1,)]


def test_migration_schedules_purge_job_every_15_minutes(cron_stack):
    _, schedule, command, database, _, active = purge_job(cron_stack.db)
    assert schedule == JOB_SCHEDULE
    assert command == JOB_COMMAND
    assert database == cron_stack.db.scalar("SELECT current_database()")
    assert active is True


def test_migration_schedules_exactly_one_job(cron_stack):
    assert cron_stack.db.scalar("SELECT count(*) FROM cron.job") == 1


# (name, rotations, SQL ending it; None: live)
SESSIONS = [
    ("live_rotated", 2, None),
    ("live_fresh", 0, None),
    ("dead_absolute", 1,
     "UPDATE sessions SET created_at = now() - interval '31 days', "
     "absolute_expires_at = now() - interval '1 hour', "
     "idle_expires_at = now() - interval '1 hour' WHERE id = %s"),
    ("dead_idle", 1,
     "UPDATE sessions SET idle_expires_at = now() - interval '1 minute' "
     "WHERE id = %s"),
    ("dead_revoked_2d", 2,
     "UPDATE sessions SET revoked_at = now() - interval '2 days', "
     "revoked_reason = 'logout' WHERE id = %s"),
    ("kept_revoked_1h", 1,
     "UPDATE sessions SET revoked_at = now() - interval '1 hour', "
     "revoked_reason = 'logout' WHERE id = %s"),
]


def snapshot(db, sids):
    # Token rows without the seal's two columns: the job clears seals
    # whose grace window has passed, also of live sessions (migration 005;
    # test_purge.py checks that of CALL latch_purge, which the job runs).
    return {n: (db.scalar("SELECT row_to_json(s)::text FROM sessions s "
                          "WHERE id = %s", (sid,)),
                [r[0] for r in db.all(
                    "SELECT (to_jsonb(t) - 'successor_sealed' - "
                    "'sealed_until')::text FROM refresh_tokens t "
                    "WHERE session_id = %s ORDER BY id", (sid,))])
            for n, sid in sids.items()}


@pytest.fixture(scope="module")
def cron_run(cron_stack):
    """Ended and live sessions, then the job every minute until one run
    that started after them has finished: (before, after, run status,
    run message)."""
    cs = cron_stack
    db = cs.db
    user = cs.user()
    sids = {}
    for name, rotations, sql in SESSIONS:
        token = login_body(cs.client, user)["refresh_token"]
        for _ in range(rotations):
            token, _ = rotate_body(cs.client, token)
        sids[name] = sid_of(token)
        if sql is not None:
            assert db.execute(sql, (sids[name],)) == 1
    before = snapshot(db, sids)
    jobid = purge_job(db)[0]
    mark = db.scalar("SELECT now()")
    db.execute("SELECT cron.alter_job(%s, schedule := '* * * * *')",
               (jobid,))
    try:
        deadline = time.monotonic() + RUN_WAIT
        row = None
        while time.monotonic() < deadline:
            row = db.one("SELECT status, return_message FROM "
                         "cron.job_run_details WHERE jobid = %s AND "
                         "start_time > %s AND status IN ('succeeded', "
                         "'failed') ORDER BY start_time LIMIT 1",
                         (jobid, mark))
            if row is not None:
                break
            time.sleep(1)
    finally:
        db.execute("SELECT cron.alter_job(%s, schedule := %s)",
                   (jobid, JOB_SCHEDULE))
    assert row is not None, \
        f"no finished run of job latch-purge within {RUN_WAIT}s: " + \
        repr(db.all("SELECT status, return_message, start_time FROM "
                    "cron.job_run_details WHERE jobid = %s", (jobid,)))
    return before, snapshot(db, sids), row[0], row[1]


def test_pg_cron_job_run_succeeds(cron_run):
    _, _, status, message = cron_run
    assert status == "succeeded", message


@pytest.mark.parametrize("name", [n for n, _, _ in SESSIONS
                                  if n.startswith("dead_")])
def test_pg_cron_job_deletes_ended_session_and_tokens(cron_run, name):
    before, after, _, _ = cron_run
    assert before[name][0] is not None and before[name][1]
    assert after[name] == (None, [])


@pytest.mark.parametrize("name", [n for n, _, _ in SESSIONS
                                  if not n.startswith("dead_")])
def test_pg_cron_job_keeps_live_and_recently_revoked(cron_run, name):
    before, after, _, _ = cron_run
    assert after[name] == before[name]


def test_pg_cron_schedule_restored_after_test(cron_run, cron_stack):
    assert purge_job(cron_stack.db)[1] == JOB_SCHEDULE


# ---------------------------------------------------------------- plain instance

def test_plain_instance_has_no_pg_cron(db):
    assert db.all("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'") \
        == []
    assert db.scalar("SELECT to_regnamespace('cron') IS NULL") is True


def test_plain_instance_has_purge_migration_applied(db):
    assert db.scalar("SELECT count(*) FROM schema_migrations "
                     "WHERE version = 4") == 1
    assert db.scalar("SELECT count(*) FROM pg_proc WHERE proname IN "
                     "('latch_purge', 'latch_purge_batch')") == 2


def test_plain_instance_latchctl_purge_fallback_runs(stack, bin_dir):
    proc = run_latchctl(bin_dir, "purge", config=stack.rundir / "latch.conf")
    out = assert_ctl_ok(proc)
    assert re.fullmatch(r"sessions=\d+ tokens=\d+ throttle=\d+ batches=\d+ "
                        r"seconds=\d+\.\d+\n", out), out


# ---------------------------------------------------------------- deploy/

CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
CRON_NAMES = [None, None, None,
              "jan feb mar apr may jun jul aug sep oct nov dec".split(),
              "sun mon tue wed thu fri sat".split()]
CRON_SPECIALS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly",
                 "@daily", "@midnight", "@hourly"}


def cron_field_ok(field, lo, hi, names):
    def value(v):
        if names and v.lower() in names:
            return True
        return v.isdigit() and lo <= int(v) <= hi

    for item in field.split(","):
        rng, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return False
        if rng == "*":
            continue
        a, dash, b = rng.partition("-")
        if not value(a) or (dash and not value(b)):
            return False
        if dash and a.isdigit() and b.isdigit() and int(a) > int(b):
            return False
        if slash and not dash:
            return False        # "5/10" is not portable cron syntax
    return True


def cron_entries():
    """(schedule fields, user, command) of each job line of the cron.d
    file (comments, blank lines and VAR=value lines skipped)."""
    out = []
    for line in CRON_D.read_text().splitlines():
        s = line.strip()
        if not s or s.startswith("#") or \
                re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", s):
            continue
        if s.startswith("@"):
            special, user, command = (s.split(None, 2) + ["", ""])[:3]
            out.append(([special], user, command))
        else:
            parts = s.split(None, 6)
            assert len(parts) == 7, f"not 5 time fields, user, command: {s!r}"
            out.append((parts[:5], parts[5], parts[6]))
    return out


def test_cron_d_file_has_one_valid_entry():
    entries = cron_entries()
    assert len(entries) == 1, entries
    fields, user, command = entries[0]
    if len(fields) == 1:
        assert fields[0] in CRON_SPECIALS, fields
    else:
        for f, (lo, hi), names in zip(fields, CRON_RANGES, CRON_NAMES):
            assert cron_field_ok(f, lo, hi, names), f"bad cron field {f!r}"
    assert re.fullmatch(r"[a-z_][a-z0-9_-]*", user), user
    assert command


def test_cron_d_entry_runs_latchctl_purge():
    (_, _, command), = cron_entries()
    assert re.search(r"(^|[\s/])latchctl purge(\s|$)", command), command
    # cron turns an unescaped % into a newline
    assert re.search(r"(?<!\\)%", command) is None, command


def test_cron_d_entry_runs_every_15_minutes():
    (fields, _, _), = cron_entries()
    assert " ".join(fields) == JOB_SCHEDULE


def test_cron_d_file_name_and_final_newline_suit_cron():
    # cron ignores /etc/cron.d files with dots in the name, and a last
    # line without a newline.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", CRON_D.name), CRON_D.name
    assert CRON_D.read_text().endswith("\n")


def unit_sections(path):
    """{section: {key: [values]}} of a systemd unit file."""
    sections, current = {}, None
    for line in path.read_text().splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        m = re.fullmatch(r"\[([A-Za-z]+)\]", s)
        if m:
            current = sections.setdefault(m.group(1), {})
            continue
        assert current is not None, f"{path.name}: {s!r} outside a section"
        k, sep, v = s.partition("=")
        assert sep, f"{path.name}: not Key=Value: {s!r}"
        current.setdefault(k.strip(), []).append(v.strip())
    return sections


def test_systemd_service_runs_latchctl_purge_once():
    svc = unit_sections(SERVICE)["Service"]
    exec_start, = svc["ExecStart"]
    argv = exec_start.lstrip("-@:+!").split()
    assert argv[0].startswith("/") and argv[0].endswith("/latchctl"), argv
    assert argv[1] == "purge", argv
    assert svc.get("Type") == ["oneshot"]


def test_systemd_timer_fires_every_15_minutes():
    timer = unit_sections(TIMER)
    on_calendar, = timer["Timer"]["OnCalendar"]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run(["systemd-analyze", "calendar", "--iterations=3",
                           on_calendar], capture_output=True, timeout=30)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    normalized = re.search(r"Normalized form: (.*)", out).group(1).strip()
    assert normalized == "*-*-* *:00/15:00", normalized


def test_systemd_timer_activates_the_purge_service():
    timer = unit_sections(TIMER)
    unit = timer["Timer"].get("Unit", [SERVICE.name])
    assert unit == [SERVICE.name]
    assert TIMER.stem == SERVICE.stem
    assert timer["Install"]["WantedBy"] == ["timers.target"]
