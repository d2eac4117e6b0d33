"""Follow a growing text file: each call returns the complete lines added since the last one."""

from __future__ import annotations

import os
from pathlib import Path


class FileTail:
    """Reads only new bytes, and only up to the last newline (a writer may be mid-line). A file that
    was replaced (another inode) or truncated is read again from its start, and `reset` says so."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._inode: int | None = None
        self.reset = False

    def new_lines(self) -> list[str]:
        self.reset = False
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self.reset = self._inode is not None
            self._inode, self._offset = stat.st_ino, 0
        if stat.st_size == self._offset:
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(stat.st_size - self._offset)
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        return chunk[:end].decode("utf-8", errors="replace").splitlines()
