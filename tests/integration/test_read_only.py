"""A server that turns read-only under latch (a primary demoted, or a
pooler left in front of a standby): every write it refuses (SQLSTATE 25006)
was not run, so lib/db.c runs it once more on a fresh connection (which a
multi-host DATABASE_URL makes to another host) and, refused again, answers
503 with Retry-After; nothing is written, and once the server takes writes
again the same token rotates. The whole cluster is made read-only for the
test (ALTER SYSTEM default_transaction_read_only, reloaded: every session
has it at its next statement) and put back whatever happens."""

import time

import psycopg2
import pytest

from conftest import create_user, fcgi_log_path
from latchlib import Client, json_body, login_body, sid_of
from test_faults import is_unavailable_resp


def _set_read_only(db, on):
    conn = psycopg2.connect(db.url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = off")
            if on:
                cur.execute("ALTER SYSTEM SET default_transaction_read_only "
                            "= on")
            else:
                cur.execute("ALTER SYSTEM RESET default_transaction_read_only")
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()
    # A fresh session sees the reloaded setting (bounded wait).
    deadline = time.monotonic() + 10
    want = "on" if on else "off"
    while db.scalar("SHOW default_transaction_read_only") != want:
        assert time.monotonic() < deadline, "the reload did not take"
        time.sleep(0.05)


@pytest.fixture
def read_only_cluster(db):
    try:
        yield lambda on: _set_read_only(db, on)
    finally:
        _set_read_only(db, False)


def test_a_refused_write_is_tried_once_more_then_503(stack, db,
                                                     read_only_cluster):
    client = Client(stack.base_url)
    user = create_user(stack, db, prefix="rdonly")
    body = login_body(client, user)
    sid = sid_of(body["access_token"])
    tokens = db.scalar("SELECT count(*) FROM refresh_tokens WHERE "
                       "session_id = %s", (sid,))
    log = fcgi_log_path(stack)
    refused = "sqlstate=25006"

    def times_refused():
        return log.read_text(errors="replace").count(refused)

    read_only_cluster(True)
    before = times_refused()
    resp = client.refresh(body["refresh_token"])
    assert is_unavailable_resp(resp), (resp.status_code, resp.text[:300])
    # Refused, dropped, connected afresh, refused again: twice, no more.
    assert times_refused() - before == 2, \
        log.read_text(errors="replace")[-2000:]
    read_only_cluster(False)
    assert db.scalar("SELECT count(*) FROM refresh_tokens WHERE "
                     "session_id = %s", (sid,)) == tokens
    resp = client.refresh(body["refresh_token"])
    assert resp.status_code == 200, resp.text
    assert json_body(resp)["refresh_token"] != body["refresh_token"]
