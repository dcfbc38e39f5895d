"""The elementary functions every implementation evaluates: the C library's, element by element.

Why not numpy's own: on a CPU with AVX-512, numpy evaluates ``exp``, ``expm1``, ``log`` and
``log1p`` of float64 arrays with its own vectorised code (SVML), which differs from the C
library in the last bit for a few percent of inputs. The compiled kernels (numba) call the C
library, so reference, interpreter, Lava and native backends agree bit for bit only if every
evaluation goes there too; and a network initialised on one machine starts from the same bits
on any other (the LRU's initial parameters are logarithms). These are numpy ufuncs compiled
by numba, whose bodies are the C library's calls; a machine without AVX-512 gets the values
numpy gave, only a little slower.
"""

from __future__ import annotations

import numpy as np
from numba import vectorize

#: one real signature: integer and float32 inputs are cast to float64, as numpy would
_REAL = ["float64(float64)"]


@vectorize(_REAL, cache=True)
def exp(x):
    return np.exp(x)


@vectorize(_REAL, cache=True)
def expm1(x):
    return np.expm1(x)


@vectorize(_REAL, cache=True)
def log(x):
    return np.log(x)


@vectorize(_REAL, cache=True)
def log1p(x):
    return np.log1p(x)


@vectorize(_REAL, cache=True)
def cos(x):
    return np.cos(x)


@vectorize(_REAL, cache=True)
def sin(x):
    return np.sin(x)


def polar(magnitude: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """magnitude e^{i angle} as the cores form it: (magnitude cos, magnitude sin)."""
    out = np.empty(np.broadcast(magnitude, angle).shape, np.complex128)
    out.real = magnitude * cos(angle)
    out.imag = magnitude * sin(angle)
    return out
