"""qbg.bridge."""
