#!/usr/bin/env bash
# deploy/dev/stack.sh: the throwaway development / test stack of latch.
#
# One "instance" (run, check, asan, bench, ...) is a private PostgreSQL
# cluster (pg.sh), a lighttpd serving deploy/www and the FastCGI binaries
# (web.sh), and a few files under var/. Instances are independent: `make
# run` and `make check` can be up at the same time (on different PORTs).
#
#   stack.sh up       INSTANCE                 start or restart everything
#   stack.sh down     INSTANCE                 stop everything (keeps data)
#   stack.sh db-stop  INSTANCE                 stop only PostgreSQL
#   stack.sh db-start INSTANCE                 start only PostgreSQL
#   stack.sh web-up   INSTANCE NAME PORT [KEY=VALUE ...]
#                                              extra lighttpd + fcgi pair on
#                                              the same database, with config
#                                              overrides
#   stack.sh web-conf INSTANCE NAME [KEY=VALUE ...]
#                                              only write that pair's config
#                                              (for running it as CGI);
#                                              prints LATCH_CONFIG=file
#   stack.sh web-down INSTANCE NAME            stop that extra pair
#   stack.sh recipe-up INSTANCE KIND PORT [KEY=VALUE ...]
#                                              serve the instance from a
#                                              shipped recipe of deploy/
#                                              (deploy/dev/recipes/KIND.sh
#                                              starts it) on PORT, with
#                                              config overrides; prints
#                                              BASE_URL=
#   stack.sh recipe-down INSTANCE KIND         stop that recipe's servers
#   stack.sh status   INSTANCE                 say what runs
#   stack.sh clean    INSTANCE                 down, then delete its data
#
# STACK_PG_CRON=1 (at `up`) loads pg_cron into the instance's cluster.
#
# `up` reads PORT (8080), BIN_DIR (build; holds auth.fcgi, login.fcgi,
# api.fcgi, latchctl) and the configuration keys of API.md from its
# environment; `up` and `web-up` read LOGIN_PROCS (2: the login pool's
# processes, web.sh).
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

