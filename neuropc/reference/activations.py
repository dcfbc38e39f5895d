"""Readout activations and their derivatives, by name (the spec refers to them by name)."""

from __future__ import annotations

import numpy as np

_GELU_C = np.sqrt(2.0 / np.pi)


def value(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "gelu":  # tanh approximation (Hendrycks & Gimpel), cheap on a core
        return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x * x * x)))
    if name == "identity":
        return x
    raise ValueError(f"unknown activation {name!r}")


def derivative(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        t = np.tanh(x)
        return 1.0 - t * t
    if name == "relu":
        return (x > 0.0).astype(x.dtype)
    if name == "gelu":
        square = x * x
        t = np.tanh(_GELU_C * x * (1.0 + 0.044715 * square))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * square)
    if name == "identity":
        return np.ones_like(x)
    raise ValueError(f"unknown activation {name!r}")
