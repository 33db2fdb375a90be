"""Podman helpers for the template's container tests (standard library only).

CI machines have no Docker engine and no reachable container registry. ``.ci/setup-containers.sh``
installs podman and runc, writes a containers.conf and a storage.conf under
``/etc/containers/mlops-ci/``, and creates a local stand-in for
``docker.io/library/python:3.11-slim``.
Every podman call made here uses those files (``CONTAINERS_CONF`` / ``CONTAINERS_STORAGE_CONF``;
override the directory with ``MLOPS_CI_CONTAINERS_DIR``), so the tests see the same storage as the
setup script whatever the caller's environment.

Builds run ``podman build --pull=never --isolation=chroot --format docker``:

* ``--pull=never``: only the local base image exists;
* ``--isolation=chroot``: ``RUN`` steps work without a full OCI runtime setup;
* ``--format docker``: the OCI image format has no ``HEALTHCHECK``; podman drops it (with a
  warning) unless the image is built in Docker format.

HTTPS during a build: the host reaches the package registry through a TLS proxy whose CA is only
in the host's bundle. :func:`build_image` mounts that bundle read-only at ``/host-ca.crt``
(:data:`CONTAINER_CA_PATH`); the stand-in base image's ``sitecustomize`` then points
``SSL_CERT_FILE``, ``PIP_CERT``, ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` at it for
Python processes (pip, poetry, requests, httpx). Nothing host-specific goes into the Dockerfile
or the image's ENV (``podman build --env`` would bake the variables into the image config, and
is not applied to ``RUN`` steps anyway). Side effect: podman leaves an empty ``/host-ca.crt``
mount point in the final image when its last stage has a ``RUN`` step; the hook ignores an
empty file. Non-Python tools in ``RUN`` (curl over HTTPS, uv) do not see the hook; ``apt-get``
uses plain HTTP and works.

Running: podman schedules HEALTHCHECKs with systemd timers, which CI machines lack; ``podman
run`` logs "unable to get systemd connection to add healthchecks" and carries on. Use
:func:`healthcheck_passes` to run the check on demand.

Containers publish their port on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "BASE_IMAGE",
    "CONTAINER_CA_PATH",
    "HOST_CA_BUNDLE",
    "base_image_available",
    "build_image",
    "container_logs",
    "container_running",
    "free_port",
    "healthcheck_passes",
    "image_config",
    "image_size_bytes",
    "podman",
    "podman_available",
    "podman_env",
    "remove_image",
    "run_container",
    "stop_container",
    "wait_for_http",
]

CONFIG_DIR = Path(os.environ.get("MLOPS_CI_CONTAINERS_DIR", "/etc/containers/mlops-ci"))
"""Directory where ``.ci/setup-containers.sh`` writes containers.conf and storage.conf."""

CONTAINERS_CONF = CONFIG_DIR / "containers.conf"
STORAGE_CONF = CONFIG_DIR / "storage.conf"

BASE_IMAGE = "docker.io/library/python:3.11-slim"
"""The base image the template's Dockerfile uses; locally made by the setup script on CI."""

HOST_CA_BUNDLE = Path(os.environ.get("MLOPS_CI_HOST_CA", "/etc/ssl/certs/ca-certificates.crt"))
"""The host's CA bundle, mounted into builds (and optionally containers) for HTTPS."""

CONTAINER_CA_PATH = "/host-ca.crt"
"""Where :data:`HOST_CA_BUNDLE` is mounted inside a build or container."""

_CA_ENV_VARS = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

# Local containers are reached directly, whatever http_proxy says.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def podman_env() -> dict[str, str]:
    """Return the environment for a podman call: ours, plus the CI containers/storage config."""
    env = dict(os.environ)
    if CONTAINERS_CONF.is_file():
        env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    if STORAGE_CONF.is_file():
        env["CONTAINERS_STORAGE_CONF"] = str(STORAGE_CONF)
    return env


