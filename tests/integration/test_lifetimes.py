"""Refresh-token lifetimes on a second-scale instance (JWT_REFRESH_EXPIRES=3s,
SESSION_MAX_AGE=8s, REFRESH_REUSE_GRACE=1s): a token dies after 3 s of
inactivity; a session refreshed every second still ends 8 s after login,
and nothing it hands out (exp, refresh_expires_in, cookie Max-Age) reaches
past that end.

One timeline (about 9 s) is played once per module by a fixture that
records what it saw; the tests below each check one aspect of it."""

import calendar
import time

import pytest

from conftest import LIFETIME_REFRESH, LIFETIME_SESSION, create_user, \
    session_row
from latchlib import (assert_clears_cookie, assert_error,
                      assert_invalid_token, claims_of, json_body,
                      login_body, login_cookie, refresh_cookie, sid_of)

SLACK = 1      # seconds of rounding allowed
PACE = 0.6     # seconds between refreshes of the busy session


def _epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def _sleep_until(t, limit=12.0):
    delay = t - time.time()
    assert delay <= limit, f"refusing to wait {delay:.1f} s"
    if delay > 0:
        time.sleep(delay)


@pytest.fixture(scope="module")
def timeline(lifetimes_web, stack, db):
    web = lifetimes_web
    user = create_user(stack, db, prefix="life")
    out = {"web": web, "user": user, "steps": []}

    # Two sessions left idle, and one kept busy.
    out["idle_body"] = login_body(web, user)
    out["idle_cookie_login"], out["idle_cookie"], out["idle_cookie_age"] = \
        login_cookie(web, user)
    busy_login, token, max_age = login_cookie(web, user)
    sid = sid_of(token)
    out["busy_sid"] = sid
    out["busy_login_exp"], out["busy_login_age"] = claims_of(token)["exp"], \
        max_age
    end = int(session_row(db, sid)["absolute_expires_at"].timestamp())
    out["end"] = end
    out["created"] = int(session_row(db, sid)["created_at"].timestamp())
    access = busy_login["access_token"]
    # The two idle logins may fall in different seconds, so their tokens
    # may expire a second apart: wait for the later one.
    idle_deadline = max(claims_of(out["idle_body"]["refresh_token"])["exp"],
                        claims_of(out["idle_cookie"])["exp"]) + 0.3

    # Refresh the busy session every 0.6 s until just before its
    # end, alternating deliveries; meanwhile, once the idle tokens have
    # expired, present them.
    delivery, step_no = "body", 0
    while time.time() < end - 0.6 and step_no < 30:
        step_no += 1
        t_req = time.time()
        if delivery == "body":
            resp = web.refresh(token)
        else:
            resp = web.refresh(cookie=token)
        t_resp = time.time()
        step = {"delivery": delivery, "t_req": t_req, "t_resp": t_resp,
                "status": resp.status_code, "text": resp.text[:200]}
        if resp.status_code == 200:
            body = json_body(resp)
            if delivery == "body":
                token = body["refresh_token"]
                step["life"] = body["refresh_expires_in"]
            else:
                token, step["life"] = refresh_cookie(resp)
            step["exp"] = claims_of(token)["exp"]
            access = body["access_token"]
            listed = web.sessions(access)
            step["listed"] = [s for s in json_body(listed)["sessions"]
                              if s["id"] == sid] \
                if listed.status_code == 200 else listed.status_code
        out["steps"].append(step)
        if resp.status_code != 200:
            break
        if "idle_after" not in out and time.time() >= idle_deadline:
            out["idle_after"] = (time.time(),
                                 web.refresh(out["idle_body"]
                                             ["refresh_token"]),
                                 web.refresh(cookie=out["idle_cookie"]))
        delivery = "cookie" if delivery == "body" else "body"
        _sleep_until(min(t_req + PACE, end - 0.6))
    if "idle_after" not in out:
        _sleep_until(idle_deadline)
        out["idle_after"] = (time.time(),
                             web.refresh(out["idle_body"]["refresh_token"]),
                             web.refresh(cookie=out["idle_cookie"]))

    # Past the end.
    _sleep_until(end + 0.3)
    out["last_token"], out["last_access"] = token, access
    out["after_end"] = web.refresh(token)
    out["after_end_profile"] = web.profile(access)
    fresh = login_body(web, user)
    out["fresh_sid"] = sid_of(fresh["access_token"])
    out["after_end_listed"] = web.sessions(fresh["access_token"])
    return out


# ------------------------------------------------------------ inactivity

