"""Scalar helpers of the kernels: activations, rounding as a value is stored, vector updates.

Every float array is float64; the float32 and fixed-point formats round each value when it
is stored (``round_stored``), so one compiled specialisation serves all number formats.
Sums run in the one order every backend follows (``compiler.op_semantics``, "arithmetic
order"), never reassociated: the updates here are elementwise (``y += a * x``), which
vectorises over the elements without changing any element's order of additions.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.jit import entry, inlined_entry, kernel
from hwsim.kernels.tables import ROUND_FIXED, ROUND_FLOAT32
from neuropc.reference.activations import TANH_CLIP

GELU_C = np.sqrt(2.0 / np.pi)


@entry
def tanh(x):
    """neuropc.reference.activations.tanh, the same operations (so the same bits)."""
    if x > TANH_CLIP:
        x = TANH_CLIP
    elif x < -TANH_CLIP:
        x = -TANH_CLIP
    t = np.expm1(2.0 * x)
    return t / (t + 2.0)


@kernel
def act_value(fn, x):
    """neuropc.reference.activations.value: 0 tanh, 1 relu, 2 gelu, 3 identity."""
    if fn == 0:
        return tanh(x)
    if fn == 1:
        return x if x > 0.0 else x - x
    if fn == 2:
        return 0.5 * x * (1.0 + tanh(GELU_C * (x + 0.044715 * x * x * x)))
    return x


@kernel
def act_derivative(fn, x):
    """neuropc.reference.activations.derivative."""
    if fn == 0:
        t = tanh(x)
        return 1.0 - t * t
    if fn == 1:
        return 1.0 if x > 0.0 else 0.0
    if fn == 2:
        square = x * x
        t = tanh(GELU_C * x * (1.0 + 0.044715 * square))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * square)
    return 1.0


@entry
def quantize(v, scale, lo, hi):
    """Round to the grid 1/scale, half to even, and saturate to [lo, hi] grid steps."""
    r = np.rint(v * scale)
    if r < lo:
        r = lo
    elif r > hi:
        r = hi
    return r / scale


@kernel
def round_stored(mode, v, scale, lo, hi):
    """A value as stored: on a fixed-point grid, as the nearest float32, or unchanged."""
    if mode == ROUND_FIXED:
        return quantize(v, scale, lo, hi)
    if mode == ROUND_FLOAT32:
        return np.float64(np.float32(v))
    return v


@inlined_entry
def axpy(y, yo, a, x, xo, n):
    """y[yo:yo + n] += a * x[xo:xo + n]: a synapse's event (a weight column times its change)
    and a lane's learning update (a pre-synaptic row times a post value). Indexed in place,
    not through slices: a slice costs two atomic reference-count updates (numba's runtime),
    more than a short update itself; the indices are unsigned because a signed index carries
    a negative-index check that keeps LLVM from vectorising."""
    u = np.uint64
    for j in range(n):
        y[u(yo + j)] += a * x[u(xo + j)]


@inlined_entry
def axpy4(y, yo, a0, a1, a2, a3, x, o0, o1, o2, o3, n):
    """y[yo:yo + n] += a0 x_0 + a1 x_1 + a2 x_2 + a3 x_3, added one after the other (the
    order of four ``axpy``, so the same bits), where x_k is x[o_k:o_k + n]: four weight
    columns of a synapse (any four, in column order: a lane's next four events or four
    consecutive columns), each y value loaded and stored once for four."""
    u = np.uint64
    for j in range(n):
        i = u(yo + j)
        y[i] = (((y[i] + a0 * x[u(o0 + j)]) + a1 * x[u(o1 + j)]) + a2 * x[u(o2 + j)]) + a3 * x[u(o3 + j)]


@inlined_entry
def axpy4_pair(y, yo, yp, a0, a1, a2, a3, b0, b1, b2, b3, x, xo, n):
    """``axpy4`` for two lanes at once, y[yo:yo + n] with a0..a3 and y[yp:yp + n] with b0..b3,
    from the same four weight columns: each weight is loaded once for both lanes (the synapse's
    inner loop is bound by loads, not arithmetic). Each lane's additions run in ``axpy4``'s
    order, so the same bits; the two ranges of y must not overlap."""
    u = np.uint64
    for j in range(n):
        x0, x1, x2, x3 = x[u(xo + j)], x[u(xo + n + j)], x[u(xo + 2 * n + j)], x[u(xo + 3 * n + j)]
        i, k = u(yo + j), u(yp + j)
        y[i] = (((y[i] + a0 * x0) + a1 * x1) + a2 * x2) + a3 * x3
        y[k] = (((y[k] + b0 * x0) + b1 * x1) + b2 * x2) + b3 * x3


@entry
def outer4x4(m, a, n, p0, p1, p2, p3, q0, q1, q2, q3):
    """Four accumulator rows of length n at m[a], m[a + n], ... get row r += p_l[r] * q_l for
    four lanes l (post values at m[p_l], pre vectors at m[q_l]), added lane after lane (the
    order of lane-by-lane ``axpy``, so the same bits): each pre value is loaded once for the
    four rows (the learning accumulation of a batch, blocked). In place, as ``axpy``."""
    u = np.uint64
    p00, p01, p02, p03 = m[u(p0)], m[u(p0 + 1)], m[u(p0 + 2)], m[u(p0 + 3)]
    p10, p11, p12, p13 = m[u(p1)], m[u(p1 + 1)], m[u(p1 + 2)], m[u(p1 + 3)]
    p20, p21, p22, p23 = m[u(p2)], m[u(p2 + 1)], m[u(p2 + 2)], m[u(p2 + 3)]
    p30, p31, p32, p33 = m[u(p3)], m[u(p3 + 1)], m[u(p3 + 2)], m[u(p3 + 3)]
    for c in range(n):
        v0, v1, v2, v3 = m[u(q0 + c)], m[u(q1 + c)], m[u(q2 + c)], m[u(q3 + c)]
        i0, i1, i2, i3 = u(a + c), u(a + n + c), u(a + 2 * n + c), u(a + 3 * n + c)
        m[i0] = (((m[i0] + p00 * v0) + p10 * v1) + p20 * v2) + p30 * v3
        m[i1] = (((m[i1] + p01 * v0) + p11 * v1) + p21 * v2) + p31 * v3
        m[i2] = (((m[i2] + p02 * v0) + p12 * v1) + p22 * v2) + p32 * v3
        m[i3] = (((m[i3] + p03 * v0) + p13 * v1) + p23 * v2) + p33 * v3
