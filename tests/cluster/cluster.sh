#!/usr/bin/env bash
# tests/cluster/cluster.sh: latch on several hosts of this machine (issue
# 15). Each host is a network namespace joined by a veth pair to a bridge
# that lives in a namespace of its own, so the root namespace gets no
# interface, address or route:
#
#   lc-TAG-br    the bridge (br0), no address
#   lc-TAG-pg1   PostgreSQL, the primary           10.231.X.1:5432
#   lc-TAG-pg2   PostgreSQL, its streaming replica 10.231.X.2:5432
#   lc-TAG-pgb   PgBouncer, transaction pooling    10.231.X.3:6432 (primary)
#                                                  10.231.X.3:6433 (replica)
#   lc-TAG-wN    web host N: lighttpd + latch      10.231.X.(10+N):8080
#   lc-TAG-cl    the clients (pytest, wrk)         10.231.X.100
#
# X is derived from TAG, so that two instances (check, asan, a developer's
# runs) never share names, addresses or run dirs. Every namespace has its
# own lo up; nothing listens outside the namespaces and loopback.
#
#   cluster.sh up       TAG NWEBS [KEY=VALUE ...]   fresh cluster (an earlier
#                                                   run's leftovers go first);
#                                                   overrides for latch.conf
#   cluster.sh down     TAG                         stop everything, by pid,
#                                                   delete the namespaces
#   cluster.sh kill-primary TAG                     pg_ctl stop -m immediate
#   cluster.sh promote  TAG                         pg_ctl promote the replica
#   cluster.sh pgbouncer-follow TAG                 PgBouncer's failover steps
#                                                   (RECONNECT :6433,
#                                                   SHUTDOWN :6432)
#   cluster.sh status   TAG
#
# `up` writes var/cluster-TAG.env (KEY=VALUE lines, read by the tests and
# by bench.sh). Needs root (network namespaces); the daemons run as the
# service user of deploy/dev/stack.sh (never root), in run dirs chosen as
# stack.sh chooses them (the clone may be in a mode-700 /root). BIN_DIR
# (build) holds the binaries. Uses stack.sh's, pg.sh's and web.sh's
# functions (stack.sh sourced).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=deploy/dev/stack.sh
. "$HERE/../../deploy/dev/stack.sh"
say() { printf 'cluster: %s\n' "$*" >&2; }

