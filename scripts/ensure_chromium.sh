#!/bin/sh
# The browser tests (tests/web/) drive Debian's Chromium at /usr/bin/chromium. A machine that
# starts without it gets it from apt, as root or through sudo without a password; otherwise
# this fails and says what to do (the tests are never skipped for want of a browser).
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "error: $CHROMIUM is missing and this user cannot install it;" \
         "run as root: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi
echo "Installing Debian's chromium for the browser tests (apt-get)..."
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
test -x "$CHROMIUM"
