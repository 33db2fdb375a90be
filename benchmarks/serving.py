"""Serving: the bake's own load benchmark (``make bench`` there), after training on its sample.

The bake's script starts ``serve`` itself on a free loopback port, loads /health and /predict in
alternating rounds with the same tool and connections, times a whole 10,000-trip POST
/predict/batch through the app in-process, and stops the server.
"""

from __future__ import annotations

import re

from tests.baking import InstalledProject

SECONDS_PER_ENDPOINT = 15  # in 3 alternating rounds of 5 s
ROW = re.compile(
    r"^(/health|/predict|bare-fastapi)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)", re.MULTILINE
)
BATCH = re.compile(r"trip batch in-process: .*?= (\d+) ms")
HEALTH = re.compile(r"^/health with .*$", re.MULTILINE)


def measure(project: InstalledProject) -> dict[str, object]:
    """Train on the bundled sample (so a champion exists), then run the bake's benchmark."""
    project.cli("train", timeout=900)
    # The script `make bench` runs there, with the bake's Python (its Makefile needs poetry).
    output = project.run(
        str(project.bin / "python"),
        "benchmarks/serving.py",
        "--duration",
        str(SECONDS_PER_ENDPOINT),
        timeout=900,
    ).stdout
    rows = {
        path: {"req_s": float(rps), "p50_ms": float(p50), "p99_ms": float(p99), "errors": int(err)}
        for path, rps, p50, p99, err in ROW.findall(output)
    }
    batch, health = BATCH.search(output), HEALTH.search(output)
    if set(rows) != {"/health", "/predict", "bare-fastapi"} or batch is None or health is None:
        raise RuntimeError(f"unexpected output of the bake's serving benchmark:\n{output}")
    return {
        "endpoints": rows,
        "batch_ms": float(batch.group(1)),
        "health_under_batches": health.group(0),
        "output": output,
    }


def table(result: dict[str, object]) -> str:
    rows = result["endpoints"]
    health, predict = rows["/health"], rows["/predict"]
    lines = [
        "| endpoint | req/s (mean of rounds) | p50 ms (median) | p99 ms (worst round) | errors |",
        "|---|---|---|---|---|",
    ]
    for path in ("/health", "/predict", "bare-fastapi"):
        r = rows[path]
        lines.append(
            f"| {path} | {r['req_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    lines.append("")
    lines.append(
        f"/predict req/s = {predict['req_s'] / health['req_s']:.0%} of /health's in the same run; "
        "10,000-trip POST /predict/batch through the app, in-process (parse, validate, predict, "
        f"respond): {result['batch_ms']:.0f} ms."
    )
    lines.append("")
    lines.append(
        f"/predict req/s = {predict['req_s'] / rows['bare-fastapi']['req_s']:.2f}x a bare FastAPI "
        "endpoint with a pydantic body (bare-fastapi), in the same rounds."
    )
    lines.append("")
    lines.append(str(result["health_under_batches"]))
    return "\n".join(lines)
