"""Runs last (by file name): no access, refresh or device token that any
response of this pytest run carried (latchlib.SEEN_TOKENS, filled by
Client.request and the concurrency tests) is stored in the database or
written to a log.

API.md: "The server keeps only a SHA-256 (or keyed) hash of it; no row, log
line or error ever holds a usable token."

The run can see thousands of tokens (the concurrency tests alone rotate
thousands of times), so checking each token against each row with
position() would take minutes. Instead every place a token could hide is
searched once for what any stored copy of a token must contain: its
signature segment, a '.' followed by the 43 base64url characters of an
HS256 signature. Every hit is confirmed (or not) with position() against
the whole token; on top of that a sample of the tokens is checked with
position() against every column directly."""

import os
import random
import re

import psycopg2
import pytest
from psycopg2 import sql

import latchlib
from latchlib import login_body, rotate_body

SIG_RE = re.compile(rb"\.([A-Za-z0-9_-]{43})")
SAMPLE = 60


@pytest.fixture(scope="module")
def seen(client, make_user_module):
    """The registry, after adding the tokens of one login and refresh of
    our own (so that the checks have something to look for even when this
    file runs alone)."""
    user = make_user_module
    login = login_body(client, user)
    rotate_body(client, login["refresh_token"])
    tokens = sorted(latchlib.SEEN_TOKENS)
    assert login["refresh_token"] in tokens and \
        login["access_token"] in tokens, "the registry hook is broken"
    sigs = {}
    for token in tokens:
        sig = token.rsplit(".", 1)[1]
        assert len(sig) == 43, token
        sigs[sig] = token
    return {"tokens": tokens, "sigs": sigs}


@pytest.fixture(scope="module")
def make_user_module(stack, db):
    from conftest import create_user
    return create_user(stack, db, prefix="zz")


def _columns(db):
    rows = db.all(
        "SELECT c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns c "
        "JOIN information_schema.tables t "
        "  ON t.table_schema = c.table_schema "
        " AND t.table_name = c.table_name "
        "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
        "  AND c.data_type IN ('text', 'character varying', 'character', "
        "                      'bytea', 'json', 'jsonb') "
        "ORDER BY 1, 2")
    assert ("refresh_tokens", "token_hash", "bytea") in rows, rows
    assert any(t == "sessions" and col == "user_agent" for t, col, _ in rows)
    return rows


def _as_text(column, dtype):
    """SQL for the column's content as text; bytea printable bytes kept."""
    col = sql.Identifier(column)
    if dtype == "bytea":
        return sql.SQL("encode({}, 'escape')").format(col)
    return sql.SQL("{}::text").format(col)


def _contains(column, dtype):
    """SQL: the column holds the token passed as %(tok)s (or column k.tok)."""
    col = sql.Identifier(column)
    if dtype == "bytea":
        return sql.SQL("position(convert_to(k.tok, 'UTF8') in {}) > 0") \
            .format(col)
    return sql.SQL("position(k.tok in {}::text) > 0").format(col)


def _exact_hits(stack, table, column, dtype, tokens):
    """Tokens that the column holds, by position(), one query."""
    conn = psycopg2.connect(stack.database_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE seen_tokens (tok text) "
                        "ON COMMIT DROP")
            cur.executemany("INSERT INTO seen_tokens VALUES (%s)",
                            [(t,) for t in tokens])
            cur.execute(sql.SQL(
                "SELECT k.tok FROM seen_tokens k WHERE EXISTS "
                "(SELECT 1 FROM {} WHERE {})").format(
                    sql.Identifier(table), _contains(column, dtype)))
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def test_no_seen_token_is_stored_in_any_column(stack, db, seen):
    tokens, sigs = seen["tokens"], seen["sigs"]
    rng = random.Random(len(tokens))
    sample = tokens if len(tokens) <= SAMPLE else rng.sample(tokens, SAMPLE)
    found = []
    for table, column, dtype in _columns(db):
        text = _as_text(column, dtype)
        candidates = db.all(sql.SQL(
            "SELECT DISTINCT m[1] FROM {}, "
            "regexp_matches({}, '\\.([A-Za-z0-9_-]{{43}})', 'g') AS m")
            .format(sql.Identifier(table), text))
        suspects = [sigs[c[0]] for c in candidates if c[0] in sigs]
        for token in _exact_hits(stack, table, column, dtype,
                                 suspects + sample):
            found.append((table, column, token[:20] + "..."))
    assert not found, f"tokens stored in the database: {found[:10]}"


def test_the_storage_search_finds_a_planted_token(stack, seen):
    """Control: the same search does find a token put in a text column and
    in a bytea column of a throwaway table."""
    token = seen["tokens"][0]
    conn = psycopg2.connect(stack.database_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE planted (t text, b bytea)")
            cur.execute("INSERT INTO planted VALUES (%s, %s)",
                        ("x" + token + "y", b"\x00" + token.encode() +
                         b"\xff"))
            for column, dtype in (("t", "text"), ("b", "bytea")):
                cur.execute(sql.SQL(
                    "SELECT DISTINCT m[1] FROM planted, "
                    "regexp_matches({}, '\\.([A-Za-z0-9_-]{{43}})', 'g') "
                    "AS m").format(_as_text(column, dtype)))
                assert token.rsplit(".", 1)[1] in \
                    {r[0] for r in cur.fetchall()}, dtype
                cur.execute(sql.SQL(
                    "SELECT count(*) FROM (SELECT %s::text AS tok) k, "
                    "planted WHERE {}").format(_contains(column, dtype)),
                    (token,))
                assert cur.fetchone()[0] == 1, dtype
        conn.rollback()
    finally:
        conn.close()


def _log_files(stack):
    assert stack.rundir is not None and stack.rundir.is_dir()
    for root, dirs, files in os.walk(stack.rundir):
        dirs[:] = [d for d in dirs if d not in ("pgdata", "bin", "www",
                                                "sock")]
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path) and \
                    os.path.getsize(path) < 200 * 1024 * 1024:
                yield path


def test_no_seen_token_is_written_to_any_log(stack, seen):
    sigs = seen["sigs"]
    found, scanned = [], 0
    for path in _log_files(stack):
        with open(path, "rb") as f:
            data = f.read()
        scanned += 1
        for m in SIG_RE.finditer(data):
            sig = m.group(1).decode()
            if sig in sigs:
                found.append((path, "signature of a token"))
        for token in seen["tokens"][:50]:
            if token.encode() in data:
                found.append((path, "whole token"))
    assert scanned > 0
    assert not found, found[:10]


def test_no_seal_outlives_its_successor(db, seen):
    """Over every session this run made: a sealed successor is deleted
    when that successor rotates, so no seal sits on a row whose successor
    was rotated, a session holds at most one, and each says until when it
    is usable."""
    assert db.scalar("SELECT count(*) FROM refresh_tokens "
                     "WHERE rotated_at IS NOT NULL") > 0, "nothing rotated"
    assert db.scalar(
        "SELECT count(*) FROM refresh_tokens p JOIN refresh_tokens s "
        "ON s.predecessor_id = p.id WHERE p.successor_sealed IS NOT NULL "
        "AND s.rotated_at IS NOT NULL") == 0
    assert db.scalar(
        "SELECT count(*) FROM (SELECT session_id FROM refresh_tokens "
        "WHERE successor_sealed IS NOT NULL GROUP BY session_id "
        "HAVING count(*) > 1) more") == 0
    assert db.scalar(
        "SELECT count(*) FROM refresh_tokens WHERE successor_sealed IS NOT "
        "NULL AND (sealed_until IS NULL OR sealed_until <= rotated_at)") == 0
