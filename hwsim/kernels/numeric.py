"""Scalar helpers of the kernels: activations, rounding as a value is stored, dot products.

Every float array is float64; the float32 and fixed-point formats round each value when it
is stored (``round_stored``), so one compiled specialisation serves all number formats.
The dot products take slice views and index them with the bare loop variable: numba then
drops its negative-index wraparound check and LLVM vectorises them; ``fastmath`` with
reassociation lets them keep SIMD partial sums.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hwsim.kernels.tables import ROUND_FIXED, ROUND_FLOAT32

GELU_C = np.sqrt(2.0 / np.pi)
FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True)
def act_value(fn, x):
    """neuropc.reference.activations.value: 0 tanh, 1 relu, 2 gelu, 3 identity."""
    if fn == 0:
        return np.tanh(x)
    if fn == 1:
        return x if x > 0.0 else x - x
    if fn == 2:
        return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x * x * x)))
    return x


@njit(cache=True)
def act_derivative(fn, x):
    """neuropc.reference.activations.derivative."""
    if fn == 0:
        t = np.tanh(x)
        return 1.0 - t * t
    if fn == 1:
        return 1.0 if x > 0.0 else 0.0
    if fn == 2:
        square = x * x
        t = np.tanh(GELU_C * x * (1.0 + 0.044715 * square))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * square)
    return 1.0


@njit(cache=True)
def quantize(v, scale, lo, hi):
    """Round to the grid 1/scale, half to even, and saturate to [lo, hi] grid steps."""
    r = np.rint(v * scale)
    if r < lo:
        r = lo
    elif r > hi:
        r = hi
    return r / scale


@njit(cache=True)
def round_stored(mode, v, scale, lo, hi):
    """A value as stored: on a fixed-point grid, as the nearest float32, or unchanged."""
    if mode == ROUND_FIXED:
        return quantize(v, scale, lo, hi)
    if mode == ROUND_FLOAT32:
        return np.float64(np.float32(v))
    return v


@njit(cache=True, fastmath=FAST)
def dot(x, y):
    """x . y for two views of equal length (reassociation lets it use SIMD partial sums)."""
    s = 0.0
    for j in range(x.shape[0]):
        s += x[j] * y[j]
    return s


@njit(cache=True, fastmath=FAST)
def dot4(w0, w1, w2, w3, x):
    """Four rows times one vector in one pass over the vector."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(x.shape[0]):
        v = x[j]
        s0 += w0[j] * v
        s1 += w1[j] * v
        s2 += w2[j] * v
        s3 += w3[j] * v
    return s0, s1, s2, s3


@njit(cache=True, fastmath=FAST)
def dot4x2(w0, w1, w2, w3, x, y):
    """Four rows times two vectors in one pass: each weight is loaded once for two lanes."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    for j in range(x.shape[0]):
        a, b, c, d = w0[j], w1[j], w2[j], w3[j]
        v = x[j]
        u = y[j]
        s0 += a * v
        s1 += b * v
        s2 += c * v
        s3 += d * v
        t0 += a * u
        t1 += b * u
        t2 += c * u
        t3 += d * u
    return s0, s1, s2, s3, t0, t1, t2, t3


@njit(cache=True)
def store4(acc, o, s0, s1, s2, s3, add):
    """acc[o:o + 4] += (s0..s3) when ``add`` (a delta row), else = (a recomputation)."""
    if add:
        acc[o] += s0
        acc[o + 1] += s1
        acc[o + 2] += s2
        acc[o + 3] += s3
    else:
        acc[o] = s0
        acc[o + 1] = s1
        acc[o + 2] = s2
        acc[o + 3] = s3


@njit(cache=True)
def axpy(y, a, x):
    """y += a * x on views."""
    for j in range(y.shape[0]):
        y[j] += a * x[j]


@njit(cache=True, fastmath=FAST)
def outer4x4(a0, a1, a2, a3, p0, p1, p2, p3, q0, q1, q2, q3):
    """Four accumulator rows a_r += sum over four lanes l of p_l[r] * q_l: each q value is
    loaded once for the four rows (the learning accumulation of a batch, blocked)."""
    p00, p01, p02, p03 = p0[0], p0[1], p0[2], p0[3]
    p10, p11, p12, p13 = p1[0], p1[1], p1[2], p1[3]
    p20, p21, p22, p23 = p2[0], p2[1], p2[2], p2[3]
    p30, p31, p32, p33 = p3[0], p3[1], p3[2], p3[3]
    for c in range(a0.shape[0]):
        v0, v1, v2, v3 = q0[c], q1[c], q2[c], q3[c]
        a0[c] += p00 * v0 + p10 * v1 + p20 * v2 + p30 * v3
        a1[c] += p01 * v0 + p11 * v1 + p21 * v2 + p31 * v3
        a2[c] += p02 * v0 + p12 * v1 + p22 * v2 + p32 * v3
        a3[c] += p03 * v0 + p13 * v1 + p23 * v2 + p33 * v3
