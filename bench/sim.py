"""Simulator throughput for 100 digits peers: peer-rounds per second and the share of wall time
spent outside training (target <= 20 %). Run: python -m bench.sim"""

from __future__ import annotations

from sim.config import parse_config
from sim.runner import Simulation


def main() -> None:
    config = parse_config({
        "run": {"name": "bench-100", "duration": 30.0, "eval_every": 30.0},
        "peers": {"count": 100, "partition": "dirichlet", "alpha": 0.5},
        "topology": {"graph": "regular", "degree": 4},
        "genesis": {"training": {"local_steps": 10}},
    })
    summary = Simulation(config, progress=False).run()
    share = summary["training_share_of_wall"]
    print(f"100 peers, {summary['peer_rounds']} peer-rounds in {summary['wall_seconds']:.1f} s: "
          f"{summary['peer_rounds_per_second']:.1f} peer-rounds/s; training {100 * share:.1f} % of wall, "
          f"outside training {100 * (1 - share):.1f} % (target <= 20 %)")


if __name__ == "__main__":
    main()
