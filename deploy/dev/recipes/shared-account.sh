#!/usr/bin/env bash
# deploy/dev/recipes/shared-account.sh DIR COMMAND [ARG...]: run COMMAND as
# the hosting account of recipe directory DIR (shared-cgi.sh copies this
# file to DIR/account.sh): as DIR's owner, in a mount namespace of its own
# whose /etc/passwd is DIR/passwd, where that user's home is DIR/home, as
# on a host where the account's home is /home/NAME. Apache of the recipe
# runs so, and the tests run latchctl so, as the account's crontab would.
# The namespace is an unprivileged user namespace (unshare), entered as
# DIR's owner: root only switches to that user first.
set -euo pipefail
(($# >= 2)) || { echo "usage: $0 DIR COMMAND [ARG...]" >&2; exit 2; }
dir=$1
shift
uid=$(stat -c %u "$dir")
gid=$(stat -c %g "$dir")
[[ -r $dir/passwd ]] || { echo "$0: $dir/passwd is missing" >&2; exit 1; }
drop=()
if ((EUID == 0 && uid != 0)); then
	drop=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
elif ((EUID != uid)); then
	echo "$0: $dir belongs to uid $uid; run this as it or as root" >&2
	exit 1
fi
# Outer namespace: uid 0 (the caller), which may mount; inner one: the
# caller's own uid again, so that the programs run as the account and not
# as a namespace root.
# shellcheck disable=SC2016 # for the inner shell
exec "${drop[@]}" unshare --user --map-root-user --mount -- \
	bash -c 'mount --bind "$1" /etc/passwd && exec unshare --user \
		--map-user="$2" --map-group="$3" -- "${@:4}"' _ \
	"$dir/passwd" "$uid" "$gid" "$@"
