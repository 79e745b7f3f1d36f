"""The binaries as plain CGI programs (API.md "Deployment shape": shared
hosting), and their start-up refusals ("Configuration")."""

import hashlib
import json
import re
import secrets
import subprocess

import pytest

from conftest import BIN_DIR, INSTANCE, Stack, create_user, fcgi_log_path
from latchlib import (ACCESS_LIFETIME, DEVICE_COOKIE_RE, JWT_SHAPE,
                      b64url_encode, cgi_request_env, cgi_run, jwt_parts,
                      jwt_signature_ok, parse_cgi, run_latchctl,
                      with_sanitizer_env)

GOOD_SECRET_A = "cgi-test-access-secret-0123456789abcdef"
GOOD_SECRET_R = "cgi-test-refresh-secret-0123456789abcdef"


def cgi_env(stack, method="GET", uri="/api/health", **extra):
    """A request's environment with the instance's settings given as
    environment variables; extra overrides (None: unset)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        **cgi_request_env(method, "http://127.0.0.1" + uri,
                          {"Host": "127.0.0.1"}, 0),
        "DATABASE_URL": stack.database_url,
        "JWT_ACCESS_SECRET": stack.access_secret_spec,
        "JWT_REFRESH_SECRET": stack.refresh_secret_spec,
        "COOKIE_SECURE": "0",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def cgi_log():
    """Where the stderr of this file's runs goes (make asan reads it)."""
    path = fcgi_log_path(Stack(INSTANCE), "cgi")
    path.parent.mkdir(mode=0o700, exist_ok=True)
    return path


def run_cgi(binary, env, body=b""):
    return cgi_run(BIN_DIR / binary, env, body, cgi_log())


def header(headers, name):
    values = [v for n, v in headers if n.lower() == name.lower()]
    assert len(values) == 1, (name, headers)
    return values[0]


# ------------------------------------------------------------ serving

def test_cgi_health_answers_200_json(stack):
    proc = run_cgi("api.fcgi", cgi_env(stack))
    assert proc.returncode == 0, proc.stderr
    headers, body = parse_cgi(proc.stdout)
    assert headers[0][0] == "Status" and headers[0][1].startswith("200"), \
        proc.stdout[:200]
    assert header(headers, "Content-Type") == "application/json"
    assert json.loads(body) == {"status": "ok", "database": "ok"}


def test_cgi_unknown_path_is_not_found(stack):
    proc = run_cgi("api.fcgi", cgi_env(stack, uri="/api/nope"))
    assert proc.returncode == 0, proc.stderr
    headers, body = parse_cgi(proc.stdout)
    assert headers[0][0] == "Status" and headers[0][1].startswith("404")
    assert json.loads(body)["error"] == "not_found"


def _cgi_login(stack, user, remote_addr="127.0.0.1", delivery=None):
    req = {"username": user["username"], "password": user["password"]}
    if delivery:
        req["token_delivery"] = delivery
    body = json.dumps(req).encode()
    env = cgi_env(stack, method="POST", uri="/auth/login",
                  CONTENT_TYPE="application/json",
                  CONTENT_LENGTH=str(len(body)), REMOTE_ADDR=remote_addr,
                  HTTP_USER_AGENT="latch-cgi-test")
    proc = run_cgi("login.fcgi", env, body)
    assert proc.returncode == 0, proc.stderr
    return parse_cgi(proc.stdout)


@pytest.fixture(scope="module")
def cgi_body_login(stack, db):
    user = create_user(stack, db, prefix="cgi")
    headers, body = _cgi_login(stack, user, remote_addr="192.0.2.7",
                               delivery="body")
    return user, headers, body


def test_cgi_login_answers_200_with_tokens(stack, cgi_body_login):
    user, headers, body = cgi_body_login
    assert headers[0][0] == "Status" and headers[0][1].startswith("200"), \
        headers
    assert header(headers, "Content-Type") == "application/json"
    assert header(headers, "Cache-Control") == "no-store"
    answer = json.loads(body)
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == ACCESS_LIFETIME
    assert jwt_signature_ok(answer["access_token"], stack.access_secret)
    assert jwt_parts(answer["access_token"])[1]["sub"] == str(user["id"])
    assert jwt_signature_ok(answer["refresh_token"], stack.refresh_secret)


