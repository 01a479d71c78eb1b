"""lldpad interoperability suite (runs in CI as root, never skipped)."""
