"""Optimizers that apply descent directions (the updates learning rules produce) in place."""

from __future__ import annotations

import numpy as np

from neuropc.reference.network import Params
from neuropc.spec.schema import OptimizerSpec


class Optimizer:
    """SGD or Adam over named real arrays; state is a dict so checkpoints can save it."""

    def __init__(self, spec: OptimizerSpec, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8) -> None:
        self.spec = spec
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.count = 0
        self.first: dict[str, np.ndarray] = {}
        self.second: dict[str, np.ndarray] = {}

    def apply(self, params: Params, descent: dict[str, np.ndarray]) -> None:
        """Move every parameter along its descent direction (a negative gradient)."""
        lr = self.spec.lr
        if self.spec.name == "sgd":
            for name, direction in descent.items():
                params[name] += lr * direction
            return
        self.count += 1
        correct1 = 1.0 - self.beta1**self.count
        correct2 = 1.0 - self.beta2**self.count
        for name, direction in descent.items():
            m = self.first.setdefault(name, np.zeros_like(direction))
            v = self.second.setdefault(name, np.zeros_like(direction))
            m *= self.beta1
            m += (1.0 - self.beta1) * direction
            v *= self.beta2
            v += (1.0 - self.beta2) * direction**2
            params[name] += lr * (m / correct1) / (np.sqrt(v / correct2) + self.epsilon)

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"adam_m/{k}": v for k, v in self.first.items()}
        arrays.update({f"adam_v/{k}": v for k, v in self.second.items()})
        arrays["adam_count"] = np.array(self.count)
        return arrays
