"""The workload a simulation trains and scores on: the genesis's, or a validation split of it.

Tuning a learning rate on the test split a table reports flatters every method that was tuned.
`run.validation = f` holds out a share f of the training pool and scores the run on it instead
of the test set, so a sweep can pick its settings on the validation split and the table then
reports the chosen settings on the test set with the whole pool. The held-out rows are drawn
from the genesis seed, not the run seed: every run of a tuning sweep is scored on the same rows.
"""

from __future__ import annotations

import dataclasses

from peer.data import split
from peer.workloads import Workload, build_workload
from sim.config import SimConfig
from sim.seeds import derive_seed


def simulation_workload(config: SimConfig) -> Workload:
    data = config.resolve(config.run.data) if config.run.data else None
    workload = build_workload(config.genesis, data)
    if config.run.validation == 0:
        return workload
    train, held_out = split(workload.train, config.run.validation,
                            derive_seed(config.genesis.network.seed, "validation"))
    return dataclasses.replace(workload, train=train, test=held_out)
