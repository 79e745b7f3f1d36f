#!/usr/bin/env bash
# deploy/dev/deps.sh [run|check|bench]
#
# Makes sure the Debian packages needed to build and run latch (`run`), to
# also test it (`check`) or to benchmark it (`bench`) are installed.
#   - Nothing missing: says so, exits 0, touches nothing (no apt-get update).
#   - Missing and we are root: installs them non-interactively.
#   - Missing and we are not root: prints the one `sudo apt-get install` line
#     to run, and exits 1 (we never call sudo ourselves).
set -euo pipefail

say() { printf 'deps: %s\n' "$*" >&2; }

mode=${1:-run}

run_pkgs=(
	gcc make pkg-config libc6-dev
	libfcgi-dev libfcgi0ldbl libpq-dev libjson-c-dev libssl-dev libcrypt-dev
	postgresql-15 postgresql-client-15 lighttpd curl ca-certificates
)
check_pkgs=(
	"${run_pkgs[@]}"
	libcmocka-dev python3 python3-pytest python3-requests python3-psycopg2
	postgresql-15-cron
	libfcgi-bin
	python3-cryptography
	apache2 libapache2-mod-fcgid nginx spawn-fcgi openssl pgbouncer
	groff-base lighttpd-mod-openssl
	# make fuzz-smoke (tests/fuzz): clang, and libFuzzer's runtime with
	# ASan's and UBSan's (libclang_rt.fuzzer-x86_64.a), which clang-14
	# only recommends, so --no-install-recommends leaves it out.
	clang libclang-rt-14-dev
	# The browser tests (tests/browser): Node for playwright-core, Debian's
	# Chromium (never a browser download) and a font for its screenshots.
	nodejs npm chromium fonts-dejavu-core
	# The cluster tests (tests/cluster): network namespaces, veth pairs
	# and a bridge (ip); nsenter and setpriv are util-linux's (essential).
	iproute2
)
bench_pkgs=(
	"${run_pkgs[@]}"
	wrk
	gnuplot-nox
	# make bench-cluster (tests/cluster/bench.sh)
	iproute2 pgbouncer
)

case $mode in
run) wanted=("${run_pkgs[@]}") ;;
check) wanted=("${check_pkgs[@]}") ;;
bench) wanted=("${bench_pkgs[@]}") ;;
*)
	say "usage: $0 [run|check|bench]"
	exit 2
	;;
esac

# dpkg-query is always there (dpkg is essential); a package counts as present
# only when fully installed, not merely known or half-configured, or when a
# fully installed package Provides its name: NodeSource's nodejs, which a
# machine may come with, provides npm and conflicts with Debian's npm.
provided=$(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
	awk -F'|' '$1 ~ /^ii/ && $2 != "" { print $2 }' | tr ',' '\n' |
	sed -e 's/([^)]*)//g' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | sort -u)
missing=()
for pkg in "${wanted[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] && continue
	grep -qxF -- "$pkg" <<<"$provided" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	say "all ${#wanted[@]} packages for '$mode' are installed"
	exit 0
fi

say "missing for '$mode': ${missing[*]}"

if ((EUID != 0)); then
	say "not root; install them with:"
	printf 'sudo apt-get install -y --no-install-recommends %s\n' "${missing[*]}"
	exit 1
fi

# postgresql-15's postinst creates and starts a system-wide "main" cluster.
# latch never uses it (the dev stack runs its own throwaway cluster under
# var/), and in a chroot or container it is at best noise. postgresql-common
# reads drop-ins from createcluster.d (via include_dir in createcluster.conf),
# so turn that off before installing, unless the admin already has a file.
if [[ " ${missing[*]} " == *" postgresql-"* ]]; then
	ccd=/etc/postgresql-common/createcluster.d
	ccf=$ccd/latch-no-main-cluster.conf
	if [[ ! -e $ccf ]]; then
		mkdir -p "$ccd"
		printf '%s\n' \
			'# Written by latch deploy/dev/deps.sh: the dev stack runs its own' \
			'# cluster, so the package need not create the "main" one.' \
			'create_main_cluster = false' >"$ccf"
		say "wrote $ccf (create_main_cluster = false)"
	fi
fi

# The packages' postinst would start their daemons: system-wide lighttpd,
# Apache and nginx all on port 80 (the second and third then fail to bind,
# and with them the install), PgBouncer, maybe postgresql. latch runs its
# own of each on its own ports, so deny service starts for the duration of
# the install with a temporary policy-rc.d (honoured with or without
# systemd), only if the system has none of its own.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# temporary, from latch deploy/dev/deps.sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
	say "service starts denied during install (temporary $policy)"
fi

export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
apt-get update
say "apt-get install ${missing[*]}"
apt-get install -y --no-install-recommends "${missing[@]}"

# Re-check: apt-get can succeed yet leave a package unconfigured.
still=()
for pkg in "${missing[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || still+=("$pkg")
done
if ((${#still[@]} > 0)); then
	say "still not installed: ${still[*]}"
	exit 1
fi
say "installed: ${missing[*]}"
