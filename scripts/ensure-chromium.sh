#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/web).
# The browser comes from apt only: the Playwright package never downloads one (we never run
# `playwright install`). `apt-get update` runs only when the install from the current lists fails.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends chromium \
  || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium; }
test -x /usr/bin/chromium || { echo "chromium was not installed at /usr/bin/chromium" >&2; exit 1; }
