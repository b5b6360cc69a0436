"""Observers of training (live display, metrics log, sample grids) and the pictures they write."""
