"""The VDP station's per-VSI state table (vdp.md §10.1; lldpad's state names).

802.1Qbg-2012 41.5 [std-memory] draws the station machine as a diagram; lldpad implements it
with these names and transitions, and qbg MUST implement the same transitions (vdp.md §10.1).
The table is data (STYLE habit 4): :data:`TRANSITIONS` maps ``(state, input)`` to ``(entry
action, next state)`` in the order of the diagram, and the machine
(:class:`~qbg.vdp.station.VdpStation`) treats a missing entry as a bug.  Guards live next to the
machine: how a response classifies into one of the outcome inputs (``OK_*``, ``KEEP_*``,
``ERROR``, ``MISMATCH``) follows vdp.md §5.5 and §7.4.

```
BEGIN -> INIT -> STATION_PROC -> STATION_PROCWAIT --resp--> STATION_PROCWAIT_2
   STATION_PROCWAIT_2: ok 1/2 -> PREASSOC_NEW -> WAIT_SYSCMD
                       ok 3   -> ASSOC_NEW -> ASSOC_COMPL -> WAIT_SYSCMD
                       keep 3 -> ASSOC_COMPL;  anything else -> END
   WAIT_SYSCMD -> WAIT_SYSCMD_2 (keep-alive timer running)
   WAIT_SYSCMD_2: kaExpired -> TXMIT_KA -> TXMIT_KAWAIT --resp--> TXMIT_KAWAIT_2
                  cmd -> STATION_PROC;  bridge De-Associate -> END
   TXMIT_KAWAIT_2: ok 1/2/3, keep 1/2 -> WAIT_SYSCMD;  keep 3 -> TXMIT_DEASSOC;  else END
   TXMIT_DEASSOC -> TXMIT_DEAWAIT --resp--> TXMIT_DEAWAIT_2 -> END
   every *WAIT: respWaitExpired or txRefused -> END (nothing is sent, vdp.md §10.1 notes)
```
"""

from __future__ import annotations

from enum import Enum

__all__ = ["TRANSITIONS", "Action", "Input", "State"]


class State(Enum):
    """Per-VSI states, named as in lldpad (vdp.md §10.1)."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    BEGIN = "BEGIN"
    INIT = "INIT"
    STATION_PROC = "STATION_PROC"
    STATION_PROCWAIT = "STATION_PROCWAIT"
    STATION_PROCWAIT_2 = "STATION_PROCWAIT_2"
    PREASSOC_NEW = "PREASSOC_NEW"
    ASSOC_NEW = "ASSOC_NEW"
    ASSOC_COMPL = "ASSOC_COMPL"
    WAIT_SYSCMD = "WAIT_SYSCMD"
    WAIT_SYSCMD_2 = "WAIT_SYSCMD_2"
    TXMIT_KA = "TXMIT_KA"
    TXMIT_KAWAIT = "TXMIT_KAWAIT"
    TXMIT_KAWAIT_2 = "TXMIT_KAWAIT_2"
    TXMIT_DEASSOC = "TXMIT_DEASSOC"
    TXMIT_DEAWAIT = "TXMIT_DEAWAIT"
    TXMIT_DEAWAIT_2 = "TXMIT_DEAWAIT_2"
    END = "END"


class Input(Enum):
    """What moves a VSI: vdp.md §10.1's inputs, plus the response outcomes of §5.5/§7.4."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    UCT = "uct"  # unconditional transition out of a transient state
    CMD = "cmd"
    RESP = "resp"  # matching response or bridge De-Associate
    RESP_WAIT_EXPIRED = "respWaitExpired"
    KA_EXPIRED = "kaExpired"
    TX_REFUSED = "txRefused"
    BRIDGE_DEASSOC = "bridgeDeassoc"  # unsolicited De-Associate while idle
    # Outcomes of a response, chosen by _classify() in the *_2 states:
    OK_PREASSOC = "ok-1/2"
    OK_ASSOC = "ok-3"
    OK_DEASSOC = "ok-4"
    KEEP_ASSOC = "keep-3"
    KEEP_OTHER = "keep-1/2"
    KEEP_DEASSOC = "keep-4"
    ERROR = "error"
    MISMATCH = "mismatch"


class Action(Enum):
    """Entry actions run by the machine when a transition enters its target state."""

    __hash__ = object.__hash__  # members are singletons: C-level identity hash (hot)

    INIT = "init"
    SEND = "send"  # STATION_PROC / TXMIT_KA / TXMIT_DEASSOC entry: queue for ECP
    SEND_DEASSOC = "send-deassoc"
    CONFIRM = "confirm"  # PREASSOC_NEW / ASSOC_NEW
    START_KA = "start-ka"
    END = "end"


