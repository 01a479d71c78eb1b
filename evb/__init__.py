"""qbg.evb."""
