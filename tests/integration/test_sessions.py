"""GET /auth/sessions and DELETE /auth/sessions/{id}: the caller's live
sessions, and revoking one of them."""

import datetime
import http.client
import json
import urllib.parse
import uuid

import pytest

from conftest import revoke_session, session_row
from latchlib import (RFC3339_UTC, UUID_RE, Client, assert_error,
                      assert_invalid_token, assert_missing_credential,
                      assert_no_store, json_body, login_body, refreshed_body,
                      rotate_body, sid_of)

# API.md, plus "binding" of contract version 1.1 (sender-constrained
# sessions).
FIELDS = {"id", "created_at", "last_used_at", "expires_at", "user_agent",
          "ip", "current", "binding"}


@pytest.fixture
def user(make_user):
    return make_user(prefix="ses")


def _listed(web, access):
    resp = web.sessions(access)
    assert resp.status_code == 200, resp.text
    body = json_body(resp)
    assert set(body) == {"sessions"}, body
    assert isinstance(body["sessions"], list)
    return body["sessions"]


def _ids(web, access):
    return [s["id"] for s in _listed(web, access)]


def _rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------ GET

def test_sessions_lists_exact_fields(web, user):
    login = login_body(web, user)
    resp = web.sessions(login["access_token"])
    assert resp.status_code == 200, resp.text
    assert_no_store(resp)
    (entry,) = json_body(resp)["sessions"]
    assert set(entry) == FIELDS, entry
    assert UUID_RE.match(entry["id"]) and entry["id"] == \
        sid_of(login["access_token"])
    for key in ("created_at", "last_used_at", "expires_at"):
        assert isinstance(entry[key], str) and RFC3339_UTC.match(entry[key]),\
            (key, entry[key])
    assert entry["ip"] == "127.0.0.1"
    assert entry["current"] is True
    # A password login without DPoP or DBSC is bound to nothing.
    assert entry["binding"] is None


def test_sessions_show_the_login_user_agent(web, user):
    agents = ["latch-tests/a-" + uuid.uuid4().hex,
              "Mozilla/5.0 (X11; Linux x86_64) latch-" + uuid.uuid4().hex]
    by_sid = {}
    for agent in agents:
        body = login_body(Client(web.base_url, user_agent=agent), user)
        by_sid[sid_of(body["access_token"])] = agent
    listed = _listed(Client(web.base_url), body["access_token"])
    assert {s["id"]: s["user_agent"] for s in listed} == by_sid


def test_sessions_times_match_the_session_row(web, db, user):
    token = login_body(web, user)["refresh_token"]
    _, access = rotate_body(web, token)
    (entry,) = _listed(web, access)
    row = session_row(db, sid_of(token))
    assert entry["created_at"] == _rfc3339(row["created_at"])
    assert entry["last_used_at"] == _rfc3339(row["last_used_at"])
    assert entry["expires_at"] == _rfc3339(min(row["idle_expires_at"],
                                               row["absolute_expires_at"]))


def test_sessions_expires_at_is_the_earlier_of_idle_and_absolute_end(
        web, db, user):
    """Idle end 1 h away, absolute end 2 h away: the idle end is shown.
    Then the idle end is capped at the absolute end (the schema keeps
    idle <= absolute): the absolute end is shown."""
    login = login_body(web, user)
    sid = sid_of(login["access_token"])
    db.execute("UPDATE sessions SET "
               "idle_expires_at = date_trunc('second', now()) "
               "+ interval '1h', "
               "absolute_expires_at = date_trunc('second', now()) "
               "+ interval '2h' WHERE id = %s", (sid,))
    row = session_row(db, sid)
    (entry,) = _listed(web, login["access_token"])
    assert entry["expires_at"] == _rfc3339(row["idle_expires_at"])
    db.execute("UPDATE sessions SET idle_expires_at = absolute_expires_at "
               "- interval '30 min', absolute_expires_at = absolute_expires_at"
               " - interval '30 min' WHERE id = %s", (sid,))
    row = session_row(db, sid)
    (entry,) = _listed(web, login["access_token"])
    assert entry["expires_at"] == _rfc3339(row["absolute_expires_at"])


