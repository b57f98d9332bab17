#!/usr/bin/env bash
# Fuzz smoke: finds every fuzz target in the module (go test -list '^Fuzz') and
# fuzzes each for YGGR_FUZZTIME (default 20s; any go test -fuzztime value).
# A target that finds a failure makes the script exit 1 after the others ran;
# go test writes the failing input under the package's testdata/fuzz/<Target>/
# and prints it (commit it as a seed once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${YGGR_FUZZTIME:-20s}

# go test -list prints the matching names of a package, then "ok  <pkg> ...".
listing=$(go test -list '^Fuzz' ./...)
targets=()
names=()
while read -r first second _; do
	case $first in
	Fuzz*) names+=("$first") ;;
	ok)
		for n in "${names[@]}"; do targets+=("$second $n"); done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$listing"

if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz: no fuzz targets found"
	exit 1
fi
echo "fuzz: ${#targets[@]} targets x ${fuzztime}"
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "fuzz: $pkg $name"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" || failed+=("$pkg $name")
done
if [ "${#failed[@]}" -ne 0 ]; then
	printf 'fuzz: FAILED: %s\n' "${failed[@]}"
	exit 1
fi
