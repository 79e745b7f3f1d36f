"""lighttpd + mod_fastcgi with bin-path, from the shipped files of
deploy/lighttpd/: the main web of the stack (make run's shape: stack.sh
writes only the dev part around latch-fastcgi.conf), and recipe
lighttpd-tls (the same file with latch-tls.conf: https with a certificate
made for this run, COOKIE_SECURE=1, HSTS, a plain-http socket that only
redirects). lighttpd supervises the responders: one killed with SIGKILL is
started again and the next request is served."""

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import INSTANCE, REPO, create_user, run_stack
from deploy_smoke import contract_smoke, recipe_env, recipe_port
from latchlib import Client, json_body

SHIPPED = REPO / "deploy" / "lighttpd"
KIND = "lighttpd-tls"
HSTS = "max-age=31536000"


def responder_pids(bin_dir, name=None):
    """Pids of the processes whose executable is in bin_dir (name: only
    that binary), found under /proc as stack.sh finds them."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        if Path(exe).parent == bin_dir and (name is None or
                                            Path(exe).name == name):
            out.add(int(entry.name))
    return out


def test_main_web_runs_from_the_shipped_file(stack):
    """What make run serves is deploy/lighttpd/latch-fastcgi.conf, copied
    unchanged and included by the small dev file stack.sh writes."""
    copy = stack.rundir / "latch-fastcgi.conf"
    assert copy.read_bytes() == (SHIPPED / "latch-fastcgi.conf").read_bytes()
    conf = (stack.rundir / "lighttpd.conf").read_text()
    assert f'include "{copy}"' in conf
    assert "fastcgi.server" not in conf, "pools belong in the shipped file"


def test_contract_smoke_through_the_main_web(stack, db):
    contract_smoke(stack, db, stack.base_url)


@pytest.fixture(scope="module")
def tls(stack):
    """Recipe lighttpd-tls, once for this module: (base URL, CA file,
    recipe directory)."""
    port = recipe_port(stack, KIND)
    env = recipe_env()
    run_stack("recipe-down", INSTANCE, KIND, env=env)  # leftovers of a crash
    proc = run_stack("recipe-up", INSTANCE, KIND, str(port), "COOKIE_SECURE=1",
                     "BCRYPT_COST=4", env=env)
    assert proc.returncode == 0, \
        f"recipe-up {KIND} failed: {proc.stderr.decode()[-3000:]}"
    base_url = proc.stdout.decode().strip().rpartition("BASE_URL=")[2]
    assert base_url == f"https://127.0.0.1:{port}", proc.stdout
    rdir = stack.rundir / f"recipe-{KIND}"
    yield base_url, str(rdir / "tls" / "ca.pem"), rdir
    down = run_stack("recipe-down", INSTANCE, KIND, env=env)
    assert down.returncode == 0, down.stderr.decode()[-2000:]
    assert not responder_pids(rdir / "bin"), "responders outlived recipe-down"


def test_tls_recipe_runs_from_the_shipped_files(tls):
    _, _, rdir = tls
    for name in ("latch-fastcgi.conf", "latch-tls.conf"):
        assert (rdir / name).read_bytes() == (SHIPPED / name).read_bytes()
        assert f'include "{rdir / name}"' in (rdir / "lighttpd.conf").read_text()
    assert not (rdir / "tls" / "ca.key").exists(), "the CA key must not stay"


def test_contract_smoke_over_https(stack, db, tls):
    base_url, ca, _ = tls
    contract_smoke(stack, db, base_url, secure=True, verify=ca)


def test_https_answers_carry_hsts(tls):
    base_url, ca, _ = tls
    client = Client(base_url, verify=ca)
    for path in ("/api/health", "/api/no-such-route", "/"):
        resp = client.request("GET", path)
        assert resp.headers.get("Strict-Transport-Security") == HSTS, \
            (path, resp.status_code, dict(resp.headers))


def test_plain_http_only_redirects_to_https(stack, db, tls):
    """The http socket (the recipe's port + 1) answers a login with a 308
    to the same path and query on the https origin: the credentials never
    reach latch in clear, and a client that follows keeps its POST."""
    base_url, ca, _ = tls
    port = recipe_port(stack, "lighttpd-tls-http")
    assert port == recipe_port(stack, KIND) + 1, "the recipe listens there"
    http = Client(f"http://127.0.0.1:{port}")
    user = create_user(stack, db, prefix="redir")
    resp = http.login(username=user["username"], password=user["password"])
    assert resp.status_code == 308, (resp.status_code, resp.text[:200])
    assert resp.headers["Location"] == base_url + "/auth/login"
    assert "Set-Cookie" not in resp.headers
    resp = http.request("GET", "/api/health?probe=1")
    assert resp.status_code == 308
    assert resp.headers["Location"] == base_url + "/api/health?probe=1"


def wait_for_replacements(bin_dir, name, killed, count, timeout=10.0):
    """The pids of name in bin_dir once count of them run and none is a
    killed one (bounded wait); the last set seen otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        now = responder_pids(bin_dir, name)
        if len(now) == count and not now & killed or \
                time.monotonic() > deadline:
            return now
        time.sleep(0.05)


@pytest.mark.parametrize("name", ["api.fcgi", "login.fcgi"])
def test_responders_killed_with_sigkill_are_replaced(stack, db, tls, name):
    """Every process of a pool killed with SIGKILL: lighttpd starts as
    many again, and the next request to that pool is served."""
    base_url, ca, rdir = tls
    client = Client(base_url, verify=ca)
    user = create_user(stack, db, prefix="kill")
    bin_dir = rdir / "bin"
    before = responder_pids(bin_dir, name)
    assert len(before) == 2, f"{name} pool: {before}"
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    after = wait_for_replacements(bin_dir, name, before, len(before))
    assert len(after) == len(before) and not after & before, \
        f"{name}: killed {before}, running {after}"
    if name == "api.fcgi":
        resp = client.request("GET", "/api/health")
        assert resp.status_code == 200, (resp.status_code, resp.text[:200])
        assert json_body(resp) == {"status": "ok", "database": "ok"}
    else:
        resp = client.login(username=user["username"],
                            password=user["password"], token_delivery="body")
        assert resp.status_code == 200, (resp.status_code, resp.text[:200])
        token = json_body(resp)["access_token"]
        assert client.profile(token=token).status_code == 200
