#!/usr/bin/env bash
# Fails when gofmt would change any Go file in the module (gofmt -l . prints nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	printf 'gofmt: these files need gofmt -w:\n%s\n' "$unformatted"
	exit 1
fi
echo "gofmt: all files formatted"
