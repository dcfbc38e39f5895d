"""Cost profiles: every shipped constant is sourced and flagged; bad files fail clearly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from hwsim.costs import (
    PROVENANCES,
    REQUIRED,
    UNITS,
    Constant,
    load_profile,
    parse_profile,
    parse_unit,
    shipped_profiles,
)
from neuropc.errors import NeuropcError
from tests.approx import close

SHIPPED = ["cpu-45nm", "gpu-h100", "jetson-orin-nano", "loihi", "loihi-sanafe", "loihi2-estimate",
           "spinnaker2-estimate"]
PROFILE_DIR = Path(__file__).resolve().parents[2] / "hwsim" / "profiles"


def test_the_shipped_profiles_ship_as_package_data():
    assert shipped_profiles() == SHIPPED
    assert sorted(p.stem for p in PROFILE_DIR.glob("*.yaml")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_constant_has_value_unit_source_and_provenance(name):
    profile = load_profile(name)
    assert profile.name == name
    assert set(REQUIRED[profile.kind]) <= set(profile.constants)
    for key, constant in profile.constants.items():
        assert constant.provenance in PROVENANCES, key
        assert len(constant.source.strip()) > 10, key
        assert math.isfinite(constant.value) and constant.value >= 0, key
        parse_unit(constant.unit)
    # the raw file states all four fields itself for every constant (no defaults hide a gap)
    raw = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())
    for key, entry in raw["constants"].items():
        assert {"value", "unit", "source", "provenance"} <= set(entry), key


def test_loihi_table_2_numbers_are_flagged_simulated_not_measured():
    loihi = load_profile("loihi")
    table = {"synaptic_op": 23.6, "learning_weight_update": 120.0, "neuron_update": 81.0,
             "neuron_update_inactive": 52.0, "message": 1.7, "hop_east_west": 3.0, "hop_north_south": 4.0}
    for key, value in table.items():
        constant = loihi.constant(key)
        assert (constant.value, constant.unit, constant.provenance) == (value, "pJ", "simulated"), key
        assert "Davies" in constant.source and "Table 2" in constant.source
    assert loihi.constant("hop").value == close((3.0 + 4.0) / 2)
    # only the static power and the multi-chip barrier are measured (Frady et al. 2020), no event energy
    assert not any(c.provenance == "measured" for c in loihi.constants.values() if c.dimension == "energy")


def test_loihi2_estimate_is_loihi_scaled_and_all_assumed():
    loihi, loihi2 = load_profile("loihi"), load_profile("loihi2-estimate")
    scale = loihi2.constant("process_scaling").value
    assert scale == 0.5
    low, high = loihi2.constant("process_scaling").low, loihi2.constant("process_scaling").high
    assert (low, high) == (0.3, 1.0)
    for key, constant in loihi2.constants.items():
        assert constant.provenance == "assumed" or key == "cores_on_chip", key
        if key != "process_scaling" and constant.dimension == "energy":
            assert constant.value == close(loihi.constant(key).value * scale), key
            assert constant.unit == loihi.constant(key).unit
            # the band is loihi x 0.3 up to loihi's own value (or its silicon-fitted high end)
            assert constant.low == close(loihi.constant(key).at("low").value * low), key
            assert constant.high == close(loihi.constant(key).at("high").value * high), key


def test_spinnaker2_estimate_assumes_its_mac_and_reuses_spinnaker1_packet_energy():
    profile = load_profile("spinnaker2-estimate")
    assert all(c.provenance == "assumed" for c in profile.constants.values())
    assert "Horowitz" in profile.constant("synaptic_op").source
    assert profile.joules("message") == close(0.8e-9)
    assert "SpiNNaker 1" in profile.constant("message").source
    scaling = profile.constant("voltage_node_scaling").value
    assert scaling == close(22 / 45 * (0.5 / 0.9) ** 2, rel=1e-2)
    assert profile.constant("synaptic_op").value == close((0.2 + 0.1 + 10 / 8) * scaling, rel=1e-2)


def test_conventional_profiles_follow_their_datasheets():
    cpu = load_profile("cpu-45nm")
    assert cpu.joules("mac") == close((3.7 + 0.9) * 1e-12)
    assert cpu.joules_per_byte("onchip_access") == close(10e-12 / 8)
    assert cpu.joules_per_byte("offchip_access") == close((1.3 + 2.6) / 2 * 1e-9 / 8)
    assert cpu.constant("offchip_access").provenance == "assumed"  # the midpoint is our choice
    assert cpu.onchip_capacity_bytes == 8 * 2**20
    gpu = load_profile("gpu-h100")
    assert gpu.joules("fp32_flop") == close(700 / 66.9e12, rel=1e-3)
    assert gpu.joules("mac") == close(2 * 700 / 66.9e12, rel=1e-3)
    assert gpu.joules_per_byte("offchip_access") == close(700 / 3.35e12, rel=1e-3)
    assert gpu.onchip_capacity_bytes == 50_000_000


#: every unit a profile may use and its factor to SI, written out here rather than read from
#: hwsim.costs: a user's file priced in nJ or GiB must convert as the physics says
SI: dict[str, tuple[str, float]] = {
    "fJ": ("energy", 1e-15), "pJ": ("energy", 1e-12), "nJ": ("energy", 1e-9), "uJ": ("energy", 1e-6),
    "mJ": ("energy", 1e-3), "J": ("energy", 1.0),
    "B": ("capacity", 1.0), "kB": ("capacity", 1e3), "MB": ("capacity", 1e6), "GB": ("capacity", 1e9),
    "KiB": ("capacity", 1024.0), "MiB": ("capacity", 1024.0**2), "GiB": ("capacity", 1024.0**3),
    "ps": ("time", 1e-12), "ns": ("time", 1e-9), "us": ("time", 1e-6), "ms": ("time", 1e-3), "s": ("time", 1.0),
    "uW": ("power", 1e-6), "mW": ("power", 1e-3), "W": ("power", 1.0),
    "GFLOPS": ("rate", 1e9), "TFLOPS": ("rate", 1e12),
    "GB/s": ("bandwidth", 1e9), "TB/s": ("bandwidth", 1e12),
    "1": ("ratio", 1.0),
}
#: bytes per unit of data in an energy-per-data unit (pJ/bit is 8 pJ per byte)
DATA_BYTES = {"bit": 1 / 8, "byte": 1.0, "64bit": 8.0}


def expected_units() -> dict[str, tuple[str, float]]:
    per_data = {f"{energy}/{data}": ("energy_per_data", factor / nbytes)
                for energy, (dimension, factor) in SI.items() if dimension == "energy"
                for data, nbytes in DATA_BYTES.items()}
    return {**SI, **per_data}


def test_every_unit_converts_to_its_si_factor():
    expected = expected_units()
    assert set(UNITS) == set(expected)
    for unit, (dimension, factor) in expected.items():
        got_dimension, got = parse_unit(unit)
        assert got_dimension == dimension and math.isclose(got, factor, rel_tol=1e-12), unit  # no absolute slack


@pytest.mark.parametrize("unit", ["pj", "pJ/furlong", "furlong/bit", "pJ/", "/bit", "GiB/s", ""])
def test_an_unknown_unit_is_refused_with_the_list_of_known_ones(unit):
    with pytest.raises(ValueError, match=f"unknown unit {unit!r}.*pJ/bit"):
        parse_unit(unit)


def constant(**fields) -> Constant:
    return Constant(**{"value": 2.0, "unit": "pJ", "source": "s", "provenance": "assumed", **fields})


@pytest.mark.parametrize(("low", "high", "ranged", "text"), [
    (None, None, False, "2 pJ"),
    (2.0, 2.0, False, "2 pJ"),
    (2.0, None, False, "2 pJ"),
    (1.0, None, True, "2 pJ (1-2)"),
    (None, 3.0, True, "2 pJ (2-3)"),
    (2.0, 3.0, True, "2 pJ (2-3)"),
    (1.0, 2.0, True, "2 pJ (1-2)"),
    (1.0, 3.0, True, "2 pJ (1-3)"),
])
def test_a_constant_has_a_range_when_an_end_differs_from_its_value(low, high, ranged, text):
    c = constant(low=low, high=high)
    assert c.has_range is ranged
    assert c.range_text() == text
    assert c.at("value") is c
    assert c.at("low").value == (2.0 if low is None else low)
    assert c.at("high").value == (2.0 if high is None else high)


def test_a_profile_at_a_corner_moves_only_the_constants_asked_for():
    gpu = load_profile("gpu-h100")
    first, *others = gpu.ranged()
    assert others and gpu.constant(first).low is not None
    one = gpu.at("low", [first])
    assert one.constant(first) == gpu.constant(first).at("low") != gpu.constant(first)
    assert all(one.constant(k) == gpu.constant(k) for k in others)
    every = gpu.at("low")
    assert all(every.constant(k) == gpu.constant(k).at("low") for k in gpu.constants)
    assert sum(every.constant(k) != gpu.constant(k) for k in gpu.ranged()) > 1
    assert one.name == every.name == gpu.name
    assert gpu.with_constants({}, name="scenario").name == "scenario"


# --- user profiles -------------------------------------------------------------------------

def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_user_file_overrides_and_adds_constants_on_a_shipped_base(tmp_path):
    path = write(tmp_path, "bench.yaml", """\
