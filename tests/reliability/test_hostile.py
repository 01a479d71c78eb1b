"""Hostile stations against the bridge agent's policy (docs/config.md "policy").

In memory: two bridge ports sharing one policy (as the bridge daemon builds it with
``build_policy``), each with its own station — MAC hijack, migration, VLAN/type outside policy,
per-port limits, ECP sequence-number games.  In namespaces: the same through the daemons, a
flood from one port while another associates (measured), and the configured per-port limits
the daemon enforces (VSIs per port, request rate).
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time

import pytest

from qbg.bridge.daemon import build_policy
from qbg.config import PolicyConfig, VsiTypeConfig
from qbg.vdp.bridge import VsiAdded, VsiChanged, VsiRemoved
from qbg.vdp.policy import Policy
from qbg.vdp.station import VsiAssociated, VsiRefused
from qbg.vdp.tlv import VdpTlvType, VsiTlv

from .ctlclient import Ctl
from .netbed import bed, mac, start_pair, uuid_of, wait_fdb
from .simnet import Net, vsi
from .sizes import size


def _policy(**kw: object) -> Policy:
    return build_policy(PolicyConfig(**kw), vlan_enforceable=True)  # type: ignore[arg-type]


def _two(policy: Policy) -> tuple[Net, Net]:
    a = Net(policy=policy, bridge_name="swp1", rka=20, rwd=20)
    b = Net(policy=policy, bridge_name="swp2", rka=20, rwd=20, seed=1)
    for n in (a, b):
        n.run_until(3.0)
    return a, b


def _ask(net: Net, t: VsiTlv) -> VsiAssociated | VsiRefused | None:
    k = len(net.events)
    net.request([t])
    net.run_until(net.now + 0.5)
    for s, _, e in net.events[k:]:
        if s == 0 and isinstance(e, VsiAssociated | VsiRefused):
            return e
    return None


def _with(t: VsiTlv, **kw: object) -> VsiTlv:
    return dataclasses.replace(t, **kw)  # type: ignore[arg-type]


def _mac_of(n: int) -> bytes:
    f = vsi(n).filters[0]
    assert f.mac is not None
    return f.mac


def _claim(n: int, mac_of: int, vid: int | None = None) -> VsiTlv:
    """VSI ``n`` claiming the MAC (and VID) of VSI ``mac_of``."""
    src = vsi(mac_of).filters[0]
    f = dataclasses.replace(src, vid=vid if vid is not None else src.vid)
    return _with(vsi(n), filters=(f,))


def test_mac_hijack_refused_code_5_everywhere() -> None:
    policy = _policy()
    a, b = _two(policy)
    assert isinstance(_ask(a, vsi(1)), VsiAssociated)
    # another VSI on another port claims VSI 1's MAC/VID
    r = _ask(b, _claim(99, 1))
    assert isinstance(r, VsiRefused) and r.code == 5, r
    # the same VSI ID from another port, no migration allowed
    r = _ask(b, vsi(1))
    assert isinstance(r, VsiRefused) and r.code == 5, r
    # another VSI on the same port
    r = _ask(a, _claim(98, 1))
    assert isinstance(r, VsiRefused) and r.code == 5, r
    # pre-associate with RR reserves too
    r = _ask(b, _with(_claim(97, 1), mode=VdpTlvType.PREASSOC_RR))
    assert r is None or isinstance(r, VsiRefused)
    assert len(b.bridge.vdp) == 0 and len(a.bridge.vdp) == 1
    # the owner is untouched and keeps its binding through keep-alives
    a.run_until(a.now + 30.0)
    assert len(a.station_associated()) == 1 and a.bridge_removed() == []
    # a different VID for the same MAC is a different pair: allowed (VLANs separate them)
    assert isinstance(_ask(b, _claim(96, 1, vid=777)), VsiAssociated)


def test_migration_allowed_only_by_policy() -> None:
    a, b = _two(_policy(mac_migration=True))
    assert isinstance(_ask(a, vsi(1)), VsiAssociated)
    assert isinstance(_ask(b, _with(vsi(1), status=0x10)), VsiAssociated)  # M hint, same VSI ID
    r = _ask(b, _claim(99, 1))  # a *different* VSI is still a hijack
    assert isinstance(r, VsiRefused) and r.code == 5
    # the old port de-associates; the new one keeps the MAC
    a.request([vsi(1, VdpTlvType.DEASSOC)])
    a.run_until(a.now + 1.0)
    assert len(a.bridge.vdp) == 0 and len(b.bridge.vdp) == 1


def test_vlans_types_and_limits_outside_policy_refused() -> None:
    types = (VsiTypeConfig(type_id=5, version=4, vlans=((100, 199),), max_vsis_per_port=3),)
    a, b = _two(_policy(mode="type_db", types=types))
    r = _ask(a, vsi(1, vid=300))  # VID outside the type's VLANs
    assert isinstance(r, VsiRefused) and r.code == 5
    r = _ask(a, _with(vsi(2, vid=150), type_id=6))  # unknown type: code 4, hard
    assert isinstance(r, VsiRefused) and r.code == 4 and r.hard
    r = _ask(a, _with(vsi(3, vid=150), type_version=9))  # unknown version
    assert isinstance(r, VsiRefused) and r.code == 4
    for n in range(10, 13):
        assert isinstance(_ask(a, vsi(n, vid=150)), VsiAssociated)
    r = _ask(a, vsi(13, vid=150))  # 4th VSI of the type on this port
    assert isinstance(r, VsiRefused) and r.code == 2
    assert isinstance(_ask(b, vsi(14, vid=150)), VsiAssociated)  # the other port is not charged
    assert len(a.bridge.vdp) == 3


def _bridge_events(net: Net, since: int) -> list[object]:
    return [
        e
        for s, _, e in net.events[since:]
        if s == 1 and isinstance(e, VsiAdded | VsiChanged | VsiRemoved)
    ]


def test_sequence_number_games_do_not_reapply_requests() -> None:
    a, b = _two(_policy())
    sent: list[bytes] = []
    orig = a.put

    def tap(side: int, out: object) -> None:
        if side == 0:
            sent.extend(f for f in out.frames if f[12:14] == b"\x89\x40")  # type: ignore[attr-defined]
        orig(side, out)  # type: ignore[arg-type]

    a.put = tap  # type: ignore[method-assign]
    a.request([vsi(1), vsi(2)])
    a.run_until(a.now + 0.5)
    a.request([vsi(3)])
    a.run_until(a.now + 0.5)
    requests = [f for f in sent if (f[14] >> 2) & 3 == 0]
    assert len(requests) >= 2
    added = a.bridge_added()
    k = len(a.events)
    st = a.bridge.ecp.stats
    dup0, deliv0 = st.duplicates, st.delivered
    br = a.bridge
    # 1. replay of the last ECPDU (same sequence number): a duplicate, acked, not delivered
    a.put(1, br.receive(requests[-1], a.now))
    assert st.duplicates == dup0 + 1 and st.delivered == deliv0
    # 2. replay of an older ECPDU (another sequence number): delivered, but a keep-alive
    for f in requests[:-1] * 3:
        a.put(1, br.receive(f, a.now))
    # 3. forged sequence numbers far out of any window, same content
    for seq in (0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x1234):
        forged = requests[0][:16] + seq.to_bytes(2, "big") + requests[0][18:]
        a.put(1, br.receive(forged, a.now))
    a.run_until(a.now + 0.5)
    assert _bridge_events(a, k) == []  # nothing applied again
    assert a.bridge_added() == added and len(br.vdp) == 3
    # 4. the same frames replayed on another port do not touch this port's VSIs ...
    k2 = len(b.events)
    for f in requests:
        b.put(1, b.bridge.receive(f, b.now))
    b.run_until(b.now + 0.5)
    # ... and there, other VSIs' MACs stay refused (they are bound on swp1)
    assert len(b.bridge.vdp) == 0, [type(e).__name__ for _, _, e in b.events[k2:]]
    # 5. swp1's VSIs live on through their keep-alives, untouched by all of it
    a.run_until(a.now + 25.0)
    assert len(a.bridge.vdp) == 3 and a.bridge_removed() == []


# --- daemons ----------------------------------------------------------------------------------


def _assoc(c: Ctl, n: int, *, vid: int = 100, mac_n: int | None = None, wait: bool = True,
           type_id: int = 5) -> dict[str, object]:  # fmt: skip
    return c.call(
        "vsi.assoc",
        interface="uplink",
        manager_id="pkmgr",
        type_id=type_id,
        type_version=4,
        vsiid=uuid_of(n),
        filters=[{"vid": vid, "mac": mac(mac_n if mac_n is not None else n)}],
        wait=wait,
    )


POLICY = (
    "policy:\n  mode: type_db\n  types:\n"
    "    - {type_id: 5, version: 4, vlans: [100-199], max_vsis_per_port: 2000}\n"
)


@pytest.mark.netns
def test_daemons_refuse_hijack_vlan_and_type() -> None:
    with bed(2) as tb:
        start_pair(tb, 1, station=0, first=1, bridge_extra=POLICY)
        start_pair(tb, 0, station=1)
        wait_fdb(tb, {mac(1)}, what="VSI 1 on swp1")
        cases = []
        with Ctl(tb.daemons["station1"].socket) as c:
            cases.append(("hijack", _assoc(c, 50, mac_n=1), 5))
            cases.append(("same VSI ID elsewhere", _assoc(c, 1), 5))
            cases.append(("VID outside policy", _assoc(c, 51, vid=300), 5))
            cases.append(("unknown type", _assoc(c, 52, type_id=9), 4))
        for name, reply, code in cases:
            assert reply["ok"] is False, (name, reply)
            err = reply["error"]
            assert err["code"] == "refused" and err["data"]["error"] == code, (name, err)
        # the FDB still steers MAC 1 to swp1 only
        ports = {e["ifname"] for e in tb.fdb() if e["mac"] == mac(1)}
        assert ports == {tb.port(0)} and tb.fdb_macs() == {mac(1)}


@pytest.mark.netns
def test_flood_from_one_port_does_not_slow_the_others() -> None:
    flood = size(1000, 10000)
    with bed(2) as tb:
        start_pair(tb, 0, station=0, bridge_extra=POLICY)
        start_pair(tb, 0, station=1)
        time.sleep(2.0)

        def latencies(first: int, count: int) -> list[float]:
            out = []
            with Ctl(tb.daemons["station0"].socket) as c:
                for n in range(first, first + count):
                    t = time.monotonic()
                    r = _assoc(c, n)
                    out.append(time.monotonic() - t)
                    assert r["ok"], r
            return out

        quiet = latencies(1, 20)
        c1 = Ctl(tb.daemons["station1"].socket)
        payload = b"".join(
            (
                '{"cmd": "vsi.assoc", "args": {"interface": "uplink", "manager_id": "pkmgr", '
                f'"type_id": 5, "type_version": 4, "vsiid": "{uuid_of(10000 + i)}", '
                f'"filters": [{{"vid": 150, "mac": "{mac(256 + i)}"}}], '
                '"wait": false}}\n'
            ).encode()
            for i in range(flood)
        )
        replies = []

        def drain() -> None:
            while len(replies) < flood and (r := c1.line()) is not None:
                replies.append(r)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        # the flood: every request at once, written from its own thread so that the
        # measurement below runs while the daemon is still reading it
        writer = threading.Thread(target=c1.send_raw, args=(payload,), daemon=True)
        writer.start()
        busy = latencies(100, 20)
        writer.join(60)
        rows = tb.ctl("bridge", "vsi", "list")["vsis"]
        flooded = sum(1 for r in rows if r["interface"] == tb.port(1))
        reader.join(60)
        c1.close()
        q50, b50 = statistics.median(quiet), statistics.median(busy)
        print(
            f"\nflood of {flood} associates on swp2: swp1 association p50 {q50 * 1000:.1f} ms "
            f"quiet, {b50 * 1000:.1f} ms during the flood (max {max(busy) * 1000:.1f} ms); "
            f"{flooded} flood VSIs programmed meanwhile"
        )
        assert max(busy) < 5.0 and b50 < max(1.0, 20 * q50)


@pytest.mark.netns
def test_daemon_enforces_max_vsis_per_port() -> None:
    with bed(1) as tb:
        start_pair(tb, 0, bridge_extra="policy:\n  max_vsis_per_port: 3\n")
        time.sleep(2.0)
        with Ctl(tb.daemons["station0"].socket) as c:
            replies = [_assoc(c, n) for n in range(1, 5)]
        assert [r["ok"] for r in replies] == [True, True, True, False]
        err = replies[3]["error"]
        assert isinstance(err, dict) and err["data"]["error"] == 2


@pytest.mark.netns
def test_daemon_enforces_request_rate_per_port() -> None:
    with bed(1) as tb:
        start_pair(tb, 0, bridge_extra="policy:\n  rate_limit: {requests_per_s: 5, burst: 5}\n")
        time.sleep(2.0)
        with Ctl(tb.daemons["station0"].socket) as c:
            replies = [_assoc(c, n, wait=True) for n in range(1, 21)]
        refused = [r for r in replies if not r["ok"]]
        assert refused and all(r["error"]["data"]["error"] == 2 for r in refused)  # type: ignore[index]
