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
        return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x**3)))
    if name == "identity":
        return x
    raise ValueError(f"unknown activation {name!r}")


def derivative(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "relu":
        return (x > 0.0).astype(x.dtype)
    if name == "gelu":
        inner = _GELU_C * (x + 0.044715 * x**3)
        t = np.tanh(inner)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * _GELU_C * (1.0 + 3 * 0.044715 * x**2)
    if name == "identity":
        return np.ones_like(x)
    raise ValueError(f"unknown activation {name!r}")
