"""Testbed helpers shared by the netns reliability tests."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from qbg.interop.testbed import DaemonProcess, Testbed, TestbedError

from .ctlclient import Ctl


def mac(n: int) -> str:
    return f"02:aa:00:00:{n >> 8:02x}:{n & 0xFF:02x}"


def uuid_of(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def with_evb(text: str, **evb: int) -> str:
    """Replace the ``evb: {...}`` mappings of a testbed config with ``evb`` values."""
    body = ", ".join(f"{k}: {v}" for k, v in evb.items())
    return re.sub(r"evb: \{[^}]*\}", "evb: {" + body + "}", text)


@contextmanager
def bed(hypervisors: int = 1, **kw: object) -> Iterator[Testbed]:
    with Testbed(hypervisors=hypervisors, **kw) as tb:  # type: ignore[arg-type]
        yield tb


def start_pair(
    tb: Testbed,
    n: int,
    *,
    evb: dict[str, int] | None = None,
    bridge_extra: str = "",
    station: int = 0,
    first: int = 1,
) -> tuple[DaemonProcess, DaemonProcess]:
    evb = evb or {"rte": 8, "rka": 17, "rwd": 14}
    tb.bridge_extra = bridge_extra
    br = tb.daemons.get("bridge")
    if br is None or not br.alive():
        br = tb.start_bridge(config=with_evb(tb.bridge_config(), **evb))
    vsis = [tb.vsi(i) for i in range(first, first + n)]
    st = tb.start_station(station, config=with_evb(tb.station_config(station, vsis), **evb))
    return br, st


def bridge_vsis(tb: Testbed) -> int:
    return len(tb.ctl("bridge", "vsi", "list")["vsis"])


def added_counts(d: DaemonProcess) -> Counter[str]:
    """How often the bridge log says each VSI was added in mode 3 (associated)."""
    return Counter(re.findall(r"VSI ([0-9a-f-]{36}) added in mode 3", d.log_text()))


def removals(d: DaemonProcess, reason: str) -> list[str]:
    return re.findall(rf"VSI ([0-9a-f-]{{36}}) removed \({reason}\)", d.log_text())


def status_ecp(tb: Testbed, key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for i in tb.ctl(key, "status")["interfaces"]:
        total.update(i.get("ecp", {}))
    return dict(total)


def deassoc_all(tb: Testbed, key: str, numbers: range, timeout: float = 20.0) -> None:
    """De-associate VSIs by number over one connection; EBUSY (a keep-alive in flight,
    vdp.md §10.2) is retried until ``timeout``."""
    todo = list(numbers)
    end = time.monotonic() + timeout
    with Ctl(tb.daemons[key].socket) as c:
        while todo:
            replies = c.many(
                [
                    ("vsi.deassoc", {"interface": "uplink", "vsiid": uuid_of(n), "wait": False})
                    for n in todo
                ]
            )
            # EINVAL "unknown VSI": it ended meanwhile (response wait expired), nothing to send
            bad = [r for r in replies if not r.get("ok")]
            bad = [r for r in bad if r["error"]["code"] not in ("EBUSY", "EINVAL")]
            assert not bad, bad[:3]
            todo = [
                n
                for n, r in zip(todo, replies, strict=True)
                if not r.get("ok") and r["error"]["code"] == "EBUSY"
            ]
            assert time.monotonic() < end, f"{len(todo)} VSIs still busy"
            if todo:
                time.sleep(0.05)


def wait_fdb(tb: Testbed, want: set[str], timeout: float = 30.0, what: str = "FDB") -> float:
    """Wait until the switch FDB holds exactly ``want``; on timeout say which MACs differ and
    what each daemon reports for them (a bare timeout says nothing about the cause)."""
    t0 = time.monotonic()
    try:
        tb.wait_for(lambda: tb.fdb_macs() == want, timeout=timeout, what=what, step=0.2)
    except TestbedError as e:
        raise TestbedError(f"{e}: {_fdb_diff(tb, want)}") from None
    return time.monotonic() - t0


def _fdb_diff(tb: Testbed, want: set[str]) -> str:
    have = tb.fdb_macs()
    missing, extra = sorted(want - have), sorted(have - want)
    odd = set(missing[:5] + extra[:5])
    lines = [f"{len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]}"]
    for key in tb.daemons:
        try:
            vsis = tb.ctl(key, "vsi", "list")["vsis"]
        except Exception as err:  # a diagnostic must not hide the timeout
            lines.append(f"{key}: vsi list failed: {err}")
            continue
        seen = [v for v in vsis if odd & {f.get("mac") for f in v.get("filters", [])}]
        lines.append(f"{key}: {len(vsis)} VSIs; of those MACs: {seen[:10]}")
    return "\n".join(lines)


def reassoc(tb: Testbed, key: str) -> int:
    """Ask again for every station VSI that is not confirmed (returns how many)."""
    vsis = tb.ctl(key, "vsi", "list")["vsis"]
    todo = [v for v in vsis if v.get("confirmed_mode") != "assoc"]
    if not todo:
        return 0
    with Ctl(tb.daemons[key].socket) as c:
        replies = c.many(
            [
                (
                    "vsi.assoc",
                    {
                        "interface": v["interface"],
                        "manager_id": v["manager_id"],
                        "type_id": v["type_id"],
                        "type_version": v["type_version"],
                        "vsiid": v["vsiid"],
                        "filters": [{"vid": f["vid"], "mac": f["mac"]} for f in v["filters"]],
                        "wait": False,
                    },
                )
                for v in todo
            ]
        )
    assert all(r.get("ok") or r["error"]["code"] == "EBUSY" for r in replies), replies[:3]
    return len(todo)
