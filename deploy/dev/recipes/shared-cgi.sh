# shellcheck shell=bash
# deploy/dev/recipes/shared-cgi.sh: recipe shared-cgi (stack.sh
# "recipes"): latch as a user of a shared host installs it, answered as
# plain CGI through deploy/shared-hosting/htaccess-cgi. shared-fcgid.sh is
# the same with htaccess-fcgid (SHARED_HTACCESS).
#
# DIR stands in for the host and for the account on it:
#   DIR/apache.conf           the host's server configuration, a copy of
#                             deploy/dev/recipes/shared-host.conf (nothing
#                             of latch in it)
#   DIR/home/                 the account's home directory
#   DIR/home/latch.conf       the configuration (DIR/latch.conf), mode 600:
#                             the binaries find it by the no-SetEnv rule
#                             (README "Shared hosting"), nothing names it
#   DIR/home/public_html/     the document root: the shipped .htaccess,
#                             latch/ with the three binaries, the demo page
#   DIR/home/bin/latchctl, DIR/home/latch-migrations/
#                             the admin tool and the migrations, for the
#                             crontab line and `latchctl migrate`
# Apache runs as the service user, as a host runs an account's programs
# (suEXEC). The account's home is where the password database says: Apache
# runs in a mount namespace of its own (an unprivileged user namespace, as
# the service user: DIR/account.sh, a copy of shared-account.sh) whose
# /etc/passwd is DIR/passwd, the machine's with the service user's home set
# to DIR/home. Nothing else of the machine changes.

APACHE2=/usr/sbin/apache2
SHARED_HTACCESS=${SHARED_HTACCESS:-htaccess-cgi}
SHARED_BINS=(auth.fcgi login.fcgi api.fcgi)

# Copy $1 to $2 with mode $3, owned by the service user.
shared_put() {
	put_file "$2" "$3" <"$1"
}

# The account's files, laid out as README "Shared hosting" says.
shared_layout() {
	local dir=$1 home=$1/home b d m
	for d in "$home" "$home/bin" "$home/latch-migrations" "$home/public_html" \
		"$home/public_html/latch" "$dir/run" "$dir/fcgid"; do
		[[ -d $d ]] || mkdir "$d"
		give "$d"
	done
	chmod 711 "$home"
	chmod 755 "$home/public_html" "$home/public_html/latch"
	chmod 700 "$home/bin" "$home/latch-migrations"
	chmod 700 "$dir/run" "$dir/fcgid"
	shared_put "$dir/latch.conf" "$home/latch.conf" 600
	for b in "${SHARED_BINS[@]}"; do
		shared_put "$dir/bin/$b" "$home/public_html/latch/$b" 755
	done
	shared_put "$dir/bin/latchctl" "$home/bin/latchctl" 700
	rm -f "$home/latch-migrations"/*.sql
	for m in "$REPO"/migrations/*.sql; do
		shared_put "$m" "$home/latch-migrations/${m##*/}" 600
	done
	shared_put "$REPO/deploy/shared-hosting/$SHARED_HTACCESS" \
		"$home/public_html/.htaccess" 644
	shared_put "$REPO/deploy/www/index.html" "$home/public_html/index.html" 644
	shared_put "$REPO/deploy/dev/recipes/shared-host.conf" "$dir/apache.conf" 600
	shared_put "$REPO/deploy/dev/recipes/shared-account.sh" "$dir/account.sh" 700
	# The password database as the host has it: the account's home is
	# DIR/home (added when the service user is not in /etc/passwd).
	awk -F: -v OFS=: -v u="$SVC_USER" -v h="$home" -v id="$(id -u "$SVC_USER"):$(id -g "$SVC_USER")" '
		$1 == u { $6 = h; seen = 1 } { print }
		END { if (!seen) { split(id, a, ":"); print u, "x", a[1], a[2], "", h, "/bin/sh" } }
	' /etc/passwd | put_file "$dir/passwd" 644
}

