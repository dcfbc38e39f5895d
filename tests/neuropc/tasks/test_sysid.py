"""The sysid task: a deterministic driven pendulum, and PC filtering at deployment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuropc.reference.filtering import filtering_errors, reference_step
from neuropc.reference.network import Architecture
from neuropc.spec import load_spec
from neuropc.tasks import task_from_params
from neuropc.tasks.sysid import DEPLOYMENTS, SysIdTask, arrives, roll_out
from neuropc.training import train

ROOT = Path(__file__).resolve().parents[3]


def test_trajectories_are_determined_by_the_seed_and_have_the_documented_shapes() -> None:
    task: SysIdTask = task_from_params({"name": "sysid", "steps": 20})
    one = task.sample(np.random.default_rng([4, 1]), 5)
    again = task.sample(np.random.default_rng([4, 1]), 5)
    other = task.sample(np.random.default_rng([5, 1]), 5)
    assert one.inputs.shape == (20, 5, 3) and one.targets.shape == (20, 5, 2) and one.mask.shape == (20, 5)
    np.testing.assert_array_equal(one.inputs, again.inputs)
    np.testing.assert_array_equal(one.targets, again.targets)
    assert np.abs(one.inputs - other.inputs).max() > 0.1
    # the input's observation at t + 1 is the target of step t (teacher forcing)
    np.testing.assert_array_equal(one.inputs[1:, :, 1:], one.targets[:-1])
    np.testing.assert_array_equal(task.held_out(4, 5).inputs, task.held_out(4, 5).inputs)
    assert np.abs(task.held_out(4, 5).inputs - one.inputs).max() > 0.1  # its own stream


def test_the_pendulum_obeys_its_physics() -> None:
    """Noise-free observations are the bob on the unit circle; with no torque and no damping
    the energy (1/2 w^2 - g cos theta) is conserved by the RK4 integration."""
    task: SysIdTask = task_from_params({"name": "sysid", "steps": 200, "noise": 0.0, "control": 0.0,
                                        "damping": 0.0, "dt": 0.01})
    runs = task.trajectories(np.random.default_rng(0), 4)
    np.testing.assert_allclose(np.linalg.norm(runs.observations, axis=-1), 1.0, atol=1e-12)
    theta, rate = runs.angles[..., 0], runs.angles[..., 1]
    energy = 0.5 * rate**2 - 9.81 * np.cos(theta)
    np.testing.assert_allclose(energy, np.broadcast_to(energy[0], energy.shape), atol=1e-6)
    assert np.abs(theta[-1] - theta[0]).max() > 0.05  # and it does swing


def test_filtering_with_observations_beats_open_loop_on_a_trained_model() -> None:
    """A model trained for 120 batches, noise-free held-out observations every 2 steps: PC
    inference pulls the state towards what was observed, so the final error must drop."""
    spec = load_spec(ROOT / "examples" / "sysid.yaml").with_overrides({
        "task.noise": 0.0, "task.steps": 40, "task.filter": {"every": 2, "context": 8, "iterations": 20,
                                                            "step": 0.2},
        "run.steps": 120, "run.eval_every": 120, "run.eval_sequences": 32})
    result = train(spec)
    final = result.final
    assert final["eval_final_error_filtered"] < 0.8 * final["eval_final_error_open_loop"], final
    # the same numbers from the evaluation function on its own
    arch = Architecture.from_spec(spec)
    task = task_from_params(spec.task.model_dump())
    again = filtering_errors(arch, result.params, task, spec.run.seed, 32)
    assert again["final_error_filtered"] == pytest.approx(final["eval_final_error_filtered"])
    # before any observation arrives the three rollouts are the same computation
    runs = task.held_out_trajectories(0, 3)
    late = spec.task.filter.model_copy(update={"every": 10_000})
    finals = [roll_out(runs, late, way, reference_step(arch, result.params, late)) for way in DEPLOYMENTS]
    for other in finals[1:]:
        np.testing.assert_array_equal(other, finals[0])


def test_a_rollout_reads_observations_when_they_arrive_and_infers_only_when_filtered() -> None:
    """The schedule of roll_out, seen by a step that records what it is given."""
    task: SysIdTask = task_from_params({"name": "sysid", "steps": 12,
                                        "filter": {"every": 3, "context": 4, "iterations": 1, "step": 0.1}})
    runs = task.held_out_trajectories(0, 2)
    spec = task.spec.filter
    arrived = [t for t in range(12) if arrives(spec, 12, t)]
    assert arrived == [6, 9]  # after 3 rolled-out steps, never after the last step
    for way in DEPLOYMENTS:
        seen, corrections = [], []

        def step(inputs, observation, seen=seen, corrections=corrections):
            seen.append(inputs[:, 1:].copy())
            corrections.append(observation is not None)
            return np.full((2, 2), -7.0)  # a prediction no observation equals

        final = roll_out(runs, spec, way, step)
        np.testing.assert_array_equal(final, -7.0)
        assert [t for t, c in enumerate(corrections) if c] == (arrived if way == "filtered" else [])
        real = [t for t in range(12) if t < 4 or (way != "open_loop" and t - 1 in arrived)]
        for t in range(12):
            expected = runs.observations[t] if t in real else np.full((2, 2), -7.0)
            np.testing.assert_array_equal(seen[t], expected)
