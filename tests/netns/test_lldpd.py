"""The daemons with ``lldp: {transport: lldpd}`` beside real lldpds in network namespaces.

Every lldpd runs in its own mount namespace with its own socket, restricted with ``-I`` to its
test interface (interop/lldpd.py).  Covered: station on lldpd ↔ bridge on its own agent, the
reverse, both on lldpd (EVB negotiated with reflective relay, VSIs associated, hairpin and FDB
programmed), an lldpd restart and a missing lldpd (clear error, retry, no crash), clean
shutdown removing our custom TLV and restoring lldpd's agent type.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qbg.interop.lldpd import LldpdProcess, lldpd_available, start_lldpd
from qbg.interop.testbed import Testbed

pytestmark = pytest.mark.netns

MAC1, MAC2 = "02:aa:00:00:00:01", "02:aa:00:00:00:02"


@pytest.fixture(autouse=True)
def _need_lldpd() -> None:
    missing = lldpd_available()
    if missing:
        pytest.fail(f"the lldpd transport tests need lldpd: {missing}")


@pytest.fixture
def tb() -> Iterator[Testbed]:
    with Testbed(hypervisors=1) as bed:
        yield bed


def lldp_line(sock: Path) -> str:
    return f"    lldp: {{transport: lldpd, socket: {sock}}}\n"


def on_lldpd(text: str, ifname: str, sock: Path) -> str:
    """Put ``lldp: {transport: lldpd, socket: sock}`` into interface ``ifname`` of a config."""
    marker = f"  - name: {ifname}\n"
    assert marker in text
    return text.replace(marker, marker + lldp_line(sock), 1)


def station_lldpd(tb: Testbed) -> LldpdProcess:
    return start_lldpd(tb.hosts[0], ["uplink"], tb.dir, name="lldpd-hv0")


def bridge_lldpd(tb: Testbed) -> LldpdProcess:
    return start_lldpd(tb.switch, [tb.port(0)], tb.dir, name="lldpd-sw")


def lldp_status(tb: Testbed, key: str) -> dict[str, Any]:
    st: dict[str, Any] = tb.ctl(key, "status")["interfaces"][0]["lldp"]
    return st


def evb_status(tb: Testbed, key: str) -> dict[str, Any]:
    st: dict[str, Any] = tb.ctl(key, "status")["interfaces"][0]["evb"]
    return st


def custom_tlvs(lp: LldpdProcess, ifname: str) -> list[dict[str, str]]:
    """Our custom TLVs as lldpd holds them for ``ifname``."""
    obj = json.loads(lp.cli("-f", "json0", "show", "interfaces", "ports", ifname, "details"))
    out: list[dict[str, str]] = []
    for item in obj.get("lldp", []):
        for iface in item.get("interface", []):
            for u in iface.get("unknown-tlvs", []):
                out.extend(u.get("unknown-tlv", []))
    return out


def agent_type(lp: LldpdProcess) -> str:
    obj = json.loads(lp.cli("-f", "json0", "show", "configuration"))
    value: str = obj["configuration"][0]["config"][0]["lldp-agent-type"][0]["value"]
    return value


def assert_associated(tb: Testbed, macs: set[str]) -> None:
    tb.wait_for(lambda: tb.fdb_macs() == macs, timeout=30, what=f"FDB entries {macs}")
    tb.wait_for(lambda: tb.hairpin(0), what="hairpin on swp1")
    tb.wait_for(
        lambda: evb_status(tb, "station0").get("rr") is True,
        what="station sees reflective relay granted",
    )
    for key in ("station0", "bridge"):
        evb = evb_status(tb, key)
        assert evb["state"] == "negotiated", (key, evb)
        assert (evb["r"], evb["rte"], evb["rwd"], evb["rka"], evb["rr"]) == (3, 8, 20, 20, True)


def test_station_on_lldpd_bridge_on_own_agent(tb: Testbed) -> None:
    lp = station_lldpd(tb)
    tb.start_bridge()
    tb.start_station(0, config=on_lldpd(tb.station_config(0, [tb.vsi(1)]), "uplink", lp.socket))
    assert_associated(tb, {MAC1})
    st = lldp_status(tb, "station0")
    assert st["transport"] == "lldpd" and st["health"] == "ok" and st["peer_tlv"], st
    assert lldp_status(tb, "bridge") == {"transport": "own", "health": "ok"}
    # lldpd carries our TLV on the NCB address, and the bridge's own agent heard it.
    assert agent_type(lp) == "nearest customer bridge"
    # RRSTAT 1, R 3 RTE 8, station, ROL RWD/RKA 20, once converged
    tb.wait_for(
        lambda: (
            [(t["oui"], t["subtype"], t["value"]) for t in custom_tlvs(lp, "uplink")]
            == [("00,80,C2", "13", "03,05,68,B4,34")]
        ),
        what="station's converged EVB TLV in lldpd",
    )
    nb = tb.ctl("bridge", "neighbors")["neighbors"]
    assert nb and nb[0]["evb"] is not None
    nb_s = tb.ctl("station0", "neighbors")["neighbors"]
    assert nb_s and nb_s[0]["via"] == "lldpd" and nb_s[0]["evb"] is not None
    # A second VSI through the API.
    tb.ctl(
        "station0", "vsi", "assoc", "-i", "uplink", "--mgrid", "pkmgr", "--type-id", "5",
        "--type-version", "4", "--vsiid", "00000000-0000-4000-8000-000000000002",
        "--filter", f"100-{MAC2}",
    )  # fmt: skip
    tb.wait_for(lambda: tb.fdb_macs() == {MAC1, MAC2}, what="FDB entry of VSI 2")
    # Clean shutdown: our TLV leaves lldpd, its agent type is what it was.
    assert tb.stop(tb.daemons["station0"]) == 0
    assert custom_tlvs(lp, "uplink") == []
    assert agent_type(lp) in ("nearest bridge", "unknown")
    # The bridge sees the TLV go (the LLDPDU no longer carries it): RR off, hairpin off.
    tb.wait_for(lambda: not tb.hairpin(0), what="hairpin off after the station left")


def test_bridge_on_lldpd_station_on_own_agent(tb: Testbed) -> None:
    lp = bridge_lldpd(tb)
    tb.start_bridge(config=on_lldpd(tb.bridge_config(), tb.port(0), lp.socket))
    tb.start_station(0, vsis=[tb.vsi(1)])
    assert_associated(tb, {MAC1})
    st = lldp_status(tb, "bridge")
    assert st["transport"] == "lldpd" and st["health"] == "ok", st
    # RRCAP+RRCTR, echo 05, bridge: once the station's converged TLV has been heard
    tb.wait_for(
        lambda: [t["value"] for t in custom_tlvs(lp, tb.port(0))] == ["03,05,68,74,34"],
        what="bridge's converged EVB TLV in lldpd",
    )


def test_both_on_lldpd_with_lldpd_restart(tb: Testbed) -> None:
    ls, lb = station_lldpd(tb), bridge_lldpd(tb)
    tb.start_bridge(config=on_lldpd(tb.bridge_config(), tb.port(0), lb.socket))
    tb.start_station(0, config=on_lldpd(tb.station_config(0, [tb.vsi(1)]), "uplink", ls.socket))
    assert_associated(tb, {MAC1})
    # No LLDP of our own on either side: every LLDPDU on the link is lldpd's (it sends system
    # name/description TLVs ours never does).
    sessions = lldp_status(tb, "station0")["sessions"]
    # Restart the station's lldpd: the daemon notices, retries, configures the new one.
    ls.stop()
    tb.wait_for(
        lambda: lldp_status(tb, "station0")["health"] != "ok", what="station sees lldpd gone"
    )
    st = lldp_status(tb, "station0")
    assert "error" in st, st
    ls.restart()
    tb.wait_for(
        lambda: lldp_status(tb, "station0")["sessions"] > sessions,
        timeout=30,
        what="station reconnected to the new lldpd",
    )
    tb.wait_for(lambda: bool(custom_tlvs(ls, "uplink")), what="EVB TLV published again")
    assert agent_type(ls) == "nearest customer bridge"
    # Nothing fell over: the VSI stays associated, RR stays on, the daemons live.
    assert tb.fdb_macs() == {MAC1} and tb.hairpin(0)
    assert tb.daemons["station0"].alive() and tb.daemons["bridge"].alive()
    assert evb_status(tb, "bridge")["state"] == "negotiated"
    # The bridge's lldpd learns the station's (re-published) TLV at once; the station keeps the
    # bridge's last TLV until the bridge's next LLDPDU (its TTL).
    assert evb_status(tb, "station0")["rr"] is True


def test_missing_lldpd_is_reported_and_retried(tb: Testbed) -> None:
    sock = tb.dir / "lldpd-hv0.socket"  # nothing there yet
    tb.start_bridge()
    tb.start_station(0, config=on_lldpd(tb.station_config(0, [tb.vsi(1)]), "uplink", sock))
    tb.wait_for(
        lambda: lldp_status(tb, "station0")["health"] == "unreachable",
        what="unreachable lldpd reported",
    )
    st = lldp_status(tb, "station0")
    assert str(sock) in st["socket"] and "connect" in st["error"], st
    assert tb.daemons["station0"].alive()
    # lldpd appears: the daemon connects on its next retry and everything comes up.
    station_lldpd(tb)
    tb.wait_for(
        lambda: lldp_status(tb, "station0")["health"] == "ok",
        timeout=30,
        what="lldpd reachable",
    )
    assert_associated(tb, {MAC1})


def test_lldpd_not_managing_the_interface(tb: Testbed) -> None:
    """An lldpd whose -I list does not include our port: a clear error, retried."""
    tb.topo.veth(tb.hosts[0], "other0", tb.hosts[0], "other1")
    lp = start_lldpd(tb.hosts[0], ["other0"], tb.dir, name="lldpd-other")
    tb.start_bridge()
    tb.start_station(0, config=on_lldpd(tb.station_config(0), "uplink", lp.socket))
    tb.wait_for(
        lambda: "does not manage uplink" in lldp_status(tb, "station0").get("error", ""),
        what="'does not manage' error",
    )
    assert tb.daemons["station0"].alive()
    assert shutil.which("lldpd")


def test_lldpd_path_latency_is_small() -> None:
    """The measurement behind docs/lldpd.md, a few rounds: a hop through two lldpds is
    milliseconds (our own agent waits for its 1-s tick on every hop)."""
    from qbg.interop.lldpd import measure_negotiation

    res = measure_negotiation(rounds=5)
    assert res["hop_median_ms"] < 250, res
    assert res["negotiation_median_ms"] < 1000, res
