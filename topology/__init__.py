"""Who talks to whom: graphs, mixing matrices, spectral gaps, churn processes, peer sampling. Pure; no I/O
except reading graph and trace files."""
