"""qbg.vdp."""
