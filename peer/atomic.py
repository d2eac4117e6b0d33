"""Files replaced atomically and durably: write a temp file, fsync it, rename, fsync the folder.

Its own module, without torch, so that commands which only read and write small JSON files
(`testnet status`, membership's known peers) start in milliseconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_replace(tmp: Path, path: Path) -> None:
    """Publish a fully written temp file under its final name: fsync it, rename, fsync the directory."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json_atomic(path: Path, value: Any) -> None:
    """A small JSON file replaced atomically (temp, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1, sort_keys=True)
    fsync_replace(tmp, path)
