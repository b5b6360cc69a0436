"""Quality metrics on Inception features: FID, KID, Inception Score, precision/recall."""