def test_cgi_login_records_remote_addr(db, cgi_body_login):
    user, _, body = cgi_body_login
    sid = jwt_parts(json.loads(body)["access_token"])[1]["sid"]
    row = db.one("SELECT host(ip), user_agent FROM sessions WHERE id = %s",
                 (sid,))
    assert row == ("192.0.2.7", "latch-cgi-test")


def test_cgi_login_sets_refresh_cookie(stack, db):
    user = create_user(stack, db, prefix="cgicookie")
    headers, body = _cgi_login(stack, user)
    cookies = [v for n, v in headers if n.lower() == "set-cookie"]
    assert len(cookies) == 2, headers       # the refresh and device cookies
    assert re.fullmatch(r"refresh_token=" + JWT_SHAPE + r"; Path=/auth; "
                        r"Max-Age=\d+; HttpOnly; SameSite=Strict",
                        cookies[0]), cookies[0]
    assert DEVICE_COOKIE_RE.fullmatch(cookies[1]), cookies[1]
    assert set(json.loads(body)) == {"access_token", "token_type",
                                     "expires_in"}


def test_cgi_bare_secret_signs_with_derived_kid(stack, db):
    user = create_user(stack, db, prefix="cgibare")
    req = json.dumps({"username": user["username"],
                      "password": user["password"]}).encode()
    env = cgi_env(stack, method="POST", uri="/auth/login",
                  CONTENT_TYPE="application/json",
                  CONTENT_LENGTH=str(len(req)),
                  JWT_ACCESS_SECRET=GOOD_SECRET_A)
    proc = run_cgi("login.fcgi", env, req)
    assert proc.returncode == 0, proc.stderr
    headers, body = parse_cgi(proc.stdout)
    assert headers[0][1].startswith("200"), (headers, body)
    token = json.loads(body)["access_token"]
    kid = b64url_encode(hashlib.sha256(GOOD_SECRET_A.encode()).digest())[:8]
    assert jwt_parts(token)[0]["kid"] == kid
    assert jwt_signature_ok(token, GOOD_SECRET_A.encode())


# ------------------------------------------------------------ body input
# Issue 8, item 11: RFC 3875 section 4.2 forbids reading more than
# CONTENT_LENGTH bytes, and a server may keep standard input open after the
# body. The old code read one byte more, so it waited for an end of input
# that never came (or took whatever followed for an oversized body).

CGI_DEADLINE = 10.0      # seconds; an answer takes milliseconds


