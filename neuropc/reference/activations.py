"""Readout activations and their derivatives, by name (the spec refers to them by name)."""

from __future__ import annotations

import numpy as np

from neuropc.elementary import expm1

_GELU_C = np.sqrt(2.0 / np.pi)
#: |x| beyond which tanh(x) is +-1 in float64 (tanh(20) = 1 - 8.5e-18)
TANH_CLIP = 20.0


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = expm1(2x) / (expm1(2x) + 2), within 3 ulp of the library's. Written out
    because numpy's vectorised tanh and the C library's (which compiled kernels call) differ
    in the last bit for about a quarter of inputs, while the C library's expm1 is what every
    implementation evaluates (``elementary``): with this formula the reference, the
    interpreter and the compiled kernels compute the same bits."""
    t = expm1(2.0 * np.clip(x, -TANH_CLIP, TANH_CLIP))
    return t / (t + 2.0)


def value(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "gelu":  # tanh approximation (Hendrycks & Gimpel), cheap on a core
        return 0.5 * x * (1.0 + tanh(_GELU_C * (x + 0.044715 * x * x * x)))
    if name == "identity":
        return x
    raise ValueError(f"unknown activation {name!r}")


def derivative(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        t = tanh(x)
        return 1.0 - t * t
    if name == "relu":
        return (x > 0.0).astype(x.dtype)
    if name == "gelu":
        square = x * x
        t = tanh(_GELU_C * x * (1.0 + 0.044715 * square))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * square)
    if name == "identity":
        return np.ones_like(x)
    raise ValueError(f"unknown activation {name!r}")
