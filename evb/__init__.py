"""qbg.evb: the EVB TLVs (ratified and draft 0.2) and the CDCP TLV.

Importing this package registers ``EvbTlv`` (00-80-C2/0x0D), ``DraftEvbTlv`` (00-1B-3F/0x00)
and ``CdcpTlv`` (00-80-C2/0x0E) with the LLDP org-TLV registry, so ``Lldpdu.decode`` yields
them instead of ``UnknownOrgTlv``.

Still being written elsewhere, to be exported here when they exist: ``timers`` (exponent
formulas), ``negotiation`` (``EvbConfig``, ``Negotiated``, ``negotiate``), ``ecpdu`` (ECP
header codecs) and ``ecp`` (ECP machines).
"""

from .cdcp import CDCP_MAX_CHANNELS, CDCP_SUBTYPE, DEFAULT_SCHANNEL, CdcpTlv, SChannel
from .draft02 import (
    CAP_ECP,
    CAP_RTE,
    CAP_VDP,
    DRAFT_EVB_SUBTYPE,
    MODE_RR,
    MODE_STD,
    DraftEvbTlv,
)
from .tlv import (
    EVB_SUBTYPE,
    RRSTAT_DISABLED,
    RRSTAT_ENABLED,
    RRSTAT_RESERVED,
    RRSTAT_UNKNOWN,
    EvbMode,
    EvbTlv,
)

__all__ = [
    "CAP_ECP",
    "CAP_RTE",
    "CAP_VDP",
    "CDCP_MAX_CHANNELS",
    "CDCP_SUBTYPE",
    "DEFAULT_SCHANNEL",
    "DRAFT_EVB_SUBTYPE",
    "EVB_SUBTYPE",
    "MODE_RR",
    "MODE_STD",
    "RRSTAT_DISABLED",
    "RRSTAT_ENABLED",
    "RRSTAT_RESERVED",
    "RRSTAT_UNKNOWN",
    "CdcpTlv",
    "DraftEvbTlv",
    "EvbMode",
    "EvbTlv",
    "SChannel",
]
