"""The spawn-fcgi deployments (issue "Deployments proven for real"):
latch's pools started by deploy/spawn-fcgi/latch-spawn exactly as the
shipped systemd units start them, served by lighttpd through "socket"
entries (deploy/lighttpd/spawn-fcgi.conf) and by nginx (deploy/nginx/),
plain and over TLS with COOKIE_SECURE=1. Each recipe starts once per run
(stack.sh recipe-up) and is stopped, and proven stopped, at the end.
"""

import grp
import os
import pwd
import re
import stat
import time
from pathlib import Path

import pytest

from conftest import INSTANCE, REPO, LogTail, run_stack
from deploy_smoke import contract_smoke, recipe_env, recipe_port
from latchlib import Client, json_body

TARGET = REPO / "deploy" / "systemd" / "latch-spawn.target"
SANITIZER_VARS = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                  "TSAN_OPTIONS", "MSAN_OPTIONS"}


def pool_instances():
    """login-1, ... as the shipped target wants them."""
    names = re.findall(r"latch-spawn@([a-z]+-[0-9]+)\.service",
                       "\n".join(line for line in TARGET.read_text().splitlines()
                                 if line.startswith("Wants=")))
    assert names, f"{TARGET} wants no latch-spawn@ instance"
    return names


def service_user():
    """Who runs the recipe's web server and responders (stack.sh)."""
    if os.geteuid() == 0:
        return "latch", grp.getgrgid(pwd.getpwnam("latch").pw_gid).gr_name
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def proc_status(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].split()
    raise AssertionError(f"/proc/{pid}/status has no {key}")


def pids_running_from(bindir):
    """Processes whose executable lives in bindir (as web.sh finds them)."""
    out = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            exe = os.readlink(p / "exe")
        except OSError:
            continue
        if exe.startswith(str(bindir) + "/"):
            out.add(int(p.name))
    return out


def unix_listeners():
    """inode -> path of the listening Unix sockets (/proc/net/unix)."""
    out = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        f = line.split()
        # Flags 00010000 is __SO_ACCEPTCON: a listening socket.
        if len(f) >= 8 and int(f[3], 16) & 0x10000:
            out[int(f[6])] = f[7]
    return out


class Recipe:
    def __init__(self, stack, kind, settings):
        self.kind = kind
        self.dir = stack.rundir / f"recipe-{kind}"
        self.port = recipe_port(stack, kind)
        run_stack("recipe-down", INSTANCE, kind, env=recipe_env())
        proc = run_stack("recipe-up", INSTANCE, kind, str(self.port),
                         *[f"{k}={v}" for k, v in settings.items()],
                         env=recipe_env())
        assert proc.returncode == 0, \
            f"recipe-up {kind}: {proc.stderr.decode()[-3000:]}"
        m = re.search(r"^BASE_URL=(\S+)$", proc.stdout.decode(), re.M)
        assert m, f"recipe-up {kind} printed no BASE_URL: {proc.stdout!r}"
        self.base_url = m.group(1)
        self.ca = self.dir / "tls" / "ca.crt" if \
            self.base_url.startswith("https:") else None
        self.web_pid_file = self.dir / ("lighttpd.pid" if kind.startswith(
            "lighttpd") else "nginx.pid")
        self.web_pid = int(self.web_pid_file.read_text().split()[0])
        self.error_log = self.dir / ("lighttpd.error.log" if kind.startswith(
            "lighttpd") else "error.log")

    def pool_pids(self):
        """instance -> pid, from the recipe's pid files."""
        return {i: int((self.dir / "pools" / f"{i}.pid").read_text())
                for i in pool_instances()}

    def stop_and_check(self):
        """recipe-down, then nothing of it may run any more."""
        pids = set(self.pool_pids().values()) | {self.web_pid}
        proc = run_stack("recipe-down", INSTANCE, self.kind, env=recipe_env())
        assert proc.returncode == 0, \
            f"recipe-down {self.kind}: {proc.stderr.decode()[-2000:]}"
        alive = {p for p in pids if Path(f"/proc/{p}").exists() and
                 proc_status(p, "State")[0] != "Z"}
        assert not alive, f"{self.kind}: still running after recipe-down: {alive}"
        assert not pids_running_from(self.dir / "bin"), \
            f"{self.kind}: responders left under {self.dir}/bin"
        assert not list((self.dir / "s").glob("*.sock")), \
            f"{self.kind}: sockets left in {self.dir}/s"


def recipe_fixture(kind, **settings):
    @pytest.fixture(scope="module")
    def fixture(stack):
        recipe = Recipe(stack, kind, settings)
        try:
            yield recipe
        finally:
            recipe.stop_and_check()
    return fixture


lighttpd_spawn = recipe_fixture("lighttpd-spawn")
nginx_plain = recipe_fixture("nginx")
nginx_tls = recipe_fixture("nginx-tls", COOKIE_SECURE="1")

