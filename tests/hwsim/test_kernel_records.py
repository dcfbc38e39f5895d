"""The kernels' records held by reference (hwsim/kernels/records.py) share the named tuple's
arrays: what a kernel writes through a record is in the engine's arrays, and every field reads
back as the array it was built from."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hwsim.kernels.records import by_reference


class _Pair(NamedTuple):
    values: np.ndarray
    index: np.ndarray


class _Nested(NamedTuple):
    pair: _Pair
    scale: np.ndarray


@njit
def _scatter(nested):
    """values[index[j]] += scale[0] for every j, through the record."""
    pair = nested.pair
    for j in range(pair.index.shape[0]):
        pair.values[pair.index[j]] += nested.scale[0]
    return pair.values.sum()


def test_a_kernel_writes_through_a_record_into_the_named_tuples_arrays() -> None:
    values = np.zeros(5)
    nested = _Nested(_Pair(values, np.array([1, 3, 3], np.int64)), np.array([2.5]))
    record = by_reference(nested)
    total = _scatter(record)
    np.testing.assert_array_equal(values, [0.0, 2.5, 0.0, 5.0, 0.0])
    assert total == 7.5
    # the record is a reference: a second call sees the first one's writes
    assert _scatter(record) == 15.0
    assert _scatter(nested) == 22.5  # the same kernel on the named tuple itself agrees


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
