#!/usr/bin/env bash
# deploy/dev/stack.sh: the throwaway development / test stack of latch.
#
# One "instance" (run, check, asan, bench, ...) is a private PostgreSQL
# cluster, a lighttpd serving deploy/www and the FastCGI binaries, and a few
# files under var/. Instances are independent: `make run` and `make check`
# can be up at the same time (on different PORTs).
#
#   stack.sh up       INSTANCE                 start or restart everything
#   stack.sh down     INSTANCE                 stop everything (keeps data)
#   stack.sh db-stop  INSTANCE                 stop only PostgreSQL
#   stack.sh db-start INSTANCE                 start only PostgreSQL
#   stack.sh web-up   INSTANCE NAME PORT [KEY=VALUE ...]
#                                              extra lighttpd + fcgi pair on
#                                              the same database, with config
#                                              overrides
#   stack.sh web-down INSTANCE NAME            stop that extra pair
#   stack.sh status   INSTANCE                 say what runs
#   stack.sh clean    INSTANCE                 down, then delete its data
#
# STACK_PG_CRON=1 (at `up`) loads pg_cron into the instance's cluster.
#
# `up` reads PORT (8080), BIN_DIR (build; holds auth.fcgi, api.fcgi,
# latchctl) and the configuration keys of API.md from its environment.
# It writes var/INSTANCE.env (BASE_URL=, DATABASE_URL=), var/INSTANCE.rundir,
# var/INSTANCE.secrets and var/INSTANCE.demo.
#
# Everything long-running (postgres, lighttpd, the fcgi processes) runs as
# one unprivileged "service user": the caller, or a system user `latch` when
# the caller is root, because PostgreSQL refuses to run as root and nothing
# here needs root once set up. Only pid files, kill -0 and /proc are used to
# find processes (no ps/pgrep: a minimal Debian has neither).
set -euo pipefail

