#!/usr/bin/env bash
# deploy/dev/recipes/shared-cost.sh INSTANCE [N]: what plain CGI costs per
# request against FastCGI (README "Shared hosting"), measured on the
# recipes shared-cgi and shared-fcgid of a running stack instance (start
# them with stack.sh recipe-up first) and its main web (lighttpd, FastCGI).
# Not a recipe kind: a measurement, run by hand; it prints Markdown.
#
# 1. Through each web server: N sequential GET /api/health and GET
#    /api/profile (with a token) on one keep-alive connection from
#    127.0.0.1 (curl's time_total per request): mean, p50, p95, in ms.
# 2. The parts of a CGI request, running api.fcgi as the account does
#    (DIR/account.sh), N times each, interleaved, median wall time: a bare exec
#    (/bin/true) for the fork+exec every CGI pays; latchctl config keys
#    (the same 28 shared libraries loaded, nothing read); 404 (latch's
#    start-up: the configuration, routing, no database); health (+ the connection to
#    PostgreSQL and one query); profile (+ the token and the user's row).
# 3. strace -ttt of one CGI health request: when the configuration file is
#    read, when the database connection starts and ends, relative to
#    execve.
set -euo pipefail
INST=${1:?usage: shared-cost.sh INSTANCE [N]}
N=${2:-200}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)
((N >= 10 && N <= 5000)) || { echo "N must be 10..5000" >&2; exit 2; }
RUNDIR=$(head -n1 "$REPO/var/$INST.rundir")
DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' "$REPO/var/$INST.env")
MAIN=$(sed -n 's/^BASE_URL=//p' "$REPO/var/$INST.env")
CGI=$RUNDIR/recipe-shared-cgi
FCGID=$RUNDIR/recipe-shared-fcgid
for d in "$CGI" "$FCGID"; do
	[[ -s $d/apache.pid ]] || { echo "$d is not running: stack.sh recipe-up $INST ${d##*/recipe-} PORT" >&2; exit 1; }
done
port_of() { sed -n 's/^SHARED_PORT=//p' <(tr '\0' '\n' <"/proc/$(head -n1 "$1/apache.pid")/environ"); }
CGI_URL=http://127.0.0.1:$(port_of "$CGI")
FCGID_URL=http://127.0.0.1:$(port_of "$FCGID")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# A user of cost 4 and an access token for profile.
user=cost_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
pw=pw-$user-$RANDOM$RANDOM
printf '%s\n' "$pw" | DATABASE_URL=$DATABASE_URL BCRYPT_COST=4 \
	"$REPO/build/latchctl" user add "$user" --password-stdin >/dev/null
token=$(curl -s --noproxy '*' -H 'Content-Type: application/json' \
	-d "{\"username\":\"$user\",\"password\":\"$pw\",\"token_delivery\":\"body\"}" \
	"$CGI_URL/auth/login" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[[ -n $token ]] || { echo "login failed" >&2; exit 1; }

# N requests of $2 on base URL $1 over one connection; extra curl args
# after. Prints "mean p50 p95" in ms.
http_loop() {
	local url=$1$2 i
	{
		for ((i = 0; i < N; i++)); do
			printf 'url = "%s"\noutput = "/dev/null"\n' "$url"
		done
	} >"$TMP/curl.cfg"
	curl -s --noproxy '*' "${@:3}" -K "$TMP/curl.cfg" -w '%{http_code} %{time_total}\n' >"$TMP/times"
	awk '$1 != 200 { bad++ } END { if (bad) { print bad " answers not 200" > "/dev/stderr"; exit 1 } }' "$TMP/times"
	awk '{ print $2 * 1000 }' "$TMP/times" | sort -n | awk '
		{ v[NR] = $1; s += $1 }
		END { printf "%.2f | %.2f | %.2f", s / NR, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.95 + 0.5)] }'
}

