#!/usr/bin/env bash
# Prepare a Debian CI machine (run as root) for the slow browser test of a ui=gradio bake.
#
# Installs Chromium and its WebDriver from Debian's packages when either is missing (idempotent:
# a second run only checks for them). The test drives this system browser with selenium; no
# browser is ever downloaded at test time.
set -euo pipefail

log() { printf '[setup-browser] %s\n' "$*" >&2; }
START=$SECONDS

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    log "chromium and chromedriver already installed"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    log "must run as root (apt-get install chromium chromium-driver)"
    exit 1
fi
"$(dirname "$0")/apt-install.sh" chromium chromium-driver
log "chromium and chromedriver installed in $((SECONDS - START)) s"
