#!/usr/bin/env bash
# tests/bench/run.sh (make bench): throughput and latency of the real stack
# (lighttpd + FastCGI + PostgreSQL) measured with wrk, each figure reported
# as a ratio against ceilings measured in the same run, on this machine:
#
#   static      lighttpd serving a file: the web server's own ceiling
#   health      GET /api/health: a FastCGI round trip plus "SELECT 1"
#   refresh     POST /auth/refresh, every request a real rotation, over 512
#               sessions taken in turn
#   purge       `latchctl purge` of ~1.25 million expired rows (250 000
#               ended sessions with 1 000 000 tokens) while refresh load runs
#
# The purge target: refresh p99 during the purge within 2x of p99 without
# it. Exit status 1 when it is missed. Loads go to 127.0.0.1 only, each
# bounded in time. Knobs: BENCH_PORT, BENCH_CONNECTIONS, BENCH_SESSIONS,
# BENCH_SECONDS,
# BENCH_PURGE_SESSIONS (tokens are four per session), BENCH_PURGE_WINDOW.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$REPO"
STACK=deploy/dev/stack.sh
INST=bench
PORT=${BENCH_PORT:-18600}
CONNS=${BENCH_CONNECTIONS:-8}
SESSIONS=${BENCH_SESSIONS:-512}       # rotated in turn, spread over CONNS
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
PURGE_SESSIONS=${BENCH_PURGE_SESSIONS:-250000}
BIN=$REPO/build
OUT=$REPO/var/bench
mkdir -p "$OUT"
RESULTS=$OUT/results-$(date -u +%Y%m%dT%H%M%SZ).txt

