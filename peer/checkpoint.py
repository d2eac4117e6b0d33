"""Crash-safe checkpoints: safetensors for tensors, JSON for the rest, published by one rename.

A checkpoint is a directory `ckpt-NNNNNNNN` holding `tensors.safetensors` and `state.json`.
It is written as `ckpt-NNNNNNNN.tmp`, every file fsynced, the directory fsynced, then renamed
into place and the parent fsynced. A rename is atomic, so after a `kill -9` at any instant
the newest complete directory is whole; unfinished `.tmp` directories are swept on the next
save. Loading walks from the newest down and skips anything unreadable.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from peer.atomic import fsync_dir, fsync_file

log = logging.getLogger(__name__)
_NAME = re.compile(r"^ckpt-(\d{8})$")


class CheckpointStore:
    def __init__(self, directory: str | Path, keep: int = 2) -> None:
        self.directory = Path(directory)
        self.keep = max(1, keep)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _complete(self) -> list[tuple[int, Path]]:
        found = []
        for entry in self.directory.iterdir():
            match = _NAME.match(entry.name)
            if match and entry.is_dir():
                found.append((int(match.group(1)), entry))
        return sorted(found)

    def save(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        for stale in self.directory.glob("ckpt-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        existing = self._complete()
        number = existing[-1][0] + 1 if existing else 0
        final = self.directory / f"ckpt-{number:08d}"
        tmp = self.directory / f"ckpt-{number:08d}.tmp"
        tmp.mkdir()
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp / "tensors.safetensors")
        fsync_file(tmp / "tensors.safetensors")
        with open(tmp / "state.json", "w", encoding="utf-8") as handle:
            json.dump(state, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_dir(tmp)
        os.replace(tmp, final)
        fsync_dir(self.directory)
        for _, old in existing[: max(0, len(existing) + 1 - self.keep)]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def candidates(self) -> Iterator[tuple[Path, dict[str, torch.Tensor], dict[str, Any]]]:
        """Every readable checkpoint, newest first; the caller validates and may go on to older ones."""
        for _, path in reversed(self._complete()):
            try:
                tensors = load_file(path / "tensors.safetensors")
                state = json.loads((path / "state.json").read_text(encoding="utf-8"))
            except Exception as exc:  # damaged by something other than us: fall back to an older one
                log.warning("skipping unreadable checkpoint %s: %s", path, exc)
                continue
            if not isinstance(state, dict):
                log.warning("skipping checkpoint %s: state.json is not a JSON object", path)
                continue
            yield path, tensors, state

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The newest readable checkpoint, or None when there is none."""
        for _, tensors, state in self.candidates():
            return tensors, state
        return None
