"""qbg.interop."""
