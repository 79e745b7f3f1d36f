#!/bin/sh
# psql-migrate.sh MIGRATIONS_DIR: apply latch's migrations with psql alone,
# for a host where latchctl cannot run against the database (a database
# reachable only from your own machine, say). Each pending file in order,
# in a transaction of its own together with its line in schema_migrations,
# the table `latchctl migrate` keeps, so that either can be used later (not
# both at the same time: latchctl also takes a lock, this does not).
# DATABASE_URL comes from the environment or from ~/latch.conf.
set -eu
dir=${1:?usage: psql-migrate.sh MIGRATIONS_DIR}
url=${DATABASE_URL:-$(sed -n 's/^[[:space:]]*DATABASE_URL[[:space:]]*=[[:space:]]*//p' \
	"$HOME/latch.conf" | tail -n 1)}
[ -n "$url" ] || { echo "psql-migrate.sh: DATABASE_URL is not set" >&2; exit 1; }
sql() { psql "$url" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
sql -c "SET client_min_messages = warning" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now())"
for f in "$dir"/[0-9]*_*.sql; do
	[ -f "$f" ] || continue
	name=${f##*/}
	version=$(expr "$name" : '0*\([0-9][0-9]*\)_')
	[ "$(sql -c "SELECT count(*) FROM schema_migrations WHERE version = $version")" = 0 ] ||
		continue
	sql --single-transaction -f "$f" -c "INSERT INTO schema_migrations (version, name) VALUES ($version, '$name')"
	echo "applied $name"
done
echo "schema up to date"
