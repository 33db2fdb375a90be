"""Progress bars: drawn for a person at a terminal, silent in CI logs and with ``--quiet``."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.progress import progress_bar, set_quiet, showing, track
from {{ cookiecutter.package_name }}.train import TrainingResult

from .helpers import SAMPLE_DIR, isolated_environment


def test_off_a_terminal_nothing_is_drawn(capfd: pytest.CaptureFixture[str]):
    assert not sys.stderr.isatty()  # pytest captures it: what CI sees
    assert not showing()
    assert list(track(range(3), "counting")) == [0, 1, 2]
    with progress_bar("bytes", 10) as advance:
        advance(10)
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_quiet_wins_over_a_terminal(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    try:
        set_quiet(False)
        assert showing()
        set_quiet(True)
        assert not showing()
    finally:
        set_quiet(False)


def run_on_a_terminal(arguments: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with its stderr on a pseudo-terminal, as a person at a shell would."""
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}.cli", *arguments]
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=follower
    ) as process:
        os.close(follower)
        code = process.wait(timeout=600)
    reader.join(timeout=30)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.slow
def test_batch_prediction_draws_a_bar_on_a_terminal_unless_quiet(
    trained: tuple[Settings, TrainingResult], tmp_path: Path
):
    settings, _ = trained
    env = {**os.environ, **isolated_environment(settings.registry.models_dir.parent)}
    env["TERM"] = "xterm"
    source = str(SAMPLE_DIR / "green_tripdata_2024-01.parquet")
    code, shown = run_on_a_terminal(["predict", source, str(tmp_path / "a.parquet")], env, tmp_path)
    assert code == 0, shown
    assert "predicting" in shown
    quiet = ["--quiet", "predict", source, str(tmp_path / "b.parquet")]
    code, silent = run_on_a_terminal(quiet, env, tmp_path)
    assert code == 0, silent
    assert "predicting" not in silent
