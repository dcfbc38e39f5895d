"""Filtering at deployment on hwsim: the same rollouts as the numpy reference, on a program
compiled for the filter, with the trained weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.pipeline import compile_artifact
from hwsim.backends import available_backends
from hwsim.filtering import deployment_spec
from hwsim.runner import simulate
from neuropc.reference.filtering import filtering_errors
from neuropc.reference.network import Architecture
from neuropc.spec import load_spec
from neuropc.tasks import task_from_spec
from neuropc.tasks.sysid import DEPLOYMENTS

ROOT = Path(__file__).resolve().parents[2]
KEYS = [f"eval_final_error_{way}" for way in DEPLOYMENTS]


def _spec():
    return load_spec(ROOT / "examples" / "sysid.yaml").with_overrides({
        "recurrent.size": 6, "readout.hidden": [5], "task.steps": 16,
        "task.filter": {"every": 3, "context": 4, "iterations": 6, "step": 0.3},
        "run.steps": 4, "run.batch": 4, "run.eval_every": 4, "run.eval_sequences": 6})


@pytest.fixture(scope="module")
def runs():
    artifact = compile_artifact(_spec())
    return {name: simulate(artifact, backend=name) for name in ("native", "interpreter")}


def test_the_filter_program_infers_with_a_moving_prediction_and_carries_the_inferred_state() -> None:
    spec = deployment_spec(_spec())
    assert spec.rule.name == "tpc" and spec.rule.carry == "inferred" and spec.rule.update == "sequence"
    assert (spec.rule.inference.iterations, spec.rule.inference.step) == (6, 0.3)
    assert not spec.rule.inference.fixed_prediction
    assert spec.readout == _spec().readout and spec.recurrent == _spec().recurrent


def test_hwsim_rolls_out_as_the_reference_does_with_the_same_weights(runs) -> None:
    spec = _spec()
    task = task_from_spec(spec.task)
    for result in runs.values():
        for row in result.metrics:
            assert all(row[key] is not None for key in KEYS), row
        final = result.final
        reference = filtering_errors(Architecture.from_spec(spec), result.params, task, spec.run.seed,
                                     spec.run.eval_sequences)
        for way in DEPLOYMENTS:
            assert final[f"eval_final_error_{way}"] == pytest.approx(reference[f"final_error_{way}"], rel=1e-9)
        # three different computations: observations as inputs, and inference on top of that
        values = [final[key] for key in KEYS]
        assert len(set(values)) == 3, values


def test_every_backend_reports_the_same_deployment_errors_and_the_rollouts_leave_the_weights_alone(runs) -> None:
    native, interpreter = runs["native"], runs["interpreter"]
    for a, b in zip(native.metrics, interpreter.metrics, strict=True):
        assert [a[key] for key in KEYS] == [b[key] for key in KEYS]
    # rollouts after every training step leave training as it was with rollouts only at the end
    often = simulate(compile_artifact(_spec().with_overrides({"run.eval_every": 1})), backend="native")
    assert len(often.metrics) == 5 and len(native.metrics) == 2
    for name, value in native.params.items():
        assert (often.params[name] == value).all(), name
    assert [often.final[key] for key in KEYS] == [native.final[key] for key in KEYS]


@pytest.mark.skipif("lava" not in available_backends(), reason="lava-nc not installed (the lava extra)")
def test_lava_rolls_out_as_the_native_backend_does() -> None:
    """The filter program takes the trained weights through ``Backend.restore``, which Lava
    implements with ``Var.set``: its deployment errors are the native backend's, bit for bit."""
    short = _spec().with_overrides({"run.steps": 2, "run.eval_every": 2})
    artifact = compile_artifact(short)
    native, lava = (simulate(artifact, backend=name).final for name in ("native", "lava"))
    assert [lava[key] for key in KEYS] == [native[key] for key in KEYS]
