"""Learning and filtering in one framework: PC inference corrects the latent state at deployment.

A network trained on the sysid task predicts the next observation from the command and the
current observation. Deployed without observations it must feed its own predictions back
(open loop) and drifts. When an observation arrives, the same inference that trained it
(docs/algorithm.md, 'PC inference') can explain that observation: the observation is the
output target, the value node x^0 of the LRU state moves down the step's energy
1/2 |x^0 - mu^0|^2 + ... + 1/2 |y - f(x)|^2, and the inferred x^0 is carried on (it is the
filtered state estimate, as with ``carry: inferred``). No weights change. The schedule of a
rollout (when observations arrive, what each step reads) is the task's
(``neuropc.tasks.sysid.roll_out``); this module is the numpy step it drives. hwsim runs the
same rollouts on a compiled program (``hwsim.filtering``).
"""

from __future__ import annotations

import numpy as np

from neuropc.reference.network import Architecture, Params, lru_coefficients, lru_drive, readout_forward
from neuropc.reference.step_errors import pc_inference
from neuropc.tasks.sysid import DeploymentStep, FilterSpec, SysIdTask


def reference_step(arch: Architecture, params: Params, spec: FilterSpec) -> DeploymentStep:
    """A rollout step from the zero state: the LRU predicts, the readout predicts the next
    observation from that prediction; an observation, when given, is then explained by
    ``spec.iterations`` iterations of standard PC (predictions recomputed each iteration, step
    ``spec.step``, unit precisions), and the inferred state is carried instead of the prediction."""
    coef = lru_coefficients(arch, params)
    state: list[np.ndarray] = []

    def step(inputs: np.ndarray, observation: np.ndarray | None) -> np.ndarray:
        previous = state[0] if state else np.zeros((inputs.shape[0], arch.state), arch.dtype)
        prediction = coef.lam * previous + coef.gam * lru_drive(coef, inputs)
        output = readout_forward(arch, params, prediction)[1]
        if observation is not None:
            prediction = pc_inference(arch, params, prediction, observation, np.ones(inputs.shape[0]),
                                      spec.iterations, spec.step, fixed_prediction=False).state
        state[:] = [prediction]
        return output

    return step


def filtering_errors(arch: Architecture, params: Params, task: SysIdTask, seed: int,
                     size: int) -> dict[str, float]:
    """``task.deployment_errors`` with the numpy step: the final-position error of every way of
    rolling out ``size`` held-out trajectories of run seed ``seed``."""
    return task.deployment_errors(seed, size, lambda: reference_step(arch, params, task.spec.filter))
