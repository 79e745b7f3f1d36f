"""deploy/www/latch.js in headless Chromium, against the real stack.

Each test runs one function of tests/browser/client.test.mjs with
`node tests/browser/run.mjs` (one Chromium per test, closed by run.mjs; the
node process is ours, stopped by its process group if it outlives its
bound). They talk to an extra lighttpd web of this module whose access
tokens live 2 s, each as a fresh user, so that sessions lists and revokes
see only their own sessions.
"""

import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import (INSTANCE, REPO, STACK_SH, VAR, create_user, http_web,
                      main_port, run_stack)

WEB = "browserjs"
OFFSET = 3              # main web's port + 3 (the browser tests' webs: 1..9)
NODE_TIMEOUT = 120      # seconds for a node run (run.mjs bounds a test at 90)
RUN_MJS = REPO / "tests" / "browser" / "run.mjs"
TESTS = REPO / "tests" / "browser" / "client.test.mjs"


@pytest.fixture(scope="module")
def browser_web(stack):
    base = http_web(stack, WEB, main_port(stack) + OFFSET,
                    {"JWT_ACCESS_EXPIRES": "2s", "COOKIE_SECURE": "0",
                     "BCRYPT_COST": "4"})
    yield base
    run_stack("web-down", INSTANCE, WEB)


def run_browser_test(base_url, name, extra_env=None, timeout=NODE_TIMEOUT):
    """Runs TESTS:name in run.mjs; fails with its output unless it passed."""
    node = shutil.which("node")
    assert node, "node is missing: `make check` installs nodejs (deps.sh)"
    assert (REPO / "tests" / "browser" / "node_modules" /
            "playwright-core").is_dir(), \
        "tests/browser/node_modules missing: `make check` runs npm ci there"
    env = dict(os.environ, BASE_URL=base_url,
               ARTIFACTS_DIR=str(VAR / INSTANCE / "browser"),
               TEST_TIMEOUT=str(timeout - 30), **(extra_env or {}))
    proc = subprocess.Popen([node, str(RUN_MJS), str(TESTS), name],
                            cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{name}: node still running after {timeout} s:\n"
                    f"{out.decode(errors='replace')[-4000:]}")
    text = out.decode(errors="replace")
    assert proc.returncode == 0 and f"PASS client.test.mjs:{name}" in text, \
        f"{name} failed (exit {proc.returncode}):\n{text[-6000:]}"
    return text


def user_env(stack, db):
    u = create_user(stack, db, prefix="br")
    return {"USERNAME": u["username"], "PASSWORD": u["password"]}


def test_browser_client_steady_use_with_2s_tokens(browser_web, stack, db):
    run_browser_test(browser_web, "steady_use", user_env(stack, db))


def test_browser_client_concurrent_expired_calls_share_one_refresh(
        browser_web, stack, db):
    run_browser_test(browser_web, "concurrent_expired", user_env(stack, db))


def test_browser_client_two_tabs_one_refresh(browser_web, stack, db):
    run_browser_test(browser_web, "two_tabs_one_refresh", user_env(stack, db))


def test_browser_client_logout_ends_other_tab(browser_web, stack, db):
    run_browser_test(browser_web, "logout_other_tab", user_env(stack, db))


def test_browser_client_logout_all_ends_other_browser(browser_web, stack, db):
    run_browser_test(browser_web, "logout_all_other_context",
                     user_env(stack, db))


def test_browser_client_sessions_and_revoke(browser_web, stack, db):
    run_browser_test(browser_web, "sessions_and_revoke", user_env(stack, db))


def test_browser_client_token_in_no_storage(browser_web, stack, db):
    run_browser_test(browser_web, "token_in_no_storage", user_env(stack, db))


def test_browser_client_hidden_page_pauses_refresh(browser_web, stack, db):
    run_browser_test(browser_web, "hidden_pauses_refresh", user_env(stack, db))


def test_browser_client_database_outage_is_retryable(browser_web, stack, db):
    cmd = [str(STACK_SH)]
    try:
        run_browser_test(browser_web, "database_outage", dict(
            user_env(stack, db),
            DB_STOP_CMD=json.dumps(cmd + ["db-stop", INSTANCE]),
            DB_START_CMD=json.dumps(cmd + ["db-start", INSTANCE])))
    finally:
        proc = run_stack("db-start", INSTANCE)   # a no-op when it runs
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_browser_client_offline_is_retryable(browser_web, stack, db):
    run_browser_test(browser_web, "offline_is_retryable", user_env(stack, db))


def test_browser_client_abort_signal(browser_web, stack, db):
    run_browser_test(browser_web, "abort_signal", user_env(stack, db))
