#!/usr/bin/env bash
# deploy/dev/recipes/shared-account.sh DIR COMMAND [ARG...]: run COMMAND as
# the hosting account of recipe directory DIR (shared-cgi.sh copies this
# file to DIR/account.sh): as DIR's owner, in a mount namespace of its own
# whose /etc/passwd is DIR/passwd, where that user's home is DIR/home, as
# on a host where the account's home is /home/NAME. Apache of the recipe
# runs so, and the tests run latchctl so, as the account's crontab would.
# Root makes the mount namespace itself and then becomes DIR's owner (no
# user namespace: none can be made inside a chroot, and a container may
# forbid them); anyone else enters an unprivileged user namespace
# (unshare) as DIR's owner.
set -euo pipefail
(($# >= 2)) || { echo "usage: $0 DIR COMMAND [ARG...]" >&2; exit 2; }
dir=$1
shift
uid=$(stat -c %u "$dir")
gid=$(stat -c %g "$dir")
[[ -r $dir/passwd ]] || { echo "$0: $dir/passwd is missing" >&2; exit 1; }
if ((EUID == 0 && uid != 0)); then
	# shellcheck disable=SC2016 # for the inner shell
	exec unshare --mount --propagation private -- \
		bash -c 'mount --bind "$1" /etc/passwd && exec setpriv \
			--reuid="$2" --regid="$3" --clear-groups -- "${@:4}"' _ \
		"$dir/passwd" "$uid" "$gid" "$@"
elif ((EUID != uid)); then
	echo "$0: $dir belongs to uid $uid; run this as it or as root" >&2
	exit 1
fi
# Outer namespace: uid 0 (the caller), which may mount; inner one: the
# caller's own uid again, so that the programs run as the account and not
# as a namespace root.
# shellcheck disable=SC2016 # for the inner shell
exec unshare --user --map-root-user --mount -- \
	bash -c 'mount --bind "$1" /etc/passwd && exec unshare --user \
		--map-user="$2" --map-group="$3" -- "${@:4}"' _ \
	"$dir/passwd" "$uid" "$gid" "$@"
