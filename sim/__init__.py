"""The churn simulator: N real `PeerNode`s in one process, memory transport, virtual clock."""
