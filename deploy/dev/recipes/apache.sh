# shellcheck shell=bash
# deploy/dev/recipes/apache.sh: the recipe "apache" of stack.sh: Apache 2.4
# with mod_fcgid and mod_ssl serving the instance from the shipped files
# deploy/apache/latch.conf (the site) and deploy/apache/standalone.conf
# (the server config a Debian system has in apache2.conf), copied into DIR
# unchanged and parameterised by the environment.
#
# The https site listens on PORT, its plain-http redirecting twin on
# APACHE_REDIRECT_PORT (default PORT+1). Apache runs as the service user
# (never root: no system instance, no privileged port), with everything
# under DIR: pid file, locks, logs, mod_fcgid's sockets and process table,
# and a throwaway CA with a 127.0.0.1 certificate made by this start
# (DIR/tls/ca.pem verifies it). The responders' stderr is Apache's main
# error log, DIR/fcgi.stderr.log; the site's own log is
# DIR/latch_error.log. Prints BASE_URL=https://..., REDIRECT_URL=http://...
# and CA_FILE=.

APACHE2=/usr/sbin/apache2
APACHE_WAIT_SECONDS=${STACK_WAIT_SECONDS:-15}

# A CA and a leaf for 127.0.0.1 signed by it, in $1 (mode 700). The keys
# never leave the run dir; a new pair every start.
apache_make_certs() {
	local t=$1 out
	rm -rf "$t"
	mkdir -m 700 "$t"
	if ! out=$(
		set -e
		cd "$t"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout ca.key -out ca.pem -days 2 \
			-subj "/CN=latch apache recipe test CA" 2>&1
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout leaf.key -out leaf.csr -subj /CN=127.0.0.1 2>&1
		printf '%s\n' 'subjectAltName=IP:127.0.0.1' \
			'basicConstraints=critical,CA:FALSE' \
			'keyUsage=critical,digitalSignature' \
			'extendedKeyUsage=serverAuth' >leaf.ext
		openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -days 2 -extfile leaf.ext -out leaf.pem 2>&1
		rm -f ca.key leaf.csr ca.srl
	); then
		printf '%s\n' "$out" >&2
		die "openssl could not make the test certificates in $t"
	fi
	chmod 600 "$t/leaf.key"
	chmod 644 "$t/ca.pem" "$t/leaf.pem"
	give -R "$t"
}

# "200", "503 json" or another code of GET $1 (https, CA $2); "" when
# nothing answered.
apache_health() {
	local out
	out=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --noproxy '*' \
		--cacert "$2" --max-time 3 "$1" 2>/dev/null) || true
	case $out in
	"000"* | "") ;;
	"503 application/json"*) echo "503 json" ;;
	*) echo "${out%% *}" ;;
	esac
}

apache_running() { # $1 = DIR
	local pid
	[[ -s $1/apache2.pid ]] || return 1
	pid=$(head -n1 "$1/apache2.pid")
	pid_is "$pid" apache2
}

# Pids of apache2 processes started with DIR's standalone.conf (children
# left by a parent that was killed).
apache_pids_of() { # $1 = DIR
	local p out=()
	for p in /proc/[0-9]*; do
		[[ $(cat "$p/comm" 2>/dev/null) == apache2 ]] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-f $1/apache/standalone.conf" ||
			continue
		out+=("${p#/proc/}")
	done
	printf '%s\n' "${out[@]}"
}

apache_failed() { # $1 = DIR, $2 = message
	local f
	for f in apache.out fcgi.stderr.log latch_error.log; do
		if [[ -s $1/$f ]]; then
			say "--- last lines of $1/$f:"
			tail -n 15 "$1/$f" >&2
		fi
	done
	recipe_stop "$1"
	die "$2 (logs: $1/fcgi.stderr.log, $1/latch_error.log)"
}

