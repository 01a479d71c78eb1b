"""Run the VLAN tests inside a QEMU guest with Debian's kernel when this kernel lacks VLANs.

The CI machines' kernel has no bridge VLAN filtering and no 802.1Q (../shared/spec/linux.md §0);
the tests marked ``vlan`` are therefore run here, in a guest booted from Debian's linux-image
package, with the same checkout and venv shared over 9p.  Where the host kernel has VLANs, the
``vlan`` tests run directly and this test checks only that the guest harness works.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbg.interop.vm import GuestKernel, available
from tests.kernelcaps import vlan_capable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.netns
VLAN_MARK = re.compile(r"pytest\.mark\.vlan\b")


@pytest.fixture(scope="module")
def guest() -> Iterator[GuestKernel]:
    if os.geteuid() != 0:
        pytest.fail("the QEMU VLAN harness needs root (CI runs as root)")
    reason = available()
    if reason:
        pytest.fail(f"QEMU harness unavailable: {reason}")
    base = GuestKernel.prepare(ROOT / "build" / "vm")
    # A private work directory per session: run() recreates <workdir>/out (the guest's result
    # share), which concurrent runs from the same checkout would otherwise clobber.  It is
    # under build/vm, not /tmp (tmpfs in the guest, mounted over the share).
    with base.private() as g:
        yield g


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


def vlan_test_files() -> list[str]:
    """The test files that hold ``vlan``-marked tests, relative to the checkout.

    Only these are collected in the guest: every import there goes over 9p under TCG and costs
    seconds, so collecting the whole suite just to deselect it would dominate the run."""
    tests = ROOT / "tests"
    return sorted(
        str(p.relative_to(ROOT))
        for p in tests.rglob("test_*.py")
        if p != Path(__file__).resolve() and VLAN_MARK.search(p.read_text(encoding="utf-8"))
    )


def test_vlan_suite_in_guest(guest: GuestKernel) -> None:
    if vlan_capable():
        pytest.skip("host kernel has VLANs: the vlan tests ran directly in this session")
    files = vlan_test_files()
    assert files, "no test file has vlan-marked tests"
    py = Path(sys.executable)
    start = time.monotonic()
    r = guest.run(
        f"cd {ROOT} && {py} -m pytest -p no:cacheprovider -q -rfE -m vlan "
        f"-o addopts='' --rootdir {ROOT} {' '.join(files)}",
        timeout=1500,
    )
    elapsed = time.monotonic() - start
    lines = [line for line in r.output.splitlines() if line.strip()]
    summary = lines[-1] if lines else "(no output)"
    print(f"guest vlan suite: {summary} (rc {r.rc}, {elapsed:.0f} s incl. boot)")
    if r.rc != 0:
        print(r.output[-6000:])
    assert r.rc == 0, r.output[-4000:]
    assert " passed" in summary and " failed" not in summary, r.output[-4000:]
