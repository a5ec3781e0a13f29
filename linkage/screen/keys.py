"""API keys of the desk's clients: `<workspace>/screen/keys.json` maps each client's name to the
SHA-256 of its key (a random 32-byte secret: a fast hash is enough for a key nobody chose, and a
request is checked without a slow KDF). The key itself is printed once and never stored."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from datetime import datetime, timezone
from pathlib import Path

from linkage.errors import UsageError
from linkage.ingest.atomic import write_text

KEYS = "screen/keys.json"
_NAME = re.compile(r"^[\w.@-]{1,64}$")
_lock = threading.Lock()


def keys_path(workspace: Path) -> Path:
    return Path(workspace) / KEYS


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_keys(workspace: Path) -> dict[str, dict]:
    path = keys_path(workspace)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg}); restore it or remove it and add the keys again") from None


def add_key(workspace: Path, name: str) -> str:
    """A new key for `name` (replacing its old one); returns the key, to be shown once."""
    if not _NAME.match(name):
        raise UsageError(f"client name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    workspace = Path(workspace)
    if not workspace.is_dir():
        raise UsageError(f"--workspace {workspace}: no such folder")
    key = "lk_" + secrets.token_urlsafe(32)
    with _lock:
        keys = load_keys(workspace)
        keys[name] = {"sha256": digest(key), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        path = keys_path(workspace)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(json.dumps(keys, ensure_ascii=False, indent=2) + "\n", path)
    return key


class KeyRing:
    """Key digest -> client name, re-read when the file changes (a key added while serving works)."""

    def __init__(self, workspace: Path) -> None:
        self.path = keys_path(workspace)
        self.workspace = Path(workspace)
        self._stamp: tuple[int, int] | None = None
        self._by_digest: dict[str, str] = {}

    def client(self, key: str | None) -> str | None:
        if not key:
            return None
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            keys = load_keys(self.workspace) if stamp else {}
            self._by_digest = {v["sha256"]: name for name, v in keys.items()}
            self._stamp = stamp
        found = self._by_digest.get(digest(key))
        return found
