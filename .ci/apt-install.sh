#!/usr/bin/env bash
# apt-get install the given Debian packages quietly (run as root): on success it prints nothing;
# on failure it prints apt's last 30 lines and exits 1. The setup-*.sh scripts share it.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp)"
trap 'rm -f "$apt_log"' EXIT
if ! { apt-get -qq update && apt-get -qq install -y -o Dpkg::Use-Pty=0 "$@"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    exit 1
fi
