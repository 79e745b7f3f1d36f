"""tests/invariants.sql, the check every load and fault test ends with
(issue 13), can fail: each case below breaks one invariant on purpose in
the rows of a user of its own, and the script must name it. The rows go
with their user afterwards, so no other test's check sees them."""

import pytest

from conftest import (assert_invariants, create_user, invariant_violations,
                      unique_name)
from latchlib import login_body, rotate_body, sid_of, token_hash

# Each case: (SQL that breaks it, with %(sid)s, %(uid)s, %(live)s (the
# session's unrotated token's hash) and %(old)s (its predecessor's), the
# invariant the script must then report).
CASES = {
    # (Its expiry moved too: a login's token and its successor may be
    # issued within one second and so expire alike, or not.)
    "predecessor unrotated": (
        "UPDATE refresh_tokens SET rotated_at = NULL, successor_sealed = NULL,"
        " sealed_until = NULL, expires_at = expires_at - interval '1 minute'"
        " WHERE token_hash = %(old)s",
        ["a token with a successor is rotated",
         "at most one unrotated token per session",
         "the unrotated token expires with its session's idle expiry"]),
    "seal past the grace window": (
        "UPDATE refresh_tokens SET sealed_until = rotated_at + interval '1h'"
        " WHERE token_hash = %(old)s",
        ["no seal lasts longer than the grace window"]),
    "seal in clear": (
        "UPDATE refresh_tokens SET successor_sealed ="
        " convert_to('eyJhbGciOiJIUzI1NiJ9.e30.c2ln', 'UTF8')"
        " WHERE token_hash = %(old)s",
        ["a seal is not the successor in clear"]),
    "seal left in a revoked session": (
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'admin'"
        " WHERE id = %(sid)s",
        ["no seal in a revoked session"]),
    "password in clear": (
        "UPDATE users SET password_hash = 'hunter2' WHERE id = %(uid)s",
        ["every password is a crypt(3) hash"]),
    "token outlives its session": (
        "UPDATE sessions SET idle_expires_at = idle_expires_at"
        " - interval '1 minute' WHERE id = %(sid)s",
        ["the unrotated token expires with its session's idle expiry"]),
    "session without tokens": (
        "DELETE FROM refresh_tokens WHERE session_id = %(sid)s",
        ["every session has an unrotated token",
         "every session has its first token"]),
    "JWT in a user agent": (
        "UPDATE sessions SET user_agent = 'x eyJhbGciOiJIUzI1NiJ9.e30.c2ln'"
        " WHERE id = %(sid)s",
        ["no JWT-shaped text in users or sessions"]),
}


@pytest.fixture
def rotated_session(stack, db, client):
    """A user of its own with one session rotated once (so a seal is
    held on the predecessor): yields the names the cases use."""
    prefix = unique_name("inv")
    user = create_user(stack, db, username=prefix)
    first = login_body(client, user)["refresh_token"]
    live, _ = rotate_body(client, first)
    yield {"uid": user["id"], "sid": sid_of(live), "live": token_hash(live),
           "old": token_hash(first), "users": prefix}
    db.execute("DELETE FROM users WHERE id = %s", (user["id"],))


def test_a_fresh_rotated_session_keeps_every_invariant(db, rotated_session):
    assert db.scalar("SELECT count(*) FROM refresh_tokens t"
                     " JOIN sessions s ON s.id = t.session_id"
                     " WHERE s.user_id = %s AND t.successor_sealed IS NOT NULL",
                     (rotated_session["uid"],)) == 1
    assert_invariants(db, users=rotated_session["users"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_invariant_is_reported(db, rotated_session, case):
    sql, expected = CASES[case]
    db.execute(sql, rotated_session)
    broken = invariant_violations(db, users=rotated_session["users"])
    assert sorted(name for name, _, _ in broken) == sorted(expected)
    assert all(count == 1 for _, count, _ in broken), broken


def test_grace_is_the_servers_setting(db, rotated_session):
    db.execute("UPDATE refresh_tokens SET sealed_until = rotated_at"
               " + interval '30 seconds' WHERE token_hash = %(old)s",
               rotated_session)
    users = rotated_session["users"]
    assert [b[0] for b in invariant_violations(db, grace="10s", users=users)] \
        == ["no seal lasts longer than the grace window"]
    assert invariant_violations(db, grace="30s", users=users) == []


def test_the_check_is_scoped_to_the_users_named(db, rotated_session):
    db.execute(CASES["password in clear"][0], rotated_session)
    assert invariant_violations(db, users=unique_name("nobody")) == []
