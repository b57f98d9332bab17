#!/usr/bin/env bash
# The race detector over the packages that start goroutines.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -race "$@" . ./netquic/... ./log/... ./snapshot/... ./internal/node/... ./internal/chaosnet/...