say() { printf 'bench: %s\n' "$*" >&2; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

command -v wrk >/dev/null || { say "wrk is missing: deploy/dev/deps.sh bench"; exit 1; }

# A fresh instance; cheap hashes, since logins only set the benchmark up.
"$STACK" clean "$INST" >/dev/null 2>&1 || true
# None of the caller's settings (latchctl names them) leaks into the stack.
settings=$("$BIN/latchctl" config keys)
unset_settings=()
for k in $settings LATCH_CONFIG; do
	unset_settings+=(-u "$k")
done
env "${unset_settings[@]}" \
	BCRYPT_COST=4 PORT="$PORT" BIN_DIR="$BIN" "$STACK" up "$INST" >/dev/null
# shellcheck disable=SC1090
. "$REPO/var/$INST.env"
export DATABASE_URL
export LATCH_CONFIG
LATCH_CONFIG=$(cat "$REPO/var/$INST.rundir")/latch.conf
trap '"$STACK" down "$INST" >/dev/null 2>&1 || true' EXIT

PW=bench-password-1
printf '%s\n' "$PW" | BCRYPT_COST=4 "$BIN/latchctl" user add benchuser \
	--password-stdin >/dev/null

# SESSIONS fresh refresh tokens, in the file refresh.lua reads.
make_tokens() { # $1 = file
	: >"$1"
	local i token
	for ((i = 0; i < SESSIONS; i++)); do
		token=$(curl -sf -X POST "$BASE_URL/auth/login" \
			-H 'Content-Type: application/json' \
			-d "{\"username\":\"benchuser\",\"password\":\"$PW\",\"token_delivery\":\"body\"}" |
			sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')
		[[ -n $token ]] || { say "login failed"; exit 1; }
		printf '%s\n' "$token" >>"$1"
	done
}

run_get() { # $1 = path
	wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --timeout 10s \
		-s tests/bench/get.lua "$BASE_URL$1" | tail -n 1
}

run_refresh() { # $1 = seconds
	make_tokens "$OUT/tokens"
	TOKENS=$OUT/tokens THREADS=$CONNS wrk -t"$CONNS" -c"$CONNS" -d"$1s" \
		--timeout 10s -s tests/bench/refresh.lua "$BASE_URL" | tail -n 1
}

say "ceilings: static file and /api/health (${SECONDS_PER_RUN}s each, $CONNS connections)"
static=$(run_get /index.html)
health=$(run_get /api/health)
say "refresh without purge (${SECONDS_PER_RUN}s)"
refresh=$(run_refresh "$SECONDS_PER_RUN")

say "seeding $PURGE_SESSIONS ended sessions with 4 tokens each"
psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO users (username, password_hash) VALUES ('bench_dead', '*');
INSERT INTO sessions (id, user_id, created_at, last_used_at,
                      absolute_expires_at, idle_expires_at)
SELECT gen_random_uuid(), u.id, now() - interval '40 days',
       now() - interval '35 days', now() - interval '10 days',
       now() - interval '28 days'
  FROM users u, generate_series(1, $PURGE_SESSIONS)
 WHERE u.username = 'bench_dead';
-- Each session a chain of four, as rotations leave them (ids far above
-- the identity sequence's, so they can be given).
INSERT INTO refresh_tokens (id, session_id, token_hash, issued_at, expires_at,
                            rotated_at, predecessor_id)
OVERRIDING SYSTEM VALUE
SELECT 1000000000000 + s.n * 4 + k, s.id,
       sha256(convert_to(s.id::text || k, 'UTF8')),
       now() - interval '40 days', now() - interval '33 days',
       CASE WHEN k < 4 THEN now() - interval '39 days' END,
       CASE WHEN k > 1 THEN 1000000000000 + s.n * 4 + k - 1 END
  FROM (SELECT id, row_number() OVER () AS n FROM sessions
         WHERE user_id = (SELECT id FROM users WHERE username = 'bench_dead')) s
 CROSS JOIN generate_series(1, 4) AS k;
VACUUM ANALYZE sessions;
VACUUM ANALYZE refresh_tokens;
SQL
rows=$(psql -X -tA "$DATABASE_URL" -c "SELECT count(*) FROM refresh_tokens")

# Refresh load long enough to cover the purge, which starts a second in
# (about 20 s for a million tokens on 2 cores).
window=${BENCH_PURGE_WINDOW:-40}
say "refresh during purge (${window}s window; $rows token rows)"
make_tokens "$OUT/tokens"
TOKENS=$OUT/tokens THREADS=$CONNS wrk -t"$CONNS" -c"$CONNS" -d"${window}s" \
	--timeout 10s -s tests/bench/refresh.lua "$BASE_URL" >"$OUT/during.txt" &
wrk_pid=$!
sleep 1
purge=$("$BIN/latchctl" purge)
wait "$wrk_pid"
during=$(tail -n 1 "$OUT/during.txt")
left=$(psql -X -tA "$DATABASE_URL" -c "SELECT count(*) FROM refresh_tokens t
	JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
	WHERE u.username = 'bench_dead'")

purge_s=$(field seconds "$purge")
p99_base=$(field p99_ms "$refresh")
p99_during=$(field p99_ms "$during")
p99_ratio=$(ratio "$p99_during" "$p99_base")
verdict=$(awk -v r="$p99_ratio" 'BEGIN { print (r <= 2.0 ? "met" : "MISSED") }')
covered=$(awk -v p="$purge_s" -v w="$((window - 1))" 'BEGIN { print (p <= w ? "yes" : "no") }')

{
	echo "latch benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $CONNS connections, $SESSIONS sessions"
	echo "static   $static"
	echo "health   $health"
	echo "refresh  $refresh"
	echo "during   $during"
	echo "purge    $purge (dead tokens left: $left; inside the load window: $covered)"
	echo
	echo "ratios (same run):"
	echo "  health rps / static rps            $(ratio "$(field rps "$health")" "$(field rps "$static")")"
	echo "  refresh rps / health rps           $(ratio "$(field rps "$refresh")" "$(field rps "$health")")"
	echo "  refresh p99 / health p99           $(ratio "$p99_base" "$(field p99_ms "$health")")"
	echo "  refresh p99 during / without purge $p99_ratio (target <= 2.0: $verdict)"
	echo "  purge rows per second              $(awk -v r="$rows" -v s="$purge_s" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')"
} | tee "$RESULTS"
say "results in $RESULTS"
[[ $verdict == met && $left == 0 ]]
