#!/usr/bin/env bash
# Long randomized runs, not part of CI. Each knob below scales one test; the
# defaults take on the order of an hour in total on 2 cores (CI's plain run
# uses 16-128 seeds x 1500 steps per sim test and 200 for TestLiveness, 6
# chaos rounds, 10 watch chaos rounds, a 12 s fault test, 5 crash rounds and
# rapid's 1024 checks). Run one part with e.g. `scripts/soak.sh chaos`; parts:
# sim chaos watch fault crash property. A simulator failure prints the one
# command that replays it (YGGR_SIM_SEED=<seed> ...).
#
#   YGGR_SIM_SEEDS, YGGR_SIM_STEPS  simulator seeds and steps per seed (internal/sim)
#   YGGR_SIM_LIVENESS_SEEDS         TestLiveness's seeds per cluster size (default
#                                   3000: its runs are short, about 40 ms a seed at
#                                   YGGR_SIM_STEPS=3000)
#   YGGR_CHAOS_ROUNDS               rounds of the runtime linearizability chaos test (root)
#   YGGR_WATCH_CHAOS_ROUNDS         rounds of faults of the watch chaos test (root, TestWatchChaos)
#   YGGR_FAULT_SECONDS              duration of the multi-process fault test (cmd/yggr)
#   YGGR_CRASH_ROUNDS               SIGKILL rounds of the storage crash tests (log, snapshot)
#   YGGR_PROPERTY_CHECKS            rapid checks per engine property test
#   YGGR_SOAK_TIMEOUT               go test -timeout for each part (default 3h)
#
# A part whose tests do not exist (yet) fails with "no tests match" rather
# than passing silently. Exits 1 if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

export YGGR_SIM_SEEDS=${YGGR_SIM_SEEDS:-400}
export YGGR_SIM_STEPS=${YGGR_SIM_STEPS:-3000}
export YGGR_SIM_LIVENESS_SEEDS=${YGGR_SIM_LIVENESS_SEEDS:-3000}
export YGGR_CHAOS_ROUNDS=${YGGR_CHAOS_ROUNDS:-200}
export YGGR_WATCH_CHAOS_ROUNDS=${YGGR_WATCH_CHAOS_ROUNDS:-500}
export YGGR_FAULT_SECONDS=${YGGR_FAULT_SECONDS:-900}
export YGGR_CRASH_ROUNDS=${YGGR_CRASH_ROUNDS:-300}
export YGGR_PROPERTY_CHECKS=${YGGR_PROPERTY_CHECKS:-20000}
timeout=${YGGR_SOAK_TIMEOUT:-3h}

# soak_test PATTERN PKG... runs the tests matching PATTERN in each PKG, after
# checking that every PKG has at least one.
soak_test() {
	local pattern=$1 pkg listed
	shift
	for pkg in "$@"; do
		if ! listed=$(go test -list "$pattern" "$pkg" 2>&1); then
			printf '%s\n' "$listed"
			return 1
		fi
		if ! grep -q '^Test' <<<"$listed"; then
			echo "soak: no tests match $pattern in $pkg"
			return 1
		fi
	done
	go test -count=1 -timeout "$timeout" -run "$pattern" "$@"
}

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(sim chaos watch fault crash property)
for part in "${parts[@]}"; do
	case $part in
	sim) step "sim seeds=$YGGR_SIM_SEEDS liveness seeds=$YGGR_SIM_LIVENESS_SEEDS steps=$YGGR_SIM_STEPS" soak_test . ./internal/sim/... ;;
	chaos) step "chaos rounds=$YGGR_CHAOS_ROUNDS" soak_test TestLinearizable . ;;
	watch) step "watch chaos rounds=$YGGR_WATCH_CHAOS_ROUNDS" soak_test TestWatchChaos . ;;
	fault) step "fault seconds=$YGGR_FAULT_SECONDS" soak_test Fault ./cmd/yggr/ ;;
	crash) step "crash rounds=$YGGR_CRASH_ROUNDS" soak_test Crash ./log/ ./snapshot/ ;;
	property) step "property checks=$YGGR_PROPERTY_CHECKS" soak_test . ./engine/ ;;
	*)
		echo "soak: unknown part $part (want sim, chaos, watch, fault, crash or property)"
		exit 2
		;;
	esac
done
summary
