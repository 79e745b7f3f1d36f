# shellcheck shell=bash
# deploy/dev/recipes/pgbouncer.sh: the instance served by a lighttpd web
# whose responders reach PostgreSQL through PgBouncer in transaction
# pooling, from the shipped deploy/pgbouncer/pgbouncer.ini (stack.sh
# recipe-up INSTANCE pgbouncer PORT). PgBouncer listens on a Unix socket
# in DIR only (the socket's name carries PORT, as PostgreSQL's does) and
# keeps two server connections, fewer than the responders, so that
# statements do move between server connections.

recipe_start() {
	local dir=$1 port=$2 i
	cp "$REPO/deploy/pgbouncer/pgbouncer.ini" "$dir/latch.ini"
	give "$dir/latch.ini"
	# The site's part: where to listen and whom to let in (the socket's
	# directory is the service user's alone, as the cluster's is).
	put_file "$dir/pgbouncer.ini" 600 <<-EOF
		[databases]
		latch = host=$RUNDIR/sock port=$PG_PORT dbname=latch
		[pgbouncer]
		listen_addr =
		listen_port = $port
		unix_socket_dir = $dir
		unix_socket_mode = 0700
		auth_type = trust
		admin_users = latch
		auth_file = $dir/userlist.txt
		logfile = $dir/pgbouncer.log
		pidfile = $dir/pgbouncer.pid
		%include $dir/latch.ini
		default_pool_size = 2
	EOF
	printf '"latch" ""\n' | put_file "$dir/userlist.txt" 600
	as_svc /usr/sbin/pgbouncer -d -q "$dir/pgbouncer.ini" ||
		die "pgbouncer did not start (log: $dir/pgbouncer.log)"
	for ((i = 0; i < 50; i++)); do
		[[ -S $dir/.s.PGSQL.$port ]] && break
		sleep 0.1
	done
	[[ -S $dir/.s.PGSQL.$port ]] || die "pgbouncer made no socket (log: $dir/pgbouncer.log)"
	# The responders' database is PgBouncer.
	CONF=()
	CONF_KEYS=()
	conf_load "$dir/latch.conf"
	conf_set DATABASE_URL "postgresql://latch@:$port/latch?host=$dir"
	conf_write "$dir/latch.conf"
	web_start "$dir" "$((port + 1))"
	printf 'BASE_URL=http://127.0.0.1:%s\n' "$((port + 1))"
}

recipe_stop() {
	local dir=$1 pid
	web_stop "$dir"
	if [[ -s $dir/pgbouncer.pid ]]; then
		pid=$(head -n1 "$dir/pgbouncer.pid")
		pid_is "$pid" pgbouncer && terminate 5 "$pid"
		rm -f "$dir/pgbouncer.pid"
	fi
	return 0
}
