"""The peer: genesis, learner (adapters, trainer, workloads), checkpoints, round loop and the CLI."""
