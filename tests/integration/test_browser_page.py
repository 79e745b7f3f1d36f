"""Issue 12: the demo page (deploy/www/index.html) in real headless
Chromium, through the real stack. Each test runs one export of
tests/browser/page.test.mjs in the module's one Chromium
(browser_run.BrowserServer, each test in browser contexts of its own),
with a user of its own.

The first test logs in on the main web, as `make run` serves the page. The
others talk to an extra lighttpd web of this module ("page", the main web's
port + PAGE_OFFSET, serving the same deploy/www and binaries) with cheap
hashes (BCRYPT_COST=4: logins take milliseconds, not a cost-12 bcrypt
each), sign-up allowed, and X-Forwarded-For believed from 127.0.0.1, so
that the wrong-password and sign-up tests count their attempts under a
fresh address of their own and never on the address every other test logs
in from (the browser's requests without the header come from 127.0.0.1)."""

import json

import pytest

from browser_run import ARTIFACTS_DIR, browser_server
from conftest import (INSTANCE, STACK_SH, create_user, http_web, main_port,
                      run_stack, unique_name)
from latchlib import fresh_address

PAGE_WEB = "page"
PAGE_OFFSET = 7             # main web's port + 7 (the browser tests' webs: 1..9)


@pytest.fixture(scope="module")
def chromium():
    yield from browser_server()


def run_page_test(chromium, name, env):
    """Runs page.test.mjs:name with env."""
    return chromium.run("page.test.mjs", name, env)


@pytest.fixture
def page_user(stack, db):
    """A user of its own for each test, with an email."""
    username = unique_name("page")
    return create_user(stack, db, username=username,
                       email=f"{username}@example.test")


def start_page_web(stack):
    return http_web(stack, PAGE_WEB, main_port(stack) + PAGE_OFFSET, {
        "COOKIE_SECURE": "0", "ALLOW_SIGNUP": "1", "BCRYPT_COST": "4",
        "TRUSTED_PROXIES": "127.0.0.1"})


@pytest.fixture(scope="module")
def page_web(stack):
    base_url = start_page_web(stack)
    yield base_url
    run_stack("web-down", INSTANCE, PAGE_WEB)


def user_env(base_url, user):
    return {"BASE_URL": base_url, "USERNAME": user["username"],
            "PASSWORD": user["password"], "EMAIL": user["email"]}


def live_sessions(db, user):
    return db.scalar("SELECT count(*) FROM sessions WHERE user_id = %s "
                     "AND revoked_at IS NULL", (user["id"],))


def test_login_shows_profile_and_keeps_no_token(chromium, stack, page_user):
    """On the main web: the page as `make run` serves it."""
    run_page_test(chromium, "loginShowsProfileAndKeepsNoToken",
                  user_env(stack.base_url, page_user))


def test_reload_keeps_you_logged_in(chromium, page_web, page_user):
    run_page_test(chromium, "reloadKeepsYouLoggedIn",
                  user_env(page_web, page_user))


def test_sessions_of_two_contexts_and_revoke(chromium, page_web, db,
                                             page_user):
    run_page_test(chromium, "sessionsOfTwoContextsAndRevoke",
                  user_env(page_web, page_user))
    assert live_sessions(db, page_user) == 1


def test_log_out_button(chromium, page_web, db, page_user):
    run_page_test(chromium, "logOutButton", user_env(page_web, page_user))
    assert live_sessions(db, page_user) == 0


def test_log_out_everywhere_button(chromium, page_web, db, page_user):
    run_page_test(chromium, "logOutEverywhereButton",
                  user_env(page_web, page_user))
    assert live_sessions(db, page_user) == 0


def test_login_errors_in_words(chromium, stack, page_web, page_user):
    """The test stops the web halfway (WEB_DOWN_CMD); it is started again
    for the tests after it."""
    env = user_env(page_web, page_user)
    env.update(CLIENT_ADDRESS=fresh_address(),
               WEB_DOWN_CMD=json.dumps([str(STACK_SH), "web-down", INSTANCE,
                                        PAGE_WEB]))
    try:
        run_page_test(chromium, "loginErrorsInWords", env)
    finally:
        assert start_page_web(stack) == page_web


def test_outage_in_words(chromium, page_web, page_user):
    env = user_env(page_web, page_user)
    env.update(DB_STOP_CMD=json.dumps([str(STACK_SH), "db-stop", INSTANCE]),
               DB_START_CMD=json.dumps([str(STACK_SH), "db-start", INSTANCE]))
    try:
        run_page_test(chromium, "outageInWords", env)
    finally:
        proc = run_stack("db-start", INSTANCE)   # a no-op when it runs
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_sign_up(chromium, stack, db, page_web, page_user):
    """Off on the main web (BASE_URL), on at the page web."""
    env = user_env(stack.base_url, page_user)
    env.update(SIGNUP_BASE_URL=page_web, CLIENT_ADDRESS=fresh_address())
    run_page_test(chromium, "signUp", env)
    made = db.one("SELECT email FROM users WHERE username = %s",
                  (page_user["username"] + "-s",))
    assert made == (page_user["username"] + "-s@example.test",), made


def test_accessibility_audit(chromium, page_web, page_user):
    run_page_test(chromium, "accessibilityAudit",
                  user_env(page_web, page_user))


def test_screenshots(chromium, page_web, page_user):
    for f in ARTIFACTS_DIR.glob("page-*.png"):
        f.unlink()
    run_page_test(chromium, "screenshots", user_env(page_web, page_user))
    shots = sorted(p.name for p in ARTIFACTS_DIR.glob("page-*.png"))
    assert shots == ["page-logged-in-desktop.png", "page-logged-in-phone.png",
                     "page-sessions-desktop.png", "page-sessions-phone.png"], \
        shots
    for name in shots:
        assert (ARTIFACTS_DIR / name).stat().st_size > 5000, name
