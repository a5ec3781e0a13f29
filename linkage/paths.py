"""Output locations checked before any work starts, so a typo in `--out` costs a second, not a
night: a directory where a file is needed (or the reverse), or a place that cannot be written, is a
usage error (exit 2) naming the path and what is wrong."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from linkage.errors import UsageError


def _probe(directory: Path) -> None:
    """Write and remove a small file: the only check that also holds for root and read-only mounts."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".linkage-probe-")
    except OSError as exc:
        raise UsageError(f"{directory}: cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def out_dir(path: Path | str) -> Path:
    """An output directory: created if missing, and writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a directory (this option needs a directory)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{path}: cannot create the directory ({exc.strerror or exc})") from None
    _probe(path)
    return path


def out_file(path: Path | str) -> Path:
    """An output file: not a directory, in a directory that exists (or can be made) and is writable."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory (this option needs a file name)")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{path}: {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{path}: cannot create {parent} ({exc.strerror or exc})") from None
    _probe(parent)
    return path
