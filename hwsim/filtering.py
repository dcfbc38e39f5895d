"""Filtering at deployment on a backend: the sysid rollouts (``neuropc.tasks.sysid.roll_out``)
executed by a compiled program instead of numpy.

Filtering needs PC inference that the trained program may not have (an exact-mode program
infers with a fixed prediction, a backprop one not at all), so the rollouts run on a program
compiled for the filter: the run's network with the filter's inference (``filter.iterations``
iterations of step ``filter.step``, predictions recomputed each iteration) and the inferred
state carried. It takes the trained weights, and their on-chip feedback copies, from the run's
trainer. A step with an arriving observation runs as a training step of that program with the
observation as target (its infer phase settles the state), a step without as inference only.
Its update mode is 'sequence' and no apply is ever asked, so no weight changes. The program's
learn phase still runs on the steps with an observation, so its work is not a deployment's
cost, and these rollouts' counts are not kept. The numbers it reports equal the numpy
reference's for the same weights (tests/hwsim/test_filtering.py).
"""

from __future__ import annotations

import numpy as np

from compiler.artifact import Artifact
from compiler.pipeline import compile_artifact
from hwsim.backends import Backend, ExecutionOptions, open_backend
from neuropc.spec.schema import NetworkSpec
from neuropc.tasks.sysid import DeploymentStep, SysIdTask


def deployment_spec(spec: NetworkSpec) -> NetworkSpec:
    """The run's network with the filter's inference as its rule (see the module docstring)."""
    filt = spec.task.filter
    return spec.with_overrides({
        "rule.name": "tpc", "rule.carry": "inferred", "rule.update": "sequence",
        "rule.inference": {"iterations": filt.iterations, "step": filt.step, "fixed_prediction": False},
    })


def feedback_copies(backend: Backend, artifact: Artifact, spaces: tuple[str, ...] = ("param", "adam_m", "adam_v")
                    ) -> dict[str, dict[str, np.ndarray]]:
    """Every feedback copy of a weight (and, in ``spaces``, of its optimizer moments) as the
    backend holds it now, by space and parameter name: a copy is updated on its own core, so it
    can differ from its primary in the last bit, and a checkpoint or a deployment must take it
    as it is."""
    copies: dict[str, dict[str, np.ndarray]] = {}
    for space in spaces:
        for name, value in artifact.params.items():
            try:
                copies.setdefault(space, {})[name] = backend.read(space, name, value.shape, copy=True)
            except KeyError:  # this array has no feedback copy
                pass
    return copies


class FilterDeployment:
    """The filter's program, compiled once per run; ``errors`` rolls out the held-out
    trajectories on a fresh backend loaded with the trainer's current weights."""

    def __init__(self, spec: NetworkSpec, task: SysIdTask, backend: str, options: ExecutionOptions) -> None:
        self.artifact = compile_artifact(deployment_spec(spec))
        self.task, self.backend, self.options = task, backend, options
        self.outputs = spec.readout.output

    def errors(self, trainer: Backend, trained: Artifact, seed: int, size: int) -> dict[str, float]:
        """``task.deployment_errors`` with this program's step, on the trainer's weights (one
        backend for every way of rolling out: each rollout starts with a sequence reset)."""
        backend = open_backend(self.backend, self.artifact, size, self.options)
        backend.restore(trainer.parameters(), {}, 0, feedback_copies(trainer, trained, ("param",)))
        return self.task.deployment_errors(seed, size, lambda: self._step(backend, size))

    def _step(self, backend: Backend, size: int) -> DeploymentStep:
        silent = np.zeros((1, size, self.outputs))
        started = [False]

        def step(inputs: np.ndarray, observation: np.ndarray | None) -> np.ndarray:
            target = silent if observation is None else observation[None]
            mask = np.full((1, size), 0.0 if observation is None else 1.0)
            out = backend.run(inputs[None], target, mask, train=observation is not None, reset=not started[0])
            started[0] = True
            return out.outputs[0, :, :self.outputs].copy()

        return step
