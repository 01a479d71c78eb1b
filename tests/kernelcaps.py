"""Probe, once per test run, whether this kernel has bridge VLAN filtering and 802.1Q.

Used by conftest to route tests marked ``vlan``: they run directly where the kernel has the
features, and otherwise inside the QEMU guest (tests/vm/test_vlan_in_guest.py), never skipped.
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid


def _ip(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0


@functools.cache
def vlan_capable() -> bool:
    if os.geteuid() != 0:
        return False
    ns = f"qbgt-probe-{uuid.uuid4().hex[:8]}"
    if not _ip("netns", "add", ns):
        return False
    try:
        bridge = _ip(
            "-n", ns, "link", "add", "name", "br0", "type", "bridge", "vlan_filtering", "1"
        )
        _ip("-n", ns, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1")
        dot1q = _ip(
            "-n", ns, "link", "add", "link", "v0", "name", "v0.100", "type", "vlan", "id", "100"
        )
        return bridge and dot1q
    finally:
        _ip("netns", "del", ns)
