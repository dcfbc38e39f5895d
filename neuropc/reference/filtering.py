"""Learning and filtering in one framework: PC inference corrects the latent state at deployment.

A network trained on the sysid task predicts the next observation from the command and the
current observation. Deployed without observations it must feed its own predictions back
(open loop) and drifts. When an observation arrives, the same inference that trained it
(docs/algorithm.md, 'PC inference') can explain that observation: the observation is the
output target, the value node x^0 of the LRU state moves down the step's energy
1/2 |x^0 - mu^0|^2 + ... + 1/2 |y - f(x)|^2, and the inferred x^0 is carried on (it is the
filtered state estimate, as with ``carry: inferred``). No weights change. This module rolls
out held-out trajectories both ways and measures the final-position error of each.

Numpy reference only: hwsim does not run deployment rollouts yet (docs/tasks.md).
"""

from __future__ import annotations

import numpy as np

from neuropc.reference.network import Architecture, Params, lru_coefficients, lru_drive, readout_forward
from neuropc.reference.step_errors import pc_inference
from neuropc.tasks.sysid import FilterSpec, SysIdTask, Trajectories

FILTER_METRICS = ("final_error_open_loop", "final_error_filtered")


def rollout(arch: Architecture, params: Params, runs: Trajectories, spec: FilterSpec,
            filtered: bool) -> np.ndarray:
    """The predicted position of the last step, (B, 2), after a rollout.

    Steps t < ``spec.context`` read the real observation y_t (both modes alike); later steps
    read the network's own prediction of y_t. Filtered, the observation y_{t+1} arrives after
    every ``spec.every`` rolled-out steps (never the final one: the last prediction is made
    before its observation), and ``spec.iterations`` PC iterations of step ``spec.step``
    (standard PC, predictions recomputed each iteration) move the state to explain it.
    """
    coef = lru_coefficients(arch, params)
    steps, size = runs.commands.shape
    state = np.zeros((size, arch.state), arch.dtype)
    everyone = np.ones(size)
    predicted = runs.observations[0]
    for t in range(steps):
        seen = runs.observations[t] if t < spec.context else predicted
        u = np.concatenate([runs.commands[t][:, None], seen], axis=-1)
        prediction = coef.lam * state + coef.gam * lru_drive(coef, u)
        arrives = filtered and t >= spec.context and t < steps - 1 and (t + 1 - spec.context) % spec.every == 0
        if arrives:
            errors = pc_inference(arch, params, prediction, runs.observations[t + 1], everyone,
                                  spec.iterations, spec.step, fixed_prediction=False)
            state = errors.state
        else:
            state = prediction
        predicted = readout_forward(arch, params, state)[1]
    return predicted


def filtering_errors(arch: Architecture, params: Params, task: SysIdTask, seed: int,
                     size: int) -> dict[str, float]:
    """Mean distance between the predicted and the true (noise-free) final position over
    ``size`` held-out trajectories of run seed ``seed``: open loop and filtered."""
    runs = task.held_out_trajectories(seed, size)
    truth = runs.positions[-1]
    spec = task.spec.filter
    result = {}
    for key, filtered in zip(FILTER_METRICS, (False, True), strict=True):
        final = rollout(arch, params, runs, spec, filtered)
        result[key] = float(np.linalg.norm(final - truth, axis=-1).mean())
    return result
