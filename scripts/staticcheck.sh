#!/usr/bin/env bash
# Runs staticcheck at a pinned version (fetched through the Go module proxy;
# nothing is added to go.mod). Configuration, if any, is in staticcheck.conf.
set -euo pipefail
cd "$(dirname "$0")/.."
# v0.8.2 (2026.1.x) is the newest on the proxy and supports Go 1.26; bump it
# with: go list -m -versions honnef.co/go/tools
STATICCHECK_VERSION=v0.8.2
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" "$@" ./...
