"""The README's first command: bake the default project, install it, train it, serve a prediction.

Run with ``make demo`` (Poetry) or ``make demo PM=uv``; ``--cold`` gives the package manager empty
download caches, as on a fresh machine. Everything happens under ``build/demo/``, caches included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cookiecutter.main import cookiecutter

from tests.baking import TEMPLATE_ROOT, InstalledProject, clean_environment, install

DEMO_DIR = TEMPLATE_ROOT / "build" / "demo"
EXAMPLE_TRIP = {
    "PULocationID": 74,
    "DOLocationID": 42,
    "trip_distance": 2.1,
    "pickup_datetime": "2024-01-15T08:30:00",
}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


def serve_one_prediction(project: InstalledProject) -> dict:
    port = free_port()
    command = [str(project.bin / project.root.name), "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=project.root, env=clean_environment())
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(f"{base}/ready")
        request = urllib.request.Request(
            f"{base}/predict",
            data=json.dumps(EXAMPLE_TRIP).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    finally:
        server.terminate()
        server.wait(timeout=30)


MANAGERS = {"poetry": "Poetry", "uv": "uv"}


def cold_caches(folder: Path) -> dict[str, str]:
    """Empty download caches for both managers (and pip): what a fresh machine starts from."""
    return {
        "POETRY_CACHE_DIR": str(folder / "poetry"),
        "UV_CACHE_DIR": str(folder / "uv"),
        "PIP_CACHE_DIR": str(folder / "pip"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-manager", choices=sorted(MANAGERS), default="poetry")
    parser.add_argument("--cold", action="store_true", help="Start from empty download caches.")
    args = parser.parse_args(argv)
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    answers = {"package_manager": args.package_manager}
    env = cold_caches(DEMO_DIR / "caches") if args.cold else {}
    step(f"baking the default project ({answers})")
    root = Path(
        cookiecutter(
            str(TEMPLATE_ROOT), no_input=True, extra_context=answers, output_dir=str(DEMO_DIR)
        )
    )
    manager = MANAGERS[args.package_manager]
    step(f"installing {root.name} with {manager} (.venv inside the project)")
    project = install(root, answers, **env)
    step("training on the bundled sample (2023-01 -> 2023-02)")
    print(project.cli("train").stdout)
    if (root / "src" / project.package / "serving").is_dir():
        step(f"serving, and asking for one prediction: {json.dumps(EXAMPLE_TRIP)}")
        answer = serve_one_prediction(project)
        print(json.dumps(answer, indent=2))
    else:
        step("batch prediction on the bundled 2024-01 sample")
        print(project.cli("predict", "data/sample/green_tripdata_2024-01.parquet",
                          "predictions/demo.parquet").stdout)  # fmt: skip
    seconds = time.monotonic() - started
    step(f"done in {seconds:.0f} s ({manager}, {'cold' if args.cold else 'warm'} caches); {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
