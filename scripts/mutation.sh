#!/usr/bin/env bash
# Mutation testing of the engine with gremlins (pinned; fetched through the Go
# module proxy, nothing added to go.mod). Fails when test efficacy (killed
# mutants / (killed + lived)) is below YGGR_MUTATION_THRESHOLD (default 85).
#
#   scripts/mutation.sh [gremlins flags]            full run over engine/ (slow)
#   scripts/mutation.sh --changed [gremlins flags]  only engine lines changed since
#       the newest git tag reachable from HEAD (what CI runs). Skipped, with a
#       message and success, when this is not a git checkout, when there is no
#       tag, or when no non-test engine .go file changed. YGGR_MUTATION_BASE=<ref>
#       overrides the tag (e.g. YGGR_MUTATION_BASE=main on a branch).
#
# --changed runs under a time limit, YGGR_MUTATION_TIMEOUT (default 15m);
# running out of time is a failure (timeout's exit 124), never a silent pass.
# Results: YGGR_MUTATION_OUT (default: a temporary file) receives gremlins' JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
GREMLINS_VERSION=v0.6.0
threshold=${YGGR_MUTATION_THRESHOLD:-85}
out=${YGGR_MUTATION_OUT:-$(mktemp -t yggr-mutation.XXXXXX.json)}
args=(unleash --threshold-efficacy "$threshold" --output "$out")
limit=()

if [ "${1:-}" = --changed ]; then
	shift
	base=${YGGR_MUTATION_BASE:-}
	if ! git rev-parse --git-dir >/dev/null 2>&1; then
		echo "mutation: not a git checkout; skipped"
		exit 0
	fi
	if [ -z "$base" ] && ! base=$(git describe --tags --abbrev=0 HEAD 2>/dev/null); then
		echo "mutation: no git tag yet, so no base to diff against; skipped."
		echo "mutation: run scripts/mutation.sh for the full run, or set YGGR_MUTATION_BASE=<ref>."
		exit 0
	fi
	changed=$(git diff --name-only --merge-base "$base" -- engine | grep '\.go$' | grep -v '_test\.go$' || true)
	if [ -z "$changed" ]; then
		echo "mutation: no engine source changed since $base; skipped"
		exit 0
	fi
	printf 'mutation: engine files changed since %s:\n%s\n' "$base" "$changed"
	args+=(--diff "$base")
	limit=(timeout --kill-after=30s "${YGGR_MUTATION_TIMEOUT:-15m}")
fi

echo "mutation: gremlins ${GREMLINS_VERSION}, efficacy floor ${threshold}%, JSON results in $out"
# Installed into a temporary GOBIN rather than go run, so that the time limit
# signals gremlins itself, which then stops its go test children.
bin=$(mktemp -d -t yggr-gremlins.XXXXXX)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install "github.com/go-gremlins/gremlins/cmd/gremlins@${GREMLINS_VERSION}"
"${limit[@]}" "$bin/gremlins" "${args[@]}" "$@" ./engine
