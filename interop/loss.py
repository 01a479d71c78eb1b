"""Random loss of 802.1Qbg frames on a veth inside one of our namespaces (nftables).

Why egress: the agents read with an ``ETH_P_ALL`` AF_PACKET tap (qbg/link.py), and taps see a
received frame *before* the netdev ingress hook, so an ingress drop would not hide the frame from
the daemon.  The netdev **egress** hook (Linux ≥ 5.16) runs in ``__dev_queue_xmit`` before the
frame reaches the wire (and before the sender's own taps), so a frame dropped there is lost for
the peer.  Dropping on the egress of both ends of a veth pair gives loss in both directions.

The rule matches only LLDP (0x88CC), ECP (0x8940) and draft ECP (0x88B7) frames::

    table netdev qbgloss_<dev> {
      chain egress { type filter hook egress device "<dev>" priority 0; policy accept;
        ether type { 0x88cc, 0x8940, 0x88b7 } numgen random mod 100 < <percent> counter drop } }

The sender sees ``ENOBUFS`` for a dropped frame; qbg's ``RawLink.send`` counts it and goes on.

:class:`Loss` is a context manager; the tables are deleted on exit, on exceptions and (through
the namespace's deletion) whatever happens.  Only namespaces created by
:class:`~qbg.interop.netns.Topology` (prefix ``qbgt-``) are accepted.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

from .netns import PREFIX, Netns

__all__ = ["Loss", "LossRule"]

QBG_ETHERTYPES = (0x88CC, 0x8940, 0x88B7)


@dataclass
class LossRule:
    ns: Netns
    dev: str
    percent: int

    @property
    def table(self) -> str:
        return "qbgloss_" + "".join(c if c.isalnum() else "_" for c in self.dev)

    def script(self) -> str:
        types = ", ".join(f"{t:#06x}" for t in QBG_ETHERTYPES)
        verdict = (
            "counter drop"
            if self.percent >= 100
            else (f"numgen random mod 100 < {self.percent} counter drop")
        )
        return (
            f"table netdev {self.table} {{\n"
            f"  chain egress {{\n"
            f'    type filter hook egress device "{self.dev}" priority 0; policy accept;\n'
            f"    ether type {{ {types} }} {verdict}\n"
            f"  }}\n"
            f"}}\n"
        )


@dataclass
class Loss:
    """Drop ``percent`` % of 802.1Qbg frames leaving each ``(netns, dev)``.

    Example (both directions of hypervisor 0's link in a Testbed)::

        with Loss([(tb.switch, "swp1"), (tb.hosts[0], "uplink")], 10) as loss:
            ...
            print(loss.dropped())
    """

    ends: list[tuple[Netns, str]]
    percent: int
    rules: list[LossRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 100:
            raise ValueError(f"loss {self.percent} % outside 0..100")
        for ns, _ in self.ends:
            if not ns.name.startswith(PREFIX):
                raise ValueError(f"refusing to touch namespace {ns.name!r}: not one of ours")

    def __enter__(self) -> Loss:
        try:
            for ns, dev in self.ends:
                rule = LossRule(ns, dev, self.percent)
                proc = subprocess.run(
                    ["ip", "netns", "exec", ns.name, "nft", "-f", "-"],
                    input=rule.script(),
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"nft in {ns.name} for {dev}: {proc.stderr.strip()}")
                self.rules.append(rule)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_percent(self, percent: int) -> None:
        """Change the loss rate in place (delete and re-create the tables)."""
        ends = self.ends
        self.close()
        self.percent = percent
        self.ends = ends
        self.__enter__()

    def dropped(self) -> dict[str, int]:
        """Packets dropped so far per ``netns/dev``."""
        out: dict[str, int] = {}
        for rule in self.rules:
            proc = rule.ns.run("nft", "-j", "list", "table", "netdev", rule.table, check=False)
            n = 0
            if proc.returncode == 0:
                for item in json.loads(proc.stdout).get("nftables", []):
                    for expr in item.get("rule", {}).get("expr", []):
                        if "counter" in expr:
                            n += int(expr["counter"]["packets"])
            out[f"{rule.ns.name}/{rule.dev}"] = n
        return out

    def close(self) -> None:
        while self.rules:
            rule = self.rules.pop()
            rule.ns.run("nft", "delete", "table", "netdev", rule.table, check=False)

    def active(self) -> list[str]:
        """Tables of ours still present (for cleanup checks)."""
        found = []
        for ns, dev in self.ends:
            table = LossRule(ns, dev, 0).table
            if ns.run("nft", "list", "table", "netdev", table, check=False).returncode == 0:
                found.append(f"{ns.name}/{table}")
        return found
