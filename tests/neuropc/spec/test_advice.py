"""The warning for too few inference iterations says something true: the LRU gets zero updates."""

from __future__ import annotations

import numpy as np
import pytest

from neuropc.reference.network import Architecture, params_from_spec
from neuropc.reference.rules import sequence_updates
from neuropc.spec.advice import spec_warnings
from neuropc.tasks import task_from_spec
from tests.conftest import small_spec

LRU = ("nu", "theta", "gamma_log", "B_re", "B_im")


def _lru_updates(spec) -> dict[str, np.ndarray]:
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec, seed=3)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(3), 2)
    updates, _ = sequence_updates(arch, spec.rule, params, batch)
    return {name: updates[name] for name in LRU if name in updates}


@pytest.mark.parametrize("fixed", [True, False])
def test_too_few_iterations_warn_and_freeze_the_lru(copy_spec, fixed) -> None:
    spec = small_spec(copy_spec, hidden=(4,), **{"rule.inference.iterations": 1,
                                                  "rule.inference.fixed_prediction": fixed})
    (warning,) = spec_warnings(spec)
    assert "iterations is 1" in warning and "2 value layer" in warning
    assert all(not value.any() for value in _lru_updates(spec).values())


def test_enough_iterations_do_not_warn_and_the_lru_learns(copy_spec) -> None:
    spec = small_spec(copy_spec, hidden=(4,), **{"rule.inference.iterations": 2})
    assert spec_warnings(spec) == []
    assert all(value.any() for value in _lru_updates(spec).values())


def test_rules_without_inference_never_warn(copy_spec) -> None:
    spec = small_spec(copy_spec, rule="bptt", **{"rule.inference.iterations": 0})
    assert spec_warnings(spec) == []
