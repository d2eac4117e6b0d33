"""Benchmarks: `python -m bench.<name>`. Each prints ratios to a baseline measured in the same run."""