def _cgi_with_open_stdin(binary, env, data):
    """Runs binary with data written to a stdin that stays open until the
    program has exited (or CGI_DEADLINE passed); returns (exited in time,
    stdout, stderr)."""
    proc = subprocess.Popen([str(BIN_DIR / binary)],
                            env=with_sanitizer_env(env),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
        try:
            proc.wait(timeout=CGI_DEADLINE)
            in_time = True
        except subprocess.TimeoutExpired:
            in_time = False
            proc.kill()
            proc.wait()
        out, err = proc.stdout.read(), proc.stderr.read()
        with open(cgi_log(), "ab") as f:
            f.write(err)
        return in_time, out, err
    finally:
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except BrokenPipeError:
                pass


@pytest.mark.parametrize("after", [b"", b"more bytes than announced"],
                         ids=["nothing_after", "bytes_after"])
def test_cgi_login_answers_while_stdin_stays_open(stack, db, after):
    user = create_user(stack, db, prefix="cgiopen")
    body = json.dumps({"username": user["username"],
                       "password": user["password"],
                       "token_delivery": "body"}).encode()
    env = cgi_env(stack, method="POST", uri="/auth/login",
                  CONTENT_TYPE="application/json",
                  CONTENT_LENGTH=str(len(body)))
    in_time, out, err = _cgi_with_open_stdin("login.fcgi", env, body + after)
    assert in_time, "login.fcgi waited for the end of its input " \
        f"(stdout {out[:200]!r}, stderr {err[-300:]!r})"
    headers, answer = parse_cgi(out)
    assert headers[0][1].startswith("200"), (headers, answer)
    assert jwt_signature_ok(json.loads(answer)["access_token"],
                            stack.access_secret)


def test_cgi_logout_with_body_answers_while_stdin_stays_open(stack):
    body = b'{"refresh_token": "not-a-token"}'
    env = cgi_env(stack, method="POST", uri="/auth/logout",
                  CONTENT_TYPE="application/json",
                  CONTENT_LENGTH=str(len(body)))
    in_time, out, err = _cgi_with_open_stdin("auth.fcgi", env, body)
    assert in_time, f"auth.fcgi waited for the end of its input {err!r}"
    headers, answer = parse_cgi(out)
    assert headers[0][1].startswith("200"), (headers, answer)
    assert json.loads(answer) == {"message": "logged out"}


# ------------------------------------------------------------ refusals

def _refusal(binary, env, must_name, secrets_given):
    proc = run_cgi(binary, env)
    assert proc.returncode != 0, \
        f"{binary} started: {proc.stdout[:200]!r} {proc.stderr[:200]!r}"
    err = proc.stderr.decode("utf-8", "replace")
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), f"stderr: {err!r}"
    if must_name:
        assert must_name in lines[0], lines[0]
    for secret in secrets_given:
        assert secret not in err and secret not in \
            proc.stdout.decode("utf-8", "replace")
    return lines[0]


@pytest.mark.parametrize("binary", ["auth.fcgi", "login.fcgi", "api.fcgi"])
def test_start_refused_without_access_secret(stack, binary):
    env = cgi_env(stack, JWT_ACCESS_SECRET=None)
    _refusal(binary, env, "JWT_ACCESS_SECRET",
             [k[1].decode() for k in stack.refresh_keys])


def test_start_refused_without_refresh_secret(stack):
    env = cgi_env(stack, JWT_REFRESH_SECRET=None)
    _refusal("auth.fcgi", env, "JWT_REFRESH_SECRET",
             [k[1].decode() for k in stack.access_keys])


def test_start_refused_with_short_secret(stack):
    env = cgi_env(stack, JWT_ACCESS_SECRET="k1:0123456789")
    line = _refusal("auth.fcgi", env, "JWT_ACCESS_SECRET", ["0123456789"])
    assert re.search(r"short|32|length|bytes", line, re.I), line


def test_start_refused_with_short_bare_secret(stack):
    env = cgi_env(stack, JWT_ACCESS_SECRET="tooshortsecret")
    _refusal("auth.fcgi", env, "JWT_ACCESS_SECRET", ["tooshortsecret"])


def test_start_refused_with_malformed_kid(stack):
    env = cgi_env(stack, JWT_ACCESS_SECRET="bad kid!:" + GOOD_SECRET_A)
    _refusal("auth.fcgi", env, "JWT_ACCESS_SECRET", [GOOD_SECRET_A])


def test_start_refused_with_empty_key_list(stack):
    env = cgi_env(stack, JWT_ACCESS_SECRET="")
    _refusal("auth.fcgi", env, "JWT_ACCESS_SECRET", [])


def test_start_refused_with_same_secret_in_both_lists(stack):
    env = cgi_env(stack, JWT_ACCESS_SECRET="a1:" + GOOD_SECRET_A,
                  JWT_REFRESH_SECRET="r1:" + GOOD_SECRET_R + ",r2:"
                  + GOOD_SECRET_A)
    _refusal("auth.fcgi", env, None, [GOOD_SECRET_A, GOOD_SECRET_R])


