#!/usr/bin/env bash
# Prepare a Debian 12 CI machine (run as root) for the slow container tests.
#
# What it does (idempotent; a second run takes a few seconds):
#   1. installs podman, buildah, runc and debootstrap from apt if podman is missing;
#   2. writes a containers.conf (runc runtime, lowered ulimits, cgroupfs, file events
#      logger) and a storage.conf, to dedicated files exported as CONTAINERS_CONF and
#      CONTAINERS_STORAGE_CONF (tests/container_support.py uses the same default paths);
#   3. if docker.io/library/python:3.11-slim is not in podman's storage (no container
#      registry is reachable from CI), builds a stand-in from Debian bookworm with
#      debootstrap, imports it as localhost/deb-py:bookworm and tags it
#      docker.io/library/python:3.11-slim, so an unchanged `FROM python:3.11-slim`
#      builds with `podman build --pull=never`.
#
# The stand-in has Debian's Python 3.11 in /usr (symlinked from /usr/local/bin), pip
# (PEP 668 marker removed, as in the official image), venv, useradd/groupadd and
# ca-certificates; it has no curl, like python:3.11-slim. Its sitecustomize points Python's
# HTTPS clients at /host-ca.crt when that file is mounted (tests/container_support.build_image
# mounts the host CA bundle there, for pip/poetry through the CI host's TLS proxy).
#
# Usage: eval "$(.ci/setup-containers.sh)"      (progress on stderr, the exports on stdout)
#        .ci/setup-containers.sh --print-env     (only print the exports; changes nothing)
# tests/container_support.py finds the config files itself; the exports are for manual podman use.
# Environment overrides: MLOPS_CI_CONTAINERS_DIR (config dir, default /etc/containers/mlops-ci),
#        MLOPS_CI_STORAGE_DRIVER (overlay|vfs, default: overlay if it works, else vfs),
#        MLOPS_CI_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

CONF_DIR="${MLOPS_CI_CONTAINERS_DIR:-/etc/containers/mlops-ci}"
CONTAINERS_CONF_PATH="$CONF_DIR/containers.conf"
STORAGE_CONF_PATH="$CONF_DIR/storage.conf"
MIRROR="${MLOPS_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_LOCAL="localhost/deb-py:bookworm"
BASE_ALIAS="docker.io/library/python:3.11-slim"

if [[ "${1:-}" == "--print-env" ]]; then
    echo "export CONTAINERS_CONF=$CONTAINERS_CONF_PATH"
    echo "export CONTAINERS_STORAGE_CONF=$STORAGE_CONF_PATH"
    exit 0
fi

log() { printf '[setup-containers] %s\n' "$*" >&2; }
START=$SECONDS

if [[ $EUID -ne 0 ]]; then
    log "must run as root (apt-get, debootstrap, rootful podman)"
    exit 1
fi

# --- 1. packages -------------------------------------------------------------------------
if ! command -v podman >/dev/null 2>&1; then
    log "installing podman buildah runc debootstrap"
    "$(dirname "$0")/apt-install.sh" podman buildah runc debootstrap
    log "packages installed in $((SECONDS - START)) s"
else
    for tool in runc debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || {
            export DEBIAN_FRONTEND=noninteractive
            apt-get -qq update >/dev/null 2>&1
            apt-get -qq install -y -o Dpkg::Use-Pty=0 runc debootstrap >/dev/null 2>&1
            break
        }
    done
fi

# --- 2. configuration ----------------------------------------------------------------------
mkdir -p "$CONF_DIR"
RUNC_PATH="$(command -v runc)"

# Storage driver: native overlay works on ext4/xfs hosts; fall back to vfs elsewhere
# (e.g. when /var/lib/containers is itself on overlayfs).
driver="${MLOPS_CI_STORAGE_DRIVER:-}"
if [[ -z "$driver" ]]; then
    if [[ -f "$STORAGE_CONF_PATH" ]]; then
        # keep the driver chosen the first time: changing it orphans the stored images
        driver="$(sed -n 's/^driver *= *"\(.*\)"/\1/p' "$STORAGE_CONF_PATH" | head -n1)"
    fi
    if [[ -z "$driver" ]]; then
        probe="$(mktemp -d /var/tmp/ovl-probe.XXXXXX)"
        mkdir -p "$probe"/{l,u,w,m}
        if mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" 2>/dev/null; then
            umount "$probe/m"
            driver=overlay
        else
            driver=vfs
        fi
        rm -rf "$probe"
    fi
