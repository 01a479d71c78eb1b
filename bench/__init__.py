"""qbg.bench."""