def podman(
    *args: str, timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS`` with the CI configuration; capture text stdout and stderr.

    Raises ``subprocess.CalledProcessError`` when ``check`` is true and podman fails, and
    ``subprocess.TimeoutExpired`` after ``timeout`` seconds.
    """
    return subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def podman_available() -> bool:
    """Tell whether podman is installed, set up by .ci/setup-containers.sh, and answering."""
    if shutil.which("podman") is None or not CONTAINERS_CONF.is_file():
        return False
    try:
        return podman("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def base_image_available(image: str = BASE_IMAGE) -> bool:
    """Tell whether ``image`` (by default python:3.11-slim) is in local podman storage."""
    try:
        return podman("image", "exists", image, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build_image(
    context: Path,
    tag: str,
    *,
    timeout: int,
    dockerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    extra_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Build ``context`` into image ``tag``; return the finished process (check ``returncode``).

    Runs ``podman build --pull=never --isolation=chroot --format docker`` with the host CA bundle
    mounted read-only at :data:`CONTAINER_CA_PATH` (see the module docstring). ``dockerfile``
    defaults to ``context/Dockerfile``. Output (build log) is in ``stdout``/``stderr``; it is not
    raised on failure, so a test can show it in its assertion message.
    """
    cmd = [
        "build",
        "--pull=never",
        "--isolation=chroot",
        "--format",
        "docker",
        "--tag",
        tag,
    ]
    if HOST_CA_BUNDLE.is_file():
        cmd += ["--volume", f"{HOST_CA_BUNDLE}:{CONTAINER_CA_PATH}:ro"]
    if dockerfile is not None:
        cmd += ["--file", str(dockerfile)]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    if target is not None:
        cmd += ["--target", target]
    cmd += [*extra_args, str(context)]
    return podman(*cmd, timeout=timeout)


def run_container(
    image: str,
    *,
    port: int,
    volumes: Mapping[str | Path, str] | None = None,
    env: Mapping[str, str] | None = None,
    container_port: int = 8000,
    command: Sequence[str] = (),
    host_ca: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 120,
) -> str:
    """Start ``image`` detached; return the container id.

    ``container_port`` is published on ``127.0.0.1:port`` only. ``volumes`` maps a host path to a
    container path, optionally with options (``{"/tmp/models": "/app/models:ro"}``); ``env`` adds
    environment variables. With ``host_ca`` the host CA bundle is mounted and the usual CA
    variables point at it, for containers that fetch over HTTPS. ``command`` overrides the image's
    CMD. The container is not removed when it exits (so :func:`container_logs` still works); call
    :func:`stop_container` to stop and remove it. Raises ``subprocess.CalledProcessError`` if
    podman cannot start it.
    """
    cmd = ["run", "--detach", "--pull=never", "--publish", f"127.0.0.1:{port}:{container_port}"]
    for host_path, spec in (volumes or {}).items():
        cmd += ["--volume", f"{host_path}:{spec}"]
    if host_ca and HOST_CA_BUNDLE.is_file():
        cmd += ["--volume", f"{HOST_CA_BUNDLE}:{CONTAINER_CA_PATH}:ro"]
        cmd += [arg for var in _CA_ENV_VARS for arg in ("--env", f"{var}={CONTAINER_CA_PATH}")]
    for key, value in (env or {}).items():
        cmd += ["--env", f"{key}={value}"]
    cmd += [*extra_args, image, *command]
    result = podman(*cmd, timeout=timeout)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, ["podman", *cmd], result.stdout, result.stderr
        )
    return result.stdout.strip().splitlines()[-1]


def stop_container(cid: str, *, timeout: int = 10) -> None:
    """Stop (SIGTERM, then SIGKILL after ``timeout`` s) and remove a container; ignore if gone."""
    podman("stop", "--time", str(timeout), cid, timeout=timeout + 60)
    podman("rm", "--force", cid, timeout=60)


def container_logs(cid: str) -> str:
    """Return the container's stdout and stderr so far (stdout first, then stderr)."""
    result = podman("logs", cid, timeout=60)
    return result.stdout + result.stderr


def container_running(cid: str) -> bool:
    """Tell whether the container exists and is running."""
    result = podman("container", "inspect", "--format", "{{.State.Running}}", cid, timeout=60)
    return result.returncode == 0 and result.stdout.strip() == "true"


def healthcheck_passes(cid: str) -> bool:
    """Run the image's HEALTHCHECK command once now (``podman healthcheck run``); True if healthy.

    Podman schedules periodic health checks with systemd timers, which CI machines lack, so tests
    should call this rather than wait for the status in ``podman inspect`` to change.
    """
    return podman("healthcheck", "run", cid, timeout=120).returncode == 0


def image_config(tag: str) -> dict[str, object]:
    """Return the image's config (``User``, ``Env``, ``Cmd``, ``Healthcheck``, ``ExposedPorts``...).

    Raises ``subprocess.CalledProcessError`` if there is no such image.
    """
    result = podman("image", "inspect", tag, timeout=60, check=True)
    data = json.loads(result.stdout)[0]
    config: dict[str, object] = dict(data.get("Config") or {})
    # podman 4.3 reports a Docker-format image's HEALTHCHECK at the top level of the inspect
    # output, not in Config: expose it under Config's key. (OCI-format images have none.)
    for key in ("Healthcheck", "HealthCheck"):
        if "Healthcheck" not in config and data.get(key):
            config["Healthcheck"] = data[key]
    return config


def image_size_bytes(tag: str) -> int:
    """Return the image's size in bytes, as podman reports it (all layers, uncompressed)."""
    result = podman("image", "inspect", "--format", "{{.Size}}", tag, timeout=60, check=True)
    return int(result.stdout.strip())


def remove_image(tag: str) -> None:
    """Remove an image (and its now-unused layers); ignore it if it does not exist."""
    podman("rmi", "--force", tag, timeout=120)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(
    url: str, *, timeout: float = 60, expect_status: int = 200, cid: str | None = None
) -> bytes:
    """Poll ``url`` until it answers ``expect_status``; return the body.

    If ``cid`` is given and that container stops running, fail at once. Raises ``TimeoutError``
    (with the container's logs when ``cid`` is given) if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            with _NO_PROXY_OPENER.open(url, timeout=5) as response:
                body: bytes = response.read()
                if response.status == expect_status:
                    return body
                last_error = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            if exc.code == expect_status:
                return exc.read()
            last_error = f"status {exc.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last_error = repr(exc)
        if cid is not None and not container_running(cid):
            raise RuntimeError(f"container {cid} exited:\n{container_logs(cid)}")
        time.sleep(0.5)
    logs = f"\n{container_logs(cid)}" if cid is not None else ""
    raise TimeoutError(f"{url} not ready after {timeout} s ({last_error}){logs}")