fi

cat >"$STORAGE_CONF_PATH" <<EOF
# Written by .ci/setup-containers.sh
[storage]
driver = "$driver"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF

cat >"$CONTAINERS_CONF_PATH" <<EOF
# Written by .ci/setup-containers.sh -- use with CONTAINERS_CONF=$CONTAINERS_CONF_PATH
[containers]
# the CI VM's default nofile/nproc limits are above what runc may set in a container
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
# crun is not installed; runc is what works here
runtime = "runc"
# no systemd as init on CI machines: manage cgroups directly, log events to a file
cgroup_manager = "cgroupfs"
events_logger = "file"

[engine.runtimes]
runc = ["$RUNC_PATH"]
EOF
export CONTAINERS_CONF="$CONTAINERS_CONF_PATH"
export CONTAINERS_STORAGE_CONF="$STORAGE_CONF_PATH"
log "CONTAINERS_CONF=$CONTAINERS_CONF (storage driver: $driver)"

# --- 3. base image -------------------------------------------------------------------------
if podman image exists "$BASE_ALIAS"; then
    log "$BASE_ALIAS already present"
elif podman image exists "$BASE_LOCAL"; then
    podman tag "$BASE_LOCAL" "$BASE_ALIAS"
    log "tagged existing $BASE_LOCAL as $BASE_ALIAS"
else
    T0=$SECONDS
    ROOT="$(mktemp -d /var/tmp/deb-py-root.XXXXXX)"
    trap 'rm -rf "$ROOT" "$ROOT.log"' EXIT
    log "debootstrap bookworm into $ROOT"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,passwd,netbase \
        bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
        tail -n 30 "$ROOT.log" >&2
        exit 1
    }
    rm -f "$ROOT.log"
    # Behave like python:3.11-slim where a Dockerfile can tell:
    rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED # `pip install` as root is allowed there
    for exe in python python3 python3.11 pip pip3; do
        ln -sf "/usr/bin/$exe" "$ROOT/usr/local/bin/$exe"
    done
    rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
        "$ROOT"/var/log/*.log "$ROOT"/etc/hostname "$ROOT"/etc/resolv.conf
    : >"$ROOT/etc/resolv.conf"
    # Build-time HTTPS through the CI host's TLS proxy, with no change to the Dockerfile:
    # tests/container_support.build_image mounts the host CA bundle at /host-ca.crt, and this
    # hook points Python's HTTPS clients (pip, poetry, requests, httpx) at it. Without the
    # mount (e.g. in the running service) it does nothing, and no ENV is baked into images.
    # (`podman build --env` only sets the committed image config, not RUN steps, and
    # containers.conf `env` is not applied to RUN steps either: checked with podman 4.3.1.)
    cat >>"$ROOT/etc/python3.11/sitecustomize.py" <<'PYEOF'

# Added by .ci/setup-containers.sh (CI stand-in for python:3.11-slim): if the CI host's
# CA bundle is mounted at /host-ca.crt, use it for HTTPS (pip, poetry, requests, httpx).
# (podman build leaves an empty /host-ca.crt mount point in images: skip an empty file.)
import os as _os
if _os.path.isfile("/host-ca.crt") and _os.path.getsize("/host-ca.crt") > 0:
    for _var in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        _os.environ.setdefault(_var, "/host-ca.crt")
del _os
PYEOF
    py_version="$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Version}' python3.11 2>/dev/null | sed 's/[^0-9.].*//')"
    tar --numeric-owner -C "$ROOT" -c . | podman import --quiet \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "ENV PYTHON_VERSION=${py_version:-3.11}" \
        --change 'CMD ["python3"]' \
        - "$BASE_LOCAL" >/dev/null
    podman tag "$BASE_LOCAL" "$BASE_ALIAS"
    rm -rf "$ROOT"
    trap - EXIT
    log "built $BASE_LOCAL (Python ${py_version:-?}) and tagged it $BASE_ALIAS in $((SECONDS - T0)) s"
fi

log "done in $((SECONDS - START)) s"
echo "export CONTAINERS_CONF=$CONTAINERS_CONF_PATH"
echo "export CONTAINERS_STORAGE_CONF=$STORAGE_CONF_PATH"
