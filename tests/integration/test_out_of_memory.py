"""Out of memory while an answer is built is a 500, never a 200 with part
of the answer (a truncated session list) or nulls in it: auth.fcgi run as
CGI with a shim that makes json-c's allocations from the program itself
fail after the first few."""

import json
import os
import subprocess

import pytest

from conftest import create_user
from latchlib import login_body
from test_cgi import cgi_env, run_cgi

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct json_object;
static long calls;

struct where { uintptr_t addr; int inside; };

static int
first_object(struct dl_phdr_info *info, size_t size, void *data)
{
	struct where *w = data;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + p->p_vaddr;

		if (p->p_type == PT_LOAD && w->addr >= start &&
		    w->addr < start + p->p_memsz)
			w->inside = 1;
	}
	return 1;               /* the first object is the program */
}

/* json_object_new_object fails once the program (not json-c itself)
 * has made LATCH_TEST_JSON_OBJECTS of them. */
struct json_object *
json_object_new_object(void)
{
	static struct json_object *(*real)(void);
	struct where w = { (uintptr_t)__builtin_return_address(0), 0 };
	const char *limit = getenv("LATCH_TEST_JSON_OBJECTS");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "json_object_new_object");
	dl_iterate_phdr(first_object, &w);
	if (w.inside && limit != NULL && calls++ >= atol(limit))
		return NULL;
	return real();
}

/* json_object_new_string fails, for the program, on strings that begin
 * with LATCH_TEST_JSON_STRING_FAILS. */
struct json_object *
json_object_new_string(const char *s)
{
	static struct json_object *(*real)(const char *);
	struct where w = { (uintptr_t)__builtin_return_address(0), 0 };
	const char *prefix = getenv("LATCH_TEST_JSON_STRING_FAILS");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "json_object_new_string");
	dl_iterate_phdr(first_object, &w);
	if (w.inside && prefix != NULL && strncmp(s, prefix, strlen(prefix)) == 0)
		return NULL;
	return real(s);
}
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    d = tmp_path_factory.mktemp("oom")
    (d / "shim.c").write_text(SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(d / "shim.so"),
                    str(d / "shim.c"), "-ldl"], check=True)
    return d / "shim.so"


def shim_env(stack, shim, **extra):
    asan = os.environ.get("ASAN_OPTIONS", "")
    return cgi_env(stack, LD_PRELOAD=str(shim),
                   ASAN_OPTIONS=(asan + ":" if asan else "") +
                   "verify_asan_link_order=0", **extra)


def test_refresh_out_of_memory_is_500_not_a_null_token(stack, db, client,
                                                       shim):
    user = create_user(stack, db, prefix="oomr")
    token = login_body(client, user)["refresh_token"]
    body = json.dumps({"refresh_token": token}).encode()
    env = shim_env(stack, shim, REQUEST_METHOD="POST", REQUEST_URI=
                   "/auth/refresh", CONTENT_TYPE="application/json",
                   CONTENT_LENGTH=str(len(body)),
                   # The tokens of the answer (JWTs start so).
                   LATCH_TEST_JSON_STRING_FAILS="eyJ")
    proc = run_cgi("auth.fcgi", env, body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"Status: 500"), proc.stdout[:300]
    assert b"null" not in proc.stdout


def test_sessions_list_out_of_memory_is_500_not_a_shorter_list(
        stack, db, client, shim):
    user = create_user(stack, db, prefix="oom")
    access = [login_body(client, user)["access_token"] for _ in range(3)][-1]
    env = shim_env(stack, shim, REQUEST_URI="/auth/sessions",
                   HTTP_AUTHORIZATION=f"Bearer {access}",
                   # The answer's object and its first session's.
                   LATCH_TEST_JSON_OBJECTS="2")
    proc = run_cgi("auth.fcgi", env)
    assert proc.returncode == 0, proc.stderr
    status = proc.stdout.split(b"\n", 1)[0]
    assert status.startswith(b"Status: 500"), proc.stdout[:300]

    # The same request with memory to spare lists all three.
    env.pop("LATCH_TEST_JSON_OBJECTS")
    proc = run_cgi("auth.fcgi", env)
    assert proc.stdout.split(b"\n", 1)[0].startswith(b"Status: 200"), \
        proc.stdout[:300]
    assert proc.stdout.count(b'"id"') == 3, proc.stdout[:600]
