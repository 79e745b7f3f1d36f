# shellcheck shell=bash
# deploy/dev/recipes/_spawn_pools.sh: latch's spawn-fcgi pools for the
# recipes that serve them (lighttpd-spawn, nginx, nginx-tls); sourced by
# them. Not a recipe itself (its name is no KIND).
#
# The pools start exactly as the shipped systemd units start them: the
# processes are the instances Wants= of deploy/systemd/latch-spawn.target
# names, each run by the ExecStart of deploy/systemd/latch-spawn@.service
# (deploy/spawn-fcgi/latch-spawn ENV_FILE %i) with the shipped
# deploy/spawn-fcgi/spawn.env, to which DIR's own paths and users are
# appended (the file's later lines win). There is no systemd here: nothing
# restarts a process that dies.
#
# Layout under DIR: s/FAMILY-N.sock (the sockets), pools/FAMILY-N.pid,
# spawn.env, fcgi.stderr.log (all responders' stderr).

POOL_UNIT=$REPO/deploy/systemd/latch-spawn@.service
POOL_TARGET=$REPO/deploy/systemd/latch-spawn.target
POOL_SCRIPT=$REPO/deploy/spawn-fcgi/latch-spawn
POOL_ENV=$REPO/deploy/spawn-fcgi/spawn.env
POOL_WAIT_SECONDS=5

# The pool instances (login-1 ...) the shipped target wants, one a line.
pool_instances() {
	sed -n 's/^Wants=//p' "$POOL_TARGET" | tr ' ' '\n' |
		sed -n 's/^latch-spawn@\([a-z]*-[0-9]*\)\.service$/\1/p'
}

