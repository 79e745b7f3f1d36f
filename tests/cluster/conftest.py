"""Fixtures of the cluster tests (issue 15): latch on several hosts, each a
network namespace of this machine (tests/cluster/cluster.sh), PostgreSQL
with a synchronous streaming replica, PgBouncer in transaction pooling
between them and the web hosts.

The session fixture `cluster` starts a fresh cluster (`cluster.sh up TAG
NWEBS`), moves this pytest process into the clients' namespace (so every
request and every database connection of the tests goes over the
cluster's own network), and stops everything again at the end, whatever
the tests said (`cluster.sh down TAG`, from the root namespace again).

Environment: CLUSTER_TAG (dev), CLUSTER_WEBS (2), CLUSTER_FULL (0: the
short form of make check; 1: make cluster-check's longer loads), BIN_DIR
(build). Needs root (network namespaces).

The helpers of tests/integration (latchlib, loadmix, deploy_smoke and its
conftest's users and invariants) are used as they are; deploy_smoke's
`from conftest import create_user` finds this module's, which creates the
users on the primary directly.
"""

import ctypes
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTEGRATION = REPO / "tests" / "integration"
sys.path.insert(0, str(INTEGRATION))

_spec = importlib.util.spec_from_file_location(
    "integration_conftest", INTEGRATION / "conftest.py")
ic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ic)

Db = ic.Db
assert_invariants = ic.assert_invariants
invariant_violations = ic.invariant_violations
token_rows = ic.token_rows
session_row = ic.session_row
unique_name = ic.unique_name

CLUSTER_SH = HERE / "cluster.sh"
TAG = os.environ.get("CLUSTER_TAG", "dev")
NWEBS = int(os.environ.get("CLUSTER_WEBS", "2"))
FULL = os.environ.get("CLUSTER_FULL", "0") == "1"
BIN_DIR = Path(os.environ.get("BIN_DIR", str(REPO / "build")))
VAR = REPO / "var"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    """Moves this thread (pytest's only one: threads made later inherit
    it) into the network namespace of fd."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run_cluster(*args, timeout=180):
    env = dict(os.environ, BIN_DIR=str(BIN_DIR))
    return subprocess.run([str(CLUSTER_SH), *args], capture_output=True,
                          timeout=timeout, cwd=str(REPO), env=env)


class Cluster:
    """What cluster.sh up wrote in var/cluster-TAG.env, and the actions
    of the failover."""

    def __init__(self, tag):
        env = ic._read_kv(VAR / f"cluster-{tag}.env")
        self.tag = tag
        self.rundir = Path(env["RUNDIR"])
        self.client_ns = env["CLIENT_NS"]
        self.primary_url = env["PRIMARY_URL"]
        self.replica_url = env["REPLICA_URL"]
        self.pooler_primary_url = env["POOLER_PRIMARY_URL"]
        self.web_database_url = env["WEB_DATABASE_URL"]
        self.webs = env["WEBS"].split()
        self.namespaces = env["NAMESPACES"].split()
        # What Stack of tests/integration offers deploy_smoke and
        # create_user: the database (the primary, directly).
        self.database_url = self.primary_url
        self.base_url = self.webs[0]

    def web_dir(self, i):
        return self.rundir / f"w{i + 1}"

    def lighttpd_pid(self, i):
        return int((self.web_dir(i) / "lighttpd.pid").read_text().split()[0])

    def kill_primary(self):
        """pg_ctl stop -m immediate of the primary, inside its namespace;
        returns once it is down."""
        proc = run_cluster("kill-primary", self.tag, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")

    def promote(self):
        """pg_ctl promote -w of the replica: returns once it accepts
        writes."""
        proc = run_cluster("promote", self.tag, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")

    def pgbouncer_follow(self):
        """PgBouncer's part of the failover (cluster.sh pgbouncer-follow)."""
        proc = run_cluster("pgbouncer-follow", self.tag, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")

    def fcgi_logs(self):
        """The fcgi stderr logs of the web hosts, concatenated."""
        out = []
        for i in range(len(self.webs)):
            p = self.web_dir(i) / "fcgi.stderr.log"
            if p.exists():
                out.append(p.read_text(errors="replace"))
        return "".join(out)


@pytest.fixture(scope="session")
def cluster():
    if os.geteuid() != 0:
        pytest.fail("the cluster tests need root (network namespaces)",
                    pytrace=False)
    root_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    entered = False
    try:
        t0 = time.monotonic()
        up = run_cluster("up", TAG, str(NWEBS))
        if up.returncode != 0:
            pytest.fail("cluster.sh up failed:\n" +
                        up.stderr.decode(errors="replace")[-3000:],
                        pytrace=False)
        c = Cluster(TAG)
        c.setup_seconds = time.monotonic() - t0
        # The root namespace as this process saw it before leaving it.
        c.root_ns_inode = os.fstat(root_ns).st_ino
        c.root_routes = Path("/proc/self/net/fib_trie").read_text()
        ns = os.open(f"/run/netns/{c.client_ns}", os.O_RDONLY)
        try:
            setns(ns)
            entered = True
        finally:
            os.close(ns)
        yield c
    finally:
        if entered:
            setns(root_ns)
        os.close(root_ns)
        down = run_cluster("down", TAG)
        assert down.returncode == 0, \
            "cluster.sh down failed: " + down.stderr.decode(errors="replace")


@pytest.fixture(scope="session")
def db(cluster):
    """The primary, directly (the replica after the failover test)."""
    return Db(cluster.primary_url)


def create_user(stack, db, prefix="u", password=None, email=None, cost=4,
                username=None):
    """tests/integration's create_user (latchctl user add on the
    database of `stack`: here the cluster's primary)."""
    return ic.create_user(stack, db, prefix=prefix, password=password,
                          email=email, cost=cost, username=username)
