"""The .npc artifact: lossless round trip, refusal of damaged files, safe overwriting, and
loading without the compiler's passes."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
from npc_specs import ROOT, tiny_spec

from compiler.artifact import (
    HEADER_SIZE,
    ArtifactError,
    build_members,
    load_artifact,
    write_artifact,
)
from compiler.pipeline import artifact_contents, compile_spec
from compiler.program import CHANNEL_COLUMNS


@pytest.fixture(scope="module")
def compiled():
    spec = tiny_spec(**{"hardware": {"target": "loihi2",
                                     "overrides": {"compartments_per_core": 16}}})
    return compile_spec(spec)


@pytest.fixture()
def written(compiled, tmp_path):
    path = tmp_path / "net.npc"
    write_artifact(path, build_members(**artifact_contents(compiled, "name: tiny\n")))
    return path


def test_round_trip_is_lossless(compiled, written) -> None:
    loaded = load_artifact(written)
    assert loaded.program.to_dict() == compiled.program.to_dict()
    for col in CHANNEL_COLUMNS:
        np.testing.assert_array_equal(getattr(loaded.program.channels, col),
                                      getattr(compiled.program.channels, col))
    assert loaded.program.channels.names == compiled.program.channels.names
    assert loaded.params.keys() == compiled.params.keys()
    for name, value in compiled.params.items():
        assert loaded.params[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded.params[name], value)  # bit-exact
    np.testing.assert_array_equal(loaded.placement_arrays["slot"], compiled.placement.slot)
    np.testing.assert_array_equal(loaded.placement_arrays["hops"], compiled.placement.hops)
    assert loaded.report == compiled.report
    assert loaded.spec_text == "name: tiny\n"
    assert "target: loihi2" in loaded.resolved_spec_text
    assert loaded.target == compiled.table.to_dict()
    # a weight buffer's initial value is its block of the reference parameters
    core = next(c for c in loaded.program.cores if c.layer == "hidden1")
    want = compiled.params["W1"][:, core.start:core.stop].T
    np.testing.assert_array_equal(loaded.initial_value(core.core, "WT"), want)


def test_a_flipped_byte_is_refused(written) -> None:
    data = bytearray(written.read_bytes())
    data[HEADER_SIZE + len(data) // 3] ^= 0x40
    written.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupted: SHA-256"):
        load_artifact(written)


def test_a_truncated_file_is_refused(written) -> None:
    data = written.read_bytes()
    written.write_bytes(data[:-100])
    with pytest.raises(ArtifactError, match="truncated"):
        load_artifact(written)
    written.write_bytes(data[:20])
    with pytest.raises(ArtifactError, match="truncated"):
        load_artifact(written)


def test_other_files_and_versions_are_refused(written, tmp_path) -> None:
    other = tmp_path / "net.yaml"
    other.write_text("name: x\n")
    with pytest.raises(ArtifactError, match="not a neuropc artifact"):
        load_artifact(other)
    data = bytearray(written.read_bytes())
    struct.pack_into("<I", data, 8, 99)
    written.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="format version 99 was written by a newer.*upgrade"):
        load_artifact(written)
    struct.pack_into("<I", data, 8, 1)
    written.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="format version 1, this neuropc reads version 2; "
                                            "recompile"):
        load_artifact(written)
    with pytest.raises(ArtifactError, match="no such artifact"):
        load_artifact(tmp_path / "missing.npc")


def test_overwriting_rules(compiled, written, tmp_path) -> None:
    members = build_members(**artifact_contents(compiled, "name: tiny\n"))
    write_artifact(written, members)  # replacing an artifact is fine
    precious = tmp_path / "notes.txt"
    precious.write_text("do not lose me")
    with pytest.raises(ArtifactError, match="not a neuropc artifact; refusing"):
        write_artifact(precious, members)
    assert precious.read_text() == "do not lose me"
    write_artifact(precious, members, force=True)
    assert load_artifact(precious).manifest["spec_name"] == compiled.spec.name


def test_loading_needs_no_compiler_passes(written) -> None:
    code = (
        "import sys\n"
        "from compiler.artifact import load_artifact\n"
        f"a = load_artifact({str(written)!r})\n"
        "passes = [m for m in sys.modules if m.split('.')[0] == 'compiler' and m not in "
        "('compiler', 'compiler.artifact', 'compiler.program')]\n"
        "assert not passes, passes\n"
        "assert len(a.program.cores) > 0\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
