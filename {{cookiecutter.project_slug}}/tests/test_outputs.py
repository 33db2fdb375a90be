"""Results appear whole or not at all: a failed write keeps the previous file and no temporary."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.outputs import OutputError, atomic_write

FULL_DISK = OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left")


def fail_while_writing(target: Path, error: Exception) -> None:
    with atomic_write(target) as partial:
        partial.write_bytes(b"PAR1")  # the first bytes of a parquet file, and no more
        raise error


def test_the_file_appears_under_its_name_only_when_complete(tmp_path: Path):
    target = tmp_path / "new folder" / "result.txt"
    with atomic_write(target) as partial:
        partial.write_text("complete", encoding="utf-8")
        assert not target.exists()
        assert partial.parent == target.parent  # a rename within one file system is atomic
        assert partial.name.startswith(".")  # hidden from readers of the folder
    assert target.read_text(encoding="utf-8") == "complete"
    assert list(target.parent.iterdir()) == [target]


@pytest.mark.parametrize("error", [RuntimeError("the writer crashed"), FULL_DISK])
def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(
    tmp_path: Path, error: Exception
):
    target = tmp_path / "result.txt"
    target.write_text("previous", encoding="utf-8")
    with pytest.raises(RuntimeError):  # OutputError is one
        fail_while_writing(target, error)
    assert target.read_text(encoding="utf-8") == "previous"
    assert list(tmp_path.iterdir()) == [target]


def test_a_full_disk_is_one_line_that_names_the_file(tmp_path: Path):
    target = tmp_path / "predictions.parquet"
    with pytest.raises(OutputError) as raised:
        fail_while_writing(target, FULL_DISK)
    assert str(raised.value) == (
        f"{target}: not written (No space left on device); a previous file there is unchanged"
    )
    assert not any(tmp_path.iterdir())


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path):
    blocker = tmp_path / "a file"
    blocker.write_text("", encoding="utf-8")
    with (
        pytest.raises(OutputError, match="cannot create its folder"),
        atomic_write(blocker / "cards" / "model_card.md"),
    ):
        pass
