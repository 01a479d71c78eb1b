"""Run the VLAN tests inside a QEMU guest with Debian's kernel when this kernel lacks VLANs.

The CI machines' kernel has no bridge VLAN filtering and no 802.1Q (../shared/spec/linux.md §0);
the tests marked ``vlan`` are therefore run here, in a guest booted from Debian's linux-image
package, with the same checkout and venv shared over 9p.  Where the host kernel has VLANs, the
``vlan`` tests run directly and this test checks only that the guest harness works.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from qbg.interop.vm import GuestKernel, available
from tests.kernelcaps import vlan_capable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def guest() -> GuestKernel:
    if os.geteuid() != 0:
        pytest.fail("the QEMU VLAN harness needs root (CI runs as root)")
    reason = available()
    if reason:
        pytest.fail(f"QEMU harness unavailable: {reason}")
    return GuestKernel.prepare(ROOT / "build" / "vm")


def test_guest_kernel_has_vlans(guest: GuestKernel) -> None:
    r = guest.run(
        "ip netns add qbgt-g && ip -n qbgt-g link add name br0 type bridge vlan_filtering 1 && "
        "ip -n qbgt-g link add name a type veth peer name b && "
        "ip -n qbgt-g link add link a name a.100 type vlan id 100 && "
        "ip -n qbgt-g -d link show br0",
        timeout=300,
    )
    assert r.rc == 0, r.output
    assert "vlan_filtering 1" in r.output


def test_vlan_suite_in_guest(guest: GuestKernel) -> None:
    if vlan_capable():
        pytest.skip("host kernel has VLANs: the vlan tests ran directly in this session")
    py = Path(sys.executable)
    r = guest.run(
        f"cd {ROOT} && {py} -m pytest -p no:cacheprovider -q -m vlan "
        f"-o addopts='' --rootdir {ROOT} tests",
        timeout=1500,
    )
    print(r.output[-6000:])
    assert r.rc in (0, 5), r.output[-4000:]
    # rc 5 = no vlan tests collected yet; once they exist every one must pass
    if r.rc == 0:
        assert " passed" in r.output
