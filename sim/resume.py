"""Stop a lock-step batched run between two rounds, save it, and continue it later to the same numbers.

A batched run's whole state is plain data: the `[N, d]` vectors and stacked optimizer state,
every per-peer generator, replicas, rule state (SybilWall and FoolsGold histories), the
link model's generator, the metrics so far. Pickled between two rounds together with the
global torch generator, a resumed run continues exactly where the interrupted one stopped:
its `metrics.csv` is byte for byte the one an uninterrupted run writes (tested).

The nodes engine cannot do this: its peers are asyncio tasks in the middle of their rounds,
and a coroutine cannot be saved. There, and in asynchronous batched runs, Ctrl-C still ends
the run at once with what was measured so far.

The resume file is a pickle: loading one runs code, so resume only runs you made yourself.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from peer.atomic import fsync_replace

if TYPE_CHECKING:
    from sim.batched.engine import BatchedSimulation

RESUME_FILE = "resume.pickle"
FORMAT = 1


class ResumeError(ValueError):
    """There is nothing to resume in a folder, or what is there cannot be resumed."""


@contextlib.contextmanager
def stop_after_round(sim: BatchedSimulation, bar: tqdm) -> Iterator[None]:
    """While a resumable run runs, the first Ctrl-C asks it to stop after the round in progress
    (then it can be saved); a second one stops it at once. Where Ctrl-C is not the default
    (a sweep's worker ignores it; a thread cannot set handlers) nothing changes."""
    main = threading.current_thread() is threading.main_thread()
    if not (sim.resumable and main and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        if sim.stop_requested:
            raise KeyboardInterrupt
        sim.stop_requested = True
        bar.write("stopping after this round, to be resumed with `loragossip sim --resume DIR` "
                  "(Ctrl-C again: stop now, not resumable)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def save(sim: BatchedSimulation, out: Path) -> Path:
    """Write the run's state to `out/resume.pickle` (atomically: a crash leaves the old one or none)."""
    path, tmp = out / RESUME_FILE, out / (RESUME_FILE + ".tmp")
    with open(tmp, "wb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecated properties, read by pickle
        pickle.dump({"format": FORMAT, "sim": sim, "torch_rng": torch.get_rng_state(),
                     "torch_threads": torch.get_num_threads()}, handle, protocol=pickle.HIGHEST_PROTOCOL)
    fsync_replace(tmp, path)
    return path


def load(out: Path) -> BatchedSimulation:
    """The run saved in `out`, with the global torch generator and thread count as they were when
    it stopped (the thread count orders float sums, so it is part of continuing to the same numbers)."""
    path = out / RESUME_FILE
    if not path.exists():
        raise ResumeError(f"{out} holds no interrupted run to resume (no {RESUME_FILE}; only lock-step runs of "
                          "the batched engine stopped with Ctrl-C leave one)")
    try:
        with open(path, "rb") as handle:
            state = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise ResumeError(f"{path} cannot be read ({exc}); run the experiment again") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ResumeError(f"{path} was written by another version of loragossip; run the experiment again")
    torch.set_rng_state(state["torch_rng"])
    if state.get("torch_threads"):  # absent in files written before it was saved
        torch.set_num_threads(state["torch_threads"])
    return state["sim"]


def discard(out: Path) -> None:
    """A run that finished leaves nothing to resume."""
    (out / RESUME_FILE).unlink(missing_ok=True)
