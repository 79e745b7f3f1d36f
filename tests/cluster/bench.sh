#!/usr/bin/env bash
# tests/cluster/bench.sh (make bench-cluster): throughput per added web
# host (issue 15). One cluster (cluster.sh up, tag `bench`, 4 web hosts,
# one primary with its synchronous replica, PgBouncer in transaction
# pooling), then from the clients' namespace:
#
#   ceilings   pgbench on the primary directly, same clients as the
#              refresh runs: latch_refresh as lib/session.c sends it
#              (tests/bench/rotate.pgbench: rotations/s, each commit
#              waiting for the synchronous standby as latch's do), and
#              the profile's one prepared PK select of the user; run
#              before the loads and again after them, the ratio is to
#              their mean (the machine is shared: its pace drifts)
#   refresh    wrk, one chain per connection (tests/bench/refresh.lua),
#              4 connections per web host, on 1, 2 and 4 web hosts
#   profile    wrk, GET /api/profile with one access token, same
#              connections and hosts
#
# Each run reports req/s, p99, the ratio to its ceiling, and where the
# CPU went: utime + stime deltas (from /proc/PID/stat) of every process
# in the cluster's namespaces during the run, by kind (postgres on the
# primary, on the replica, pgbouncer, lighttpd, the latch responders,
# the load generator), in cores (CPU-seconds per second; the machine
# has `nproc` of them, shared by everything here).
#
# Knobs: BENCH_SECONDS (6) per run, BENCH_CONN_PER_HOST (4),
# BENCH_CEIL_CLIENTS (8). Output: var/bench-cluster/results-STAMP.md
# (a table ready to paste) and raw wrk/pgbench outputs beside it. The
# whole run takes about 2 minutes; the cluster is stopped whatever
# happens.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$REPO"
TAG=bench
CL=tests/cluster/cluster.sh
BIN=${BIN_DIR:-$REPO/build}
[[ $BIN == /* ]] || BIN=$REPO/$BIN
SECS=${BENCH_SECONDS:-6}
PER_HOST=${BENCH_CONN_PER_HOST:-4}
CEIL_CLIENTS=${BENCH_CEIL_CLIENTS:-8}
CONFIGS=(1 2 4)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$REPO/var/bench-cluster
RAW=$OUT/raw-$STAMP
mkdir -p "$RAW"
export BENCH_LUA=$REPO/tests/bench
PW=bench-cluster-password
T0=$SECONDS
HZ=$(getconf CLK_TCK)
CORES=$(nproc)

say() { printf 'bench-cluster: [%3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { say "error: $*"; exit 1; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
fmt() { awk -v v="${1:-0}" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }

((EUID == 0)) || die "network namespaces need root"
for t in wrk pgbench psql curl ip; do
	command -v "$t" >/dev/null || die "$t is missing: deploy/dev/deps.sh bench"
done

cleanup() { "$CL" down "$TAG" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the cluster

unset_settings=()
for k in $("$BIN/latchctl" config keys) LATCH_CONFIG; do
	unset_settings+=(-u "$k")
done
say "cluster $TAG: 4 web hosts, primary + synchronous replica, PgBouncer"
# PgBouncer's pool as shipped (deploy/pgbouncer/pgbouncer.ini), not the
# tests' smaller one.
env "${unset_settings[@]}" BIN_DIR="$BIN" CLUSTER_POOL_SIZE= "$CL" up "$TAG" 4 >"$RAW/up.txt" 2>&1 ||
	{ tail -n 30 "$RAW/up.txt" >&2; die "cluster.sh up failed"; }
ENV_FILE=$REPO/var/cluster-$TAG.env
PRIMARY_URL=$(sed -n 's/^PRIMARY_URL=//p' "$ENV_FILE")
read -r -a WEBS <<<"$(sed -n 's/^WEBS=//p' "$ENV_FILE")"
CLIENT_NS=lc-$TAG-cl
in_cl() { ip netns exec "$CLIENT_NS" "$@"; }
sql() { in_cl psql -X -q -tA -v ON_ERROR_STOP=1 "$PRIMARY_URL" "$@"; }

printf '%s\n' "$PW" | DATABASE_URL=$PRIMARY_URL BCRYPT_COST=4 \
	in_cl "$BIN/latchctl" user add benchuser --password-stdin >/dev/null
UID0=$(sql -c "SELECT id FROM users WHERE username = 'benchuser'")

login_json() { # HOST_URL
	in_cl curl -s --max-time 30 -X POST "$1/auth/login" \
		-H 'Content-Type: application/json' \
		-d "{\"username\":\"benchuser\",\"password\":\"$PW\",\"token_delivery\":\"body\"}"
}
json_field() { { cat; echo; } | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
chains() { # N FILE: N refresh tokens, each its own login (on the hosts in turn)
	local i t
	: >"$2"
	for ((i = 0; i < $1; i++)); do
		t=$(login_json "${WEBS[i % ${#WEBS[@]}]}" | json_field refresh_token)
		[[ -n $t ]] || die "login on ${WEBS[i % ${#WEBS[@]}]} failed"
		printf '%s\n' "$t" >>"$2"
	done
}
ACCESS=$(login_json "${WEBS[0]}" | json_field access_token)
[[ -n $ACCESS ]] || die "login failed"

# ------------------------------------------------------------ CPU

# "PID KIND TICKS" for every process of the cluster's namespaces: utime +
# stime, and cutime + cstime (its children that ended and were waited
# for: the PostgreSQL backends of pgbench's connections end with the run
# and land in the postmaster's), KIND from its namespace and command
# name. Bash only (no process per pid): the snapshot itself costs little.
cpu_snapshot() {
	local ns p line comm rest kind f
	for ns in $(ip netns list | awk '{ print $1 }' | grep "^lc-$TAG-"); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			read -r line 2>/dev/null <"/proc/$p/stat" || continue
			comm=${line#*(}
			comm=${comm%)*}
			rest=${line##*) }
			case $ns:$comm in
			"lc-$TAG-pg1:postgres") kind=pg-primary ;;
			"lc-$TAG-pg2:postgres") kind=pg-replica ;;
			*:pgbouncer) kind=pgbouncer ;;
			*:lighttpd) kind=lighttpd ;;
			*:*.fcgi) kind=latch ;;
			*) kind=other ;;
			esac
			read -r -a f <<<"$rest"
			# (fields 14-17 of stat: 12-15 after the command)
			printf '%s %s %s\n' "$p" "$kind" $((f[11] + f[12] + f[13] + f[14]))
		done
	done
	# The load generator: children of this shell, waited for.
	read -r line </proc/$$/stat
	read -r -a f <<<"${line##*) }"
	printf 'self client %s\n' $((f[13] + f[14]))
	# The whole machine (everyone's load, ours and others'): busy ticks.
	read -r -a f </proc/stat
	printf 'machine machine %s\n' $((f[1] + f[2] + f[3] + f[6] + f[7] + f[8]))
}
KINDS=(pg-primary pg-replica pgbouncer lighttpd latch client machine)
# Cores used per kind between two snapshots over SECONDS_: "kind=cores ...",
# total= the cluster's (machine excluded). /proc/stat's ticks are for all
# cores together, like the processes'.
cpu_delta() { # BEFORE AFTER SECONDS
	awk -v hz="$HZ" -v s="$3" -v kinds="${KINDS[*]}" '
		NR == FNR { b[$1] = $3; next }
		{ d = $3 - (($1 in b) ? b[$1] : 0); if (d > 0) use[$2] += d }
		END { n = split(kinds, k, " ")
			for (i = 1; i <= n; i++) printf "%s=%.2f ", k[i], use[k[i]] / hz / s
			tot = 0; for (x in use) if (x != "machine") tot += use[x]
			printf "total=%.2f\n", tot / hz / s }' "$1" "$2"
}
# Runs "$@" with CPU snapshots around it; NAME.cpu holds the delta.
measured() { # NAME CMD...: the command's status
	local name=$1 t1 t2 rc=0
	shift
	cpu_snapshot >"$RAW/$name.cpu0"
	t1=$(date +%s.%N)
	"$@" || rc=$?
	t2=$(date +%s.%N)
	cpu_snapshot >"$RAW/$name.cpu1"
	cpu_delta "$RAW/$name.cpu0" "$RAW/$name.cpu1" \
		"$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" >"$RAW/$name.cpu"
	return "$rc"
}

# ------------------------------------------------------------ the runs

run_wrk() { # NAME ARGS...
	local name=$1
	shift
	in_cl wrk --timeout 10s "$@" >"$RAW/$name.txt" 2>&1 || say "wrk $name failed (see $RAW/$name.txt)"
}
hosts_of() { # K: the first K web hosts as "ADDR:PORT ..."
	local i out=()
	for ((i = 0; i < $1; i++)); do out+=("${WEBS[i]#http://}"); done
	printf '%s' "${out[*]}"
}

# pgbench's failed transactions (a rotation that did not rotate fails
# its transaction: rotate.pgbench), or "aborted".
pg_errs() {
	if grep -q 'aborted' "$1"; then echo aborted; return; fi
	local n
	n=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1")
	echo "${n:-?}"
}
tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$1"; }
printf 'SELECT id, username, email, created_at FROM users WHERE id = %s;\n' "$UID0" >"$RAW/pk.pgbench"
SEAL_HEX=$(head -c 311 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
# The ceilings, NAME-SUFFIX: before the loads and again after them (the
# machine is shared: the ratio is to their mean).
ceilings() { # SUFFIX
	say "ceilings ($1): pgbench on the primary directly, $CEIL_CLIENTS clients, ${SECS}s each"
	sql -v clients="$CEIL_CLIENTS" -v uid="$UID0" -f tests/bench/pgbench-seed.sql
	measured "ceil-refresh-$1" in_cl pgbench -n -M prepared -c "$CEIL_CLIENTS" -j 2 -T "$SECS" \
		-D n=0 -D uid="$UID0" -D grace=10 -D ttl=604800 -D sealed="$SEAL_HEX" \
		-f tests/bench/rotate.pgbench "$PRIMARY_URL" >"$RAW/ceil-refresh-$1.txt" 2>&1 ||
		say "pgbench (refresh) reported errors (see $RAW/ceil-refresh-$1.txt)"
	measured "ceil-profile-$1" in_cl pgbench -n -M prepared -c "$CEIL_CLIENTS" -j 2 -T "$SECS" \
		-f "$RAW/pk.pgbench" "$PRIMARY_URL" >"$RAW/ceil-profile-$1.txt" 2>&1 ||
		say "pgbench (profile) reported errors (see $RAW/ceil-profile-$1.txt)"
	say "ceilings ($1): $(tps "$RAW/ceil-refresh-$1.txt") rotations/s, $(tps "$RAW/ceil-profile-$1.txt") PK selects/s"
}
mean() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { printf "%.1f", (a + b) / 2 }'; }
ceilings before

for k in "${CONFIGS[@]}"; do
	c=$((PER_HOST * k))
	say "$k web host(s), $c connections: refresh ${SECS}s"
	chains "$c" "$RAW/refresh-$k.tokens"
	measured "refresh-$k" env TOKENS="$RAW/refresh-$k.tokens" SCRIPT=refresh.lua \
		HOSTS="$(hosts_of "$k")" BENCH_LUA="$BENCH_LUA" \
		ip netns exec "$CLIENT_NS" wrk --timeout 10s -t"$c" -c"$c" -d"${SECS}s" \
		-s tests/cluster/hosts.lua "${WEBS[0]}" >"$RAW/refresh-$k.txt" 2>&1 ||
		say "wrk refresh-$k failed"
	say "$k web host(s), $c connections: profile ${SECS}s"
	measured "profile-$k" env SCRIPT=get.lua HOSTS="$(hosts_of "$k")" BENCH_LUA="$BENCH_LUA" \
		ip netns exec "$CLIENT_NS" wrk --timeout 10s -t"$c" -c"$c" -d"${SECS}s" \
		-s tests/cluster/hosts.lua -H "Authorization: Bearer $ACCESS" \
		"${WEBS[0]}/api/profile" >"$RAW/profile-$k.txt" 2>&1 ||
		say "wrk profile-$k failed"
done
ceilings after
C_REFRESH=$(mean "$(tps "$RAW/ceil-refresh-before.txt")" "$(tps "$RAW/ceil-refresh-after.txt")")
C_PROFILE=$(mean "$(tps "$RAW/ceil-profile-before.txt")" "$(tps "$RAW/ceil-profile-after.txt")")
say "loads done"

# ------------------------------------------------------------ the table

MD=$OUT/results-$STAMP.md
{
	printf '| run | conns | req/s | p99 ms | non-2xx+errors | ceiling (req/s) | ratio |'
	for kk in "${KINDS[@]}"; do printf ' %s |' "$kk"; done
	printf ' cluster |\n|---|---|---|---|---|---|---|'
	for kk in "${KINDS[@]}"; do printf -- '---|'; done
	printf -- '---|\n'
	cpu_cols() {
		local line kk
		line=$(cat "$RAW/$1.cpu")
		for kk in "${KINDS[@]}"; do printf ' %s |' "$(field "$kk" "$line")"; done
		printf ' %s |' "$(field total "$line")"
	}
	for when in before after; do
		printf '| pgbench latch_refresh (ceiling, %s) | %s | %s | - | %s | - | - |' "$when" \
			"$CEIL_CLIENTS" "$(fmt "$(tps "$RAW/ceil-refresh-$when.txt")")" \
			"$(pg_errs "$RAW/ceil-refresh-$when.txt")"
		cpu_cols "ceil-refresh-$when"
		printf '\n| pgbench PK select (ceiling, %s) | %s | %s | - | %s | - | - |' "$when" \
			"$CEIL_CLIENTS" "$(fmt "$(tps "$RAW/ceil-profile-$when.txt")")" \
			"$(pg_errs "$RAW/ceil-profile-$when.txt")"
		cpu_cols "ceil-profile-$when"
		printf '\n'
	done
	for route in refresh profile; do
		for k in "${CONFIGS[@]}"; do
			line=$(grep '^requests=' "$RAW/$route-$k.txt" | tail -n 1 || true)
			rps=$(field rps "$line")
			ceil=$C_REFRESH
			[[ $route == profile ]] && ceil=$C_PROFILE
			n2=$(field non2xx "$line")
			se=$(field errors "$line")
			errs=$((${n2:-0} + ${se:-0}))
			[[ -n $line ]] || errs="no summary"
			printf '| %s, %d web host%s | %d | %s | %s | %s | %s | %s |' "$route" "$k" \
				"$([[ $k == 1 ]] || echo s)" $((PER_HOST * k)) "$(fmt "$rps")" \
				"$(fmt "$(field p99_ms "$line")" 1)" "$errs" "$(fmt "$ceil")" \
				"$(ratio "${rps:-0}" "${ceil:-0}")"
			cpu_cols "$route-$k"
			printf '\n'
		done
	done
	printf '\nCPU columns: cores used (CPU-seconds per second of the run) by the processes\n'
	printf 'of each kind in the cluster'"'"'s namespaces, on a %d-core machine shared by all\n' "$CORES"
	printf 'of them; `client` is the load generator (wrk or pgbench), `cluster` the sum\n'
	printf 'of those, `machine` everything the machine ran meanwhile (other users'"'"'\n'
	printf 'work included). %s s per run; the ratio is to the mean of the two ceilings;\n' "$SECS"
	printf 'PgBouncer as shipped (default_pool_size 10); each web host runs 2 auth,\n'
	printf '2 api and 1 login responder.\n'
} >"$MD"
cp "$MD" "$OUT/latest.md"
cat "$MD"
say "done in $((SECONDS - T0)) s; table: $MD, raw: $RAW"