say() { printf 'stack: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VAR=$REPO/var
cd "$REPO"

# The keys of API.md's configuration table, plus MAX_BODY_BYTES (the body
# limit that "Common rules" calls configurable). Those set to a non-empty
# value in our environment are written into the service's config file.
API_KEYS=(
	JWT_ACCESS_SECRET JWT_REFRESH_SECRET JWT_ACCESS_EXPIRES JWT_REFRESH_EXPIRES
	SESSION_MAX_AGE REFRESH_REUSE_GRACE REUSE_REVOKES JWT_ISSUER JWT_AUDIENCE
	BCRYPT_COST COOKIE_SECURE ALLOWED_ORIGINS ALLOW_SIGNUP TRUSTED_PROXIES
	MAX_BODY_BYTES
)
# Sanitizer settings are passed through to the fcgi processes (make asan).
PASS_ENV=(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS MSAN_OPTIONS)

PG_PORT=5432
WAIT_SECONDS=${STACK_WAIT_SECONDS:-15} # health wait after starting lighttpd
# The longest socket path we create below a run dir is
# "/web-<12 chars>/auth.sock-<n>" (lighttpd appends -<n> per process);
# sun_path holds 108 bytes, keep a margin.
MAX_RUNDIR_LEN=68

usage() {
	sed -n '/^#   stack.sh/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ---------------------------------------------------------------- helpers

# The service user and how to run a command as it, with a clean, explicit
# environment (nothing of the caller's leaks in by accident) and from /, as
# the service user may not be able to read the caller's working directory.
setup_user() { # $1 = create: make the system user when root and missing
	if ((EUID == 0)); then
		SVC_USER=latch
		SVC_HOME=/nonexistent
		if ! getent passwd latch >/dev/null; then
			[[ ${1:-} == create ]] || return 1
			useradd --system --user-group --no-create-home \
				--home-dir /nonexistent --shell /usr/sbin/nologin latch ||
				die "could not create system user latch"
			say "created system user latch"
		fi
		SVC_GROUP=$(id -gn latch)
	else
		SVC_USER=$(id -un)
		SVC_GROUP=$(id -gn)
		SVC_HOME=${HOME:-/}
	fi
}

as_svc() {
	local envv=(PATH=/usr/local/bin:/usr/bin:/bin HOME="$SVC_HOME"
		USER="$SVC_USER" LOGNAME="$SVC_USER" LANG=C LC_ALL=C)
	# fd 9 is the instance lock: daemons must not inherit it, or it would
	# stay held for as long as they run.
	if ((EUID == 0)); then
		# setpriv, not su/runuser: no PAM, no login shell (ours is nologin).
		(cd / && exec 9>&- setpriv --reuid="$SVC_USER" --regid="$SVC_GROUP" \
			--clear-groups -- env -i "${envv[@]}" "$@")
	else
		(cd / && exec 9>&- env -i "${envv[@]}" "$@")
	fi
}

# Give paths we created to the service user (a no-op when we are it).
# give [-R] PATH...
give() {
	((EUID == 0)) || return 0
	if [[ $1 == -R ]]; then
		chown -R "$SVC_USER:$SVC_GROUP" "${@:2}"
	else
		chown "$SVC_USER:$SVC_GROUP" "$@"
	fi
}

# Write stdin atomically to $1 with mode $2, owned by the service user.
put_file() {
	local dest=$1 mode=$2 tmp
	tmp=$(mktemp "$dest.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	give "$tmp"
	mv -f "$tmp" "$dest"
}

# Same, but owned by the caller (files under var/ that the caller reads).
put_own_file() {
	local dest=$1 mode=$2 tmp
	tmp=$(mktemp "$dest.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$dest"
}

# n random base64url characters (n <= 43) from /dev/urandom.
rand_b64url() {
	local s
	s=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	printf '%s' "${s:0:$1}"
}

# A 16 character alphanumeric password (easy to type and to paste).
rand_password() {
	local s="" i
	for ((i = 0; i < 5 && ${#s} < 16; i++)); do
		s+=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
	done
	((${#s} >= 16)) || die "could not read /dev/urandom"
	printf '%s' "${s:0:16}"
}

valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && (($1 >= 1 && $1 <= 65535)); }

# True when something accepts connections on 127.0.0.1:$1.
port_busy() {
	# shellcheck disable=SC2016 # $1 is the inner shell's
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Is pid $1 alive? A zombie is not: where PID 1 does not reap (containers,
# chroots) a daemon we stopped can linger as one and still pass kill -0.
alive() {
	[[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null &&
		[[ $(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) != Z* ]]
}

# Is $1 a live process whose command name is $2? (pid files can be stale
# and their pid reused, e.g. after a reboot or in a restarted chroot).
# Without /proc (a chroot that did not mount it) kill -0 has to do.
pid_is() {
	alive "$1" || return 1
	[[ -d /proc/self ]] || return 0
	[[ $(cat "/proc/$1/comm" 2>/dev/null || true) == "$2" ]]
}

# Send TERM to the given pids, wait up to $1 seconds, then KILL survivors.
terminate() {
	local secs=$1 pid left i
	shift
	(($# > 0)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		left=()
		for pid in "$@"; do alive "$pid" && left+=("$pid"); done
		((${#left[@]} > 0)) || return 0
		sleep 0.1
	done
	say "still running after ${secs}s, killing: ${left[*]}"
	kill -KILL "${left[@]}" 2>/dev/null || true
}

# Pids of processes whose executable lives in directory $1 (the fcgi copies:
# each web has its own bin/, so this never hits another web's processes).
pids_running_from() {
	local p exe out=()
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$1"/* ]] && out+=("${p#/proc/}")
	done
	printf '%s\n' "${out[@]}"
}

instance_lock() {
	mkdir -p "$VAR"
	exec 9>>"$VAR/$INST.lock"
	flock -w 120 9 || die "another stack.sh is busy with instance $INST (var/$INST.lock)"
}

# --------------------------------------------------------------- run dir

# Can the service user use $1 as its run dir? Creates it if needed; removes
# it again (only if we just made it) when the answer is no.
try_rundir() {
	local d=$1 made=0
	[[ ${#d} -le $MAX_RUNDIR_LEN ]] || return 1
	# Keep to characters that need no quoting in lighttpd.conf,
	# postgresql.conf or a URL.
	[[ $d =~ ^[A-Za-z0-9/._-]+$ ]] || return 1
	[[ ! -L $d ]] || return 1
	if [[ ! -d $d ]]; then
		mkdir -m 700 "$d" 2>/dev/null || return 1
		made=1
	fi
	# A run dir left by another service user (an earlier non-root run, say):
	# PostgreSQL insists on owning its data directory, so take all of it.
	if ((EUID == 0)) && [[ $(stat -c %U "$d") != "$SVC_USER" ]]; then
		give -R "$d" 2>/dev/null || true
	fi
	chmod 700 "$d" 2>/dev/null || true
	if as_svc test -d "$d" -a -x "$d" -a -w "$d" -a -r "$d" -a -O "$d"; then
		return 0
	fi
	((made)) && rmdir "$d" 2>/dev/null
	return 1
}

# The /tmp directory this repository's run dirs go to when var/ is not
# usable by the service user.
tmp_parent() {
	local base=${REPO##*/} hash
	base=${base//[^A-Za-z0-9._-]/_}
	base=${base:0:20}
	hash=$(printf '%s' "$REPO" | sha256sum)
	printf '/tmp/latch-%s-%s' "$base" "${hash:0:8}"
}

# Decide RUNDIR for this instance: var/INSTANCE in the repository when the
# service user can use it (a clone in /root usually is not reachable by
# `latch`), else a directory under /tmp named after the repository.
pick_rundir() {
	if try_rundir "$VAR/$INST"; then
		RUNDIR=$VAR/$INST
		return
	fi
	local parent
	parent=$(tmp_parent)
	# /tmp is shared: refuse a parent that is not ours (symlink tricks).
	if [[ -L $parent || (-e $parent && ! -d $parent) ]]; then
		die "$parent exists and is not a directory; remove it"
	fi
	if [[ ! -d $parent ]]; then
		mkdir -m 700 "$parent"
		give "$parent"
	fi
	[[ $(stat -c %U "$parent") == "$SVC_USER" ]] ||
		die "$parent belongs to $(stat -c %U "$parent"), not $SVC_USER; remove it"
	try_rundir "$parent/$INST" ||
		die "the service user $SVC_USER cannot use $VAR/$INST nor $parent/$INST"
	RUNDIR=$parent/$INST
	say "run dir: $RUNDIR ($SVC_USER cannot use $VAR/$INST)"
}

# The run dir recorded by the last `up`, for the other commands.
known_rundir() {
	RUNDIR=""
	[[ -s $VAR/$INST.rundir ]] || return 1
	RUNDIR=$(head -n1 "$VAR/$INST.rundir")
	[[ -n $RUNDIR && -d $RUNDIR ]]
}

# ------------------------------------------------------------ PostgreSQL

set_pg_paths() {
	PGDATA=$RUNDIR/pgdata
	SOCK=$RUNDIR/sock
	# The port is in the URL too, so that a PGPORT in someone's environment
	# can't win; written as ":port" (not "&port=") to keep var/*.env lines
	# safe to source from a shell.
	DATABASE_URL="postgresql://latch@:$PG_PORT/latch?host=$SOCK"
	# A cluster must be run by the major version that created it.
	local v=""
	[[ -s $PGDATA/PG_VERSION ]] && v=$(head -n1 "$PGDATA/PG_VERSION")
	if [[ -n $v && -x /usr/lib/postgresql/$v/bin/pg_ctl ]]; then
		PGBIN=/usr/lib/postgresql/$v/bin
	elif [[ -n $v && -e $PGDATA/PG_VERSION ]]; then
		die "$PGDATA was made by PostgreSQL $v, which is not installed (stack.sh clean $INST starts afresh)"
	elif [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
		PGBIN=/usr/lib/postgresql/15/bin
	else
		v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
			sort -V | tail -n1 || true)
		[[ -n $v && -x /usr/lib/postgresql/$v/bin/pg_ctl ]] ||
			die "PostgreSQL server not installed: run deploy/dev/deps.sh run"
		PGBIN=/usr/lib/postgresql/$v/bin
	fi
}

pg_running() {
	[[ -s $PGDATA/PG_VERSION ]] &&
		as_svc "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

pg_init() {
	if [[ ! -s $PGDATA/PG_VERSION ]]; then
		rm -rf "$PGDATA" # a half-made one from an interrupted run
		say "initdb $PGDATA"
		if ! as_svc "$PGBIN/initdb" -D "$PGDATA" -U latch --auth=trust \
			-E UTF8 --locale=C.UTF-8 --no-instructions >"$RUNDIR/initdb.log" 2>&1; then
			tail -n 20 "$RUNDIR/initdb.log" >&2
			die "initdb failed (log: $RUNDIR/initdb.log)"
		fi
		# Our settings live in their own file, rewritten by every `up`.
		printf "\ninclude 'latch-dev.conf'\n" >>"$PGDATA/postgresql.conf"
	fi
	[[ -d $SOCK ]] || mkdir -m 700 "$SOCK"
	give "$SOCK"
	# Unix socket only, in a directory only the service user (and root) can
	# enter: trust auth is then safe enough. Durability is not wanted here.
	put_file "$PGDATA/latch-dev.conf" 600 <<-EOF
		# Written by deploy/dev/stack.sh on every \`up\`: throwaway dev cluster.
		listen_addresses = ''
		unix_socket_directories = '$SOCK'
		unix_socket_permissions = 0700
		port = $PG_PORT
		max_connections = 100
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		timezone = 'UTC'
		log_timezone = 'UTC'
	EOF
	# STACK_PG_CRON=1: load pg_cron for the database latch, running jobs
	# in background workers (this cluster has no TCP to connect over).
	if [[ ${STACK_PG_CRON:-0} == 1 ]]; then
		put_file "$PGDATA/latch-cron.conf" 600 <<-EOF
			shared_preload_libraries = 'pg_cron'
			cron.database_name = 'latch'
			cron.use_background_workers = on
			max_worker_processes = 16
		EOF
	else
		: | put_file "$PGDATA/latch-cron.conf" 600
	fi
	grep -q "latch-cron.conf" "$PGDATA/postgresql.conf" ||
		printf "include 'latch-cron.conf'\n" >>"$PGDATA/postgresql.conf"
}

pg_start() {
	if pg_running; then
		as_svc "$PGBIN/pg_ctl" -D "$PGDATA" reload >/dev/null 2>&1 || true
		return 0
	fi
	[[ -s $PGDATA/PG_VERSION ]] || die "no cluster in $PGDATA: run stack.sh up $INST first"
	[[ -d $SOCK ]] || mkdir -m 700 "$SOCK"
	give "$SOCK"
	say "starting PostgreSQL ($SOCK)"
	if ! as_svc "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 30 -l "$RUNDIR/pg.log" \
		start </dev/null >/dev/null 2>&1; then
		tail -n 20 "$RUNDIR/pg.log" >&2 || true
		die "PostgreSQL did not start (log: $RUNDIR/pg.log)"
	fi
}

pg_stop() {
	pg_running || return 0
	say "stopping PostgreSQL"
	as_svc "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
		as_svc "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
		say "warning: PostgreSQL in $PGDATA did not stop"
}

# psql as the service user; $1 = database, $2 = SQL. Unaligned, tuples only.
pg_sql() {
	as_svc "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -h "$SOCK" -p "$PG_PORT" \
		-U latch -d "$1" -c "$2"
}

pg_ensure_db() {
	local have
	have=$(pg_sql postgres "SELECT 1 FROM pg_database WHERE datname = 'latch'") ||
		die "cannot query PostgreSQL (log: $RUNDIR/pg.log)"
	if [[ $have != 1 ]]; then
		pg_sql postgres "CREATE DATABASE latch" || die "CREATE DATABASE latch failed"
		say "created database latch"
	fi
	# Before the migrations, which schedule the purge when pg_cron is there.
	if [[ ${STACK_PG_CRON:-0} == 1 ]]; then
		pg_sql latch "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null ||
			die "CREATE EXTENSION pg_cron failed (is postgresql-15-cron installed?)"
	fi
}

# ---------------------------------------------------------------- config

# An ordered KEY=VALUE map (CONF, CONF_KEYS), written out as latch.conf.
declare -A CONF=()
CONF_KEYS=()
conf_set() {
	[[ $1 =~ ^[A-Z][A-Z0-9_]*$ ]] || die "bad configuration key '$1' (KEY=VALUE, KEY in capitals)"
	[[ $2 != *$'\n'* && $2 != *$'\r'* ]] || die "the value of $1 has a line break"
	[[ -v CONF[$1] ]] || CONF_KEYS+=("$1")
	CONF[$1]=$2
}
conf_load() { # $1 = file of KEY=VALUE lines ('#' comments)
	local line
	while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		[[ $line == *=* ]] || continue
		conf_set "${line%%=*}" "${line#*=}"
	done <"$1"
}
conf_write() { # $1 = destination, mode 600, owned by the service user
	local k
	{
		printf '# Written by deploy/dev/stack.sh; rewritten by every up/web-up.\n'
		for k in "${CONF_KEYS[@]}"; do printf '%s=%s\n' "$k" "${CONF[$k]}"; done
	} | put_file "$1" 600
}

# Dev JWT secrets, made once per instance and kept, so that tokens and the
# demo page survive a restart. Never printed.
ensure_secrets() {
	local f=$VAR/$INST.secrets
	if [[ ! -s $f ]]; then
		{
			printf 'JWT_ACCESS_SECRET=dev-access-1:%s\n' "$(rand_b64url 43)"
			printf 'JWT_REFRESH_SECRET=dev-refresh-1:%s\n' "$(rand_b64url 43)"
		} | put_own_file "$f" 600
		say "made dev JWT secrets (var/$INST.secrets)"
	fi
}

# ------------------------------------------------------------ web server

LIGHTTPD=/usr/sbin/lighttpd

# True when the loopback interface has ::1, so lighttpd can listen there
# too (IPv6 clients take other paths through the limiter and the logs).
have_ipv6_loopback() {
	[[ -r /proc/net/if_inet6 ]] &&
		grep -q '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6
}

# lighttpd.conf for the web in directory $1 on port $2 (127.0.0.1, and
# [::1] where there is IPv6). The document root is shared; sockets, logs,
# config and binaries are per web.
write_lighttpd_conf() {
	local w=$1 port=$2 fam
	{
		cat <<-EOF
			# Written by deploy/dev/stack.sh; rewritten on every start.
			server.bind           = "127.0.0.1"
			server.port           = $port
			server.document-root  = "$RUNDIR/www"
			server.pid-file       = "$w/lighttpd.pid"
			server.errorlog       = "$w/lighttpd.error.log"
			# stderr of the fcgi processes (start-up refusals, sanitizers)
			server.breakagelog    = "$w/fcgi.stderr.log"
			server.upload-dirs    = ( "$w" )
			server.tag            = "lighttpd"
			# latch refuses over-long headers itself, as a JSON 400;
			# lighttpd's own 431 page for >8 KiB would be HTML.
			server.max-request-field-size = 32768
			server.modules        = ( "mod_fastcgi", "mod_accesslog" )
			accesslog.filename    = "$w/access.log"
			index-file.names      = ( "index.html" )
			mimetype.assign       = (
			  ".html" => "text/html; charset=utf-8",
			  ".js"   => "text/javascript; charset=utf-8",
			  ".mjs"  => "text/javascript; charset=utf-8",
			  ".css"  => "text/css; charset=utf-8",
			  ".json" => "application/json",
			  ".svg"  => "image/svg+xml",
			  ".png"  => "image/png",
			  ".ico"  => "image/x-icon",
			  ".txt"  => "text/plain; charset=utf-8",
			)
			# Each family is a prefix; lighttpd spawns and supervises the
			# responders. They also inherit lighttpd's (clean) environment.
			fastcgi.server = (
		EOF
		for fam in auth api; do
			cat <<-EOF
				  "/$fam/" => ((
				    "socket"          => "$w/$fam.sock",
				    "bin-path"        => "$w/bin/$fam.fcgi",
				    "max-procs"       => 2,
				    "check-local"     => "disable",
				    "bin-environment" => ( "LATCH_CONFIG" => "$w/latch.conf" ),
				  )),
			EOF
		done
		printf ')\n'
		if have_ipv6_loopback; then
			printf '$SERVER["socket"] == "[::1]:%s" { }\n' "$port"
		fi
	} | put_file "$w/lighttpd.conf" 600
}

# Copy the binaries the web in $1 runs (the service user may not be able to
# read BIN_DIR, and a running binary must not be overwritten in place).
install_bins() { # $1 = web dir, $2 = source dir
	local b
	[[ -d $1/bin ]] || mkdir -m 700 "$1/bin"
	give "$1/bin"
	for b in auth.fcgi api.fcgi latchctl; do
		cp "$2/$b" "$1/bin/.$b.new"
		chmod 755 "$1/bin/.$b.new"
		give "$1/bin/.$b.new"
		mv -f "$1/bin/.$b.new" "$1/bin/$b"
	done
}

# "main" for the instance's own web, NAME for RUNDIR/web-NAME.
web_label() { if [[ $1 == "$RUNDIR" ]]; then echo main; else echo "${1##*/web-}"; fi; }

web_running() { # $1 = web dir
	local pid
	[[ -s $1/lighttpd.pid ]] || return 1
	pid=$(head -n1 "$1/lighttpd.pid")
	pid_is "$pid" lighttpd
}

# Stop the lighttpd of web dir $1 and any fcgi process left from it.
web_stop() {
	local w=$1 pid pids
	if [[ -s $w/lighttpd.pid ]]; then
		pid=$(head -n1 "$w/lighttpd.pid")
		if pid_is "$pid" lighttpd; then
			say "stopping lighttpd $pid (web $(web_label "$w"))"
			# lighttpd stops its fcgi children itself on TERM.
			terminate 10 "$pid"
		fi
		rm -f "$w/lighttpd.pid"
	fi
	# Children that outlived a crashed or killed lighttpd.
	mapfile -t pids < <(pids_running_from "$w/bin")
	if ((${#pids[@]} > 0)) && [[ -n ${pids[0]} ]]; then
		say "stopping leftover fcgi processes: ${pids[*]}"
		terminate 5 "${pids[@]}"
	fi
	rm -f "$w"/*.sock "$w"/*.sock-*
}

# Start lighttpd for web dir $1 on port $2 and wait until /api/health
# answers (200, or 503 when the database is down: both mean latch runs).
web_start() {
	local w=$1 port=$2 k envv=() out code deadline
	port_busy "$port" &&
		die "port $port on 127.0.0.1 is already in use by another program; choose another (PORT=...)"
	write_lighttpd_conf "$w" "$port"
	# Logs of the previous start stay as *.1 (a sanitizer report, say), so
	# that what we show on failure is only this start's.
	for k in lighttpd.error.log fcgi.stderr.log access.log; do
		[[ -e $w/$k ]] && mv -f "$w/$k" "$w/$k.1"
	done
	envv=(LATCH_CONFIG="$w/latch.conf")
	for k in "${PASS_ENV[@]}"; do
		[[ -n ${!k:-} ]] && envv+=("$k=${!k}")
	done
	out=$w/lighttpd.out
	: >"$out"
	give "$out"
	if ! as_svc env "${envv[@]}" "$LIGHTTPD" -tt -f "$w/lighttpd.conf" >>"$out" 2>&1; then
		cat "$out" >&2
		die "lighttpd rejects $w/lighttpd.conf"
	fi
	: >"$out"
	# lighttpd daemonizes (own session, stdio detached) and its parent exits
	# only once the server is set up or has failed; our redirections keep it
	# from holding the caller's stdout (make, a pipe) open.
	if ! as_svc env "${envv[@]}" "$LIGHTTPD" -f "$w/lighttpd.conf" \
		</dev/null >>"$out" 2>&1; then
		cat "$out" >&2
		tail -n 20 "$w/lighttpd.error.log" >&2 2>/dev/null || true
		port_busy "$port" && say "port $port on 127.0.0.1 is in use"
		die "lighttpd did not start (logs: $out, $w/lighttpd.error.log)"
	fi
	local url=http://127.0.0.1:$port/api/health
	deadline=$((SECONDS + WAIT_SECONDS))
	while :; do
		code=$(health_code "$url")
		# 200, or latch's own JSON 503 (database down). lighttpd answers an
		# HTML 503 by itself when the responders can't be started: not up.
		[[ $code == 200 || $code == "503 json" ]] && break
		if ! web_running "$w"; then
			web_failed "$w" "lighttpd exited"
		fi
		if ((SECONDS >= deadline)); then
			web_failed "$w" "$url did not answer 200 or a JSON 503 within ${WAIT_SECONDS}s (last: ${code:-no answer})"
		fi
		sleep 0.2
	done
	say "lighttpd up on http://127.0.0.1:$port (/api/health: ${code% json})"
}

# "200", "503 json" (503 with a JSON body: latch's own), another code, or
# "" when nothing answered.
health_code() {
	local out
	out=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --noproxy '*' \
		--max-time 3 "$1" 2>/dev/null) || true
	case $out in
	"000"* | "") ;;
	"503 application/json"*) echo "503 json" ;;
	*) echo "${out%% *}" ;;
	esac
}

# Show why web $1 did not come up, stop it (so no half-working server holds
# the port), and fail with message $2.
web_failed() {
	local w=$1 f
	for f in fcgi.stderr.log lighttpd.error.log; do
		if [[ -s $w/$f ]]; then
			say "--- last lines of $w/$f:"
			tail -n 15 "$w/$f" >&2
		fi
	done
	web_stop "$w"
	die "$2 (logs: $w/fcgi.stderr.log, $w/lighttpd.error.log)"
}

# --------------------------------------------------------------- commands

cmd_up() {
	local port=${PORT:-8080} bin_dir=${BIN_DIR:-build} b old k demo_pw
	valid_port "$port" || die "PORT must be a TCP port number, not '$port'"
	[[ $bin_dir == /* ]] || bin_dir=$REPO/$bin_dir
	for b in auth.fcgi api.fcgi latchctl; do
		[[ -x $bin_dir/$b ]] || die "$bin_dir/$b is missing or not executable (build first: make)"
	done
	[[ -x $LIGHTTPD ]] || die "lighttpd is not installed: run deploy/dev/deps.sh run"
	command -v curl >/dev/null || die "curl is not installed: run deploy/dev/deps.sh run"

	setup_user create
	instance_lock

	# If an earlier `up` used another run dir (permissions changed), stop
	# what runs there first: it may hold the port.
	if known_rundir; then
		old=$RUNDIR
		pick_rundir
		if [[ $old != "$RUNDIR" ]]; then
			say "run dir moved from $old; stopping what ran there"
			(RUNDIR=$old stop_everything)
		fi
	else
		pick_rundir
	fi
	printf '%s\n' "$RUNDIR" | put_own_file "$VAR/$INST.rundir" 644
	set_pg_paths

	# Restart semantics: the webs go down first so that new binaries and
	# settings are picked up, and the port is free again.
	stop_webs

	pg_init
	pg_start
	pg_ensure_db

	# latch.conf: the database, the secrets (environment beats the file),
	# plain-http cookies unless told otherwise, then every key given.
	ensure_secrets
	CONF=()
	CONF_KEYS=()
	conf_set DATABASE_URL "$DATABASE_URL"
	conf_load "$VAR/$INST.secrets"
	conf_set COOKIE_SECURE 0
	for k in "${API_KEYS[@]}"; do
		[[ -n ${!k:-} ]] && conf_set "$k" "${!k}"
	done
	conf_write "$RUNDIR/latch.conf"

	# latchctl runs as the caller, with the caller's environment: it only
	# talks to PostgreSQL over the socket, which the caller can reach.
	say "applying migrations"
	DATABASE_URL=$DATABASE_URL LATCH_CONFIG=$RUNDIR/latch.conf \
		"$bin_dir/latchctl" migrate --dir "$REPO/migrations" </dev/null >&2 9>&- ||
		die "latchctl migrate failed (DATABASE_URL=$DATABASE_URL)"

	demo_pw=$(ensure_demo_user "$bin_dir")

	install_bins "$RUNDIR" "$bin_dir"
	[[ -d $REPO/deploy/www ]] || die "$REPO/deploy/www is missing"
	rm -rf "$RUNDIR/www.new"
	cp -R "$REPO/deploy/www" "$RUNDIR/www.new"
	give -R "$RUNDIR/www.new"
	rm -rf "$RUNDIR/www"
	mv "$RUNDIR/www.new" "$RUNDIR/www"

	web_start "$RUNDIR" "$port"
	printf '%s\n' "$port" | put_file "$RUNDIR/port" 644

	printf 'BASE_URL=http://127.0.0.1:%s\nDATABASE_URL=%s\n' "$port" "$DATABASE_URL" |
		put_own_file "$VAR/$INST.env" 644
	printf 'BASE_URL=http://127.0.0.1:%s\n' "$port"
	printf 'DATABASE_URL=%s\n' "$DATABASE_URL"
	printf 'demo user: demo / %s\n' "$demo_pw"
}

# Make sure user `demo` exists and print its password. The password is kept
# in var/INSTANCE.demo so that it stays the same across runs.
ensure_demo_user() {
	local bin_dir=$1 f=$VAR/$INST.demo table n pw hash cost
	# The migrations choose the schema; find the users table wherever it is,
	# preferring one on the search path.
	table=$(pg_sql latch "SELECT format('%I.%I', table_schema, table_name)
		FROM information_schema.tables
		WHERE table_name = 'users'
		  AND table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY table_schema = ANY (current_schemas(false)) DESC, table_schema
		LIMIT 1") || die "cannot look for the users table"
	[[ -n $table ]] || die "the migrations made no users table"
	n=$(pg_sql latch "SELECT count(*) FROM $table WHERE username = 'demo'") ||
		die "cannot query $table"
	if [[ $n == 0 ]]; then
		pw=$(rand_password)
		printf '%s\n' "$pw" |
			DATABASE_URL=$DATABASE_URL LATCH_CONFIG=$RUNDIR/latch.conf \
				"$bin_dir/latchctl" user add demo --password-stdin >&2 9>&- ||
			die "latchctl user add demo failed"
		printf '%s\n' "$pw" | put_own_file "$f" 600
		say "created user demo"
	elif [[ -s $f ]]; then
		pw=$(head -n1 "$f")
	else
		# The row outlived its password file: set a new password. The hash is
		# computed in the maintenance database so that the app's database gets
		# no extension it did not ask for (API.md allows crypt(3) bcrypt).
		pw=$(rand_password)
		cost=${BCRYPT_COST:-12}
		[[ $cost =~ ^[0-9]+$ ]] && ((cost >= 4 && cost <= 15)) || cost=12
		if hash=$(pg_sql postgres "CREATE EXTENSION IF NOT EXISTS pgcrypto;
			SELECT crypt('$pw', gen_salt('bf', $cost))" 2>/dev/null) &&
			[[ $hash == "\$2"* ]] &&
			pg_sql latch "UPDATE $table SET password_hash = '$hash'
				WHERE username = 'demo'" >/dev/null 2>&1; then
			printf '%s\n' "$pw" | put_own_file "$f" 600
			say "var/$INST.demo was missing: gave user demo a new password"
		else
			pw="(unknown: var/$INST.demo is missing; 'stack.sh clean $INST' starts afresh)"
		fi
	fi
	printf '%s' "$pw"
}

# All webs of the instance: the main one (RUNDIR) and the extras (web-*).
stop_webs() {
	local d
	for d in "$RUNDIR"/web-*/; do
		[[ -d $d ]] && web_stop "${d%/}"
	done
	web_stop "$RUNDIR"
}

stop_everything() {
	stop_webs
	if setup_user; then
		set_pg_paths
		pg_stop
	fi
}

cmd_down() {
	if ! known_rundir; then
		say "instance $INST is not set up; nothing to stop"
		return 0
	fi
	instance_lock
	stop_everything
	say "instance $INST is down"
}

cmd_db() { # $1 = start | stop
	known_rundir || die "instance $INST is not set up: run stack.sh up $INST"
	instance_lock
	setup_user || die "no service user: run stack.sh up $INST"
	set_pg_paths
	if [[ $1 == start ]]; then pg_start; else pg_stop; fi
}

cmd_web_up() {
	local name=$1 port=$2 w kv
	shift 2
	[[ $name =~ ^[a-z0-9]{1,12}$ ]] || die "web NAME must be 1-12 of a-z 0-9"
	valid_port "$port" || die "PORT must be a TCP port number, not '$port'"
	if ! known_rundir || [[ ! -s $RUNDIR/latch.conf || ! -x $RUNDIR/bin/api.fcgi ]]; then
		die "instance $INST is not up: run stack.sh up $INST first"
	fi
	command -v curl >/dev/null || die "curl is not installed: run deploy/dev/deps.sh run"
	setup_user || die "no service user: run stack.sh up $INST"
	instance_lock
	w=$RUNDIR/web-$name
	web_stop "$w"
	[[ -e $w ]] || mkdir -m 700 "$w"
	give "$w"
	# The main web's settings, then the overrides.
	CONF=()
	CONF_KEYS=()
	conf_load "$RUNDIR/latch.conf"
	for kv in "$@"; do
		[[ $kv == *=* ]] || die "override '$kv' is not KEY=VALUE"
		conf_set "${kv%%=*}" "${kv#*=}"
	done
	conf_write "$w/latch.conf"
	install_bins "$w" "$RUNDIR/bin"
	web_start "$w" "$port"
	printf 'BASE_URL=http://127.0.0.1:%s\n' "$port"
}

cmd_web_down() {
	local name=$1
	[[ $name =~ ^[a-z0-9]{1,12}$ ]] || die "web NAME must be 1-12 of a-z 0-9"
	known_rundir || return 0
	instance_lock
	[[ -d $RUNDIR/web-$name ]] && web_stop "$RUNDIR/web-$name"
	return 0
}

cmd_status() {
	local d port code pid
	if ! known_rundir; then
		say "instance $INST: not set up"
		return 0
	fi
	printf 'instance %s: run dir %s\n' "$INST" "$RUNDIR"
	if setup_user; then
		set_pg_paths
		if pg_running; then
			printf '  postgres: running (%s)\n' "$DATABASE_URL"
		else
			printf '  postgres: stopped\n'
		fi
	fi
	for d in "$RUNDIR" "$RUNDIR"/web-*; do
		[[ -d $d && -e $d/lighttpd.conf ]] || continue
		port=$(sed -n 's/^server.port *= *//p' "$d/lighttpd.conf")
		if web_running "$d"; then
			pid=$(head -n1 "$d/lighttpd.pid")
			code=$(health_code "http://127.0.0.1:$port/api/health")
			printf '  web %s: lighttpd %s on http://127.0.0.1:%s, /api/health %s\n' \
				"$(web_label "$d")" "$pid" "$port" "${code:-?}"
		else
			printf '  web %s: stopped\n' "$(web_label "$d")"
		fi
	done
}

cmd_clean() {
	local d
	cmd_down
	if known_rundir; then
		say "deleting $RUNDIR"
		rm -rf "$RUNDIR"
		rmdir "${RUNDIR%/*}" 2>/dev/null || true # the /tmp parent, if empty
	fi
	# A run dir var/ lost track of (a fresh clone at the same path, var/
	# deleted by hand) would otherwise be picked again by `up`, with its
	# old cluster and the schema of whatever ran there: stop and delete
	# that too, so that clean means a fresh database.
	for d in "$VAR/$INST" "$(tmp_parent)/$INST"; do
		[[ -d $d && ! -L $d && -e $d/pgdata/PG_VERSION ]] || continue
		say "deleting $d (left by an earlier run)"
		(RUNDIR=$d stop_everything) || true
		rm -rf "$d"
		[[ $d == "$VAR/$INST" ]] || rmdir "${d%/*}" 2>/dev/null || true
	done
	rm -f "$VAR/$INST".{env,rundir,secrets,demo}
}

# ------------------------------------------------------------------- main

(($# >= 2)) || usage
CMD=$1
INST=$2
shift 2
[[ $INST =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "INSTANCE must be 1-12 of a-z 0-9, starting with a letter"

case $CMD in
up) (($# == 0)) || usage; cmd_up ;;
down) (($# == 0)) || usage; cmd_down ;;
db-start) (($# == 0)) || usage; cmd_db start ;;
db-stop) (($# == 0)) || usage; cmd_db stop ;;
web-up) (($# >= 2)) || usage; cmd_web_up "$@" ;;
web-down) (($# == 1)) || usage; cmd_web_down "$1" ;;
status) (($# == 0)) || usage; cmd_status ;;
clean) (($# == 0)) || usage; cmd_clean ;;
*) usage ;;
esac