def test_start_accepts_distinct_valid_key_lists(stack):
    """Control for the refusals: the same environment with good lists."""
    env = cgi_env(stack, JWT_ACCESS_SECRET=" a1:" + GOOD_SECRET_A + " ",
                  JWT_REFRESH_SECRET="r1:" + GOOD_SECRET_R)
    proc = run_cgi("api.fcgi", env)
    assert proc.returncode == 0, proc.stderr
    headers, _ = parse_cgi(proc.stdout)
    assert headers[0][1].startswith("200"), headers


# ------------------------------------------------------------ config file
# Issue 8, item 10: a key list wrapped onto a second line made the parser
# echo the start of that line ("unknown key a2:<secret>") on stderr, which
# lands in the web server's error log. Messages name the file and the line
# (and a key only when it is a well-formed one), never a byte of a value.

def _secret_with_padding():
    """A base64 secret that ends in '==', as `base64` writes them, so that
    the wrapped line holds an '=' and parses as KEY=VALUE."""
    return b64url_encode(secrets.token_bytes(40)) + "=="


def _pieces(secret, n=4):
    return {secret[i:i + n] for i in range(len(secret) - n + 1)}


def _assert_no_piece(text, secret):
    leaked = sorted(p for p in _pieces(secret) if p in text)
    assert not leaked, f"stderr shows part of the secret: {leaked} in " \
        f"{text!r}"


def _wrapped_conf(stack, tmp_path, continuation):
    path = tmp_path / "latch.conf"
    path.write_text(
        f"DATABASE_URL={stack.database_url}\n"
        f"JWT_REFRESH_SECRET={stack.refresh_secret_spec}\n"
        f"JWT_ACCESS_SECRET=a1:{b64url_encode(secrets.token_bytes(32))},\n"
        f"{continuation}\n")
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("binary", ["auth.fcgi", "login.fcgi", "api.fcgi"])
@pytest.mark.parametrize("shape", ["kid_and_secret", "key_shaped"])
def test_start_refused_with_wrapped_key_list_shows_no_secret(
        stack, tmp_path, binary, shape):
    secret = _secret_with_padding()
    # "a2:<secret>==" is no key at all; "<UPPER>=<rest>" looks like one,
    # but follows a value that ends in ',', so it is a continuation too.
    line = f"  a2:{secret}" if shape == "kid_and_secret" else \
        "QZX7VKWJ3M9TNC2H" + secret[:4].upper() + "=" + secret
    if shape == "key_shaped":
        secret = line.split("=", 1)[0] + secret
    conf = _wrapped_conf(stack, tmp_path, line)
    env = cgi_env(stack, JWT_ACCESS_SECRET=None, JWT_REFRESH_SECRET=None,
                  DATABASE_URL=None, LATCH_CONFIG=str(conf))
    message = _refusal(binary, env, str(conf), [])
    assert "line 4" in message, message
    _assert_no_piece(message, secret)


def test_latchctl_refuses_wrapped_key_list_showing_no_secret(stack,
                                                             tmp_path):
    secret = _secret_with_padding()
    conf = _wrapped_conf(stack, tmp_path, f"a2:{secret}")
    proc = run_latchctl(BIN_DIR, "config", "check", config=conf)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert str(conf) in err and "line 4" in err, err
    _assert_no_piece(err + proc.stdout.decode("utf-8", "replace"), secret)


def test_bad_value_in_config_file_names_file_and_line_not_value(stack,
                                                                tmp_path):
    conf = tmp_path / "latch.conf"
    conf.write_text(f"DATABASE_URL={stack.database_url}\n"
                    f"JWT_ACCESS_SECRET={stack.access_secret_spec}\n"
                    f"JWT_REFRESH_SECRET={stack.refresh_secret_spec}\n"
                    "\n"
                    "SESSION_MAX_AGE=hunter2-pasted-here\n")
    conf.chmod(0o644)
    env = cgi_env(stack, JWT_ACCESS_SECRET=None, JWT_REFRESH_SECRET=None,
                  LATCH_CONFIG=str(conf))
    message = _refusal("auth.fcgi", env, "SESSION_MAX_AGE", [])
    assert f"({conf} line 5)" in message, message
    _assert_no_piece(message, "hunter2-pasted-here")
