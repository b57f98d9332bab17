#!/bin/sh
# Installs the etcd server (Debian's etcd-server package, etcd 3.4.x) that
# bench's etcd-server system starts: three real etcd processes on loopback.
# Run as root or with sudo. The bench skips etcd-server when `etcd` is missing.
set -eu
if command -v etcd >/dev/null 2>&1; then
	etcd --version | head -1
	exit 0
fi
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends etcd-server
# The package enables a system-wide etcd service on 2379/2380; the bench
# starts its own processes on free ports and needs none.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi
etcd --version | head -1
