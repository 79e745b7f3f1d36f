#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS JOBS NAME...
#
# Runs each harness $FUZZ_DIR/fuzz_NAME (built by `make fuzz-build`) for
# SECONDS, JOBS of them at a time, on its seeds (tests/fuzz/seeds/NAME,
# read only) and its working corpus ($FUZZ_DIR/corpus/NAME, where libFuzzer
# adds what it finds), with tests/fuzz/NAME.dict when there is one.
# Any crash, leak, per-input timeout or OOM fails the run: the input's path
# and the head of the sanitizer's report are printed, and the exit status
# is 1. The full log of each run is $FUZZ_DIR/logs/NAME.log.
set -uo pipefail

FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)

# One harness; prints one line of figures, or the failure.
run_one() {
	local name=$1 secs=$2 bin=$FUZZ_DIR/fuzz_$1 log=$FUZZ_DIR/logs/$1.log
	local corpus=$FUZZ_DIR/corpus/$1 art=$FUZZ_DIR/artifacts/$1 rc
	local opts=() maxlen=4096

	mkdir -p "$corpus" "$art" "$FUZZ_DIR/logs"
	[[ -x $bin ]] || { echo "fuzz: $bin is missing (make fuzz-build)"; return 1; }
	case $name in
	http | json | config) maxlen=20000 ;;
	esac
	[[ -f $here/$name.dict ]] && opts+=("-dict=$here/$name.dict")
	# -timeout: one input taking over 5 s is a hang; -rss_limit_mb and
	# -malloc_limit_mb: a parser asked to hold 1 GiB is an OOM. The outer
	# timeout only guards against a harness that never starts fuzzing.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		timeout -k 5 $((secs + 120)) "$bin" -max_total_time="$secs" \
		-timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=512 \
		-max_len=$maxlen -print_final_stats=1 \
		-artifact_prefix="$art/" "${opts[@]}" "$corpus" \
		"$here/seeds/$name" >"$log" 2>&1
	rc=$?
	if ((rc != 0)); then
		{
			echo "fuzz: fuzz_$name FAILED (exit $rc); log $log"
			grep -E 'Test unit written to|^artifact_prefix' "$log" |
				sed 's/^/fuzz:   /'
			grep -n -m 1 -E 'fuzz property violated|==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer|^ALARM|out-of-memory' "$log" |
				cut -d: -f1 | while read -r at; do
				sed -n "${at},$((at + 24))p" "$log"
			done
		} | sed "s/^/[$name] /"
		return 1
	fi
	awk -v n="$name" '
		/^stat::number_of_executed_units/ { runs = $2 }
		/^stat::average_exec_per_sec/ { rate = $2 }
		/^stat::peak_rss_mb/ { rss = $2 }
		/ DONE / || /^#[0-9]+.*cov:/ { for (i = 1; i <= NF; i++) { if ($i == "cov:") cov = $(i + 1); if ($i == "corp:") corp = $(i + 1) } }
		END { printf "fuzz: fuzz_%s ok: %s runs, %s exec/s, cov %s, corpus %s, peak rss %s MB\n", n, runs, rate, cov, corp, rss }
	' "$log"
}

if [[ ${1:-} == --one ]]; then
	run_one "$2" "$3"
	exit
fi

if (($# < 3)); then
	echo "usage: $0 SECONDS JOBS NAME..." >&2
	exit 2
fi
secs=$1 jobs=$2
shift 2
echo "fuzz: $# harnesses, ${secs}s each, $jobs at a time"
printf '%s\n' "$@" | xargs -P "$jobs" -I{} "$0" --one {} "$secs"
status=$?
if ((status != 0)); then
	echo "fuzz: FAILED (see above; the inputs are under $FUZZ_DIR/artifacts)"
	exit 1
fi
echo "fuzz: all $# harnesses ran ${secs}s without a finding"
