"""Sweeps: grids of ordinary simulations over seeds, run in a process pool or on a Ray cluster.

`spec` reads a sweep file into cells, `cell` runs one cell (the same function on both
backends), `backends` spreads cells over processes or Ray tasks, `driver` resumes, stores and
reports, and `table` and `plot` turn finished cells into `sweep.csv`, `summary.md` and a plot.
"""
