"""Training: losses, one optimisation step per preset kind, the loop, checkpoints, signals."""