ALL = ["lighttpd_spawn", "nginx_plain", "nginx_tls"]


@pytest.fixture(params=ALL)
def recipe(request):
    return request.getfixturevalue(request.param)


def test_contract_through_lighttpd_and_spawn_fcgi(stack, db, lighttpd_spawn):
    contract_smoke(stack, db, lighttpd_spawn.base_url)


def test_contract_through_nginx_and_spawn_fcgi(stack, db, nginx_plain):
    contract_smoke(stack, db, nginx_plain.base_url)


def test_contract_through_nginx_over_tls_with_secure_cookies(stack, db,
                                                            nginx_tls):
    assert nginx_tls.base_url.startswith("https://127.0.0.1:")
    contract_smoke(stack, db, nginx_tls.base_url, secure=True,
                   verify=str(nginx_tls.ca))


def test_sockets_belong_to_the_web_servers_user_mode_0600(recipe):
    """README "The spawn-fcgi pools": owner the web server's user (here the
    service user, who runs the recipe's web server), mode 0600, one
    socket per process of the shipped target, nothing else there."""
    user, group = service_user()
    socks = sorted(p.name for p in (recipe.dir / "s").iterdir())
    assert socks == sorted(f"{i}.sock" for i in pool_instances())
    for name in socks:
        st = os.lstat(recipe.dir / "s" / name)
        assert stat.S_ISSOCK(st.st_mode), name
        assert stat.S_IMODE(st.st_mode) == 0o600, \
            f"{name}: mode {stat.S_IMODE(st.st_mode):o}"
        assert pwd.getpwuid(st.st_uid).pw_name == user, name
        assert grp.getgrgid(st.st_gid).gr_name == group, name


def test_pool_processes_are_spawn_fcgi_responders(recipe):
    """Each process of the target is its binary (spawn-fcgi -n exec'd
    it), serving fd 0 as the listening socket spawn-fcgi bound at its
    path, as the service user, with the clean environment latch-spawn
    gives, not a child of the web server; and no other responder runs."""
    user, _ = service_user()
    uid = pwd.getpwnam(user).pw_uid
    listeners = unix_listeners()
    pids = recipe.pool_pids()
    for inst, pid in pids.items():
        family = inst.rsplit("-", 1)[0]
        assert os.readlink(f"/proc/{pid}/exe") == \
            str(recipe.dir / "bin" / f"{family}.fcgi"), inst
        fd0 = os.readlink(f"/proc/{pid}/fd/0")
        m = re.fullmatch(r"socket:\[(\d+)\]", fd0)
        assert m, f"{inst}: fd 0 is {fd0}"
        assert listeners.get(int(m.group(1))) == \
            str(recipe.dir / "s" / f"{inst}.sock"), \
            f"{inst}: fd 0 is not the listener at its socket path"
        assert int(proc_status(pid, "Uid")[0]) == uid, inst
        assert int(proc_status(pid, "PPid")[0]) != recipe.web_pid, inst
        env = dict(kv.split("=", 1) for kv in Path(f"/proc/{pid}/environ")
                   .read_bytes().decode().split("\0") if kv)
        assert env.pop("LATCH_CONFIG") == str(recipe.dir / "latch.conf"), inst
        assert set(env) <= SANITIZER_VARS, f"{inst}: environment {sorted(env)}"
    assert pids_running_from(recipe.dir / "bin") == set(pids.values())
    # The web server's own processes are not responders.
    assert recipe.web_pid not in pids.values()


def test_a_pool_process_gone_leaves_the_pool_serving(recipe):
    """Last in this file: it stops one api process of each recipe (no
    supervisor here: under systemd Restart=on-failure replaces it). The
    web server skips the refused socket and the other process answers
    every request, having tried the refused one (its error log says so)."""
    log = LogTail(recipe.error_log)
    pids = recipe.pool_pids()
    victim = pids["api-1"]
    os.kill(victim, 15)                 # idle: exits at once
    deadline = time.monotonic() + 5
    while Path(f"/proc/{victim}").exists() and \
            proc_status(victim, "State")[0] != "Z":
        assert time.monotonic() < deadline, "api-1 did not exit on SIGTERM"
        time.sleep(0.05)
    client = Client(recipe.base_url, verify=None if recipe.ca is None
                    else str(recipe.ca))
    for _ in range(6):
        resp = client.request("GET", "/api/health")
        assert resp.status_code == 200, \
            f"health with api-1 gone: {resp.status_code} {resp.text[:200]}"
        assert json_body(resp)["status"] == "ok"
    sock = str(recipe.dir / "s" / "api-1.sock")
    assert any(sock in line and "refused" in line.lower()
               for line in log.lines()), \
        f"the web server never tried {sock}: {log.lines()[-5:]}"
