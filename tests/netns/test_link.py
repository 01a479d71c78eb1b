"""RawLink over real veth pairs and a Linux bridge, each side in its own namespace."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from qbg.interop.netns import Topology
from qbg.link import ETH_P_ALL, GROUP_MACS, RawLink, in_netns

from .conftest import GROUP_NB, GROUP_NCB, GROUP_NONTPMR, collect, frame, wait_for

pytestmark = pytest.mark.netns

MAC_A = bytes.fromhex("020000000a01")
MAC_B = bytes.fromhex("020000000b01")


def pair(topo: Topology) -> tuple[RawLink, RawLink, str, str]:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb", mac_a="02:00:00:00:0a:01", mac_b="02:00:00:00:0b:01")
    return RawLink("va", netns=a.name).open(), RawLink("vb", netns=b.name).open(), a.name, b.name


def plain_socket(ns: str, ifname: str) -> socket.socket:
    """An unfiltered ETH_P_ALL socket: the witness that a frame really arrived."""
    with in_netns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((ifname, ETH_P_ALL))
    s.settimeout(1.0)
    return s


def drain_plain(s: socket.socket) -> list[tuple[bytes, int]]:
    out: list[tuple[bytes, int]] = []
    s.setblocking(False)
    while True:
        try:
            data, addr = s.recvfrom(65535)
        except BlockingIOError:
            return out
        out.append((data, addr[2]))


def test_frames_cross_the_veth_byte_exact(topo: Topology) -> None:
    tx, rx, _, _ = pair(topo)
    assert tx.mac == MAC_A and rx.mac == MAC_B
    sent = [
        frame(g, MAC_A, et, bytes([i]))
        for i, (g, et) in enumerate(
            [(GROUP_NB, 0x88CC), (GROUP_NCB, 0x8940), (GROUP_NONTPMR, 0x88B7)]
        )
    ]
    sent.append(frame(MAC_B, MAC_A, 0x8940, b"unicast to us"))
    sent.append(MAC_B + MAC_A + b"\x89\x40" + b"\x01\x01\x00\x07")  # 18-octet ECP ack: no padding
    for f in sent:
        assert tx.send(f)
    got: list[bytes] = []
    wait_for(lambda: collect(got, rx.recv_ready()) >= len(sent))
    assert got == sent
    assert rx.stats.rx_frames == len(sent) and tx.stats.tx_frames == len(sent)
    tx.close()
    rx.close()


def test_bpf_drops_other_ethertypes_and_vlan_tagged(topo: Topology) -> None:
    tx, rx, _, ns_b = pair(topo)
    witness = plain_socket(ns_b, "vb")
    wanted = frame(GROUP_NB, MAC_A, 0x88CC, b"wanted")
    others = [
        frame(GROUP_NB, MAC_A, 0x0800, b"ipv4"),
        frame(GROUP_NB, MAC_A, 0x86DD, b"ipv6"),
        frame(GROUP_NB, MAC_A, 0x88F7, b"ptp"),
        # VID 100 tagged LLDPDU and ECPDU: the kernel strips the tag before BPF runs
        GROUP_NB + MAC_A + b"\x81\x00\x00\x64\x88\xcc" + bytes(46),
        GROUP_NB + MAC_A + b"\x81\x00\x60\x64\x89\x40" + bytes(46),
    ]
    for f in [*others, wanted]:
        assert tx.send(f)
    seen: list[tuple[bytes, int]] = []

    def ours() -> int:
        # the kernel's own traffic on the veth (IPv6 MLD reports to 33:33:...) is not ours
        collect(seen, [(d, t) for d, t in drain_plain(witness) if d[:6] == GROUP_NB])
        return len(seen)

    wait_for(lambda: ours() >= 6)
    time.sleep(0.1)
    assert ours() == 6, "the witness socket must see every frame, once"
    # the tagged ones arrive untagged (tag stripped into metadata), so only BPF's
    # vlan_tag_present test can tell them apart from the wanted frame
    assert [data[12:14] for data, _ in seen].count(b"\x88\xcc") == 2
    assert rx.recv_ready() == [wanted]
    witness.close()
    tx.close()
    rx.close()


def test_own_outgoing_frames_are_not_received(topo: Topology) -> None:
    tx, rx, ns_a, _ = pair(topo)
    witness = plain_socket(ns_a, "va")  # sees our transmissions as PACKET_OUTGOING
    f = frame(GROUP_NB, MAC_A, 0x88CC, b"mine")
    assert tx.send(f)
    seen: list[tuple[bytes, int]] = []
    wait_for(lambda: collect(seen, drain_plain(witness)))
    assert (f, 4) in seen  # PACKET_OUTGOING: the hazard is real on ETH_P_ALL
    assert wait_for(lambda: rx.recv_ready(), 0.5) == [f]
    assert tx.recv_ready() == []
    assert tx.stats.rx_frames == 0
    witness.close()
    tx.close()
    rx.close()


def test_multicast_membership_follows_the_socket(topo: Topology) -> None:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb")
    link = RawLink("vb", netns=b.name).open()
    maddr = b.ip("maddr", "show", "dev", "vb")
    for mac in GROUP_MACS:
        assert ":".join(f"{x:02x}" for x in mac) in maddr
    link.close()
    maddr = b.ip("maddr", "show", "dev", "vb")
    assert "01:80:c2:00:00:0e" not in maddr and "01:80:c2:00:00:00" not in maddr


def test_bridge_port_with_stp_off_receives_nearest_bridge_frames(topo: Topology) -> None:
    sta, sw = topo.netns("sta"), topo.netns("sw")
    topo.veth(sta, "sta0", sw, "swp1", mac_a="02:00:00:00:0a:01")
    topo.bridge(sw, "br0", ports=["swp1"], stp=False)
    assert sw.ip("-d", "link", "show", "dev", "br0").count("stp_state 0") == 1
    port = RawLink("swp1", netns=sw.name).open()
    with in_netns(sw.name):  # a protocol-specific socket, as lldpad's l2_packet uses
        specific = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88CC))
        specific.bind(("swp1", 0x88CC))
    station = RawLink("sta0", netns=sta.name).open()
    lldp = frame(GROUP_NB, MAC_A, 0x88CC, b"lldp to nearest bridge")
    ecp = frame(GROUP_NB, MAC_A, 0x8940, b"ecp to nearest bridge")
    assert station.send(lldp) and station.send(ecp)
    got: list[bytes] = []
    wait_for(lambda: collect(got, port.recv_ready()) >= 2)
    assert got == [lldp, ecp]
    # the bridge consumed the frame in its rx_handler: the specific socket got nothing
    assert drain_plain(specific) == []
    specific.close()
    port.close()
    station.close()


def test_unicast_for_other_hosts_is_ignored_on_a_promiscuous_port(topo: Topology) -> None:
    sta, sw = topo.netns("sta"), topo.netns("sw")
    topo.veth(sta, "sta0", sw, "swp1", mac_a="02:00:00:00:0a:01", mac_b="02:00:00:00:0b:01")
    topo.bridge(sw, "br0", ports=["swp1"])
    port = RawLink("swp1", netns=sw.name).open()
    station = RawLink("sta0", netns=sta.name).open()
    other = frame(bytes.fromhex("02000000ffff"), MAC_A, 0x8940, b"not for us")
    ours = frame(MAC_B, MAC_A, 0x8940, b"for us")
    assert station.send(other) and station.send(ours)
    assert wait_for(lambda: port.recv_ready(), 1.0) == [ours]
    assert wait_for(lambda: port.stats.rx_ignored, 1.0) == 1
    port.close()
    station.close()


def test_asyncio_reader_delivers_a_burst_with_loop_time(topo: Topology) -> None:
    tx, rx, _, _ = pair(topo)
    n = 2000

    async def main() -> list[tuple[bytes, float]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[bytes, float]] = []
        done = asyncio.Event()

        def on_frame(f: bytes, now: float) -> None:
            got.append((f, now))
            if len(got) == n:
                done.set()

        rx.start(on_frame)
        t0 = loop.time()
        for i in range(n):
            tx.send(frame(GROUP_NCB, MAC_A, 0x8940, i.to_bytes(4, "big")))
        await asyncio.wait_for(done.wait(), 5)
        rx.stop()
        assert all(t0 <= now <= loop.time() for _, now in got)
        return got

    got = asyncio.run(main())
    assert [int.from_bytes(f[14:18], "big") for f, _ in got] == list(range(n))
    assert rx.kernel_stats()[1] == 0  # no kernel drops
    tx.close()
    rx.close()


def test_callback_errors_are_counted_not_raised(topo: Topology) -> None:
    tx, rx, _, _ = pair(topo)

    async def main() -> None:
        def boom(f: bytes, now: float) -> None:
            raise RuntimeError("bug above the link")

        rx.start(boom)
        tx.send(frame(GROUP_NB, MAC_A, 0x88CC))
        tx.send(frame(GROUP_NB, MAC_A, 0x88CC))
        for _ in range(50):
            await asyncio.sleep(0.02)
            if rx.stats.callback_errors == 2:
                break
        rx.close()

    asyncio.run(main())
    assert rx.stats.callback_errors == 2 and rx.stats.rx_frames == 2


def test_send_errors_are_counted_never_raised(topo: Topology) -> None:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb")
    tx = RawLink("va", netns=a.name).open()
    ok = frame(GROUP_NB, MAC_A, 0x88CC)
    assert not tx.send(b"short")  # < 14 octets
    assert not tx.send(ok[:14] + bytes(1501))  # over the MTU
    a.ip("link", "set", "dev", "va", "down")
    assert not tx.send(ok)
    a.ip("link", "del", "dev", "va")
    assert not tx.send(ok)
    assert tx.stats.errors["EINVAL"] == 1
    assert tx.stats.errors["EMSGSIZE"] == 1
    assert tx.stats.errors["ENETDOWN"] == 1
    assert tx.stats.errors["ENXIO"] == 1
    assert tx.stats.tx_errors == 4 and tx.stats.tx_frames == 0
    tx.close()
    assert not tx.send(ok) and tx.stats.errors["EBADF"] == 1


def test_reopen_after_the_interface_is_recreated(topo: Topology) -> None:
    a, b = topo.netns("a"), topo.netns("b")
    topo.veth(a, "va", b, "vb")
    rx = RawLink("vb", netns=b.name).open()
    old = rx.ifindex
    b.ip("link", "del", "dev", "vb")
    topo.veth(a, "va", b, "vb")
    rx.reopen()
    assert rx.ifindex != old
    tx = RawLink("va", netns=a.name).open()
    f = frame(GROUP_NB, MAC_A, 0x88CC, b"again")
    tx.send(f)
    assert wait_for(lambda: rx.recv_ready(), 1.0) == [f]
    tx.close()
    rx.close()


def test_open_fails_cleanly_for_a_missing_interface(topo: Topology) -> None:
    a = topo.netns("a")
    with pytest.raises(OSError):
        RawLink("nosuch0", netns=a.name).open()