base: loihi
constants:
  synaptic_op: {value: 20.0, unit: pJ, source: "our bench, chip 7", provenance: measured}
  board_static:
    value: 1.2
    unit: nJ
    source: "our bench"
    provenance: measured
""")
    profile = load_profile(path)
    loihi = load_profile("loihi")
    assert profile.name == "loihi+bench" and profile.kind == "neuromorphic"
    assert profile.constant("synaptic_op").value == 20.0
    assert profile.constant("synaptic_op").provenance == "measured"
    assert profile.constant("board_static").value == 1.2
    assert profile.constant("neuron_update") == loihi.constant("neuron_update")
    assert profile.overridden == {"synaptic_op", "board_static"}
    assert profile.files[-1] == str(path)


def test_a_user_file_can_build_on_another_user_file(tmp_path):
    write(tmp_path, "first.yaml", "base: cpu-45nm\nconstants:\n"
          "  onchip_capacity: {value: 1, unit: KiB, source: tiny, provenance: assumed}\n")
    path = write(tmp_path, "second.yaml", "base: ./first.yaml\nname: tiny-cpu\nconstants:\n"
                 "  mac: {value: 1.0, unit: pJ, source: mine, provenance: assumed}\n")
    profile = load_profile(path)
    assert profile.name == "tiny-cpu"
    assert profile.onchip_capacity_bytes == 1024 and profile.joules("mac") == 1e-12
    assert profile.overridden == {"onchip_capacity", "mac"}


BAD = [
    pytest.param("base: loihi\nconstants:\n  hop:\n    value: 3.0\n    unit: pJ\n    source: x\n"
                 "    provenance: measureed\n",
                 [":7:", "constants.hop.provenance", "unknown provenance 'measureed'", "measured, simulated"],
                 id="unknown-provenance"),
    pytest.param("base: loihi\nconstants:\n  hop:\n    value: 3.0\n    unit: pJ\n    provenance: assumed\n",
                 [":3:", "constants.hop.source", "source is missing"], id="missing-source"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, unit: pJ, source: '  ', provenance: assumed}\n",
                 [":3:", "constants.hop.source", "blank"], id="blank-source"),
    pytest.param("base: loihi\nconstants:\n  hop:\n    value: -3.0\n    unit: pJ\n    source: x\n"
                 "    provenance: assumed\n",
                 [":4:", "constants.hop.value", "negative energy: -3 pJ"], id="negative-energy"),
    pytest.param("base: loihi\nconstants:\n  hop:\n    value: 3.0\n    unit: picojoule\n    source: x\n"
                 "    provenance: assumed\n",
                 [":5:", "constants.hop.unit", "unknown unit 'picojoule'", "pJ/bit"], id="unknown-unit"),
    pytest.param("base: cpu-45nm\nconstants:\n  offchip_access:\n    value: 2.0\n    unit: nJ\n"
                 "    source: x\n    provenance: assumed\n",
                 [":5:", "constants.offchip_access.unit", "energy per unit of data"], id="unit-does-not-fit"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: '1e-12', unit: J, source: x, provenance: assumed}\n",
                 [":3:", "constants.hop.value", "must be a number", "1.0e-12"], id="number-as-text"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: .nan, unit: J, source: x, provenance: assumed}\n",
                 [":3:", "constants.hop.value", "must be a finite number"], id="nan"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, unit: pJ, source: x, provenance: assumed,"
                 " sorce: y}\n",
                 [":3:", "constants.hop.sorce", "unknown key"], id="unknown-field"),
    pytest.param("base: loihi\ncostants: {}\n", [":2:", "costants", "unknown key (a profile has name, base, kind"],
                 id="unknown-top-key"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, unit: pJ, provenance: assumed}\n"
                 "  message: {value: 3.0, unit: pJ, provenance: assumed}\n"
                 "  synaptic_op: {value: 3.0, unit: pJ, provenance: assumed}\n",
                 [":3:", ":4:", ":5:", "constants.synaptic_op.source"], id="three-problems-all-listed"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, unit: pJ, provenance: assumed}\n"
                 "  message: {value: 3.0, unit: pJ, provenance: assumed}\n"
                 "  synaptic_op: {value: 3.0, unit: pJ, provenance: assumed}\n"
                 "  neuron_update: {value: 3.0, unit: pJ, provenance: assumed}\n",
                 [":3:", ":4:", "... and 2 more problems (fix these first)"], id="four-problems-two-listed"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, unit: pJ, source: x}\n",
                 [":3:", "constants.hop.provenance", "provenance is missing (one of measured, simulated, derived,"
                  " assumed)"], id="missing-provenance"),
    pytest.param("name: mine\nkind: neuromorphc\n",
                 [":2:", "kind", "unknown kind 'neuromorphc' (expected neuromorphic or conventional)"],
                 id="unknown-kind"),
    pytest.param("base: loihi\nconstants:\n  hop: 3.0\n", [":3:", "constants.hop", "must be a mapping of fields"
                                                               " (got 3.0)"], id="constant-not-a-mapping"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, low: -1.0, unit: pJ, source: x,"
                 " provenance: assumed}\n", [":3:", "constants.hop.value", "negative energy: -1 pJ"],
                 id="negative-low-end"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, low: 4.0, unit: pJ, source: x,"
                 " provenance: assumed}\n", [":3:", "constants.hop", "the range must hold the value: low 4 <= value 3"],
                 id="range-without-its-value"),
    pytest.param("base: loihi\nconstants:\n  synaptic_ops: {value: 3.0, unit: pJ, source: x, provenance: assumed}\n",
                 [":3:", "constants.synaptic_ops", "did you mean 'synaptic_op'"], id="misspelt-constant"),
    pytest.param("base: loihi3\n", [":1:", "base", "unknown base 'loihi3'", "loihi2-estimate"], id="unknown-base"),
    pytest.param("base: loihi\nkind: conventional\n", [":2:", "kind", "does not match"], id="kind-mismatch"),
    pytest.param("name: mine\nkind: neuromorphic\nconstants:\n"
                 "  synaptic_op: {value: 3.0, unit: pJ, source: x, provenance: assumed}\n",
                 [":3:", "missing required constant", "neuron_update", "hop"], id="incomplete-profile"),
    pytest.param("base: loihi\nconstants:\n  hop: {value: 3.0, unit: pJ, source: x, provenance: assumed}\n"
                 "  hop: {value: 4.0, unit: pJ, source: x, provenance: assumed}\n",
                 [":4:", "duplicate key 'hop'"], id="duplicate-key"),
    pytest.param("base: loihi\nconstants: [\n", ["malformed YAML"], id="malformed-yaml"),
    pytest.param("", ["profile is empty"], id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_a_bad_profile_file_names_file_line_and_key(tmp_path, text, expected):
    path = write(tmp_path, "my.yaml", text)
    with pytest.raises(NeuropcError) as error:
        load_profile(path)
    message = str(error.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message, message
    assert "Value error" not in message and "Traceback" not in message


def test_a_list_where_a_mapping_belongs_is_named_without_echoing_it(tmp_path):
    path = write(tmp_path, "my.yaml", "base: loihi\nconstants: [hop, message]\n")
    with pytest.raises(NeuropcError, match="constants: must be a mapping of fields$"):
        load_profile(path)


def test_profile_bases_may_not_form_a_cycle(tmp_path):
    write(tmp_path, "a.yaml", "base: ./b.yaml\n")
    write(tmp_path, "b.yaml", "base: ./a.yaml\n")
    with pytest.raises(NeuropcError, match="cycle"):
        load_profile(tmp_path / "a.yaml")


def test_unknown_profile_names_list_the_shipped_ones(tmp_path):
    with pytest.raises(NeuropcError, match="unknown cost profile 'loihi3'.*loihi2-estimate"):
        load_profile("loihi3")
    with pytest.raises(NeuropcError, match="no such file"):
        load_profile(tmp_path / "missing.yaml")


def test_a_name_is_a_shipped_profile_and_a_path_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "loihi", "name: my-chip\nkind: neuromorphic\ndescription: a user's own chip\nconstants:\n"
          + "".join(f"  {key}: {{value: 1.0, unit: pJ, source: x, provenance: assumed}}\n"
                    for key in REQUIRED["neuromorphic"]))
    assert load_profile("loihi").name == "loihi"
    mine = load_profile(Path("loihi"))
    assert (mine.name, mine.description) == ("my-chip", "a user's own chip")
    assert load_profile(str(tmp_path / "loihi")).name == "my-chip"  # no .yaml suffix: still a file


def test_a_file_on_a_base_keeps_the_base_description_and_boundary_unless_it_gives_its_own(tmp_path):
    cpu = load_profile("cpu-45nm")
    inherits = load_profile(write(tmp_path, "a.yaml", "base: cpu-45nm\n"))
    assert (inherits.description, inherits.boundary) == (cpu.description, cpu.boundary) != ("", None)
    own = load_profile(write(tmp_path, "b.yaml", "base: cpu-45nm\ndescription: mine\nboundary: whole board\n"))
    assert (own.description, own.boundary) == ("mine", "whole board")
    assert own.label == "cpu-45nm+b (whole board)"


def test_parse_profile_resolves_a_relative_base_against_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "first.yaml", "base: cpu-45nm\nconstants:\n"
          "  mac: {value: 2.0, unit: pJ, source: mine, provenance: assumed}\n")
    assert parse_profile("base: ./first.yaml\n", "inline").joules("mac") == 2e-12


def test_parse_profile_validates_text_without_a_file():
    profile = parse_profile("base: gpu-h100\nconstants:\n"
                            "  offchip_access: {value: 5.0, unit: pJ/bit, source: device-level HBM,"
                            " provenance: assumed}\n", "inline")
    assert profile.joules_per_byte("offchip_access") == close(40e-12)
    with pytest.raises(NeuropcError, match="^inline:3: constants.offchip_access.value: negative energy"):
        parse_profile("base: gpu-h100\nconstants:\n"
                      "  offchip_access: {value: -5.0, unit: pJ/bit, source: x, provenance: assumed}\n", "inline")


def test_the_energy_model_doc_lists_every_shipped_constant_as_shipped():
    doc = (PROFILE_DIR.parents[1] / "docs" / "energy_model.md").read_text()
    for name in SHIPPED:
        section = doc.split(f"### `{name}`", 1)[1].split("###", 1)[0]
        for key, constant in load_profile(name).constants.items():
            row = f"| `{key}` | {constant.value:g} {constant.unit} | {constant.provenance} |"
            assert row in section, f"{name}: {row}"


@pytest.mark.parametrize("field", ["name", "base", "target", "boundary"])
def test_a_named_field_may_be_one_character_but_not_empty(field):
    other = "" if field == "base" else "base: loihi\n"
    with pytest.raises(NeuropcError, match=f"inline:\\d: {field}: String should have at least 1 character"):
        parse_profile(f"{other}{field}: ''\n", "inline")
    if field == "base":
        with pytest.raises(NeuropcError, match="unknown base 'x'"):  # refused as unknown, not as too short
            parse_profile("base: x\n", "inline")
    else:
        assert getattr(parse_profile(f"{other}{field}: x\n", "inline"), field) == "x"


def test_of_many_problems_the_first_two_are_named(tmp_path):
    path = write(tmp_path, "my.yaml", "base: loihi\nconstants:\n" + "".join(
        f"  {key}: {{value: 3.0, unit: pJ, provenance: assumed}}\n"
        for key in ("hop", "message", "synaptic_op", "neuron_update")))
    with pytest.raises(NeuropcError) as error:
        load_profile(path)
    lines = str(error.value).splitlines()
    assert [line.split(": ")[1] for line in lines[:2]] == ["constants.hop.source", "constants.message.source"]
    assert lines[2:] == ["... and 2 more problems (fix these first)"]