def test_sessions_are_listed_newest_first(web, db, user):
    logins = [login_body(web, user) for _ in range(3)]
    sids = [sid_of(l["access_token"]) for l in logins]
    # Space the creation times (the server stores whole seconds).
    for age, sid in zip((30, 20, 10), sids):
        db.execute("UPDATE sessions SET created_at = created_at - "
                   "make_interval(mins => %s), last_used_at = last_used_at "
                   "- make_interval(mins => %s) WHERE id = %s",
                   (age, age, sid))
    assert _ids(web, logins[0]["access_token"]) == sids[::-1]


def test_sessions_mark_only_the_callers_session_current(web, user):
    logins = [login_body(web, user) for _ in range(3)]
    for login in logins:
        listed = _listed(web, login["access_token"])
        current = [s["id"] for s in listed if s["current"] is True]
        assert current == [sid_of(login["access_token"])]
        assert all(s["current"] is False for s in listed
                   if s["id"] not in current)


def test_sessions_current_follows_a_refreshed_access_token(web, user):
    login_body(web, user)                  # a second, older session
    other = login_body(web, user)
    _, access = rotate_body(web, other["refresh_token"])
    current = [s["id"] for s in _listed(web, access) if s["current"]]
    assert current == [sid_of(other["access_token"])]


def test_sessions_omit_logged_out_and_revoked_sessions(web, db, user):
    keep = login_body(web, user)
    gone_logout = login_body(web, user)
    gone_revoked = login_body(web, user)
    gone_reuse = login_body(web, user)
    web.logout(gone_logout["refresh_token"])
    revoke_session(db, sid_of(gone_revoked["access_token"]))
    t1, _ = rotate_body(web, gone_reuse["refresh_token"])
    rotate_body(web, t1)
    assert web.refresh(gone_reuse["refresh_token"]).status_code == 403
    assert _ids(web, keep["access_token"]) == [sid_of(keep["access_token"])]


def test_sessions_omit_sessions_past_their_absolute_end(web, db, user):
    keep = login_body(web, user)
    ended = login_body(web, user)
    db.execute("UPDATE sessions SET created_at = now() - interval '2h', "
               "idle_expires_at = now() - interval '1h', "
               "absolute_expires_at = now() - interval '1h' WHERE id = %s",
               (sid_of(ended["access_token"]),))
    assert _ids(web, keep["access_token"]) == [sid_of(keep["access_token"])]


def test_sessions_omit_sessions_past_their_idle_end(web, db, user):
    keep = login_body(web, user)
    idle = login_body(web, user)
    db.execute("UPDATE sessions SET idle_expires_at = now() - interval '1s' "
               "WHERE id = %s", (sid_of(idle["access_token"]),))
    assert _ids(web, keep["access_token"]) == [sid_of(keep["access_token"])]


def test_sessions_omit_other_users_sessions(web, make_user, user):
    other = login_body(web, make_user(prefix="seso"))
    mine = login_body(web, user)
    assert _ids(web, mine["access_token"]) == [sid_of(mine["access_token"])]
    assert _ids(web, other["access_token"]) == \
        [sid_of(other["access_token"])]


def test_sessions_without_bearer_is_401(web):
    assert_missing_credential(web.sessions(None))


def test_sessions_with_access_token_of_ended_session_is_401(web, user):
    login = login_body(web, user)
    web.logout(login["refresh_token"])
    assert_invalid_token(web.sessions(login["access_token"]))


def test_sessions_with_refresh_token_as_bearer_is_401(web, user):
    login = login_body(web, user)
    assert_invalid_token(web.sessions(login["refresh_token"]))


# ------------------------------------------------------------ DELETE

def test_delete_own_session_is_204_without_body(web, user):
    caller = login_body(web, user)
    target = login_body(web, user)
    resp = web.delete_session(caller["access_token"],
                              sid_of(target["access_token"]))
    assert resp.status_code == 204, resp.text
    assert resp.content == b""


