# shellcheck shell=bash
# Recipe lighttpd-spawn: lighttpd with mod_fastcgi "socket" entries
# (deploy/lighttpd/spawn-fcgi.conf) in front of the spawn-fcgi pools of
# deploy/spawn-fcgi, started as the shipped units start them
# (_spawn_pools.sh). Sourced by stack.sh recipe-up/-down.
#
# DIR/lighttpd.conf is the host's part only (port, pid file, logs, where
# the page is) and includes DIR/spawn-fcgi.conf, the shipped file with the
# sockets' directory set to DIR/s.

# shellcheck source=deploy/dev/recipes/_spawn_pools.sh
. "$REPO/deploy/dev/recipes/_spawn_pools.sh"

recipe_start() {
	local d=$1 port=$2 out
	port_busy "$port" && die "port $port on 127.0.0.1 is already in use"
	copy_shipped "$REPO/deploy/lighttpd/spawn-fcgi.conf" "$d/spawn-fcgi.conf" \
		'var.latch_sockets = "/run/latch"' "var.latch_sockets = \"$d/s\""
	cat <<-EOF2 | put_file "$d/lighttpd.conf" 600
		# Written by deploy/dev/recipes/lighttpd-spawn.sh: the host's part.
		server.bind           = "127.0.0.1"
		server.port           = $port
		server.document-root  = "$RUNDIR/www"
		server.pid-file       = "$d/lighttpd.pid"
		server.errorlog       = "$d/lighttpd.error.log"
		server.upload-dirs    = ( "$d" )
		server.modules        = ( "mod_accesslog" )
		accesslog.filename    = "$d/access.log"
		index-file.names      = ( "index.html" )
		include "$d/spawn-fcgi.conf"
	EOF2
	out=$d/lighttpd.out
	: >"$out"
	give "$out"
	for k in lighttpd.error.log access.log; do
		[[ -e $d/$k ]] && mv -f "$d/$k" "$d/$k.1"
	done
	if ! as_svc "$LIGHTTPD" -tt -f "$d/lighttpd.conf" >>"$out" 2>&1; then
		cat "$out" >&2
		die "lighttpd rejects $d/lighttpd.conf"
	fi
	pools_start "$d"
	if ! as_svc "$LIGHTTPD" -f "$d/lighttpd.conf" </dev/null >>"$out" 2>&1; then
		cat "$out" >&2
		recipe_stop "$d"
		die "lighttpd did not start (logs: $out, $d/lighttpd.error.log)"
	fi
	if ! wait_health "http://127.0.0.1:$port" "" "$d/lighttpd.error.log"; then
		recipe_stop "$d"
		die "lighttpd + spawn-fcgi on port $port did not answer /api/health with 200"
	fi
	say "lighttpd + spawn-fcgi up on http://127.0.0.1:$port"
	printf 'BASE_URL=http://127.0.0.1:%s\n' "$port"
}

recipe_stop() {
	web_and_pools_stop "$1" lighttpd.pid lighttpd
}
