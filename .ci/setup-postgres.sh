#!/usr/bin/env bash
# Prepare a Debian/Ubuntu CI machine (run as root) for the team-server tests: PostgreSQL's server
# binaries, and `runuser` to run them as the postgres user (initdb refuses root).
#
# Idempotent: when /usr/lib/postgresql/<version>/bin/initdb exists it changes nothing. The tests
# start their own throwaway cluster on a free port (tests/services.py), so the package's default
# cluster is not wanted: createcluster.conf tells the package not to create (and start) one.
set -euo pipefail

log() { printf '[setup-postgres] %s\n' "$*" >&2; }

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    log "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
    exit 1
fi

START=$SECONDS
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/mlops-ci.conf
"$(dirname "$0")/apt-install.sh" postgresql util-linux
log "installed $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | head -n1) in $((SECONDS - START)) s"