# The command of the shipped unit for instance $2 of DIR $1, one word a
# line: its ExecStart with the installed script and environment file
# replaced by the repository's script and DIR/spawn.env, %i by $2.
pool_command() {
	local words w
	read -ra words <<<"$(sed -n 's/^ExecStart=//p' "$POOL_UNIT")"
	[[ ${#words[@]} == 3 && ${words[0]##*/} == latch-spawn &&
		${words[1]##*/} == spawn.env && ${words[2]} == %i ]] ||
		die "ExecStart of $POOL_UNIT is not 'PATH/latch-spawn PATH/spawn.env %i'"
	for w in "$POOL_SCRIPT" "$1/spawn.env" "$2"; do printf '%s\n' "$w"; done
}

# Start every pool process for DIR $1 and wait until each listens.
pools_start() {
	local d=$1 inst k envv pid deadline cmd insts=() family
	mapfile -t insts < <(pool_instances)
	((${#insts[@]} > 0)) || die "$POOL_TARGET wants no latch-spawn@ instance"
	# sun_path holds 107 bytes and a NUL.
	((${#d} + 20 <= 107)) || die "$d is too long for a socket path below it"
	for k in s pools; do
		[[ -d $d/$k ]] || mkdir -m 700 "$d/$k"
		give "$d/$k"
	done
	{
		cat "$POOL_ENV"
		printf '\n# deploy/dev/recipes: this directory\n'
		printf 'LATCH_CONFIG=%s\n' "$d/latch.conf"
		printf 'LATCH_BIN_DIR=%s\n' "$d/bin"
		printf 'LATCH_SOCKET_DIR=%s\n' "$d/s"
		printf 'LATCH_USER=%s\nLATCH_GROUP=%s\n' "$SVC_USER" "$SVC_GROUP"
		# The web server runs as the service user too.
		printf 'LATCH_SOCKET_USER=%s\nLATCH_SOCKET_GROUP=%s\n' "$SVC_USER" "$SVC_GROUP"
	} | put_file "$d/spawn.env" 600
	[[ -e $d/fcgi.stderr.log ]] && mv -f "$d/fcgi.stderr.log" "$d/fcgi.stderr.log.1"
	: >"$d/fcgi.stderr.log"
	give "$d/fcgi.stderr.log"
	envv=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
	for k in "${PASS_ENV[@]}"; do
		[[ -n ${!k:-} ]] && envv+=("$k=${!k}")
	done
	for inst in "${insts[@]}"; do
		mapfile -t cmd < <(pool_command "$d" "$inst")
		# As the unit does: as root (spawn-fcgi drops to LATCH_USER once
		# the socket is the web server's), else as the caller, the
		# service user. Its own session, as under systemd; the subshell
		# execs down to the responder, so $! is the responder's pid.
		(cd / && exec 9>&- env -i "${envv[@]}" setsid "${cmd[@]}" \
			</dev/null >>"$d/fcgi.stderr.log" 2>&1) &
		printf '%s\n' "$!" | put_file "$d/pools/$inst.pid" 644
	done
	deadline=$((SECONDS + POOL_WAIT_SECONDS))
	for inst in "${insts[@]}"; do
		pid=$(head -n1 "$d/pools/$inst.pid")
		family=${inst%-*}
		until [[ -S $d/s/$inst.sock && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$d/bin/$family.fcgi" ]]; do
			if ! alive "$pid" || ((SECONDS >= deadline)); then
				say "--- last lines of $d/fcgi.stderr.log:"
				tail -n 15 "$d/fcgi.stderr.log" >&2 || true
				pools_stop "$d"
				die "pool process $inst did not come up (log: $d/fcgi.stderr.log)"
			fi
			sleep 0.05
		done
	done
	say "spawn-fcgi pools up: ${insts[*]} (sockets in $d/s)"
}

# Stop the pool processes of DIR $1 by pid file, then whatever still runs
# from DIR/bin; remove the sockets.
pools_stop() {
	local d=$1 f inst pid pids=()
	for f in "$d"/pools/*.pid; do
		[[ -f $f ]] || continue
		inst=${f##*/}
		inst=${inst%.pid}
		pid=$(head -n1 "$f")
		pid_is "$pid" "${inst%-*}.fcgi" && pids+=("$pid")
		rm -f "$f"
	done
	if ((${#pids[@]} > 0)); then
		say "stopping spawn-fcgi pool processes: ${pids[*]}"
		terminate 5 "${pids[@]}"
	fi
	mapfile -t pids < <(pids_running_from "$d/bin")
	if ((${#pids[@]} > 0)) && [[ -n ${pids[0]} ]]; then
		say "stopping leftover fcgi processes: ${pids[*]}"
		terminate 5 "${pids[@]}"
	fi
	rm -f "$d"/s/*.sock
}

# Stop the web server of DIR $1 (pid file $2, command name $3), then the
# pools: recipe_stop of the recipes here.
web_and_pools_stop() {
	local d=$1 pid
	if [[ -s $d/$2 ]]; then
		pid=$(head -n1 "$d/$2")
		if pid_is "$pid" "$3"; then
			say "stopping $3 $pid (recipe ${d##*/recipe-})"
			terminate 10 "$pid"
		fi
		rm -f "$d/$2"
	fi
	pools_stop "$d"
	return 0
}

# Copy shipped file $1 to $2 (mode 600, the service user's), replacing
# each FROM of the FROM TO pairs that follow by its TO: the few values
# that tie a shipped file to a host (a socket directory, a port). Every
# FROM must occur, so the shipped file and the recipe cannot drift apart.
copy_shipped() {
	local src=$1 dest=$2 text
	shift 2
	text=$(<"$src")
	while (($# >= 2)); do
		[[ $text == *"$1"* ]] || die "$src no longer has '$1'"
		text=${text//"$1"/"$2"}
		shift 2
	done
	printf '%s\n' "$text" | put_file "$dest" 600
}

# Wait until $1/api/health answers 200 (curl, with CA file $2 for https),
# or die after WAIT_SECONDS showing log $3.
wait_health() {
	local url=$1/api/health code deadline cacert=()
	[[ -n ${2:-} ]] && cacert=(--cacert "$2")
	deadline=$((SECONDS + WAIT_SECONDS))
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' "${cacert[@]}" \
			--max-time 3 "$url" 2>/dev/null) || true
		[[ $code == 200 ]] && return 0
		if ((SECONDS >= deadline)); then
			say "--- last lines of $3:"
			tail -n 15 "$3" >&2 2>/dev/null || true
			return 1
		fi
		sleep 0.2
	done
}