# Run apache2 with the arguments given as the service user, as the
# account (DIR/account.sh: deploy/dev/recipes/shared-account.sh).
shared_apache() {
	local dir=$1 port=$2 k envv=()
	envv=(SHARED_RUN="$dir" SHARED_HOME="$dir/home" SHARED_PORT="$port")
	for k in "${PASS_ENV[@]}"; do envv+=("$k=${!k:-}"); done
	as_svc env "${envv[@]}" "$dir/account.sh" "$dir" \
		"$APACHE2" -f "$dir/apache.conf" "${@:3}"
}

shared_pid() { # $1 = DIR: the running Apache's pid, or nothing
	local pid
	[[ -s $1/apache.pid ]] || return 1
	pid=$(head -n1 "$1/apache.pid")
	pid_is "$pid" apache2 && printf '%s' "$pid"
}

recipe_start() {
	local dir=$1 port=$2 out code deadline url k
	port_busy "$port" && die "port $port on 127.0.0.1 is already in use"
	[[ -x $APACHE2 ]] || die "apache2 is not installed: run deploy/dev/deps.sh run"
	shared_layout "$dir"
	for k in fcgi.stderr.log access.log; do
		[[ -e $dir/$k ]] && mv -f "$dir/$k" "$dir/$k.1"
	done
	out=$dir/apache.out
	: >"$out"
	give "$out"
	if ! shared_apache "$dir" "$port" -t >>"$out" 2>&1; then
		cat "$out" >&2
		die "apache2 rejects $dir/apache.conf (or no user namespace: unshare)"
	fi
	# apache2 daemonizes; its parent returns once it listens.
	if ! shared_apache "$dir" "$port" </dev/null >>"$out" 2>&1; then
		cat "$out" >&2
		tail -n 20 "$dir/fcgi.stderr.log" >&2 2>/dev/null || true
		die "apache2 did not start (logs: $out, $dir/fcgi.stderr.log)"
	fi
	url=http://127.0.0.1:$port/api/health
	deadline=$((SECONDS + ${WAIT_SECONDS:-15}))
	while :; do
		code=$(health_code "$url")
		[[ $code == 200 || $code == "503 json" ]] && break
		if [[ -z $(shared_pid "$dir") ]] || ((SECONDS >= deadline)); then
			tail -n 20 "$dir/fcgi.stderr.log" >&2 2>/dev/null || true
			recipe_stop "$dir"
			die "$url did not answer 200 or a JSON 503 (last: ${code:-no answer}; logs: $dir/fcgi.stderr.log)"
		fi
		sleep 0.2
	done
	say "apache2 (shared host, ${SHARED_HTACCESS#htaccess-}) up on http://127.0.0.1:$port"
	printf 'BASE_URL=http://127.0.0.1:%s\n' "$port"
}

# Processes of this recipe's Apache that outlived it: their environment
# names DIR (SHARED_RUN), which no other Apache's does.
shared_leftovers() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/exe" 2>/dev/null) == "$APACHE2" ]] || continue
		tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SHARED_RUN=$1" &&
			printf '%s\n' "${p#/proc/}"
	done
	pids_running_from "$1/home/public_html/latch"
}

recipe_stop() {
	local dir=$1 pid pids
	pid=$(shared_pid "$dir") || true
	if [[ -n $pid ]]; then
		say "stopping apache2 $pid (recipe ${dir##*/recipe-})"
		# Apache stops its children and mod_fcgid's processes on TERM.
		terminate 10 "$pid"
	fi
	rm -f "$dir/apache.pid"
	mapfile -t pids < <(shared_leftovers "$dir")
	if ((${#pids[@]} > 0)) && [[ -n ${pids[0]} ]]; then
		say "stopping leftover processes: ${pids[*]}"
		terminate 5 "${pids[@]}"
	fi
	return 0
}
