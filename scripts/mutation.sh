#!/usr/bin/env bash
# Mutation testing of the engine with gremlins (pinned; fetched through the Go
# module proxy, nothing added to go.mod). Fails when test efficacy (killed
# mutants / (killed + lived)) is below YGGR_MUTATION_THRESHOLD (default 85).
# gremlins only mutates lines that engine's own tests cover; the rest are
# listed as NOT COVERED and do not count.
#
#   scripts/mutation.sh [gremlins flags]            full run over engine/ (slow)
#   scripts/mutation.sh --changed [gremlins flags]  only engine lines changed since
#       the base (what CI runs). The base is the commit named in
#       .ci/mutation-base, moved forward when a full run passes; if that
#       commit is not in this history (a rewritten history), the commit that
#       last changed .ci/mutation-base. YGGR_MUTATION_BASE=<ref> overrides
#       both (e.g. YGGR_MUTATION_BASE=main on a branch). Skipped, with a
#       message and success, when this is not a git checkout, when no
#       non-test engine .go file changed, or when the changed lines hold no
#       covered mutant.
#
# --changed runs under a time limit, YGGR_MUTATION_TIMEOUT (default 8m, keeping CI inside 30 min);
# running out of time is a failure (timeout's exit 124), never a silent pass.
# Results: YGGR_MUTATION_OUT (default: a temporary file) receives gremlins' JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
GREMLINS_VERSION=v0.6.0
threshold=${YGGR_MUTATION_THRESHOLD:-85}
out=${YGGR_MUTATION_OUT:-$(mktemp -t yggr-mutation.XXXXXX.json)}
args=()
limit=()

if [ "${1:-}" = --changed ]; then
	shift
	base=${YGGR_MUTATION_BASE:-}
	if ! git rev-parse --git-dir >/dev/null 2>&1; then
		echo "mutation: not a git checkout; skipped"
		exit 0
	fi
	if [ -z "$base" ]; then
		recorded=$(grep -m1 -o '^[0-9a-f]\{7,40\}' .ci/mutation-base || true)
		if [ -n "$recorded" ] && git cat-file -e "$recorded^{commit}" 2>/dev/null; then
			base=$recorded
		else
			base=$(git log -1 --format=%H -- .ci/mutation-base)
			echo "mutation: the recorded base ${recorded:-(none)} is not in this history; using $base, the commit that last changed .ci/mutation-base"
		fi
		if [ -z "$base" ]; then
			echo "mutation: .ci/mutation-base is not committed, so there is no base to diff against" >&2
			exit 1
		fi
	fi
	# A ref may name a tag object: diff against its commit. A git
	# failure here must fail the run, not read as "nothing changed".
	if ! base=$(git rev-parse --verify --quiet "$base^{commit}"); then
		echo "mutation: cannot resolve the base $base to a commit" >&2
		exit 1
	fi
	files=$(git diff --name-only --merge-base "$base" -- engine)
	changed=$(printf '%s\n' "$files" | grep '\.go$' | grep -v '_test\.go$' || true)
	if [ -z "$changed" ]; then
		echo "mutation: no engine source changed since $base; skipped"
		exit 0
	fi
	printf 'mutation: engine files changed since %s:\n%s\n' "$base" "$changed"
	args+=(--diff "$base")
	# gremlins v0.6.0 compares git diff's repository-relative file names
	# with names relative to the mutated directory, so with a subdirectory
	# every mutant is skipped. diff.relative (and running from engine/)
	# makes git print engine-relative names.
	export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=diff.relative GIT_CONFIG_VALUE_0=true
	limit=(timeout --kill-after=30s "${YGGR_MUTATION_TIMEOUT:-8m}")
fi

echo "mutation: gremlins ${GREMLINS_VERSION}, efficacy floor ${threshold}%, JSON results in $out"
# Installed into a temporary GOBIN rather than go run, so that the time limit
# signals gremlins itself, which then stops its go test children.
bin=$(mktemp -d -t yggr-gremlins.XXXXXX)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install "github.com/go-gremlins/gremlins/cmd/gremlins@${GREMLINS_VERSION}"
cd engine # gremlins wants the absolute path of the mutated directory

if [ ${#limit[@]} -ne 0 ]; then
	# With no runnable mutant gremlins reports efficacy 0 and would fail:
	# count them first (a dry run costs one coverage run of engine).
	dry=$("$bin/gremlins" unleash --dry-run --timeout-coefficient 20 "${args[@]}" "$@" "$PWD" 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
	grep 'Runnable:' <<<"$dry" || true
	runnable=$(grep -o 'Runnable: [0-9]*' <<<"$dry" | grep -o '[0-9]*$' || true)
	if [ "${runnable:-0}" -eq 0 ]; then
		echo "mutation: no covered mutant on the changed engine lines; nothing to run"
		exit 0
	fi
fi

# The threshold goes in a config file: gremlins v0.6.0 silently ignores
# --threshold-efficacy on the command line (viper hands the float flag back
# as a string, which its typed lookup drops). gremlins fails when efficacy
# <= the threshold; a hair below the floor lets exactly the floor pass.
# --timeout-coefficient 20 (default 3): engine's tests take a fraction of a
# second, so on a loaded machine the default times out mutants spuriously.
cat >"$bin/gremlins.yaml" <<YAML
unleash:
  threshold:
    efficacy: $(awk -v t="$threshold" 'BEGIN { printf "%.3f", t - 0.001 }')
YAML
"${limit[@]}" "$bin/gremlins" unleash --config "$bin/gremlins.yaml" --output "$out" --timeout-coefficient 20 \
	"${args[@]}" "$@" "$PWD"
