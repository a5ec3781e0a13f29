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


def _nearest(path: Path) -> Path:
    """The path itself or its closest ancestor that exists: where a new folder would be made."""
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def _check_can_create(path: Path) -> None:
    """Nothing is created: a command that then fails on its input leaves no empty folder."""
    base = _nearest(path)
    if not base.is_dir():
        raise UsageError(f"{path}: cannot create the directory ({base} is not a directory)")
    _probe(base)


def out_dir(path: Path | str) -> Path:
    """An output directory: an existing writable directory, or one that can be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a directory (this option needs a directory)")
    try:
        _check_can_create(path)
    except UsageError as exc:
        raise UsageError(f"{path}: cannot write here ({str(exc).split('(', 1)[-1]}") from None
    return path


def out_file(path: Path | str) -> Path:
    """An output file: not a directory, in a directory that exists (or can be made) and is writable."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory (this option needs a file name)")
    try:
        _check_can_create(path.parent)
    except UsageError as exc:
        raise UsageError(f"{path}: cannot write here ({str(exc).split('(', 1)[-1]}") from None
    return path