def test_delete_own_session_ends_it(web, db, user):
    caller = login_body(web, user)
    target = login_body(web, user)
    web.delete_session(caller["access_token"],
                       sid_of(target["access_token"]))
    assert_error(web.refresh(target["refresh_token"]), 403,
                 "invalid_grant")
    assert_invalid_token(web.profile(target["access_token"]))
    assert session_row(db, sid_of(target["access_token"]))["revoked_at"] \
        is not None
    assert _ids(web, caller["access_token"]) == \
        [sid_of(caller["access_token"])]


def test_delete_own_session_leaves_the_callers_session_alone(web, user):
    caller = login_body(web, user)
    target = login_body(web, user)
    web.delete_session(caller["access_token"],
                       sid_of(target["access_token"]))
    assert web.profile(caller["access_token"]).status_code == 200
    refreshed_body(web.refresh(caller["refresh_token"]))


def test_delete_current_session_is_204_and_ends_it(web, user):
    login = login_body(web, user)
    resp = web.delete_session(login["access_token"],
                              sid_of(login["access_token"]))
    assert resp.status_code == 204, resp.text
    assert_invalid_token(web.profile(login["access_token"]))
    assert_error(web.refresh(login["refresh_token"]), 403, "invalid_grant")


def test_delete_someone_elses_session_is_404_and_changes_nothing(
        web, db, make_user, user):
    mine = login_body(web, user)
    theirs = login_body(web, make_user(prefix="sesx"))
    sid = sid_of(theirs["access_token"])
    resp = web.delete_session(mine["access_token"], sid)
    assert_error(resp, 404, "not_found")
    assert session_row(db, sid)["revoked_at"] is None
    assert web.profile(theirs["access_token"]).status_code == 200
    refreshed_body(web.refresh(theirs["refresh_token"]))


def test_delete_unknown_session_is_404(web, user):
    login = login_body(web, user)
    resp = web.delete_session(login["access_token"], str(uuid.uuid4()))
    assert_error(resp, 404, "not_found")


@pytest.mark.parametrize("sid", [
    "abc", "x" * 100, "00000000-0000-0000-0000-00000000000g",
    "00000000000000000000000000000000-", "'%20OR%201=1"])
def test_delete_malformed_session_id_is_404(web, user, sid):
    login = login_body(web, user)
    resp = web.delete_session(login["access_token"], sid)
    assert_error(resp, 404, "not_found")


def _raw_request(base_url, method, path, headers):
    """Sends path byte for byte (requests would remove dot segments)."""
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_delete_dot_dot_session_id_is_404(web, user):
    login = login_body(web, user)
    status, headers, body = _raw_request(
        web.base_url, "DELETE", "/auth/sessions/../x",
        {"Authorization": "Bearer " + login["access_token"]})
    assert status == 404, body
    assert json.loads(body)["error"] == "not_found"
    assert web.profile(login["access_token"]).status_code == 200


def test_delete_session_without_bearer_is_401(web, user):
    login = login_body(web, user)
    resp = web.delete_session(None, sid_of(login["access_token"]))
    assert_missing_credential(resp)
    assert web.profile(login["access_token"]).status_code == 200


# ------------------------------------------------------------ methods

@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_session_item_other_methods_are_405_allow_delete(web, user,
                                                         method):
    login = login_body(web, user)
    resp = web.bearer(method, "/auth/sessions/" +
                      sid_of(login["access_token"]), login["access_token"])
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "DELETE"


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_sessions_collection_other_methods_are_405_allow_get(web, method):
    resp = web.request(method, "/auth/sessions")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow") == "GET"


# ------------------------------------------------------------ main web

def test_sessions_on_main_web_list_and_delete(client, make_user):
    user = make_user(prefix="sesm")
    caller = login_body(client, user)
    target = login_body(client, user)
    ids = _ids(client, caller["access_token"])
    assert ids == [sid_of(target["access_token"]),
                   sid_of(caller["access_token"])] or \
        sorted(ids) == sorted([sid_of(target["access_token"]),
                               sid_of(caller["access_token"])])
    resp = client.delete_session(caller["access_token"],
                                 sid_of(target["access_token"]))
    assert resp.status_code == 204, resp.text
    assert _ids(client, caller["access_token"]) == \
        [sid_of(caller["access_token"])]
