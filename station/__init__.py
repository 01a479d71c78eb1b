"""qbg.station."""