def test_login_refresh_lifetime_is_the_inactivity_lifetime(timeline):
    idle = timeline["idle_body"]
    assert idle["refresh_expires_in"] == LIFETIME_REFRESH
    c = claims_of(idle["refresh_token"])
    assert c["exp"] - c["iat"] == LIFETIME_REFRESH
    assert timeline["idle_cookie_age"] == LIFETIME_REFRESH


def test_refresh_token_unused_past_its_lifetime_is_refused(timeline):
    when, body_resp, _ = timeline["idle_after"]
    assert when >= claims_of(timeline["idle_body"]["refresh_token"])["exp"]
    assert_error(body_resp, 403, "invalid_grant")


def test_refresh_cookie_unused_past_its_lifetime_is_refused_and_cleared(
        timeline):
    when, _, cookie_resp = timeline["idle_after"]
    assert when >= claims_of(timeline["idle_cookie"])["exp"]
    assert_error(cookie_resp, 403, "invalid_grant")
    assert_clears_cookie(cookie_resp)


def test_refreshing_every_second_outlives_the_inactivity_lifetime(timeline):
    ok = [s for s in timeline["steps"] if s["status"] == 200]
    assert ok, timeline["steps"]
    assert ok[-1]["t_req"] - timeline["created"] > LIFETIME_REFRESH + 1, \
        "the busy session did not outlive one inactivity lifetime"


# ------------------------------------------------------------ absolute end

def test_session_end_is_login_plus_session_max_age(timeline):
    assert timeline["end"] - timeline["created"] == LIFETIME_SESSION


def test_busy_session_refreshes_until_its_end(timeline):
    steps = timeline["steps"]
    assert len(steps) >= (LIFETIME_SESSION - 3) / PACE, steps
    bad = [s for s in steps if s["status"] != 200]
    assert not bad, bad


def test_refresh_exp_never_passes_session_end(timeline):
    end = timeline["end"]
    assert timeline["busy_login_exp"] <= end
    for s in timeline["steps"]:
        assert s["exp"] <= end, s


def test_refresh_exp_is_idle_lifetime_or_session_end(timeline):
    """exp == min(now + 3 s, end), now being the server's clock reading
    (between request and answer, whole seconds)."""
    end = timeline["end"]
    capped = 0
    for s in timeline["steps"]:
        low = min(int(s["t_req"]) + LIFETIME_REFRESH, end)
        high = min(int(s["t_resp"]) + LIFETIME_REFRESH, end)
        assert low - SLACK <= s["exp"] <= high + SLACK, s
        if int(s["t_req"]) + LIFETIME_REFRESH > end:
            assert s["exp"] == end, s          # capped: exactly the end
            capped += 1
    assert capped >= 1, "the timeline never reached the cap"


def test_refresh_expires_in_never_passes_session_end(timeline):
    end = timeline["end"]
    for s in [s for s in timeline["steps"] if s["delivery"] == "body"]:
        assert 0 < s["life"] <= end - int(s["t_req"]) + SLACK, s
        assert abs(s["life"] - (s["exp"] - int(s["t_req"]))) <= SLACK, s


def test_refresh_cookie_max_age_never_passes_session_end(timeline):
    end = timeline["end"]
    assert timeline["busy_login_age"] <= end - timeline["created"]
    cookie_steps = [s for s in timeline["steps"] if s["delivery"] == "cookie"]
    assert cookie_steps
    for s in cookie_steps:
        assert 0 < s["life"] <= end - int(s["t_req"]) + SLACK, s
        assert abs(s["life"] - (s["exp"] - int(s["t_req"]))) <= SLACK, s


def test_sessions_list_expires_at_follows_the_live_token(timeline):
    for s in timeline["steps"]:
        assert isinstance(s["listed"], list) and len(s["listed"]) == 1, s
        assert abs(_epoch(s["listed"][0]["expires_at"]) - s["exp"]) \
            <= SLACK, s
        assert _epoch(s["listed"][0]["expires_at"]) <= timeline["end"], s


def test_refresh_after_session_end_is_refused(timeline):
    assert_error(timeline["after_end"], 403, "invalid_grant")


def test_access_token_after_session_end_is_refused(timeline):
    assert_invalid_token(timeline["after_end_profile"])


def test_ended_session_disappears_from_sessions_list(timeline):
    resp = timeline["after_end_listed"]
    assert resp.status_code == 200, resp.text
    ids = [s["id"] for s in json_body(resp)["sessions"]]
    assert timeline["busy_sid"] not in ids
    assert timeline["fresh_sid"] in ids
