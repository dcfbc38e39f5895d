"""Property tests: mutated specs, cost profiles and target tables, and corrupted artifacts,
never produce a traceback; the command exits 2 with one message of at most 3 lines, or 0
when the mutation happens to leave a valid input. Each property stays under ~20 s."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.costs import load_profile
from neuropc.errors import NeuropcError
from tests.neuropc.cli.bad_input_helpers import (
    ROOT,
    rewrite_member,
    run,
    small_spec_data,
    snapshot,
    write_yaml,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e21, -1e15, 10**12, 0, -1, 0.5]),
    st.text(max_size=12), st.sampled_from(["", ".nan", "1e12", "copy", "loihi2", "adam"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=6), SCALARS, max_size=3))


def _paths(node: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path of a YAML document (mappings and list items)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, document: dict) -> dict:
    """``document`` with one to three changes: a key deleted, a value replaced by a random
    scalar, list or mapping (wrong types, NaN/inf, huge numbers), or a stray key added."""
    data = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return data


def _assert_clean(result, what: object) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, what, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert 1 <= len(lines) <= 3, (result.output, what)
        assert "pydantic" not in result.output and "[type=" not in result.output, result.output


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    write_yaml(folder / "net.yaml", small_spec_data())
    assert run(["compile", folder / "net.yaml", "-o", folder / "net.npc"]).exit_code == 0
    return folder


@FUZZ
@given(data=mutated(small_spec_data()))
def test_mutated_specs_are_checked_or_refused_cleanly(data: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_yaml(Path(folder) / "net.yaml", data)
        _assert_clean(run(["check", path]), data)


@FUZZ
@given(data=mutated(yaml.safe_load((ROOT / "compiler" / "targets" / "loihi2.yaml").read_text())))
def test_mutated_target_tables_compile_or_are_refused_cleanly(data: dict, workspace: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        table = write_yaml(Path(folder) / "table.yaml", data)
        before = snapshot(workspace)
        result = run(["compile", workspace / "net.yaml", "-o", Path(folder) / "out.npc", "--target", table])
        _assert_clean(result, data)
        assert snapshot(workspace) == before


PROFILE = {"base": "loihi", "name": "mine", "kind": "neuromorphic",
           "constants": {"synaptic_op": {"value": 20.0, "unit": "pJ", "source": "bench", "provenance": "measured"},
                         "hop": {"value": 3.0, "unit": "pJ", "source": "bench", "provenance": "assumed"}}}


LOIHI = yaml.safe_load((ROOT / "hwsim" / "profiles" / "loihi.yaml").read_text())


@FUZZ
@given(data=st.one_of(mutated(PROFILE), mutated(LOIHI)))
def test_mutated_cost_profiles_load_or_are_refused_cleanly(data: dict) -> None:
    """The profile loader (what --profile and --vs run before simulating): a profile, or a
    NeuropcError of at most 3 lines; never another exception."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_yaml(Path(folder) / "profile.yaml", data)
        try:
            load_profile(str(path))
        except NeuropcError as exc:
            assert 1 <= len(str(exc).splitlines()) <= 3, str(exc)
            assert "pydantic" not in str(exc) and "[type=" not in str(exc), str(exc)


MEMBERS = ["manifest.json", "program.json", "target.json", "placement.json", "graph.json", "report.json",
           "channels.npz", "placement.npz", "params.npz", "spec.resolved.yaml"]
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                     st.floats(allow_nan=False, allow_infinity=False)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=6)


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, object]:
    kind = draw(st.sampled_from(["flip", "truncate", "member-json", "member-bytes", "member-mutated", "drop"]))
    if kind == "flip":
        return kind, draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                   min_size=1, max_size=4))
    if kind == "truncate":
        return kind, draw(st.floats(0, 1, exclude_max=True))
    member = draw(st.sampled_from(MEMBERS))
    if kind == "member-json":
        return kind, (member, json.dumps(draw(JSON_VALUES)).encode())
    if kind == "member-bytes":
        return kind, (member, draw(st.binary(max_size=64)))
    if kind == "drop":
        return kind, (member, None)
    return kind, (member, draw(st.integers(0, 10**6)), draw(JSON_VALUES), draw(st.booleans()))


def _mutate_json(raw: bytes, seed: int, value: object, delete: bool) -> bytes:
    """One key of a JSON document (chosen by ``seed``) deleted or replaced by ``value``."""
    document = json.loads(raw)
    paths = list(_paths(document))
    if not paths:
        return json.dumps(value).encode()
    path = paths[seed % len(paths)]
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(document).encode()


@FUZZ
@given(damage=corruption())
def test_corrupted_artifacts_are_refused_cleanly(damage: tuple[str, object], workspace: Path) -> None:
    import io
    import zipfile

    from compiler.artifact import HEADER_SIZE

    kind, detail = damage
    data = (workspace / "net.npc").read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "bad.npc"
        if kind == "flip":
            out = bytearray(data)
            for where, mask in detail:
                out[int(where * len(out))] ^= mask
            bad.write_bytes(bytes(out))
        elif kind == "truncate":
            bad.write_bytes(data[: int(detail * len(data))])
        elif kind == "member-mutated":
            member, seed, value, delete = detail
            raw = zipfile.ZipFile(io.BytesIO(data[HEADER_SIZE:])).read(member)
            content = (_mutate_json(raw, seed, value, delete) if member.endswith(".json")
                       else raw[: seed % (len(raw) + 1)])
            rewrite_member(workspace / "net.npc", bad, member, content)
        else:
            member, content = detail
            rewrite_member(workspace / "net.npc", bad, member, content)
        for args in (["inspect", bad], ["inspect", bad, "--core", "0"]):
            _assert_clean(run(args), damage)
