"""Decoded frame → JSON-ready dict and one-line summary (the contract is docs/pcap-json.md).

``frame_json(number, time, raw)`` never raises: a frame that does not decode gets an ``error``
key (and ``proto`` from its Ethertype).  ``summary(obj)`` turns such a dict into the text that
``qbg pcap decode`` prints after the addresses.
"""

from __future__ import annotations

from typing import Any

from .evb.cdcp import CdcpTlv
from .evb.draft02 import DraftEvbTlv
from .evb.tlv import EvbTlv
from .vdp.draft02 import DraftUnknownTlv, DraftVdpTlv
from .vdp.frames import DraftEcpFrame, EcpFrame, LldpFrame, decode_frame
from .vdp.tlv import (
    CiscoL3AddressTlv,
    CiscoVmNameTlv,
    FilterEntry,
    MalformedVsiTlv,
    ManagerIdTlv,
    UnknownOrgVdpTlv,
    UnknownVdpTlv,
    VdpEndTlv,
    VsiTlv,
)
from .vdp.vsiid import mgrid_text, vsiid_text

__all__ = ["PROTO_NAMES", "TLV_NAMES", "frame_json", "summary"]

ETH_LLDP = 0x88CC
ETH_ECP = 0x8940
ETH_OUI_EXT = 0x88B7

TLV_NAMES = {1: "preassoc", 2: "preassoc-rr", 3: "assoc", 4: "deassoc", 5: "mgrid", 127: "org"}
"""VDP TLV type → the ``tlv`` value of the JSON contract."""
DRAFT_MODE_NAMES = {0: "preassoc", 1: "preassoc-rr", 2: "assoc", 3: "deassoc"}
PROTO_NAMES = {"lldp": "LLDP", "ecp": "ECP", "ecp-draft": "ECP-D", "other": "-"}
_EVB_MODES = {0: "none", 1: "bridge", 2: "station", 3: "reserved"}
_HEX = "0123456789abcdef"


def _mac(b: bytes) -> str:
    """``aa:bb:..`` (as :func:`mac_str`, but C-speed: ``bytes.hex`` with a separator)."""
    return b.hex(":")


def _vsiid(fmt: int, vsiid: bytes) -> str:
    """Canonical VSI ID text; UUIDs formatted inline (hot path of the JSON decoder)."""
    if fmt == 5 and len(vsiid) == 16:
        h = vsiid.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return vsiid_text(fmt, vsiid)


def _oui(oui: int) -> str:
    return f"{oui >> 16 & 0xFF:02x}:{oui >> 8 & 0xFF:02x}:{oui & 0xFF:02x}"


def _id_text(subtype: int, value: bytes, mac_subtype: int) -> str:
    """Chassis/Port ID as text: MAC for the MAC subtype, printable text, else hex."""
    if subtype == mac_subtype and len(value) == 6:
        return _mac(value)
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return value.hex()
    return text if text.isprintable() else value.hex()


def _evb_json(evb: EvbTlv) -> dict[str, Any]:
    mode = int(evb.mode)
    return {
        "variant": "std",
        "bgid": evb.bgid,
        "rrcap": evb.rrcap,
        "rrctr": evb.rrctr,
        "sgid": evb.sgid,
        "rrreq": evb.rrreq,
        "rrstat": evb.rrstat,
        "r": evb.r,
        "rte": evb.rte,
        "mode": _EVB_MODES.get(mode, str(mode)),
        "rol_rwd": evb.rol_rwd,
        "rwd": evb.rwd,
        "rol_rka": evb.rol_rka,
        "rka": evb.rka,
    }


def _draft_evb_json(evb: DraftEvbTlv) -> dict[str, Any]:
    return {
        "variant": "draft",
        "supported_mode": evb.supported_mode,
        "supported_caps": evb.supported_caps,
        "configured_mode": evb.configured_mode,
        "configured_caps": evb.configured_caps,
        "supported_vsis": evb.supported_vsis,
        "configured_vsis": evb.configured_vsis,
        "rte": evb.rte,
    }


def _cdcp_json(c: CdcpTlv) -> dict[str, Any]:
    return {
        "role": c.role,
        "scomp": c.scomp,
        "chncap": c.chncap,
        "channels": [{"scid": ch.scid, "svid": ch.svid} for ch in c.channels],
    }


