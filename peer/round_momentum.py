"""Quasi-global momentum at the round level: heavy-ball momentum over the round's whole displacement.

Lin, Kong, Stich, Jaggi, "Quasi-Global Momentum: Accelerating Decentralized Deep Learning on
Heterogeneous Data" (ICML 2021): on heterogeneous data a peer's local momentum buffer follows
its own gradients, which point away from the global optimum. Their fix builds the buffer from
the model's displacement *after* gossip instead, x_t − x_{t+1}, which carries the neighbours'
progress as well as the own step, so the momentum follows a quasi-global direction.

Here a round is K local steps of the peer's own optimizer followed by Q gossip steps, so the
buffer is updated once per round, from the round's displacement d = x_start − x_mixed:

    m ← β·m + d,        x_next = x_start − m = x_mixed − β·m_previous

(β = `training.quasi_global_momentum`). This is QGM at the granularity of a round, and per peer
what SlowMo's outer momentum (Wang, Tantia, Ballas, Rabbat, ICLR 2020) is to local SGD, without
SlowMo's exact average. It costs no bytes: the buffer is local state, the messages are unchanged.
Both simulation engines and the daemon call `quasi_global_step`, on one peer's vector or on
`[N, d]` rows alike.
"""

from __future__ import annotations

import torch


def quasi_global_step(start: torch.Tensor, mixed: torch.Tensor, buffer: torch.Tensor,
                      beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(the model the next round starts from, the new buffer) after a round that went start → mixed."""
    new_buffer = beta * buffer + (start - mixed)
    return start - new_buffer, new_buffer