recipe_start() {
	local dir=$1 port=$2 redirect=${APACHE_REDIRECT_PORT:-$(($2 + 1))}
	local k f envv=() defs=() sanitize=0 code deadline url
	[[ -x $APACHE2 ]] || die "apache2 is not installed: run deploy/dev/deps.sh check"
	[[ -f /usr/lib/apache2/modules/mod_fcgid.so ]] ||
		die "mod_fcgid is not installed: run deploy/dev/deps.sh check"
	command -v openssl >/dev/null || die "openssl is not installed: run deploy/dev/deps.sh check"
	valid_port "$redirect" || die "APACHE_REDIRECT_PORT must be a TCP port number, not '$redirect'"
	for k in "$port" "$redirect"; do
		port_busy "$k" && die "port $k on 127.0.0.1 is already in use by another program"
	done

	# The site is https only: its refresh cookie is __Secure-.
	conf_set COOKIE_SECURE 1
	conf_write "$dir/latch.conf"

	# The shipped files, unchanged.
	rm -rf "$dir/apache"
	mkdir -m 700 "$dir/apache"
	cp "$REPO/deploy/apache/latch.conf" "$REPO/deploy/apache/standalone.conf" "$dir/apache/"
	for k in run fcgid; do
		rm -rf "${dir:?}/$k"
		mkdir -m 700 "$dir/$k"
	done
	give -R "$dir/apache" "$dir/run" "$dir/fcgid"
	apache_make_certs "$dir/tls"
	for f in fcgi.stderr.log latch_error.log latch_access.log; do
		[[ -e $dir/$f ]] && mv -f "$dir/$f" "$dir/$f.1"
	done

	envv=(LATCH_APACHE_DIR="$dir" LATCH_SITE_FILE="$dir/apache/latch.conf"
		LATCH_SERVER_NAME=127.0.0.1 LATCH_HTTPS_PORT="$port"
		LATCH_HTTP_PORT="$redirect"
		LATCH_HTTPS_ORIGIN="https://127.0.0.1:$port"
		LATCH_CERT_FILE="$dir/tls/leaf.pem" LATCH_KEY_FILE="$dir/tls/leaf.key"
		LATCH_BIN_DIR="$dir/bin" LATCH_CONFIG_FILE="$dir/latch.conf"
		LATCH_WWW_DIR="$RUNDIR/www" LATCH_LOGIN_PROCS="$LOGIN_PROCS")
	# Sanitizer settings (make asan): all of them or none, see
	# standalone.conf.
	for k in "${PASS_ENV[@]}"; do [[ -n ${!k:-} ]] && sanitize=1; done
	if ((sanitize)); then
		for k in "${PASS_ENV[@]}"; do envv+=("$k=${!k:-}"); done
		defs=(-D LATCH_SANITIZER_ENV)
	fi
	: >"$dir/apache.out"
	give "$dir/apache.out"
	if ! as_svc env "${envv[@]}" "$APACHE2" -f "$dir/apache/standalone.conf" \
		"${defs[@]}" -t >>"$dir/apache.out" 2>&1; then
		cat "$dir/apache.out" >&2
		die "apache2 rejects $dir/apache/standalone.conf"
	fi
	# apache2 forks the server and returns once it is set up or failed;
	# the redirections keep it off the caller's stdout.
	if ! as_svc env "${envv[@]}" "$APACHE2" -f "$dir/apache/standalone.conf" \
		"${defs[@]}" </dev/null >>"$dir/apache.out" 2>&1; then
		apache_failed "$dir" "apache2 did not start"
	fi

	url=https://127.0.0.1:$port/api/health
	deadline=$((SECONDS + APACHE_WAIT_SECONDS))
	while :; do
		code=$(apache_health "$url" "$dir/tls/ca.pem")
		[[ $code == 200 || $code == "503 json" ]] && break
		apache_running "$dir" || apache_failed "$dir" "apache2 exited"
		((SECONDS < deadline)) ||
			apache_failed "$dir" "$url did not answer 200 or a JSON 503 within ${APACHE_WAIT_SECONDS}s (last: ${code:-no answer})"
		sleep 0.2
	done
	say "apache2 up on https://127.0.0.1:$port, redirecting http://127.0.0.1:$redirect (/api/health: ${code% json})"
	printf 'BASE_URL=https://127.0.0.1:%s\n' "$port"
	printf 'REDIRECT_URL=http://127.0.0.1:%s\n' "$redirect"
	printf 'CA_FILE=%s\n' "$dir/tls/ca.pem"
}

recipe_stop() {
	local dir=$1 pid pids
	if [[ -s $dir/apache2.pid ]]; then
		pid=$(head -n1 "$dir/apache2.pid")
		if pid_is "$pid" apache2; then
			say "stopping apache2 $pid (recipe ${dir##*/recipe-})"
			# mod_fcgid gives busy responders 8 s before SIGKILL.
			terminate 15 "$pid"
		fi
		rm -f "$dir/apache2.pid"
	fi
	mapfile -t pids < <(apache_pids_of "$dir")
	if ((${#pids[@]} > 0)) && [[ -n ${pids[0]} ]]; then
		say "stopping leftover apache2 processes: ${pids[*]}"
		terminate 5 "${pids[@]}"
	fi
	mapfile -t pids < <(pids_running_from "$dir/bin")
	if ((${#pids[@]} > 0)) && [[ -n ${pids[0]} ]]; then
		say "stopping leftover fcgi processes: ${pids[*]}"
		terminate 5 "${pids[@]}"
	fi
	rm -f "$dir"/fcgid/[0-9]*
	return 0
}