echo "### Through the web server ($N sequential requests, one connection, ms)"
echo
echo "| server | route | mean | p50 | p95 |"
echo "|---|---|---|---|---|"
for s in "Apache + CGI (shared-cgi)|$CGI_URL" "Apache + mod_fcgid (shared-fcgid)|$FCGID_URL" \
	"lighttpd + FastCGI (main web)|$MAIN"; do
	name=${s%%|*} base=${s#*|}
	curl -s --noproxy '*' -o /dev/null "$base/api/health" # warm: spawn the processes
	echo "| $name | health | $(http_loop "$base" /api/health) |"
	echo "| $name | profile | $(http_loop "$base" /api/profile -H "Authorization: Bearer $token") |"
done
echo

# The parts, as the account runs a CGI program (its home, its config).
home=$CGI/home
bin=$home/public_html/latch/api.fcgi
cat >"$TMP/parts.sh" <<'EOF'
set -eu
n=$1 bin=$2 docroot=$3 token=$4
ctl=${docroot%/*}/bin/latchctl
now() { local t=${EPOCHREALTIME/./}; printf '%s' "$t"; }
once() { # $1 = label; rest: env assignments for one request, the program
	local label=$1 t0 t1
	shift
	t0=$(now)
	env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
		SERVER_NAME=127.0.0.1 SERVER_PORT=80 REMOTE_ADDR=127.0.0.1 \
		REQUEST_METHOD=GET DOCUMENT_ROOT="$docroot" HTTP_HOST=127.0.0.1 "$@" \
		</dev/null >/dev/null 2>/dev/null
	t1=$(now)
	printf '%s %s\n' "$label" "$((t1 - t0))"
}
# Interleaved, so that the machine's load drifts over all of them alike.
for ((i = 0; i < n; i++)); do
	once exec /bin/true
	once libs "$ctl" config keys
	once 404 REQUEST_URI=/api/nope "$bin"
	once health REQUEST_URI=/api/health "$bin"
	once profile REQUEST_URI=/api/profile HTTP_AUTHORIZATION="Bearer $token" "$bin"
done
EOF
chmod 755 "$TMP/parts.sh"
chmod 711 "$TMP"
[[ $EUID -ne 0 ]] || chown "$(stat -c %u "$CGI"):$(stat -c %g "$CGI")" "$TMP" "$TMP/parts.sh"
"$CGI/account.sh" "$CGI" bash "$TMP/parts.sh" "$N" "$bin" "$home/public_html" "$token" >"$TMP/parts"
# Median µs of the runs labelled $1.
us() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/parts" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "### One CGI request, in parts ($N runs each, interleaved, as the account, median)"
echo
echo "| run | µs per run | the part it adds | µs |"
echo "|---|---|---|---|"
echo "| fork + exec of a bare program (/bin/true) | $(us exec) | | |"
echo "| latchctl config keys (the same libraries; reads nothing) | $(us libs) | loading and initialising the shared libraries | $(( $(us libs) - $(us exec) )) |"
echo "| api.fcgi, 404 (no database) | $(us 404) | latch's start-up: configuration, keys, routing | $(( $(us 404) - $(us libs) )) |"
echo "| api.fcgi, health | $(us health) | database connection + one query | $(( $(us health) - $(us 404) )) |"
echo "| api.fcgi, profile | $(us profile) | token check + the user's row | $(( $(us profile) - $(us health) )) |"
echo

if command -v strace >/dev/null; then
	"$CGI/account.sh" "$CGI" env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 \
		SERVER_NAME=127.0.0.1 SERVER_PORT=80 REMOTE_ADDR=127.0.0.1 \
		REQUEST_METHOD=GET REQUEST_URI=/api/health DOCUMENT_ROOT="$home/public_html" \
		strace -ttt -f -o "$TMP/strace" "$bin" </dev/null >/dev/null 2>&1 || true
	awk -v conf="$home/latch.conf" '
		/execve\(/ && !e { e = $2 }
		index($0, "\"" conf "\"") { if (!c0) c0 = $2; c1 = $2 }
		/connect\(.*\.s\.PGSQL\./ && !d0 { d0 = $2 }
		d0 && /sendto\(.*"Q/ && !q { q = 1 }
		q && /recvfrom\(/ && !d1 { d1 = $2 }
		/write\(1,/ && !w { w = $2 }
		/exit_group/ { x = $2 }
		function ms(t) { return (t - e) * 1000 }
		END {
			printf "strace -ttt -f of one CGI health request, ms after execve (strace slows every system call, so only the order and the proportions hold):\n\n"
			printf "- loading and start-up until the configuration: %.1f\n", ms(c0)
			printf "- configuration file (first to last system call on it): %.1f to %.1f\n", ms(c0), ms(c1)
			printf "- database: connect at %.1f, session ready (first query answered) at %.1f\n", ms(d0), ms(d1)
			printf "- answer written at %.1f, exit at %.1f\n", ms(w), ms(x)
		}' "$TMP/strace"
	grep -c . "$TMP/strace" | sed 's/^/- system calls: /'
fi
DATABASE_URL=$DATABASE_URL "$REPO/build/latchctl" user disable "$user" >/dev/null 2>&1 || true