usage() {
	sed -n '/^#   cluster.sh/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

(($# >= 2)) || usage
CMD=$1
TAG=$2
shift 2
[[ $TAG =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "TAG must be 1-8 of a-z 0-9, starting with a letter"
((EUID == 0)) || die "network namespaces need root"
command -v ip >/dev/null || die "ip (iproute2) is missing: deploy/dev/deps.sh check"

INST=cluster-$TAG
NS=lc-$TAG
# The /24 of this tag: 10.231.X.0/24, X in 16..239 from the tag's hash.
# (The namespaces of two tags never meet, each has its own bridge: the
# distinct subnets only make a mixed-up address fail loudly.)
X=$(($(printf '%s' "$TAG" | cksum | cut -d' ' -f1) % 224 + 16))
NET=10.231.$X
PRIMARY=$NET.1
REPLICA=$NET.2
POOLER=$NET.3
CLIENT=$NET.100
web_addr() { printf '%s.%d' "$NET" $((10 + $1)); }
WEB_PORT=8080
ENV_FILE=$VAR/$INST.env

# ------------------------------------------------------------ namespaces

our_namespaces() {
	ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E "^$NS-[a-z0-9]+$" || true
}

# A host: namespace lc-TAG-$1 with lo up and eth0 (address $2/24), the
# other end of its veth pair on the bridge.
add_host() {
	local name=$NS-$1
	ip netns add "$name"
	ip -n "$name" link set lo up
	ip -n "$NS-br" link add "v-$1" type veth peer name eth0 netns "$name"
	ip -n "$NS-br" link set "v-$1" master br0
	ip -n "$NS-br" link set "v-$1" up
	ip -n "$name" addr add "$2/24" dev eth0
	ip -n "$name" link set eth0 up
}

# The pids of our own shell and its ancestors: `down` may run from a
# process inside the client namespace (pytest's finalizer), which must not
# stop itself.
ancestors() {
	local p=$BASHPID
	while [[ $p =~ ^[0-9]+$ ]] && ((p > 1)); do
		printf '%s\n' "$p"
		p=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null || true)
	done
	printf '%s\n' "$$"
}

# ------------------------------------------------------------ run dir

# The run dir of this tag: the one `up` recorded, else where pick_rundir
# would put it (a run that crashed before recording it).
find_rundir() {
	if known_rundir; then return 0; fi
	local d
	for d in "$VAR/$INST" "$(tmp_parent)/$INST"; do
		if [[ -d $d && ! -L $d ]]; then
			RUNDIR=$d
			return 0
		fi
	done
	return 1
}

# ------------------------------------------------------------ PostgreSQL

# Run pg.sh's functions for host $1 (pg1, pg2): its RUNDIR is $BASE/$1.
pg_host() { # HOST FUNCTION...
	local host=$1
	shift
	(
		# shellcheck disable=SC2030 # this host's, for pg.sh
		RUNDIR=$BASE/$host
		# (pg_ctl stop and status only signal: they need no namespace,
		# and one deleted under a crashed run is no reason to skip them)
		SVC_NETNS=
		[[ ! -e /run/netns/$NS-$host ]] || SVC_NETNS=$NS-$host
		set_pg_paths
		"$@"
	)
}

# After pg.sh's latch-dev.conf (included first, rewritten by pg_init):
# this host's address, and durability as the failover test needs it.
write_cluster_conf() { # HOST ADDRESS SYNC_NAMES
	local pgdata=$BASE/$1/pgdata
	put_file "$pgdata/latch-cluster.conf" 600 <<-EOF
		# Written by tests/cluster/cluster.sh: a host of the test cluster.
		listen_addresses = '$2'
		# A commit is acknowledged once the synchronous standby has it:
		# no rotation that answered 200 can be lost by a failover.
		synchronous_commit = on
		synchronous_standby_names = '$3'
		# fsync stays off (pg.sh): the tests stop processes, never the
		# machine's power, and the kernel keeps what was written.
		full_page_writes = on
		wal_level = replica
		max_wal_senders = 10
		hot_standby = on
		max_connections = 100
	EOF
	grep -q "latch-cluster.conf" "$pgdata/postgresql.conf" ||
		printf "include 'latch-cluster.conf'\n" >>"$pgdata/postgresql.conf"
	# Trust for the cluster's subnet only: it exists inside this run's
	# private network namespaces alone (no interface of the root
	# namespace, nor any other host, is on it).
	put_file "$pgdata/pg_hba.conf" 600 <<-EOF
		# Written by tests/cluster/cluster.sh.
		local all         all   trust
		host  all         latch $NET.0/24 trust
		host  replication latch $NET.0/24 trust
	EOF
}

# pg_ctl and pg_basebackup as the service user, for pg_host.
pg_ctl_svc() { as_svc "$PGBIN/pg_ctl" -D "$PGDATA" "$@" >/dev/null; }
basebackup() {
	as_svc "$PGBIN/pg_basebackup" -h "$PRIMARY" -p "$PG_PORT" -U latch \
		-D "$PGDATA" -R -X stream -c fast >"$RUNDIR/basebackup.log" 2>&1
}

wait_sync_standby() {
	local i state=""
	for ((i = 0; i < 150; i++)); do
		state=$(pg_host pg1 pg_sql postgres \
			"SELECT sync_state FROM pg_stat_replication LIMIT 1" 2>/dev/null || true)
		[[ $state == sync ]] && return 0
		sleep 0.1
	done
	die "the replica is not a synchronous standby after 15 s (state '${state:-none}'; logs: $BASE/pg2/pg.log)"
}

# ------------------------------------------------------------ PgBouncer

# PgBouncer 1.18 has no target_session_attrs: one process per PostgreSQL
# host, each from the shipped deploy/pgbouncer/pgbouncer.ini (%include, as
# deploy/dev/recipes/pgbouncer.sh does), listening on the pooler's
# address; libpq's multi-host URL of the web hosts picks the one whose
# server is read-write.
pgbouncer_start() { # PORT SERVER_ADDRESS
	local dir=$BASE/pgb-$1 i
	mkdir -m 700 "$dir"
	give "$dir"
	put_file "$dir/latch.ini" 600 <"$REPO/deploy/pgbouncer/pgbouncer.ini"
	# Trust: only the cluster's private namespaces reach this address.
	put_file "$dir/pgbouncer.ini" 600 <<-EOF
		[databases]
		latch = host=$2 port=$PG_PORT dbname=latch
		[pgbouncer]
		listen_addr = $POOLER
		listen_port = $1
		unix_socket_dir = $dir
		unix_socket_mode = 0700
		auth_type = trust
		auth_file = $dir/userlist.txt
		logfile = $dir/pgbouncer.log
		pidfile = $dir/pgbouncer.pid
		%include $dir/latch.ini
		; the admin console (the failover's RECONNECT and SHUTDOWN)
		admin_users = latch
	EOF
	# Fewer server connections than responders on all web hosts, so
	# that statements move between server connections (the tests);
	# CLUSTER_POOL_SIZE= (empty) keeps the shipped pool (make bench-cluster).
	if [[ -n ${CLUSTER_POOL_SIZE-2} ]]; then
		printf 'default_pool_size = %s\n' "${CLUSTER_POOL_SIZE-2}" >>"$dir/pgbouncer.ini"
	fi
	printf '"latch" ""\n' | put_file "$dir/userlist.txt" 600
	SVC_NETNS=$NS-pgb as_svc /usr/sbin/pgbouncer -d -q "$dir/pgbouncer.ini" ||
		die "pgbouncer :$1 did not start (log: $dir/pgbouncer.log)"
	for ((i = 0; i < 50; i++)); do
		[[ -S $dir/.s.PGSQL.$1 ]] && return 0
		sleep 0.1
	done
	die "pgbouncer :$1 made no socket (log: $dir/pgbouncer.log)"
}

pgbouncer_stop() { # DIR
	local pid
	[[ -s $1/pgbouncer.pid ]] || return 0
	pid=$(head -n1 "$1/pgbouncer.pid")
	pid_is "$pid" pgbouncer && terminate 5 "$pid"
	rm -f "$1/pgbouncer.pid"
}

# ------------------------------------------------------------ web hosts

web_host_start() { # N DATABASE_URL [KEY=VALUE ...]
	local n=$1 url=$2 w=$BASE/w$1 kv
	shift 2
	mkdir -m 700 "$w"
	give "$w"
	CONF=()
	CONF_KEYS=()
	conf_set DATABASE_URL "$url"
	conf_load "$BASE/secrets"
	# Plain http inside the namespaces, as the integration stack has it.
	conf_set COOKIE_SECURE 0
	# The tests' users are cost-4 (a login is no rehash at 12).
	conf_set BCRYPT_COST 4
	for kv in "$@"; do
		[[ $kv == *=* ]] || die "override '$kv' is not KEY=VALUE"
		conf_set "${kv%%=*}" "${kv#*=}"
	done
	conf_write "$w/latch.conf"
	install_bins "$w" "$BIN"
	(
		SVC_NETNS=$NS-w$n
		WEB_BIND=$(web_addr "$n")
		LOGIN_PROCS=${CLUSTER_LOGIN_PROCS:-1}
		write_lighttpd_conf "$w" "$WEB_PORT"
		lighttpd_run "$w" "http://$WEB_BIND:$WEB_PORT"
	)
}

# ------------------------------------------------------------ commands

# Stop everything of this tag, by pid: the webs (lighttpd and the fcgi
# processes left from it), both PgBouncers, both PostgreSQL servers, then
# whatever still runs inside one of the tag's namespaces; then delete the
# namespaces (their interfaces go with them).
cmd_down() {
	local d ns pids p keep
	if setup_user && find_rundir; then
		BASE=$RUNDIR
		for d in "$BASE"/w*/; do
			[[ -d $d ]] && web_stop "${d%/}"
		done
		for d in "$BASE"/pgb-*/; do
			[[ -d $d ]] && pgbouncer_stop "${d%/}"
		done
		for d in pg1 pg2; do
			[[ -d $BASE/$d/pgdata ]] || continue
			pg_host "$d" pg_stop || true
		done
	fi
	keep=" $(ancestors | tr '\n' ' ') "
	for ns in $(our_namespaces); do
		pids=()
		for p in $(ip netns pids "$ns" 2>/dev/null || true); do
			[[ $keep == *" $p "* ]] || pids+=("$p")
		done
		if ((${#pids[@]} > 0)); then
			say "stopping what still runs in $ns: ${pids[*]}"
			terminate 5 "${pids[@]}"
		fi
	done
	for ns in $(our_namespaces); do
		ip netns del "$ns" || say "could not delete namespace $ns"
	done
	rm -f "$ENV_FILE"
	[[ -z $(our_namespaces) ]] || die "namespaces left: $(our_namespaces | tr '\n' ' ')"
}

cmd_up() {
	local nwebs=$1 i t0=$SECONDS url ns
	shift
	[[ $nwebs =~ ^[1-9]$ ]] || die "NWEBS must be 1-9"
	BIN=${BIN_DIR:-$REPO/build}
	[[ $BIN == /* ]] || BIN=$REPO/$BIN
	for i in auth.fcgi login.fcgi api.fcgi latchctl; do
		[[ -x $BIN/$i ]] || die "$BIN/$i is missing (build first: make)"
	done
	[[ -x /usr/sbin/pgbouncer ]] || die "pgbouncer is missing: deploy/dev/deps.sh check"
	setup_user create
	instance_lock
	# Whatever an earlier run of this tag left (a crash, a killed make).
	cmd_down
	pick_rundir
	BASE=$RUNDIR
	# A fresh cluster every time: the run dir is emptied (the service
	# user owns it, and nothing of ours runs there any more).
	find "$BASE" -mindepth 1 -delete
	printf '%s\n' "$BASE" | put_own_file "$VAR/$INST.rundir" 644

	say "namespaces $NS-* on $NET.0/24"
	ip netns add "$NS-br"
	ip -n "$NS-br" link set lo up
	ip -n "$NS-br" link add br0 type bridge
	ip -n "$NS-br" link set br0 up
	add_host pg1 "$PRIMARY"
	add_host pg2 "$REPLICA"
	add_host pgb "$POOLER"
	for ((i = 1; i <= nwebs; i++)); do add_host "w$i" "$(web_addr "$i")"; done
	add_host cl "$CLIENT"

	say "PostgreSQL primary on $PRIMARY"
	for i in pg1 pg2; do
		mkdir -m 700 "$BASE/$i"
		give "$BASE/$i"
	done
	pg_host pg1 pg_init
	write_cluster_conf pg1 "$PRIMARY" '*'
	pg_host pg1 pg_start

	say "streaming replica on $REPLICA (pg_basebackup -R)"
	pg_host pg2 basebackup ||
		die "pg_basebackup failed (log: $BASE/pg2/basebackup.log)"
	pg_host pg2 pg_init
	# Its own settings: after a promotion no commit may wait for a
	# standby that is not there.
	write_cluster_conf pg2 "$REPLICA" ''
	pg_host pg2 pg_start
	wait_sync_standby

	pg_host pg1 pg_ensure_db
	# latchctl migrate over TCP, from the clients' namespace, to the
	# primary itself (not through PgBouncer).
	say "latchctl migrate (direct to the primary)"
	DATABASE_URL="postgresql://latch@$PRIMARY:$PG_PORT/latch" \
		ip netns exec "$NS-cl" "$BIN/latchctl" migrate --dir "$REPO/migrations" \
		</dev/null >"$BASE/migrate.log" 2>&1 9>&- ||
		{ cat "$BASE/migrate.log" >&2; die "latchctl migrate failed"; }

	say "PgBouncer on $POOLER:6432 (primary) and :6433 (replica)"
	pgbouncer_start 6432 "$PRIMARY"
	pgbouncer_start 6433 "$REPLICA"

	{
		printf 'JWT_ACCESS_SECRET=cluster-access-1:%s\n' "$(rand_b64url 43)"
		printf 'JWT_REFRESH_SECRET=cluster-refresh-1:%s\n' "$(rand_b64url 43)"
	} | put_own_file "$BASE/secrets" 600
	rm -rf "$BASE/www"
	cp -R "$REPO/deploy/www" "$BASE/www"
	give -R "$BASE/www"
	url="postgresql://latch@$POOLER:6432,$POOLER:6433/latch?target_session_attrs=read-write"
	local webs=()
	for ((i = 1; i <= nwebs; i++)); do
		say "web host $i on $(web_addr "$i"):$WEB_PORT"
		web_host_start "$i" "$url" "$@"
		webs+=("http://$(web_addr "$i"):$WEB_PORT")
	done

	{
		printf 'TAG=%s\n' "$TAG"
		printf 'RUNDIR=%s\n' "$BASE"
		printf 'CLIENT_NS=%s\n' "$NS-cl"
		printf 'PRIMARY_URL=postgresql://latch@%s:%s/latch\n' "$PRIMARY" "$PG_PORT"
		printf 'REPLICA_URL=postgresql://latch@%s:%s/latch\n' "$REPLICA" "$PG_PORT"
		printf 'POOLER_PRIMARY_URL=postgresql://latch@%s:6432/latch\n' "$POOLER"
		printf 'WEB_DATABASE_URL=%s\n' "$url"
		printf 'WEBS=%s\n' "${webs[*]}"
		printf 'NAMESPACES=%s\n' "$(our_namespaces | tr '\n' ' ')"
	} | put_own_file "$ENV_FILE" 644
	cat "$ENV_FILE"
	say "up in $((SECONDS - t0)) s"
}

# Sets BASE to the run dir of a cluster that was set up, or dies.
need_cluster() {
	if ! { setup_user && find_rundir; }; then
		die "cluster $TAG is not up"
	fi
	BASE=$RUNDIR
}

cmd_kill_primary() {
	need_cluster
	pg_host pg1 pg_ctl_svc stop -m immediate -w -t 30
}

cmd_promote() {
	need_cluster
	pg_host pg2 pg_ctl_svc promote -w -t 30
}

# PgBouncer's side of a failover (see the findings in docs/readme/cluster.md):
# PgBouncer 1.18 answers a login from the startup parameters of its first
# server connection, in_hot_standby and default_transaction_read_only
# among them, and libpq's target_session_attrs trusts those. So the
# promoted server's PgBouncer must forget them (RECONNECT), and the old
# primary's must go (SHUTDOWN): while it runs it takes logins as
# read-write, and libpq, which tries the next host only when a host
# cannot be reached (a refused login ends the list), keeps choosing it.
# Stopping it is also what fences the old primary, should it come back.
pgb_admin() { # PORT COMMAND
	as_svc /usr/bin/psql -X -q -tA -h "$BASE/pgb-$1" -p "$1" -U latch -d pgbouncer \
		-c "$2" >/dev/null
}

cmd_pgbouncer_follow() {
	local pid i
	need_cluster
	pgb_admin 6433 "RECONNECT latch"
	pid=$(head -n1 "$BASE/pgb-6432/pgbouncer.pid")
	# (SHUTDOWN closes the console's connection without an answer)
	pgb_admin 6432 "SHUTDOWN" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		pid_is "$pid" pgbouncer || return 0
		sleep 0.1
	done
	die "PgBouncer :6432 ($pid) did not shut down"
}

cmd_status() {
	local d
	if ! { setup_user && find_rundir; }; then
		say "cluster $TAG: not set up"
		return 0
	fi
	BASE=$RUNDIR
	printf 'cluster %s: run dir %s\n' "$TAG" "$BASE"
	printf '  namespaces: %s\n' "$(our_namespaces | tr '\n' ' ')"
	for d in pg1 pg2; do
		if pg_host "$d" pg_running; then
			printf '  %s: running\n' "$d"
		else
			printf '  %s: stopped\n' "$d"
		fi
	done
	for d in "$BASE"/pgb-* "$BASE"/w[0-9]*; do
		[[ -d $d ]] || continue
		if [[ -s $d/pgbouncer.pid ]] && pid_is "$(head -n1 "$d/pgbouncer.pid")" pgbouncer; then
			printf '  %s: pgbouncer running\n' "${d##*/}"
		elif web_running "$d"; then
			printf '  %s: lighttpd running\n' "${d##*/}"
		else
			printf '  %s: stopped\n' "${d##*/}"
		fi
	done
}

case $CMD in
up) (($# >= 1)) || usage; cmd_up "$@" ;;
down) (($# == 0)) || usage; setup_user || true; instance_lock; cmd_down ;;
kill-primary) cmd_kill_primary ;;
promote) cmd_promote ;;
pgbouncer-follow) cmd_pgbouncer_follow ;;
status) cmd_status ;;
*) usage ;;
esac
