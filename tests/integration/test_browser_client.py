"""deploy/www/latch.js in headless Chromium, against the real stack.

Each test runs one function of tests/browser/client.test.mjs in the
module's one Chromium (browser_run.BrowserServer: tests/browser/serve.mjs,
each test in browser contexts of its own; the node process and Chromium
are ours, stopped by their process groups at the module's end or when a
test outlives its bound). They talk to an extra lighttpd web of this
module whose access tokens live 2 s, each as a fresh user, so that
sessions lists and revokes see only their own sessions.
"""

import json

import pytest

from browser_run import browser_server
from conftest import (INSTANCE, STACK_SH, create_user, http_web, main_port,
                      run_stack)

WEB = "browserjs"
OFFSET = 3              # main web's port + 3 (the browser tests' webs: 1..9)


@pytest.fixture(scope="module")
def chromium():
    yield from browser_server()


@pytest.fixture(scope="module")
def browser_web(stack):
    base = http_web(stack, WEB, main_port(stack) + OFFSET,
                    {"JWT_ACCESS_EXPIRES": "2s", "COOKIE_SECURE": "0",
                     "BCRYPT_COST": "4"})
    yield base
    run_stack("web-down", INSTANCE, WEB)


def run_browser_test(chromium, base_url, name, extra_env=None):
    """Runs client.test.mjs:name against base_url."""
    return chromium.run("client.test.mjs", name,
                        dict(BASE_URL=base_url, **(extra_env or {})))


def user_env(stack, db):
    u = create_user(stack, db, prefix="br")
    return {"USERNAME": u["username"], "PASSWORD": u["password"]}


def test_browser_client_steady_use_with_2s_tokens(
        chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "steady_use", user_env(stack, db))


def test_browser_client_concurrent_expired_calls_share_one_refresh(
        chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "concurrent_expired",
                     user_env(stack, db))


def test_browser_client_two_tabs_one_refresh(chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "two_tabs_one_refresh",
                     user_env(stack, db))


def test_browser_client_logout_ends_other_tab(
        chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "logout_other_tab",
                     user_env(stack, db))


def test_browser_client_logout_all_ends_other_browser(
        chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "logout_all_other_context",
                     user_env(stack, db))


def test_browser_client_sessions_and_revoke(chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "sessions_and_revoke",
                     user_env(stack, db))


def test_browser_client_token_in_no_storage(chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "token_in_no_storage",
                     user_env(stack, db))


def test_browser_client_hidden_page_pauses_refresh(
        chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "hidden_pauses_refresh",
                     user_env(stack, db))


def test_browser_client_database_outage_is_retryable(
        chromium, browser_web, stack, db):
    cmd = [str(STACK_SH)]
    try:
        run_browser_test(chromium, browser_web, "database_outage", dict(
            user_env(stack, db),
            DB_STOP_CMD=json.dumps(cmd + ["db-stop", INSTANCE]),
            DB_START_CMD=json.dumps(cmd + ["db-start", INSTANCE])))
    finally:
        proc = run_stack("db-start", INSTANCE)   # a no-op when it runs
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_browser_client_offline_is_retryable(chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "offline_is_retryable",
                     user_env(stack, db))


def test_browser_client_abort_signal(chromium, browser_web, stack, db):
    run_browser_test(chromium, browser_web, "abort_signal",
                     user_env(stack, db))
