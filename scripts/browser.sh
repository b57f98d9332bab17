#!/usr/bin/env bash
# Makes a headless browser available for the console's browser test
# (cmd/yggr TestConsoleInBrowser, which drives Chromium with chromedp). If no
# Chromium or Chrome is in PATH and we are root with apt-get, installs the
# Debian package chromium. It never fails the run: without a browser the
# test skips and says why.
set -uo pipefail

for b in chromium chromium-browser google-chrome google-chrome-stable chrome headless-shell; do
	if command -v "$b" >/dev/null 2>&1; then
		echo "browser: $(command -v "$b") ($("$b" --version 2>/dev/null | head -n1))"
		exit 0
	fi
done
if [ -n "${YGGR_CHROME:-}" ]; then
	echo "browser: YGGR_CHROME=$YGGR_CHROME"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "browser: none found and cannot install one (needs root and apt-get): the browser test will skip"
	exit 0
fi
echo "browser: none found; installing the Debian package chromium"
export DEBIAN_FRONTEND=noninteractive
if apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
	{ apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }; then
	echo "browser: installed $(command -v chromium)"
else
	echo "browser: installing chromium failed: the browser test will skip"
fi
exit 0
