"""POST /auth/refresh, concurrent duplicates: the same token again within
REFRESH_REUSE_GRACE (default 10 s), while its successor is still the
session's live token, gets a new access token and the same successor."""

import pytest

from conftest import session_row, token_rows
from latchlib import (assert_error, claims_of, json_body, login_body,
                      login_cookie, refresh_cookie, refreshed_body,
                      set_cookie_headers, sid_of)


@pytest.fixture
def user(make_user):
    return make_user(prefix="rfg")


def test_refresh_duplicate_in_body_gets_the_same_successor(web, user):
    token = login_body(web, user)["refresh_token"]
    first = refreshed_body(web.refresh(token))
    again = refreshed_body(web.refresh(token))
    assert again["refresh_token"] == first["refresh_token"]
    assert set(again) == {"access_token", "token_type", "expires_in",
                          "refresh_token", "refresh_expires_in"}
    assert 0 < again["refresh_expires_in"] <= first["refresh_expires_in"]


def test_refresh_duplicate_in_body_gets_a_new_access_token(web, user):
    token = login_body(web, user)["refresh_token"]
    first = refreshed_body(web.refresh(token))
    again = refreshed_body(web.refresh(token))
    assert again["access_token"] != first["access_token"]
    a, b = claims_of(first["access_token"]), claims_of(again["access_token"])
    assert a["jti"] != b["jti"]
    assert a["sid"] == b["sid"] == sid_of(token)
    assert web.profile(again["access_token"]).status_code == 200


def test_refresh_duplicate_in_cookie_sets_the_same_successor(web, user):
    _, token, _ = login_cookie(web, user)
    first = web.refresh(cookie=token)
    assert first.status_code == 200, first.text
    successor, _ = refresh_cookie(first)
    again = web.refresh(cookie=token)
    assert again.status_code == 200, again.text
    same, max_age = refresh_cookie(again)
    assert same == successor
    assert max_age > 0
    assert set(json_body(again)) == {"access_token", "token_type",
                                     "expires_in"}
    assert json_body(again)["access_token"] != \
        json_body(first)["access_token"]


def test_refresh_duplicate_follows_the_delivery_of_its_request(web, user):
    token = login_body(web, user)["refresh_token"]
    successor = refreshed_body(web.refresh(token))["refresh_token"]
    again = web.refresh(cookie=token)
    assert again.status_code == 200, again.text
    assert refresh_cookie(again)[0] == successor


def test_refresh_duplicate_keeps_the_session_alive(web, db, user):
    token = login_body(web, user)["refresh_token"]
    successor = refreshed_body(web.refresh(token))["refresh_token"]
    refreshed_body(web.refresh(token))
    assert session_row(db, sid_of(token))["revoked_at"] is None
    third = refreshed_body(web.refresh(successor))["refresh_token"]
    assert third not in (token, successor)
    assert sid_of(third) == sid_of(token)


def test_refresh_duplicate_adds_no_token_row(web, db, user):
    token = login_body(web, user)["refresh_token"]
    refreshed_body(web.refresh(token))
    refreshed_body(web.refresh(token))
    refreshed_body(web.refresh(token))
    rows = token_rows(db, sid_of(token))
    assert len(rows) == 2, rows
    assert [rot is None for _, _, rot, _ in rows] == [False, True]


def test_refresh_several_duplicates_all_get_the_same_successor(web, user):
    token = login_body(web, user)["refresh_token"]
    successor = refreshed_body(web.refresh(token))["refresh_token"]
    for _ in range(4):
        assert refreshed_body(web.refresh(token))["refresh_token"] == \
            successor


def test_refresh_duplicate_sets_no_cookie_in_body_delivery(web, user):
    token = login_body(web, user)["refresh_token"]
    refreshed_body(web.refresh(token))
    again = web.refresh(token)
    assert again.status_code == 200
    assert set_cookie_headers(again) == []


def test_refresh_predecessor_of_live_token_is_duplicate_not_reuse(web, db,
                                                                  user):
    """t0 -> t1 -> t2: t1 (whose successor t2 is live) is a duplicate."""
    t0 = login_body(web, user)["refresh_token"]
    t1 = refreshed_body(web.refresh(t0))["refresh_token"]
    t2 = refreshed_body(web.refresh(t1))["refresh_token"]
    assert refreshed_body(web.refresh(t1))["refresh_token"] == t2
    assert session_row(db, sid_of(t0))["revoked_at"] is None


def test_refresh_duplicate_of_revoked_session_is_invalid_grant(web, db,
                                                               user):
    token = login_body(web, user)["refresh_token"]
    refreshed_body(web.refresh(token))
    db.execute("UPDATE sessions SET revoked_at = now(), "
               "revoked_reason = 'revoked' WHERE id = %s", (sid_of(token),))
    assert_error(web.refresh(token), 403, "invalid_grant")
