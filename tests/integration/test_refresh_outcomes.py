"""POST /auth/refresh when latch_refresh answers an outcome this binary
does not know (say a migration ahead of it): lib/session.c matches every
outcome explicitly, so that is a 500 with an error logged, never a silent
403, and nothing of the session is lost."""

import contextlib

from conftest import LIFECYCLE, LogTail, fcgi_log_path
from latchlib import assert_error, login_body, refreshed_body

# The form lib/session.c calls (migration 011).
ARGS = ("bytea, uuid, bigint, timestamptz, interval, timestamptz, "
        "timestamptz, bytea, bytea, inet, boolean, text, bytea, bytea, "
        "timestamptz, interval, text, text")


@contextlib.contextmanager
def refresh_answering(db, outcome):
    """latch_refresh answers outcome (and changes nothing) meanwhile."""
    db.execute(f"ALTER FUNCTION latch_refresh({ARGS}) "
               "RENAME TO latch_refresh_kept")
    try:
        db.execute(
            f"CREATE FUNCTION latch_refresh({ARGS}) RETURNS TABLE "
            "(r_outcome text, r_sealed bytea, r_expires_at timestamptz, "
            "r_revoked integer, r_binding text) LANGUAGE sql AS "
            f"$fn$ SELECT '{outcome}'::text, NULL::bytea, "
            "NULL::timestamptz, 0, NULL::text $fn$")
        yield
    finally:
        db.execute(f"DROP FUNCTION IF EXISTS latch_refresh({ARGS})")
        db.execute(f"ALTER FUNCTION latch_refresh_kept({ARGS}) "
                   "RENAME TO latch_refresh")


def test_refresh_unknown_outcome_is_500_and_logged(web, db, stack,
                                                   make_user):
    user = make_user(prefix="rfo")
    token = login_body(web, user)["refresh_token"]
    tail = LogTail(fcgi_log_path(stack, LIFECYCLE))
    with refresh_answering(db, "bogus"):
        resp = web.refresh(token)
    assert_error(resp, 500, "server_error")
    lines = tail.wait_for(lambda l: "event=refresh_unknown_outcome" in l)
    assert any("level=error event=refresh_unknown_outcome outcome=bogus"
               in line for line in lines), lines
    refreshed_body(web.refresh(token))
