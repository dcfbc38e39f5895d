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

from collections.abc import Callable
from functools import cached_property

import numpy as np

#: one real signature: integer and float32 inputs are cast to float64, as numpy would
_REAL = ["float64(float64)"]


class _CLibrary:
    """A ufunc over one C-library function, built by numba (cached on disk) at its first call:
    importing numba costs about half a second, which a command that never evaluates one
    (``neuropc check``: 0.5 s in all, against 1.0 s with the ufuncs built at import) need not
    pay."""

    def __init__(self, body: Callable[[float], float]) -> None:
        self._body = body
        self.__name__ = body.__name__.lstrip("_")

    @cached_property
    def ufunc(self) -> np.ufunc:
        from numba import vectorize

        return vectorize(_REAL, cache=True)(self._body)

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.ufunc(x)


# the bodies numba compiles (one module-level function each: its disk cache is keyed by name)
def _exp(x):
    return np.exp(x)


def _expm1(x):
    return np.expm1(x)


def _log(x):
    return np.log(x)


def _log1p(x):
    return np.log1p(x)


def _cos(x):
    return np.cos(x)


def _sin(x):
    return np.sin(x)


exp, expm1, log, log1p, cos, sin = map(_CLibrary, (_exp, _expm1, _log, _log1p, _cos, _sin))


def polar(magnitude: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """magnitude e^{i angle} as the cores form it: (magnitude cos, magnitude sin)."""
    out = np.empty(np.broadcast(magnitude, angle).shape, np.complex128)
    out.real = magnitude * cos(angle)
    out.imag = magnitude * sin(angle)
    return out
