"""What every task hands the learning rules: a time-major batch of sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequenceBatch:
    """Inputs (T, B, M), targets (T, B) class ids or (T, B, V) reals, loss mask (T, B)."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray

    @property
    def length(self) -> int:
        return self.inputs.shape[0]

    @property
    def size(self) -> int:
        return self.inputs.shape[1]

    def loss_steps(self) -> float:
        """How many (step, sequence) pairs carry loss: the normaliser of the mean loss."""
        return max(float(self.mask.sum()), 1.0)
