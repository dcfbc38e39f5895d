"""Per-step losses on the output prediction and their gradients."""

from __future__ import annotations

import numpy as np

from neuropc.elementary import exp, log


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p over the last axis, from logits shifted by their largest (the loss and the
    char-LM score both read it)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - log(exp(shifted).sum(axis=-1, keepdims=True))


def value(name: str, output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Loss per sequence in the batch (batch,). Targets: class ids or real vectors."""
    if name == "cross_entropy":
        return -np.take_along_axis(log_softmax(output), target[:, None], axis=-1)[:, 0]
    if name == "squared_error":
        return 0.5 * ((output - target) ** 2).sum(axis=-1)
    raise ValueError(f"unknown loss {name!r}")


def gradient(name: str, output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """dL/d output (batch, V)."""
    if name == "cross_entropy":
        probs = exp(log_softmax(output))
        probs[np.arange(len(target)), target] -= 1.0
        return probs
    if name == "squared_error":
        return output - target
    raise ValueError(f"unknown loss {name!r}")
