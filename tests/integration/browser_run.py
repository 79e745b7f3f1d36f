"""The one way the browser tests' pytest wrappers run a test of
tests/browser/: `node tests/browser/run.mjs FILE NAME` (one Chromium,
launched and closed by run.mjs, which bounds the test at timeout - 30 s).
The node process is ours: stopped by its process group if it outlives
timeout."""

import os
import shutil
import signal
import subprocess

import pytest

from conftest import INSTANCE, REPO, VAR

BROWSER_DIR = REPO / "tests" / "browser"
ARTIFACTS_DIR = VAR / INSTANCE / "browser"
NODE_TIMEOUT = 120      # seconds for one node run, Chromium start to close


def run_node_test(test_file, name, env, timeout=NODE_TIMEOUT):
    """Runs export name of tests/browser/test_file with env added to ours
    (ARTIFACTS_DIR and TEST_TIMEOUT set); returns its output, or fails
    with it unless the test passed."""
    node = shutil.which("node")
    assert node, "node is missing: `make check` installs nodejs (deps.sh)"
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), \
        "tests/browser/node_modules is missing: `make check` runs npm ci there"
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    full = dict(os.environ, ARTIFACTS_DIR=str(ARTIFACTS_DIR),
                TEST_TIMEOUT=str(timeout - 30), **env)
    proc = subprocess.Popen([node, str(BROWSER_DIR / "run.mjs"),
                             str(BROWSER_DIR / test_file), name],
                            cwd=str(REPO), env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{name}: node still running after {timeout} s:\n"
                    f"{out.decode(errors='replace')[-4000:]}", pytrace=False)
    text = out.decode(errors="replace")
    assert proc.returncode == 0 and f"PASS {test_file}:{name}" in text, \
        f"{name} failed (exit {proc.returncode}):\n{text[-6000:]}"
    return text
