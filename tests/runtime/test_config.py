"""qbg.config: good files load, every kind of bad file fails with file:line: field: reason."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbg.config import (
    BridgeConfig,
    ConfigError,
    StationConfig,
    check_config,
    load_bridge_config,
    load_config_text,
    load_station_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
UUID1 = "00000000-0000-4000-8000-000000000001"

STATION = """\
role: station
interfaces:
  - name: eth0
    evb: {r: 3, rte: 14, rrreq: true}
    vsis:
      - manager_id: pkmgr
        type_id: 5
        type_version: 4
        vsiid: 00000000-0000-4000-8000-000000000001
        filters:
          - {vid: 100, mac: 02:aa:00:00:00:01}
"""


def load(text: str, role: str | None = None) -> StationConfig | BridgeConfig:
    return load_config_text(textwrap.dedent(text), "t.yaml", role)  # type: ignore[arg-type]


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value


# --- good ---------------------------------------------------------------------------------


def test_examples_load() -> None:
    kind, st_cfg = check_config(EXAMPLES / "station.yaml")
    assert kind == "station" and isinstance(st_cfg, StationConfig)
    assert load_station_config(EXAMPLES / "station.yaml") == st_cfg
    kind, br_cfg = check_config(EXAMPLES / "bridge.yaml")
    assert kind == "bridge" and isinstance(br_cfg, BridgeConfig)
    assert load_bridge_config(EXAMPLES / "bridge.yaml") == br_cfg
    assert st_cfg.interfaces and any(i.vsis for i in st_cfg.interfaces)
    assert br_cfg.policy.types


def test_minimal_station_defaults() -> None:
    cfg = load("role: station\ninterfaces: [{name: eth0}]\n")
    assert isinstance(cfg, StationConfig)
    i = cfg.interfaces[0]
    assert (i.variant, i.lldp.transport) == ("std", "own")
    assert (i.evb.r, i.evb.rte, i.evb.rwd, i.evb.rka, i.evb.rrreq, i.evb.gid) == (
        3,
        8,
        20,
        20,
        True,
        False,
    )
    assert (i.ecp.mtu, i.ecp.lldpad_compatible_pacing, i.ecp.min_gap_ms) == (1500, False, 3.0)
    assert cfg.daemon.control_socket == "/run/qbg/station.sock"
    assert cfg.daemon.metrics is None and cfg.daemon.log_format == "human"
    assert cfg.daemon.control_allowed_uids == (0,)


def test_station_vsi_values() -> None:
    cfg = load(STATION)
    assert isinstance(cfg, StationConfig)
    v = cfg.interfaces[0].vsis[0]
    assert v.manager_id_bytes == b"pkmgr" + bytes(11)
    assert v.vsiid_bytes.hex() == "00000000000040008000000000000001"
    assert v.filters[0].mac == "02:aa:00:00:00:01" and v.filters[0].vid == 100
    assert not v.filters[0].ps
    assert v.mode == "assoc" and v.hints == "none" and v.filter_format_code == 2
    assert v.key()[3] == 5


def test_role_mismatch_and_lldpd_transport() -> None:
    with pytest.raises(ConfigError, match="role: bridge"):
        load(STATION, "bridge")
    cfg = load("""
        role: bridge
        interfaces:
          - name: swp1
            lldp: {transport: lldpd, socket: /run/lldpd.socket}
            evb: {rrcap: false}
        policy:
          types: [{type_id: 5, vlans: [100, 200-210], wildcard_vid: 205}]
    """)
    assert isinstance(cfg, BridgeConfig)
    assert cfg.interfaces[0].lldp.socket == "/run/lldpd.socket"
    assert cfg.policy.mode == "type_db" and not cfg.interfaces[0].evb.rrcap
    assert cfg.policy.types[0].vlan_set() == frozenset({100, *range(200, 211)})


def test_draft_variant() -> None:
    cfg = load(f"""
        role: station
        interfaces:
          - name: eth0
            variant: draft
            evb: {{rte: 15, vsis: 100}}
            vsis:
              - {{manager_id: 1, type_id: 1193046, type_version: 1, vsiid: {UUID1},
                  filters: [{{vid: 3, mac: "52:54:00:c7:3e:ce"}}]}}
    """)
    assert cfg.interfaces[0].evb.rte == 15 and cfg.interfaces[0].variant == "draft"


# --- bad: each case gives (line, field, words of the reason) -------------------------------

IF0 = "role: station\ninterfaces:\n  - name: eth0\n"
BAD = [
    (IF0 + "    evb: {rte: fast}\n", 4, "interfaces[0].evb.rte",
     "expected an integer 0..31, got 'fast'"),
    (IF0 + "    evb:\n      rtee: 3\n", 5, "interfaces[0].evb.rtee",
     "did you mean 'rte'"),
    (IF0 + "    evb: {rrcap: true}\n", 4,
     "interfaces[0].evb.rrcap", "bridge setting"),
    (IF0 + "    evb: {rka: 29}\n", 4, "interfaces[0].evb.rka",
     "allow_large_exponents"),
    (IF0 + "    evb: {r: 8}\n", 4, "interfaces[0].evb.r", "0..7"),
    (IF0 + "    variant: draft\n    evb: {rwd: 3}\n", 5,
     "interfaces[0].evb.rwd", "one EVB variant"),
    ("role: station\ninterfaces:\n  - {name: eth0}\n  - {name: eth0, variant: draft}\n", 4,
     "interfaces[1].name", "one variant per interface"),
    (IF0 + "    variant: both\n", 4, "interfaces[0].variant",
     "std, draft"),
    (IF0 + "    ecp: {mtu: 20}\n", 4, "interfaces[0].ecp.mtu",
     "128..9216"),
    (IF0 + "    ecp: {lldpad_compatible_pacing: maybe}\n", 4,
     "interfaces[0].ecp.lldpad_compatible_pacing", "true or false"),
    (IF0 + "    lldp: {transport: lldpd}\n", 4,
     "interfaces[0].lldp.socket", "required"),
    ("role: station\ninterfaces:\n  - name: this-name-is-too-long\n", 3, "interfaces[0].name",
     "Linux interface name"),
    ("role: station\ninterfaces: []\n", 2, "interfaces", "at least one"),
    ("role: station\n", 1, "interfaces", "required"),
    ("role: router\ninterfaces: []\n", 1, "role", "station, bridge"),
    ("interfaces: []\n", 1, "role", "required"),
    ("role: station\ninterfaces: [{name: eth0}]\npolicy: {}\n", 3, "policy", "bridge"),
    ("role: station\ninterfaces: [{name: eth0}]\ndaemon:\n  metrics: {listen: '0.0.0.0:9488'}\n", 4,
     "daemon.metrics.listen", "not a loopback"),
    ("role: station\ninterfaces: [{name: eth0}]\ndaemon:\n  metrics: {listen: 'nonsense'}\n", 4,
     "daemon.metrics.listen", "HOST:PORT"),
    ("role: station\ninterfaces: [{name: eth0}]\ndaemon:\n  log: {format: xml}\n", 4,
     "daemon.log.format", "human, json"),
    ("role: station\ninterfaces: [{name: eth0}]\ndaemon: {control_allowed_uids: [root]}\n", 3,
     "daemon.control_allowed_uids[0]", "uid"),
    ("role: station\nrole: bridge\ninterfaces: []\n", 2, "role", "duplicate"),
    ("role: station\ninterfaces: [{name: eth0}\n", 3, "(syntax)", "not valid YAML"),
    ("", 1, "(top level)", "empty"),
    ("- 1\n- 2\n", 1, "(top level)", "mapping"),
    ("role: bridge\ninterfaces: [{name: p1}]\npolicy: {mode: type_db}\n", 3, "policy.types",
     "at least one type"),
    ("role: bridge\ninterfaces: [{name: p1}]\npolicy:\n  types: [{type_id: 1, vlans: [1]}]\n", 4,
     "policy.types[0].vlans[0]", "2..4094"),
    ("role: bridge\ninterfaces: [{name: p1}]\npolicy:\n  types:\n    - {type_id: 1, vlans: [10], "
     "wildcard_vid: 11}\n", 5, "policy.types[0].wildcard_vid", "not in this type's vlans"),
    ("role: bridge\ninterfaces: [{name: p1}]\npolicy:\n  types:\n    - {type_id: 1}\n"
     "    - {type_id: 1}\n", 6, "policy.types[1]", "already defined"),
    ("role: bridge\ninterfaces:\n  - name: p1\n    vsis: []\n", 4, "interfaces[0].vsis",
     "stations only"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "field", "words"), BAD)
def test_bad_config(text: str, line: int, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "station.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("station.yaml", line, field), str(err)
    assert words in err.reason, str(err)
    assert str(err).startswith(f"station.yaml:{line}: {field}: ")


MAC1 = "02:00:00:00:00:01"
BASE_VSI = {
    "manager_id": "pkmgr",
    "type_id": 5,
    "type_version": 4,
    "vsiid": UUID1,
    "filters": [{"vid": 5, "mac": MAC1}],
}
VSI_BAD: list[tuple[dict[str, object], str, str, str, str]] = [
    # (changes to BASE_VSI, evb, variant, field after interfaces[0].vsis[0], words of the reason)
    ({"filters": [{"vid": 1, "mac": MAC1}]}, "{}", "std", ".filters[0].vid", "reserved"),
    ({"filters": [{"vid": 4095, "mac": MAC1}]}, "{}", "std", ".filters[0].vid", "reserved"),
    ({"filter_format": "vid", "filters": [{"vid": 0}, {"vid": 5}]}, "{}", "std", ".filters",
     "only entry"),
    ({"filters": [{"vid": 5, "mac": "01:00:5e:00:00:01"}]}, "{}", "std", ".filters[0].mac",
     "multicast"),
    ({"filters": [{"vid": 5, "mac": "00:00:00:00:00:00"}]}, "{}", "std", ".filters[0].mac",
     "all-zero"),
    ({"filters": [{"vid": 5, "mac": "zz"}]}, "{}", "std", ".filters[0].mac", "MAC address"),
    ({"filters": [{"vid": 5}]}, "{}", "std", ".filters[0].mac", "required"),
    ({"filter_format": "group-vid", "filters": [{"vid": 5, "group_id": 7}]}, "{}", "std",
     ".filter_format", "gid"),
    ({"filter_format": "group-vid", "filters": [{"vid": 5}]}, "{gid: true}", "std",
     ".filters[0].group_id", "required"),
    ({"filter_format": "vid", "filters": [{"vid": 5, "mac": MAC1}]}, "{}", "std",
     ".filters[0].mac", "not used"),
    ({"filters": []}, "{}", "std", ".filters", "at least one"),
    ({"filters": [{"vid": 5, "mac": MAC1}, {"vid": 6, "mac": MAC1}]}, "{}", "std", ".filters",
     "twice"),
    ({"filters": [{"vid": 5, "mac": f"02:00:00:00:01:{i:02x}"} for i in range(61)]}, "{}", "std",
     ".filters", "at most 60"),
    ({"manager_id": "a-b!"}, "{}", "std", ".manager_id", "manager ID"),
    ({"type_id": 16777216}, "{}", "std", ".type_id", "0..16777215"),
    ({"type_version": 256}, "{}", "std", ".type_version", "0..255"),
    ({"type_version": "four"}, "{}", "std", ".type_version", "got 'four'"),
    ({"vsiid": "not-a-uuid"}, "{}", "std", ".vsiid", "VSI ID"),
    ({"vsiid": "00000000-0000-0000-8000-000000000001"}, "{}", "std", ".vsiid", "first 8 octets"),
    ({"vsiid_format": "ipv4", "vsiid": "0.0.0.0"}, "{}", "std", ".vsiid", "not a VSI ID"),
    ({"vsiid_format": "mac", "vsiid": "ff:ff:ff:ff:ff:ff"}, "{}", "std", ".vsiid", "multicast"),
    ({"mode": "deassoc"}, "{}", "std", ".mode", "preassoc, preassoc-rr, assoc"),
    ({"hints": "sideways"}, "{}", "std", ".hints", "none, to, from"),
    ({"filter_format": "vid", "filters": [{"vid": 5}],
      "vm_interface": {"create": "macvtap", "name": "vm0"}}, "{}", "std", ".vm_interface", "MAC"),
    ({"vm_interface": {"create": "tap", "name": "vm0"}}, "{}", "std", ".vm_interface.create",
     "macvlan, macvtap"),
    ({}, "{}", "draft", ".manager_id", "1-octet"),
    ({"manager_id": 3, "filters": [{"vid": 5, "mac": MAC1, "pcp": 3}]}, "{}", "draft",
     ".filters[0].pcp", "no priority"),
    ({"manager_id": 3, "filter_format": "vid", "filters": [{"vid": 5}]}, "{}", "draft",
     ".filter_format", "only mac-vid"),
    ({"colour": "red"}, "{}", "std", ".colour", "unknown key"),
    ({"type_ids": 5}, "{}", "std", ".type_ids", "did you mean 'type_id'"),
]  # fmt: skip


def vsi_doc(vsi: dict[str, object], evb: str = "{}", variant: str = "std") -> str:
    flow = yaml.safe_dump(vsi, default_flow_style=True, width=1 << 20).strip()
    return (
        "role: station\ninterfaces:\n  - name: eth0\n"
        f"    variant: {variant}\n    evb: {evb}\n    vsis:\n      - {flow}\n"
    )


@pytest.mark.parametrize(("change", "evb", "variant", "suffix", "words"), VSI_BAD)
def test_bad_vsi(
    change: dict[str, object], evb: str, variant: str, suffix: str, words: str
) -> None:
    text = vsi_doc({**BASE_VSI, **change}, evb, variant)
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "s.yaml")
    err = info.value
    assert err.field == "interfaces[0].vsis[0]" + suffix, str(err)
    assert err.line == 7, str(err)
    assert words in err.reason, str(err)


def test_good_vsi_variants() -> None:
    for change in (
        {"filter_format": "vid", "filters": [{"vid": 0, "pcp": 5}]},
        {"vsiid_format": "ipv4", "vsiid": "10.0.0.5", "manager_id": "10.0.0.1"},
        {"vsiid_format": "ipv6", "vsiid": "2001:db8::5", "manager_id": "2001:db8::1"},
        {"vsiid_format": "local", "vsiid": "00112233445566778899aabbccddeeff", "manager_id": 12},
        {"manager_id": "0123456789abcdef0123456789abcdef"},
    ):
        cfg = load_config_text(vsi_doc({**BASE_VSI, **change}), "s.yaml")
        assert isinstance(cfg, StationConfig)
    cfg = load_config_text(
        vsi_doc(
            {
                **BASE_VSI,
                "filter_format": "group-mac-vid",
                "filters": [{"vid": 0, "mac": MAC1, "group_id": 0x12345}],
            },
            "{gid: true}",
        ),
        "s.yaml",
    )
    assert isinstance(cfg, StationConfig)
    assert cfg.interfaces[0].vsis[0].filters[0].group_id == 0x12345


def test_duplicate_vsi_key() -> None:
    one = yaml.safe_dump(BASE_VSI, default_flow_style=True, width=1 << 20).strip()
    text = f"role: station\ninterfaces:\n  - name: eth0\n    vsis:\n      - {one}\n      - {one}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "s.yaml")
    assert info.value.line == 6 and info.value.field == "interfaces[0].vsis[1]"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_station_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"role: station\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: \(file\): not UTF-8"):
        check_config(bad)


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    # 10^9 nodes once expanded; the reader's node budget stops it early
    text = "\n".join(lines) + "\nrole: station\ninterfaces: *a8\n"
    with pytest.raises(ConfigError):
        load_config_text(text, "bomb.yaml")


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_config_text(
            "role: station\ninterfaces: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml"
        )


# --- totality: random documents raise ConfigError or nothing ---------------------------------

KEYS = [
    "role", "daemon", "interfaces", "name", "variant", "lldp", "transport", "socket", "evb", "r",
    "rte", "rwd", "rka", "rrreq", "rrcap", "gid", "ecp", "mtu", "vsis", "manager_id", "type_id",
    "type_version", "vsiid", "vsiid_format", "filters", "filter_format", "vid", "mac", "pcp",
    "group_id", "mode", "hints", "vm_interface", "create", "netns", "policy", "types", "vlans",
    "metrics", "listen", "log", "format", "level", "state_file", "rate_limit", "wildcard_vid",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["station", "bridge", "std", "draft", "own", "lldpd", UUID1, MAC1, "pkmgr",
                     "127.0.0.1:9488", "mac-vid", "vid", "group-vid", "assoc", "uuid", "200-299"]),
)  # fmt: skip
DOCS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), children, max_size=6
        ),
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=DOCS, role=st.sampled_from(["station", "bridge", None]))
def test_random_documents_only_raise_config_error(doc: object, role: str | None) -> None:
    if isinstance(doc, dict) and role is not None:
        doc = {"role": role, **doc}
    text = yaml.safe_dump(doc)
    try:
        load_config_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml:")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_only_raises_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        load_config_text(text, "fuzz.yaml")


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, 10_000), data=st.data())
def test_mutated_example_only_raises_config_error(cut: int, data: st.DataObject) -> None:
    text = (EXAMPLES / "station.yaml").read_text()
    cut %= len(text) + 1
    junk = data.draw(st.text(max_size=8))
    with contextlib.suppress(ConfigError):
        load_config_text(text[:cut] + junk + text[cut:], "fuzz.yaml")
