"""Files a command leaves behind appear whole or not at all.

Every result (predictions, reports, the model card, metrics, quarantined rows) is written to
a hidden temporary name in its own folder and renamed onto its final name only once it is complete:
a rename within one file system is atomic, so a reader, a crash or a full disk never leaves half a
file under the final name, and a file written before stays intact until the new one replaces it.
A writer killed outright (SIGKILL, power loss) can leave its hidden ``.<name>.*.part`` behind;
readers of folders skip hidden files.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputError(RuntimeError):
    """A result could not be written (a full disk, a folder that cannot be written to)."""


@contextmanager
def atomic_write(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; it becomes ``target`` when the block ends.

    An ``OSError`` inside the block, or while preparing or renaming, becomes one ``OutputError``
    naming the target; any error leaves no temporary file and the previous ``target`` untouched.
    The writer creates the temporary file itself, so it gets the usual permissions.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{target}: cannot create its folder ({reason(error)})") from error
    # Unique per process and call: two writers of one target never share a temporary file.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield temporary
        flush_to_disk(temporary)
        os.replace(temporary, target)
    except OSError as error:
        message = f"{target}: not written ({reason(error)}); a previous file there is unchanged"
        raise OutputError(message) from error
    finally:
        temporary.unlink(missing_ok=True)


def flush_to_disk(path: Path) -> None:
    """Make the content durable before it gets the final name (a power cut could empty it)."""
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def reason(error: OSError) -> str:
    """The operating system's words for the error, on one line (pyarrow wraps them in its own)."""
    if error.errno:
        return os.strerror(error.errno)
    return " ".join(str(error).split()) or type(error).__name__
