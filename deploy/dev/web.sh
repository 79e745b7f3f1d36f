# shellcheck shell=bash
# deploy/dev/web.sh: the lighttpd + fcgi webs of a stack.sh instance, the
# main one (in RUNDIR) and the extras (RUNDIR/web-NAME): config, start
# with a health wait, stop. Sourced by stack.sh, which sets RUNDIR.

LIGHTTPD=/usr/sbin/lighttpd
WAIT_SECONDS=${STACK_WAIT_SECONDS:-15} # health wait after starting lighttpd
# Sanitizer settings are passed through to the fcgi processes (make asan).
PASS_ENV=(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS MSAN_OPTIONS)

# True when something accepts connections on 127.0.0.1:$1 (WEB_BIND's
# address when set, in SVC_NETNS's network namespace when set: as_svc).
port_busy() {
	netns_run
	# shellcheck disable=SC2016 # $1 is the inner shell's
	timeout 2 "${NETNS_RUN[@]}" bash -c 'exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1"' _ "$1" \
		"${WEB_BIND:-}" 2>/dev/null
}

# The prefix that runs a command of ours in SVC_NETNS (empty without it).
netns_run() {
	NETNS_RUN=()
	[[ -z ${SVC_NETNS:-} ]] || NETNS_RUN=(nsenter "--net=/run/netns/$SVC_NETNS")
}

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

# True when the loopback interface has ::1, so lighttpd can listen there
# too (IPv6 clients take other paths through the limiter and the logs).
have_ipv6_loopback() {
	[[ -r /proc/net/if_inet6 ]] &&
		grep -q '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6
}

# Processes of the login pool (login.fcgi: login and sign-up, each a bcrypt
# at BCRYPT_COST). Two, one per core of the 2-core machines latch is
# measured on: bcrypt is CPU-bound, so more processes than cores add no
# logins per second, only queueing in the kernel instead of in login.fcgi,
# where it is bounded (lib/admission.h). The tests start a web with 1.
LOGIN_PROCS=${LOGIN_PROCS:-2}

# The shipped lighttpd files (deploy/lighttpd/): every web and recipe runs
# latch from copies of them, parameterised by the var.latch_* lines below,
# never from a configuration of its own.
LIGHTTPD_FILES=$REPO/deploy/lighttpd

# Copy shipped file $2 (a name in deploy/lighttpd/) into directory $1.
put_lighttpd_file() {
	[[ -f $LIGHTTPD_FILES/$2 ]] || die "$LIGHTTPD_FILES/$2 is missing"
	put_file "$1/$2" 600 <"$LIGHTTPD_FILES/$2"
}

# The dev-only part of a lighttpd.conf for directory $1 on port $2 of
# 127.0.0.1: logs, pid file and uploads in the directory, the demo page
# (shared), and the variables of latch-fastcgi.conf for the binaries,
# config and sockets of that directory (mode 700: only the service user
# reaches the sockets).
dev_lighttpd_head() {
	local w=$1 port=$2
	cat <<-EOF
		# Written by deploy/dev/stack.sh; rewritten on every start.
		server.bind           = "${WEB_BIND:-127.0.0.1}"
		server.port           = $port
		server.document-root  = "$RUNDIR/www"
		server.pid-file       = "$w/lighttpd.pid"
		server.errorlog       = "$w/lighttpd.error.log"
		# stderr of the fcgi processes (start-up refusals, sanitizers)
		server.breakagelog    = "$w/fcgi.stderr.log"
		server.upload-dirs    = ( "$w" )
		server.tag            = "lighttpd"
		server.modules        = ( "mod_accesslog" )
		accesslog.filename    = "$w/access.log"
		# lighttpd's default line, and the time each answer took (µs):
		# make bench reads it for the flood's logins by status.
		accesslog.format      = "%h %V %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D"
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
		var.latch_bin         = "$w/bin"
		var.latch_config      = "$w/latch.conf"
		var.latch_sockets     = "$w"
		var.latch_login_procs = $LOGIN_PROCS
		var.latch_procs       = 2
	EOF
}

# lighttpd.conf for the web in directory $1 on port $2 (127.0.0.1, and
# [::1] where there is IPv6): the dev part, then the shipped pools. The
# document root is shared; sockets, logs, config and binaries are per web.
write_lighttpd_conf() {
	local w=$1 port=$2
	put_lighttpd_file "$w" latch-fastcgi.conf
	{
		dev_lighttpd_head "$w" "$port"
		printf 'include "%s"\n' "$w/latch-fastcgi.conf"
		if have_ipv6_loopback; then
			printf '$SERVER["socket"] == "[::1]:%s" { }\n' "$port"
		fi
		# A web's own additions, kept across restarts: make bench puts
		# its ceiling responders there (fastcgi.server += ...).
		if [[ -f $w/extra.conf ]]; then
			printf 'include "%s"\n' "$w/extra.conf"
		fi
	} | put_file "$w/lighttpd.conf" 600
}

# Copy the binaries the web in $1 runs (the service user may not be able to
# read BIN_DIR, and a running binary must not be overwritten in place).
install_bins() { # $1 = web dir, $2 = source dir
	local b
	[[ -d $1/bin ]] || mkdir -m 700 "$1/bin"
	give "$1/bin"
	for b in auth.fcgi login.fcgi api.fcgi latchctl; do
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
	local w=$1 port=$2
	port_busy "$port" &&
		die "port $port on 127.0.0.1 is already in use by another program; choose another (PORT=...)"
	write_lighttpd_conf "$w" "$port"
	lighttpd_run "$w" "http://127.0.0.1:$port"
}

# Start the lighttpd of directory $1 from its lighttpd.conf (written by the
# caller) and wait until $2/api/health answers; curl options for that
# request (a CA file for https, say) follow.
lighttpd_run() {
	local w=$1 base=$2 k envv=() out code deadline
	shift 2
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
		port_busy "${base##*:}" && say "port ${base##*:} on 127.0.0.1 is in use"
		die "lighttpd did not start (logs: $out, $w/lighttpd.error.log)"
	fi
	local url=$base/api/health
	deadline=$((SECONDS + WAIT_SECONDS))
	while :; do
		code=$(health_code "$url" "$@")
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
	say "lighttpd up on $base (/api/health: ${code% json})"
}

# "200", "503 json" (503 with a JSON body: latch's own), another code, or
# "" when nothing answered. $1 is the URL, curl options follow.
health_code() {
	local out
	netns_run
	out=$("${NETNS_RUN[@]}" curl -s -o /dev/null -w '%{http_code} %{content_type}' --noproxy '*' \
		--max-time 3 "${@:2}" "$1" 2>/dev/null) || true
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

# All webs of the instance: the main one (RUNDIR) and the extras (web-*).
stop_webs() {
	local d
	for d in "$RUNDIR"/web-*/; do
		[[ -d $d ]] && web_stop "${d%/}"
	done
	web_stop "$RUNDIR"
}
