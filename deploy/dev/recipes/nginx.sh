# shellcheck shell=bash
# Recipe nginx: nginx (no root: deploy/nginx/nginx-unprivileged.conf, its
# pid, logs and temp files under DIR) in front of the spawn-fcgi pools of
# deploy/spawn-fcgi, started as the shipped units start them
# (_spawn_pools.sh); plain HTTP through deploy/nginx/site-plain.conf.
# nginx-tls.sh reuses it with site-tls.conf. Sourced by stack.sh.
#
# DIR holds the shipped files where nginx-unprivileged.conf looks for
# them: latch-upstreams.conf (sockets under DIR/s), snippets/
# latch-routes.conf, sites/latch.conf (the site, listening on
# 127.0.0.1:PORT).

# shellcheck source=deploy/dev/recipes/_spawn_pools.sh
. "$REPO/deploy/dev/recipes/_spawn_pools.sh"

NGINX=/usr/sbin/nginx
NGINX_SHIPPED=$REPO/deploy/nginx

# nginx_start DIR PORT SITE_FILE LISTEN SCHEME [CA_FILE]: the site file of
# deploy/nginx and its listen directive's address part (replaced by
# 127.0.0.1:PORT).
nginx_start() {
	local d=$1 port=$2 site=$3 listen=$4 scheme=$5 ca=${6:-} k
	[[ -x $NGINX ]] || die "nginx is not installed: run deploy/dev/deps.sh run"
	port_busy "$port" && die "port $port on 127.0.0.1 is already in use"
	for k in snippets sites; do
		[[ -d $d/$k ]] || mkdir -m 700 "$d/$k"
		give "$d/$k"
	done
	rm -f "$d"/sites/*.conf
	copy_shipped "$NGINX_SHIPPED/nginx-unprivileged.conf" "$d/nginx.conf"
	copy_shipped "$NGINX_SHIPPED/latch-upstreams.conf" "$d/latch-upstreams.conf" \
		"unix:/run/latch/" "unix:$d/s/"
	copy_shipped "$NGINX_SHIPPED/latch-routes.conf" "$d/snippets/latch-routes.conf"
	copy_shipped "$NGINX_SHIPPED/$site" "$d/sites/latch.conf" \
		"listen $listen" "listen 127.0.0.1:$port"
	for k in error.log access.log; do
		[[ -e $d/$k ]] && mv -f "$d/$k" "$d/$k.1"
	done
	: >"$d/nginx.out"
	give "$d/nginx.out"
	if ! as_svc "$NGINX" -q -t -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" \
		>>"$d/nginx.out" 2>&1; then
		cat "$d/nginx.out" >&2
		die "nginx rejects $d/nginx.conf"
	fi
	pools_start "$d"
	# nginx daemonizes; its parent exits once the master runs.
	if ! as_svc "$NGINX" -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" \
		</dev/null >>"$d/nginx.out" 2>&1; then
		cat "$d/nginx.out" >&2
		recipe_stop "$d"
		die "nginx did not start (logs: $d/nginx.out, $d/error.log)"
	fi
	if ! wait_health "$scheme://127.0.0.1:$port" "$ca" "$d/error.log"; then
		recipe_stop "$d"
		die "nginx + spawn-fcgi on port $port did not answer /api/health with 200"
	fi
	say "nginx + spawn-fcgi up on $scheme://127.0.0.1:$port"
	printf 'BASE_URL=%s://127.0.0.1:%s\n' "$scheme" "$port"
}

recipe_start() {
	nginx_start "$1" "$2" site-plain.conf "8080" http
}

recipe_stop() {
	# TERM: fast shutdown, the workers go with the master.
	web_and_pools_stop "$1" nginx.pid nginx
}
