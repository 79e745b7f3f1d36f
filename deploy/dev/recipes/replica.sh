# shellcheck shell=bash
# deploy/dev/recipes/replica.sh: the instance with a streaming replica of
# its cluster, and a lighttpd web whose routes that only read use it
# (DATABASE_READ_URL; lib/reads.h): stack.sh recipe-up INSTANCE replica
# PORT. The replica is made afresh from the instance's cluster on every
# start (pg_basebackup over the cluster's Unix socket: initdb's local
# replication line lets the service user in), runs as the service user,
# listens on a socket in DIR/rsock only, and is stopped by recipe_stop.

recipe_start() {
	local dir=$1 port=$2 data=$1/pgdata rsock=$1/rsock
	set_pg_paths # the instance's cluster: PGBIN, SOCK
	rm -rf "$data"
	[[ -d $rsock ]] || mkdir -m 700 "$rsock"
	give "$rsock"
	as_svc "$PGBIN/pg_basebackup" -h "$SOCK" -p "$PG_PORT" -U latch \
		-D "$data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 ||
		die "pg_basebackup failed (log: $dir/basebackup.log)"
	# The primary's own settings came with the copy: the replica's socket,
	# and nothing of pg_cron (a standby runs no jobs).
	put_file "$data/latch-dev.conf" 600 <<-EOF
		# Written by deploy/dev/recipes/replica.sh: the instance's replica.
		listen_addresses = ''
		unix_socket_directories = '$rsock'
		unix_socket_permissions = 0700
		port = $PG_PORT
		hot_standby = on
		fsync = off
		timezone = 'UTC'
		log_timezone = 'UTC'
	EOF
	: | put_file "$data/latch-cron.conf" 600
	if ! as_svc "$PGBIN/pg_ctl" -D "$data" -w -t 30 -l "$dir/pg.log" \
		start </dev/null >/dev/null 2>&1; then
		tail -n 20 "$dir/pg.log" >&2 || true
		die "the replica did not start (log: $dir/pg.log)"
	fi
	CONF=()
	CONF_KEYS=()
	conf_load "$dir/latch.conf"
	conf_set DATABASE_READ_URL "postgresql://latch@:$PG_PORT/latch?host=$rsock"
	conf_write "$dir/latch.conf"
	web_start "$dir" "$port"
	printf 'BASE_URL=http://127.0.0.1:%s\n' "$port"
	printf 'READ_DATABASE_URL=postgresql://latch@:%s/latch?host=%s\n' \
		"$PG_PORT" "$rsock"
}

recipe_stop() {
	local dir=$1
	set_pg_paths
	web_stop "$dir"
	if [[ -s $dir/pgdata/PG_VERSION ]] &&
		as_svc "$PGBIN/pg_ctl" -D "$dir/pgdata" status >/dev/null 2>&1; then
		as_svc "$PGBIN/pg_ctl" -D "$dir/pgdata" -m immediate -w -t 30 \
			stop >/dev/null 2>&1 || say "warning: the replica in $dir did not stop"
	fi
	return 0
}
