#!/bin/sh
# The PostgreSQL run of the test suite (`make test`, second pass) starts its own throwaway
# cluster with Debian's PostgreSQL 15 and PostGIS 3 (tests/pgcluster.py). A machine that starts
# without them gets them from apt, as root or through sudo without a password; otherwise this
# fails and says what to do (the PostGIS pass is never skipped).
set -eu
if [ -x /usr/lib/postgresql/15/bin/initdb ] && [ -f /usr/share/postgresql/15/extension/postgis.control ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "error: PostgreSQL 15 with PostGIS is missing and this user cannot install it;" \
         "run as root: apt-get update && apt-get install -y postgresql postgresql-15-postgis-3" >&2
    exit 1
fi
echo "Installing Debian's postgresql and postgresql-15-postgis-3 for the PostGIS test pass (apt-get)..."
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y postgresql postgresql-15-postgis-3
test -x /usr/lib/postgresql/15/bin/initdb