def _lldp_json(fr: LldpFrame) -> dict[str, Any]:
    pdu = fr.lldpdu
    chassis = pdu.chassis_id
    port = pdu.port_id
    evb: dict[str, Any] | None = None
    std = pdu.org(EvbTlv)
    if std is not None:
        evb = _evb_json(std)
    else:
        draft = pdu.org(DraftEvbTlv)
        if draft is not None:
            evb = _draft_evb_json(draft)
    cdcp = pdu.org(CdcpTlv)
    return {
        "chassis_id": _id_text(chassis.subtype, chassis.value, 4),
        "chassis_id_subtype": chassis.subtype,
        "port_id": _id_text(port.subtype, port.value, 3),
        "port_id_subtype": port.subtype,
        "ttl": pdu.ttl,
        "evb": evb,
        "cdcp": None if cdcp is None else _cdcp_json(cdcp),
    }


def _filter_json(f: FilterEntry) -> dict[str, Any]:
    return {
        "ps": f.ps,
        "pcp": f.pcp,
        "vid": f.vid,
        "mac": None if f.mac is None else _mac(f.mac),
        "group_id": f.group_id,
    }


def _vsi_json(t: VsiTlv, mgrid: str | None) -> dict[str, Any]:
    mode = int(t.mode)
    st = t.status
    response = bool(st & 0x40)
    return {
        "tlv": TLV_NAMES.get(mode, str(mode)),
        "type": mode,
        "mgrid": mgrid,
        "response": response,
        "status": st,
        "error": st & 0x0F,
        "keep": response and bool(st & 0x20),
        "hard": response and bool(st & 0x10),
        "suspended": not response and bool(st & 0x20),
        "migrating": not response and bool(st & 0x10),
        "type_id": t.type_id,
        "type_version": t.type_version,
        "vsiid_format": int(t.vsiid_format),
        "vsiid": _vsiid(int(t.vsiid_format), t.vsiid),
        "filter_format": int(t.filter_format),
        "filters": [_filter_json(f) for f in t.filters],
    }


def _draft_vsi_json(t: DraftVdpTlv) -> dict[str, Any]:
    mode = int(t.mode)
    return {
        "tlv": DRAFT_MODE_NAMES.get(mode, str(mode)),
        "type": mode,
        "variant": "draft",
        "mgrid": t.mgrid,
        "response": None,
        "status": t.response,
        "error": t.response,
        "type_id": t.type_id,
        "type_version": t.type_version,
        "vsiid_format": 5,
        "vsiid": _vsiid(5, t.instance),
        "filter_format": t.filter_format,
        "filters": [
            {"ps": False, "pcp": 0, "vid": e.vid, "mac": _mac(e.mac), "group_id": None}
            for e in t.entries
        ],
    }


def _org_json(t: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"tlv": "org"}
    if isinstance(t, CiscoVmNameTlv):
        out.update(oui="00:00:0c", subtype=0xF1, vm_name=t.name.decode("utf-8", "replace"))
        out["vsiid"] = vsiid_text(int(t.vsiid_format), t.vsiid)
        out["vm_uuid"] = vsiid_text(5, t.vm_uuid)
    elif isinstance(t, CiscoL3AddressTlv):
        out.update(oui="00:00:0c", subtype=0xF2, afi=t.afi)
        out["vsiid"] = vsiid_text(int(t.vsiid_format), t.vsiid)
        addr = t.address
        out["address"] = ".".join(str(b) for b in addr) if len(addr) == 4 else addr.hex()
    elif isinstance(t, UnknownOrgVdpTlv):
        out.update(oui=_oui(t.oui), info=t.info.hex())
    else:
        oui = getattr(t, "OUI", getattr(t, "oui", 0))
        out["oui"] = _oui(int(oui))
    return out


