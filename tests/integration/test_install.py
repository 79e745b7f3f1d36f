"""Issue 11, `make install`: `make install DESTDIR=<tmp>` (default PREFIX,
the binaries under test: BUILD is BIN_DIR, not rebuilt) puts every file where README
"Installing" says, with its mode; the installed latchctl runs and finds
the installed migrations; latch.conf(5) documents exactly the settings
`latchctl config keys` prints; both man pages render without a warning;
`make uninstall` takes everything away again.

The examples are every recipe directory of deploy/ (all but deploy/dev,
the test stack, and deploy/www, the demo page), whatever files they hold:
the test walks deploy/ rather than listing names, as the Makefile does.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import BIN_DIR, REPO

PREFIX = "/usr/local"           # the Makefile's default
BINDIR = f"{PREFIX}/bin"
LIBEXECDIR = f"{PREFIX}/lib/latch"
DATADIR = f"{PREFIX}/share"
MIGRATIONS = f"{DATADIR}/latch/migrations"
WWW = f"{DATADIR}/latch/www"
MANDIR = f"{DATADIR}/man"
EXAMPLES = f"{DATADIR}/doc/latch/examples"
NOT_EXAMPLES = {"dev", "www"}
# The Makefile's installation variables: a developer's exported values
# must not move the files, and the outer make's flags (make check runs
# pytest) must not reach this one.
CLEAR = ("PREFIX", "BINDIR", "LIBEXECDIR", "DATADIR", "MANDIR", "DOCDIR",
         "DESTDIR", "BUILD", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
         "MAKEOVERRIDES", "CFLAGS", "CC")


def _make(*args):
    """make in the repository, on the binaries under test as they are
    (-o all: never rebuilt, even when a source is newer, since other
    tests run them at the same time)."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAR}
    return subprocess.run(["make", "-s", "--no-print-directory", "-o", "all",
                           *args, f"BUILD={BIN_DIR}"], cwd=str(REPO),
                          env=env, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    proc = _make("install", f"DESTDIR={root}")
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _mode(path):
    return stat.S_IMODE(path.lstat().st_mode)


def _expected(dest):
    """{installed path: (source path, mode)} of every file install puts."""
    out = {}
    for b in ("auth.fcgi", "login.fcgi", "api.fcgi"):
        out[dest / LIBEXECDIR[1:] / b] = (BIN_DIR / b, 0o755)
    out[dest / BINDIR[1:] / "latchctl"] = (BIN_DIR / "latchctl", 0o755)
    for sql in (REPO / "migrations").glob("*.sql"):
        out[dest / MIGRATIONS[1:] / sql.name] = (sql, 0o644)
    www = REPO / "deploy" / "www"
    for f in www.rglob("*"):
        if f.is_file():
            out[dest / WWW[1:] / f.relative_to(www)] = (f, 0o644)
    for d in (REPO / "deploy").iterdir():
        if not d.is_dir() or d.name in NOT_EXAMPLES:
            continue
        for f in d.rglob("*"):          # dot files (.htaccess) included
            if f.is_file():
                mode = 0o755 if os.access(f, os.X_OK) else 0o644
                out[dest / EXAMPLES[1:] / f.relative_to(REPO / "deploy")] = \
                    (f, mode)
    out[dest / MANDIR[1:] / "man8" / "latchctl.8"] = (None, 0o644)
    out[dest / MANDIR[1:] / "man5" / "latch.conf.5"] = (None, 0o644)
    return out


def test_install_puts_every_file_with_its_mode(dest):
    expected = _expected(dest)
    installed = {p for p in dest.rglob("*") if not p.is_dir()}
    assert installed == set(expected), (
        sorted(map(str, installed - set(expected))),
        sorted(map(str, set(expected) - installed)))
    for path, (source, mode) in expected.items():
        assert path.is_file() and not path.is_symlink(), path
        assert _mode(path) == mode, (str(path), oct(_mode(path)))
        if source is not None:
            assert path.read_bytes() == source.read_bytes(), path
    for d in dest.rglob("*"):
        if d.is_dir():
            assert _mode(d) == 0o755, (str(d), oct(_mode(d)))


def test_examples_hold_every_recipe_directory(dest):
    recipes = sorted(d.name for d in (REPO / "deploy").iterdir()
                     if d.is_dir() and d.name not in NOT_EXAMPLES)
    assert "cron" in recipes and "systemd" in recipes, recipes
    assert sorted(d.name for d in (dest / EXAMPLES[1:]).iterdir()) == recipes


def _run(argv, **kw):
    env = {k: v for k, v in os.environ.items()
           if k != "LATCH_CONFIG" and not k.startswith("PG")}
    return subprocess.run(argv, env=env, capture_output=True, timeout=30,
                          **kw)


def _keys(latchctl):
    proc = _run([str(latchctl), "config", "keys"])
    assert proc.returncode == 0, proc.stderr
    keys = proc.stdout.decode().split()
    assert keys, "latchctl config keys printed nothing"
    return keys


def test_installed_latchctl_runs(dest):
    latchctl = dest / BINDIR[1:] / "latchctl"
    assert _keys(latchctl) == _keys(BIN_DIR / "latchctl")
    # its default migrations are the installed ones
    proc = _run([str(latchctl), "migrate", "--help"])
    assert proc.returncode == 0, proc.stderr
    assert f"(default {MIGRATIONS})" in proc.stdout.decode(), proc.stdout


def _settings_of_page(text):
    """The keys latch.conf(5) documents: the tags (a .TP, then .B KEY) of
    its SETTINGS section."""
    section = re.search(r"^\.SH SETTINGS\n(.*?)^\.SH ", text,
                        re.S | re.M)
    assert section, "no SETTINGS section"
    return re.findall(r"^\.TP\n\.B ([A-Z][A-Z0-9_]*)\n", section.group(1),
                      re.M)


def test_latch_conf_page_documents_exactly_the_settings(dest):
    page = (dest / MANDIR[1:] / "man5" / "latch.conf.5").read_text()
    documented = _settings_of_page(page)
    assert len(documented) == len(set(documented)), documented
    assert documented == _keys(dest / BINDIR[1:] / "latchctl")
    # each with its default (or why it has none)
    for entry in re.split(r"^\.TP\n", page.split(".SH SETTINGS")[1]
                          .split(".SH ")[0], flags=re.M)[1:]:
        assert "Default:" in entry or "No default" in entry, entry


@pytest.mark.parametrize("page", ["man8/latchctl.8", "man5/latch.conf.5"])
def test_man_page_renders_without_warnings(dest, page):
    path = dest / MANDIR[1:] / page
    text = path.read_text()
    assert not re.search(r"@[A-Z_]+@", text), "a path left unsubstituted"
    proc = _run(["groff", "-man", "-ww", "-z", "-Tutf8", str(path)])
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    if shutil.which("man"):
        proc = _run(["man", "--warnings", "-l", str(path)],
                    stdin=subprocess.DEVNULL)
        assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    rendered = _run(["groff", "-man", "-Tutf8", "-P", "-cbou", str(path)])
    assert rendered.returncode == 0
    assert "NAME" in rendered.stdout.decode()


def test_pages_name_the_installed_paths(dest):
    page = (dest / MANDIR[1:] / "man8" / "latchctl.8").read_text()
    for path in (MIGRATIONS, LIBEXECDIR, f"{BINDIR}/latchctl", WWW,
                 EXAMPLES):
        assert path in page, path


def test_uninstall_removes_every_installed_file(dest, tmp_path):
    root = tmp_path / "again"
    proc = _make("install", f"DESTDIR={root}")
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert any(p.is_file() for p in root.rglob("*"))
    proc = _make("uninstall", f"DESTDIR={root}")
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert [str(p) for p in root.rglob("*") if not p.is_dir()] == []
