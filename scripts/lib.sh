# shellcheck shell=bash
# Helpers shared by .ci/run and the scripts in scripts/. Source it; do not run it.
#
# step NAME CMD...   runs CMD, prints a banner and its wall time, records the
#                    result; a failing step does not stop the later ones.
# summary            prints every step's time and result; exits 1 if any failed.

YGGR_CI_STEPS=()
YGGR_CI_FAILED=0
YGGR_CI_START=$SECONDS

step() {
	local name=$1
	shift
	printf '\n==> %s: %s\n' "$name" "$*"
	local start=$SECONDS rc=0
	"$@" || rc=$?
	local took=$((SECONDS - start)) result=ok
	if [ "$rc" -ne 0 ]; then
		result="FAILED (exit $rc)"
		YGGR_CI_FAILED=1
	fi
	printf '<== %s: %s in %ds\n' "$name" "$result" "$took"
	YGGR_CI_STEPS+=("$(printf '%-28s %6ds  %s' "$name" "$took" "$result")")
}

summary() {
	printf '\n==> summary\n'
	local line
	for line in "${YGGR_CI_STEPS[@]}"; do
		printf '  %s\n' "$line"
	done
	printf '  %-28s %6ds\n' "total" "$((SECONDS - YGGR_CI_START))"
	if [ "$YGGR_CI_FAILED" -ne 0 ]; then
		printf 'FAIL: at least one step failed (see above)\n'
		return 1
	fi
	printf 'PASS\n'
}
