#!/usr/bin/env bash
# The normal test run (every package, fuzz seed corpora included), instrumented
# for coverage of the whole module so that scripts/coverage.sh can check floors:
# -coverpkg=./... lets a package's lines count when another package's tests run
# them (the root's tests drive internal/node, for example). It costs no
# measurable time over a plain go test ./... here. -count=1: never report
# cached results.
# Profile: $YGGR_COVER_PROFILE (default $TMPDIR/yggr-cover.out).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${YGGR_COVER_PROFILE:-${TMPDIR:-/tmp}/yggr-cover.out}
go test -count=1 -coverpkg=./... -coverprofile="$profile" "$@" ./...
