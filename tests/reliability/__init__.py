"""Reliability and security tests: loss, link flaps, crashes, silence, hostile stations, control
abuse (docs/RELIABILITY.md).  ``QBG_FULL=1`` runs the full sizes."""