def _vdp_tlvs(tlvs: tuple[Any, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    mgrid: str | None = None
    for t in tlvs:
        if isinstance(t, VsiTlv):
            out.append(_vsi_json(t, mgrid))
        elif isinstance(t, ManagerIdTlv):
            mgrid = mgrid_text(t.mgrid)
            out.append({"tlv": "mgrid", "mgrid": mgrid, "raw": t.mgrid.hex()})
        elif isinstance(t, VdpEndTlv):
            out.append({"tlv": "end"})
        elif isinstance(t, DraftVdpTlv):
            out.append(_draft_vsi_json(t))
        elif isinstance(t, MalformedVsiTlv):
            out.append(
                {
                    "tlv": TLV_NAMES.get(t.tlv_type, str(t.tlv_type)),
                    "type": t.tlv_type,
                    "malformed": t.reason,
                    "value": t.value.hex(),
                }
            )
        elif isinstance(t, UnknownVdpTlv | DraftUnknownTlv):
            out.append({"tlv": "unknown", "type": t.tlv_type, "value": t.value.hex()})
        else:
            out.append(_org_json(t))
    return out


def frame_json(number: int, time: float, raw: bytes) -> dict[str, Any]:
    """The JSON object of one captured frame (see docs/pcap-json.md)."""
    obj: dict[str, Any] = {"frame": number, "time": time, "len": len(raw)}
    if len(raw) >= 14:
        obj["src"] = _mac(raw[6:12])
        obj["dst"] = _mac(raw[0:6])
        et = (raw[12] << 8) | raw[13]
        pos = 12
        while et in (0x8100, 0x88A8) and len(raw) >= pos + 6:
            pos += 4
            et = (raw[pos] << 8) | raw[pos + 1]
        obj["ethertype"] = et
    else:
        obj.update(src="", dst="", ethertype=0, proto="other", error="frame shorter than 14")
        return obj
    try:
        fr = decode_frame(raw, lenient=True)
    except Exception as e:  # the contract: an error key, never a traceback
        obj["proto"] = _proto_of(et)
        obj["error"] = str(e) or type(e).__name__
        return obj
    try:
        _fill(obj, fr)
    except Exception as e:
        obj["error"] = f"{type(e).__name__}: {e}"
    return obj


def _proto_of(et: int) -> str:
    if et == ETH_LLDP:
        return "lldp"
    if et == ETH_ECP:
        return "ecp"
    if et == ETH_OUI_EXT:
        return "ecp-draft"
    return "other"


def _fill(obj: dict[str, Any], fr: Any) -> None:
    eth = fr.eth
    obj["ethertype"] = int(eth.ethertype)
    if eth.tags:
        obj["vlan_tags"] = [{"tpid": tpid, "tci": tci} for tpid, tci in eth.tags]
    if isinstance(fr, LldpFrame):
        obj["proto"] = "lldp"
        obj["lldp"] = _lldp_json(fr)
    elif isinstance(fr, EcpFrame):
        obj["proto"] = "ecp"
        e = fr.ecpdu
        op = int(e.op)
        obj["ecp"] = {
            "version": e.version,
            "op": "request" if op == 0 else "ack" if op == 1 else op,
            "subtype": int(e.subtype),
            "seq": e.seq,
            "tlvs": [] if fr.vdpdu is None else _vdp_tlvs(fr.vdpdu.tlvs),
        }
    elif isinstance(fr, DraftEcpFrame):
        obj["proto"] = "ecp-draft"
        d = fr.ecpdu
        mode = int(d.mode)
        obj["ecp"] = {
            "version": None,
            "op": "request" if mode == 0 else "ack" if mode == 1 else mode,
            "subtype": d.subtype,
            "oui": _oui(d.oui),
            "seq": d.seq,
            "tlvs": [] if fr.vdpdu is None else _vdp_tlvs(fr.vdpdu.tlvs),
        }
    else:
        obj["proto"] = "other"


# --- human summaries -------------------------------------------------------------------------


def _short_filters(t: dict[str, Any]) -> str:
    parts = []
    for f in t["filters"]:
        s = []
        if f["group_id"] is not None:
            s.append(f"gid={f['group_id']}")
        if f["mac"] is not None:
            s.append(f"mac={f['mac']}")
        s.append(f"vid={f['vid']}")
        if f["ps"]:
            s.append(f"pcp={f['pcp']}")
        parts.append(" ".join(s))
    if len(parts) > 2:
        return f"{parts[0]} (+{len(parts) - 1} more)"
    return ", ".join(parts)


def _tlv_summary(t: dict[str, Any]) -> str:
    kind = t["tlv"]
    if kind == "mgrid" or kind == "end":
        return ""
    if kind == "org":
        extra = t.get("vm_name") or t.get("address") or ""
        return f"org {t.get('oui', '?')}{' ' + str(extra) if extra else ''}"
    if kind == "unknown":
        return f"tlv{t['type']}"
    if "vsiid" not in t:
        return str(kind)
    st = t["status"]
    if t.get("variant") == "draft":
        head = f"{kind} resp={st}"
    elif t["response"]:
        bits = ("K" if st & 0x20 else "") + ("H" if st & 0x10 else "")
        err = st & 0x0F
        head = f"{kind} rsp {'ok' if err == 0 else f'err={err}'}{' ' + bits if bits else ''}"
    else:
        hint = (" S" if st & 0x20 else "") + (" M" if st & 0x10 else "")
        head = f"{kind} req{hint}"
    if st & 0x80 or (not t["response"] and st & 0x0F and t.get("variant") != "draft"):
        head += f" status={st:#04x}"
    return (
        f"{head} vsi={t['vsiid']} type={t['type_id']}/{t['type_version']} {_short_filters(t)}"
    ).rstrip()


def summary(obj: dict[str, Any]) -> str:
    """One-line summary of a decoded frame dict (what follows the protocol column)."""
    proto = obj.get("proto")
    if "error" in obj:
        return f"!! MALFORMED: {obj['error']}"
    if proto == "lldp":
        ll = obj["lldp"]
        s = f"chassis={ll['chassis_id']} port={ll['port_id']} ttl={ll['ttl']}"
        if ll["ttl"] == 0:
            s += " (shutdown)"
        evb = ll["evb"]
        if evb is not None and evb["variant"] == "std":
            flags = [k.upper() for k in ("bgid", "rrcap", "rrctr", "sgid", "rrreq") if evb[k]]
            s += (
                f" EVB {evb['mode']} {'|'.join(flags) or '-'} rrstat={evb['rrstat']}"
                f" R={evb['r']} RTE={evb['rte']} RWD={evb['rwd']}{'r' if evb['rol_rwd'] else ''}"
                f" RKA={evb['rka']}{'r' if evb['rol_rka'] else ''}"
            )
        elif evb is not None:
            s += f" EVB-draft mode={evb['configured_mode']:#04x} RTE={evb['rte']}"
        if ll["cdcp"] is not None:
            c = ll["cdcp"]
            chans = ",".join(f"{ch['scid']}:{ch['svid']}" for ch in c["channels"])
            s += f" CDCP role={c['role']} chncap={c['chncap']} ch={chans}"
        return s
    if proto in ("ecp", "ecp-draft"):
        e = obj["ecp"]
        op = e["op"]
        head = (
            {"request": "req", "ack": "ack"}.get(op, f"op={op}")
            if isinstance(op, str)
            else f"op={op}"
        )
        s = f"{head} seq={e['seq']:#06x}"
        if proto == "ecp" and e["subtype"] != 1:
            s += f" subtype={e['subtype']}"
        parts = [p for p in (_tlv_summary(t) for t in e["tlvs"]) if p]
        if parts:
            s += " VDP " + " | ".join(parts)
        return s
    return f"ethertype {obj['ethertype']:#06x}"


def evb_json(evb: EvbTlv | DraftEvbTlv) -> dict[str, Any]:
    """An EVB TLV (ratified or draft 0.2) as the JSON object of docs/pcap-json.md."""
    return _draft_evb_json(evb) if isinstance(evb, DraftEvbTlv) else _evb_json(evb)


def filter_json(f: FilterEntry) -> dict[str, Any]:
    """One VDP filter entry as JSON (``ps``, ``pcp``, ``vid``, ``mac``, ``group_id``)."""
    return _filter_json(f)


def id_text(subtype: int, value: bytes, mac_subtype: int) -> str:
    """An LLDP chassis/port ID as text (MAC for the MAC subtype, printable text, else hex)."""
    return _id_text(subtype, value, mac_subtype)
