"""POST /auth/login refusals: every kind of bad credential gets the same
401 invalid_credentials. The failed logins are made once per module (one
each) so that the suite stays clear of the per-address failure limit."""

import pytest

from conftest import create_user
from latchlib import WWW_AUTH_PLAIN, assert_error

KINDS = ["unknown_user", "wrong_password", "disabled_user", "hash_star",
         "hash_bang"]


@pytest.fixture(scope="module")
def failures(stack, db, client):
    """{kind: (response, user or None)} for one failed login of each kind."""
    out = {}
    known = create_user(stack, db, prefix="fail")
    disabled = create_user(stack, db, prefix="disabled")
    db.execute("UPDATE users SET disabled_at = now() WHERE id = %s",
               (disabled["id"],))
    star = create_user(stack, db, prefix="star")
    db.execute("UPDATE users SET password_hash = '*' WHERE id = %s",
               (star["id"],))
    bang = create_user(stack, db, prefix="bang")
    db.execute("UPDATE users SET password_hash = '!' WHERE id = %s",
               (bang["id"],))
    attempts = {
        "unknown_user": (None, "t_nobody_" + known["username"][-12:],
                         "whatever-password"),
        "wrong_password": (known, known["username"], known["password"] + "x"),
        "disabled_user": (disabled, disabled["username"],
                          disabled["password"]),
        "hash_star": (star, star["username"], star["password"]),
        "hash_bang": (bang, bang["username"], bang["password"]),
    }
    for kind, (user, username, password) in attempts.items():
        out[kind] = (client.login(username=username, password=password), user)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_login_refusal_is_invalid_credentials(failures, kind):
    resp, _ = failures[kind]
    assert_error(resp, 401, "invalid_credentials")
    assert resp.headers.get("WWW-Authenticate") == WWW_AUTH_PLAIN


@pytest.mark.parametrize("kind", KINDS)
def test_login_refusal_sets_no_cookie(failures, kind):
    resp, _ = failures[kind]
    assert resp.raw.headers.getlist("Set-Cookie") == []


def test_login_refusals_share_one_error_description(failures):
    descriptions = {kind: failures[kind][0].json().get("error_description")
                    for kind in KINDS}
    assert len(set(descriptions.values())) == 1, descriptions


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "unknown_user"])
def test_login_refusal_creates_no_session(failures, db, kind):
    _, user = failures[kind]
    assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s",
                     (user["id"],)) == 0


def test_login_refusal_description_names_no_username(failures):
    for kind in KINDS:
        resp, user = failures[kind]
        if user is not None:
            assert user["username"] not in resp.text
