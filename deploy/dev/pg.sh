# shellcheck shell=bash
# deploy/dev/pg.sh: the throwaway PostgreSQL cluster of a stack.sh
# instance (initdb, start, stop, psql), always run as the service user,
# never as root. Sourced by stack.sh, which sets RUNDIR and INST.

PG_PORT=5432

set_pg_paths() {
	PGDATA=$RUNDIR/pgdata
	SOCK=$RUNDIR/sock
	# The port is in the URL too, so that a PGPORT in someone's environment
	# can't win; written as ":port" (not "&port=") to keep var/*.env lines
	# safe to source from a shell.
	# shellcheck disable=SC2034 # read by stack.sh
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

