"""Datasets: download, extraction, folder scanning, the prepared uint8 cache, batches."""