# SVC_NETNS (tests/cluster, root only): run the command inside that
# network namespace (ip netns's /run/netns/NAME), nothing else changed.
as_svc() {
	local envv=(PATH=/usr/local/bin:/usr/bin:/bin HOME="$SVC_HOME"
		USER="$SVC_USER" LOGNAME="$SVC_USER" LANG=C LC_ALL=C) ns=()
	[[ -z ${SVC_NETNS:-} ]] || ns=(nsenter "--net=/run/netns/$SVC_NETNS")
	# fd 9 is the instance lock: daemons must not inherit it, or it would
	# stay held for as long as they run.
	if ((EUID == 0)); then
		# setpriv, not su/runuser: no PAM, no login shell (ours is nologin).
		(cd / && exec 9>&- "${ns[@]}" setpriv --reuid="$SVC_USER" --regid="$SVC_GROUP" \
			--clear-groups -- env -i "${envv[@]}" "$@")
	else
		(cd / && exec 9>&- "${ns[@]}" env -i "${envv[@]}" "$@")
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

# pg.sh: the cluster; web.sh: the lighttpd webs.
# shellcheck source=deploy/dev/pg.sh
. "$REPO/deploy/dev/pg.sh"
# shellcheck source=deploy/dev/web.sh
. "$REPO/deploy/dev/web.sh"

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

# --------------------------------------------------------------- commands

cmd_up() {
	local port=${PORT:-8080} bin_dir=${BIN_DIR:-build} b old k keys demo_pw
	valid_port "$port" || die "PORT must be a TCP port number, not '$port'"
	[[ $bin_dir == /* ]] || bin_dir=$REPO/$bin_dir
	for b in auth.fcgi login.fcgi api.fcgi latchctl; do
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
	stop_recipes
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
	# Every configuration key latchctl knows (lib/config.c owns the list)
	# that is set in our environment; DATABASE_URL is the stack's own.
	keys=$("$bin_dir/latchctl" config keys) && [[ -n $keys ]] ||
		die "$bin_dir/latchctl config keys failed"
	for k in $keys; do
		[[ $k != DATABASE_URL && -n ${!k:-} ]] && conf_set "$k" "${!k}"
	done
	conf_write "$RUNDIR/latch.conf"

	say "applying migrations"
	latchctl "$bin_dir" migrate --dir "$REPO/migrations" </dev/null >&2 ||
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

# Make sure user `demo` exists and print its password, kept in
# var/INSTANCE.demo so that it stays the same across runs. Without that
# file (or the user) it gets a new password, through latchctl as any user.
ensure_demo_user() {
	local f=$VAR/$INST.demo pw err users
	users=$(latchctl "$1" user list </dev/null) || die "latchctl user list failed"
	if [[ -s $f ]] && grep -q $'^[0-9]*\tdemo\t' <<<"$users"; then
		head -n1 "$f"
		return
	fi
	pw=$(rand_password)
	if err=$(printf '%s\n' "$pw" | latchctl "$1" user add demo --password-stdin 2>&1); then
		say "created user demo"
	elif printf '%s\n' "$pw" | latchctl "$1" user passwd demo --password-stdin \
		--keep-sessions >&2; then
		say "var/$INST.demo was missing: gave user demo a new password"
	else
		die "latchctl user add demo failed: $err"
	fi
	printf '%s\n' "$pw" | put_own_file "$f" 600
	printf '%s' "$pw"
}

# latchctl of $1 on the instance's database. It runs as the caller, with the
# caller's environment: it only talks to PostgreSQL over the socket, which
# the caller can reach.
latchctl() {
	DATABASE_URL=$DATABASE_URL LATCH_CONFIG=$RUNDIR/latch.conf \
		"$1/latchctl" "${@:2}" 9>&-
}

stop_everything() {
	local have_user=0
	# Before the recipes: theirs (the replica's PostgreSQL) run as the
	# service user too, and as_svc needs its name and home.
	setup_user && have_user=1
	stop_recipes
	stop_webs
	if ((have_user)); then
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

# Write RUNDIR/web-$1/latch.conf: the main web's settings, then the
# KEY=VALUE overrides that follow. Sets W to the web's directory.
web_conf() {
	[[ $1 =~ ^[a-z0-9]{1,12}$ ]] || die "web NAME must be 1-12 of a-z 0-9"
	derived_dir "web-$1" "${@:2}"
}

# Make RUNDIR/$1 (a web's or a recipe's directory) with a latch.conf of the
# main web's settings and the KEY=VALUE overrides that follow. Sets W.
derived_dir() {
	local kv
	if ! known_rundir || [[ ! -s $RUNDIR/latch.conf || ! -x $RUNDIR/bin/api.fcgi ]]; then
		die "instance $INST is not up: run stack.sh up $INST first"
	fi
	setup_user || die "no service user: run stack.sh up $INST"
	instance_lock
	W=$RUNDIR/$1
	[[ -e $W ]] || mkdir -m 700 "$W"
	give "$W"
	CONF=()
	CONF_KEYS=()
	conf_load "$RUNDIR/latch.conf"
	for kv in "${@:2}"; do
		[[ $kv == *=* ]] || die "override '$kv' is not KEY=VALUE"
		conf_set "${kv%%=*}" "${kv#*=}"
	done
	conf_write "$W/latch.conf"
}

cmd_web_conf() {
	web_conf "$@"
	printf 'LATCH_CONFIG=%s\n' "$W/latch.conf"
}

cmd_web_up() {
	local name=$1 port=$2
	valid_port "$port" || die "PORT must be a TCP port number, not '$port'"
	command -v curl >/dev/null || die "curl is not installed: run deploy/dev/deps.sh run"
	web_conf "$name" "${@:3}"
	web_stop "$W"
	install_bins "$W" "$RUNDIR/bin"
	web_start "$W" "$port"
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

# ---------------------------------------------------------------- recipes
# A recipe kind is a file deploy/dev/recipes/KIND.sh, sourced in a subshell,
# that defines two functions and may use everything of stack.sh and web.sh
# (as_svc, give, put_file, install_bins, terminate, pid_is, port_busy, ...):
#   recipe_start DIR PORT  serve the instance from the shipped files of
#                          deploy/ on 127.0.0.1:PORT; DIR is its own
#                          directory (RUNDIR/recipe-KIND: latch.conf, bin/),
#                          owned by the service user. Waits until it
#                          answers, then prints BASE_URL=... (http or
#                          https) on stdout; dies with the logs otherwise.
#   recipe_stop DIR        stop everything recipe_start started, by pid,
#                          and return 0 when nothing ran.
# `down` and `clean` stop every recipe of the instance.

recipe_file() { # $1 = KIND
	[[ $1 =~ ^[a-z][a-z0-9-]{0,23}$ ]] || die "recipe KIND must be 1-24 of a-z 0-9 -"
	[[ -f $REPO/deploy/dev/recipes/$1.sh ]] || die "no recipe $1 (deploy/dev/recipes/$1.sh)"
	printf '%s' "$REPO/deploy/dev/recipes/$1.sh"
}

cmd_recipe_up() {
	local kind=$1 port=$2 file
	file=$(recipe_file "$kind")
	valid_port "$port" || die "PORT must be a TCP port number, not '$port'"
	derived_dir "recipe-$kind" "${@:3}"
	(
		# shellcheck source=/dev/null
		. "$file"
		recipe_stop "$W"
		install_bins "$W" "$RUNDIR/bin"
		recipe_start "$W" "$port"
	)
}

cmd_recipe_down() {
	local file
	file=$(recipe_file "$1")
	known_rundir || return 0
	[[ -d $RUNDIR/recipe-$1 ]] || return 0
	setup_user || return 0
	instance_lock
	# shellcheck source=/dev/null
	(. "$file" && recipe_stop "$RUNDIR/recipe-$1")
}

# Every recipe of the instance (down, clean, up).
stop_recipes() {
	local d kind
	for d in "$RUNDIR"/recipe-*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		kind=${d##*/recipe-}
		[[ -f $REPO/deploy/dev/recipes/$kind.sh ]] || continue
		# shellcheck source=/dev/null
		(. "$REPO/deploy/dev/recipes/$kind.sh" && recipe_stop "$d") ||
			say "recipe $kind did not stop cleanly"
	done
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

# Sourced (tests/cluster/cluster.sh): the functions above, no command.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0


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
web-conf) (($# >= 1)) || usage; cmd_web_conf "$@" ;;
web-down) (($# == 1)) || usage; cmd_web_down "$1" ;;
recipe-up) (($# >= 2)) || usage; cmd_recipe_up "$@" ;;
recipe-down) (($# == 1)) || usage; cmd_recipe_down "$1" ;;
status) (($# == 0)) || usage; cmd_status ;;
clean) (($# == 0)) || usage; cmd_clean ;;
*) usage ;;
esac
