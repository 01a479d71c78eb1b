"""qbg.lldp."""
