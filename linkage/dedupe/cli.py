"""`linkage dedupe`: placeholder mount point (being built in this session)."""

from linkage.errors import UsageError


def dedupe() -> None:
    """Not built yet."""
    raise UsageError("not built yet")
