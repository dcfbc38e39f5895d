"""The kernels' records held by reference (hwsim/kernels/records.py) share the named tuples'
arrays: the kernels see what numpy writes into the engine's arena after the records exist, and
numpy sees what the kernels write."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from hwsim.kernels.records import by_reference


def test_only_the_kernels_records_are_passed_by_reference(copy_spec) -> None:
    # its on-disk cache would otherwise name a type other processes cannot import
    from compiler.pipeline import compile_artifact
    from hwsim.engine import Engine

    engine = Engine(compile_artifact(copy_spec.with_overrides({"recurrent.size": 4, "readout.hidden": [3]})), 1)
    with pytest.raises(TypeError, match="expected the kernels' State record, got _Pair"):
        by_reference(engine.enc.tables, _Pair(np.zeros(2)), engine._scratch[0])


class _Pair(NamedTuple):
    values: np.ndarray


def test_the_kernels_see_what_numpy_writes_into_the_engines_arena_after_the_records_exist(copy_spec) -> None:
    from compiler.pipeline import compile_artifact
    from hwsim.engine import Engine

    artifact = compile_artifact(copy_spec.with_overrides({"recurrent.size": 4, "readout.hidden": [3]}))
    engine = Engine(artifact, 2)  # its records are built here
    lanes, inputs = engine.lanes, engine.program.host_inputs["u"]
    u = np.ones((3, lanes, inputs))

    def logits() -> np.ndarray:
        engine.reset()
        return engine.run(u, np.zeros((3, lanes)), np.zeros((3, lanes)), train=False).logits

    engine.load_params({name: np.zeros_like(value) for name, value in artifact.params.items()})
    assert np.all(logits() == 0.0)
    engine.load_params(artifact.params)
    assert np.any(logits() != 0.0)
    # and numpy sees what the kernels write through the state record
    before = engine.mem.copy()
    engine.run(u, np.zeros((3, lanes)), np.ones((3, lanes)), train=True)
    assert not np.array_equal(engine.mem, before)


def test_records_are_built_by_compiled_code_only() -> None:
    from hwsim.kernels.records import _new_record

    with pytest.raises(TypeError, match="call by_reference"):
        _new_record(_Pair(np.zeros(2)))
