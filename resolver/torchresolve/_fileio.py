"""The one place that writes output files: atomically, or to stdout for ``-``."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["write_output"]


def write_output(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``target`` atomically; ``-`` means standard output.

    The text goes to a temporary file in the target's folder, is flushed and fsynced, then
    renamed over the target, so a reader sees the old file or the new one, never a mix, and a
    crash leaves the old file in place. The file mode of an existing target is kept.
    """
    if str(target) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    folder = path.parent if str(path.parent) else Path()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            tmp.chmod(path.stat().st_mode & 0o7777)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
