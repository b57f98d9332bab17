#!/usr/bin/env bash
# Coverage floors over the profile written by scripts/test.sh: the module's
# total statement coverage must be at least 85%, engine's at least 92%. Prints
# every package's figure and names the packages below the module floor.
#
# Left out of the module total (listed, marked "excluded"):
#   scripts/      CI tooling, not part of yggr (it has its own tests).
#   internal/sim  the deterministic simulator is test harness code: it exists
#                 only to drive the engine in tests, and its failure-reporting
#                 paths run only when a test fails.
# Generated files (a "Code generated ... DO NOT EDIT." header) never count.
# cmd/yggr and examples/ count like any other package.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${YGGR_COVER_PROFILE:-${TMPDIR:-/tmp}/yggr-cover.out}
go run ./scripts/cmd/coverfloor -profile "$profile" \
	-min 85 -floor engine=92 \
	-exclude scripts -exclude internal/sim