_S, _I, _A = State, Input, Action
TRANSITIONS: dict[tuple[State, Input], tuple[Action | None, State]] = {
    (_S.BEGIN, _I.UCT): (None, _S.INIT),
    (_S.INIT, _I.UCT): (_A.INIT, _S.STATION_PROC),
    (_S.STATION_PROC, _I.UCT): (_A.SEND, _S.STATION_PROCWAIT),
    (_S.STATION_PROCWAIT, _I.RESP): (None, _S.STATION_PROCWAIT_2),
    (_S.STATION_PROCWAIT, _I.RESP_WAIT_EXPIRED): (_A.END, _S.END),
    (_S.STATION_PROCWAIT, _I.TX_REFUSED): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.OK_PREASSOC): (_A.CONFIRM, _S.PREASSOC_NEW),
    (_S.STATION_PROCWAIT_2, _I.OK_ASSOC): (_A.CONFIRM, _S.ASSOC_NEW),
    (_S.STATION_PROCWAIT_2, _I.OK_DEASSOC): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.KEEP_ASSOC): (None, _S.ASSOC_COMPL),
    (_S.STATION_PROCWAIT_2, _I.KEEP_OTHER): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.KEEP_DEASSOC): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.ERROR): (_A.END, _S.END),
    (_S.STATION_PROCWAIT_2, _I.MISMATCH): (_A.END, _S.END),
    (_S.PREASSOC_NEW, _I.UCT): (None, _S.WAIT_SYSCMD),
    (_S.ASSOC_NEW, _I.UCT): (None, _S.ASSOC_COMPL),
    (_S.ASSOC_COMPL, _I.UCT): (None, _S.WAIT_SYSCMD),
    (_S.WAIT_SYSCMD, _I.UCT): (_A.START_KA, _S.WAIT_SYSCMD_2),
    (_S.WAIT_SYSCMD_2, _I.KA_EXPIRED): (None, _S.TXMIT_KA),
    (_S.WAIT_SYSCMD_2, _I.CMD): (None, _S.STATION_PROC),
    (_S.WAIT_SYSCMD_2, _I.BRIDGE_DEASSOC): (_A.END, _S.END),
    (_S.TXMIT_KA, _I.UCT): (_A.SEND, _S.TXMIT_KAWAIT),
    (_S.TXMIT_KAWAIT, _I.RESP): (None, _S.TXMIT_KAWAIT_2),
    (_S.TXMIT_KAWAIT, _I.RESP_WAIT_EXPIRED): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT, _I.TX_REFUSED): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.OK_PREASSOC): (None, _S.WAIT_SYSCMD),
    (_S.TXMIT_KAWAIT_2, _I.OK_ASSOC): (None, _S.WAIT_SYSCMD),
    (_S.TXMIT_KAWAIT_2, _I.OK_DEASSOC): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.KEEP_ASSOC): (None, _S.TXMIT_DEASSOC),
    (_S.TXMIT_KAWAIT_2, _I.KEEP_OTHER): (None, _S.WAIT_SYSCMD),
    (_S.TXMIT_KAWAIT_2, _I.KEEP_DEASSOC): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.ERROR): (_A.END, _S.END),
    (_S.TXMIT_KAWAIT_2, _I.MISMATCH): (_A.END, _S.END),
    (_S.TXMIT_DEASSOC, _I.UCT): (_A.SEND_DEASSOC, _S.TXMIT_DEAWAIT),
    (_S.TXMIT_DEAWAIT, _I.RESP): (None, _S.TXMIT_DEAWAIT_2),
    (_S.TXMIT_DEAWAIT, _I.RESP_WAIT_EXPIRED): (_A.END, _S.END),
    (_S.TXMIT_DEAWAIT, _I.TX_REFUSED): (_A.END, _S.END),
    (_S.TXMIT_DEAWAIT_2, _I.UCT): (_A.END, _S.END),
}
del _S, _I, _A

_OUTCOME_STATES = frozenset({State.STATION_PROCWAIT_2, State.TXMIT_KAWAIT_2, State.TXMIT_DEAWAIT_2})
_UCT_STATES = frozenset(s for (s, i) in TRANSITIONS if i is Input.UCT)
_WAITING = frozenset({State.STATION_PROCWAIT, State.TXMIT_KAWAIT, State.TXMIT_DEAWAIT})
