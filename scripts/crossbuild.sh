#!/usr/bin/env bash
# Fails when the module stops building on another OS: go vet ./... (which
# type-checks the tests too) for macOS and Windows.
# Platform code lives in *_linux.go / *_unix.go / *_other.go pairs; this
# catches a Linux-only call that slipped into a shared file.
set -euo pipefail
cd "$(dirname "$0")/.."
GOOS=darwin GOARCH=arm64 go vet ./...
GOOS=windows GOARCH=amd64 go vet ./...
echo "crossbuild: go vet passes for darwin and windows"
