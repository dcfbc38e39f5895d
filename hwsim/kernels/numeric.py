"""Scalar helpers of the kernels: activations, rounding as a value is stored, dot products.

Every float array is float64; the float32 and fixed-point formats round each value when it
is stored (``round_stored``), so one compiled specialisation serves all number formats.
The dot products sum in the one order every backend follows (four partial sums, see
``compiler.op_semantics.ordered_matvec``), never reassociated: four independent partial sums
per row still let LLVM keep them in one SIMD register.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hwsim.kernels.tables import ROUND_FIXED, ROUND_FLOAT32
from neuropc.reference.activations import TANH_CLIP

GELU_C = np.sqrt(2.0 / np.pi)


@njit(cache=True)
def tanh(x):
    """neuropc.reference.activations.tanh, the same operations (so the same bits)."""
    if x > TANH_CLIP:
        x = TANH_CLIP
    elif x < -TANH_CLIP:
        x = -TANH_CLIP
    t = np.expm1(2.0 * x)
    return t / (t + 2.0)


@njit(cache=True)
def act_value(fn, x):
    """neuropc.reference.activations.value: 0 tanh, 1 relu, 2 gelu, 3 identity."""
    if fn == 0:
        return tanh(x)
    if fn == 1:
        return x if x > 0.0 else x - x
    if fn == 2:
        return 0.5 * x * (1.0 + tanh(GELU_C * (x + 0.044715 * x * x * x)))
    return x


@njit(cache=True)
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


@njit(cache=True)
def combine(p0, p1, p2, p3):
    """The four partial sums of a dot product, added in the fixed order."""
    return (p0 + p1) + (p2 + p3)


@njit(cache=True)
def dot(x, y):
    """x . y in the order of ``compiler.op_semantics.ordered_matvec`` (column c into partial
    sum c mod 4, no fused multiply-add): every backend sums the same way, so sends at
    threshold 0 agree to the last bit. Four independent partial sums still vectorise."""
    n = x.shape[0]
    p0 = 0.0
    p1 = 0.0
    p2 = 0.0
    p3 = 0.0
    full = n - n % 4
    for j in range(0, full, 4):
        p0 += x[j] * y[j]
        p1 += x[j + 1] * y[j + 1]
        p2 += x[j + 2] * y[j + 2]
        p3 += x[j + 3] * y[j + 3]
    if full < n:
        p0 += x[full] * y[full]
    if full + 1 < n:
        p1 += x[full + 1] * y[full + 1]
    if full + 2 < n:
        p2 += x[full + 2] * y[full + 2]
    return combine(p0, p1, p2, p3)


@njit(cache=True)
def gathered_dot(w, cols, values):
    """w . x where x is zero except ``values`` at the increasing columns ``cols``: the same
    bits as ``dot`` over the whole row (an absent column would only add an exact zero to
    its partial sum)."""
    p0 = p1 = p2 = p3 = 0.0
    for j in range(cols.shape[0]):
        c = cols[j]
        v = w[c] * values[j]
        m = c & 3
        if m == 0:
            p0 += v
        elif m == 1:
            p1 += v
        elif m == 2:
            p2 += v
        else:
            p3 += v
    return combine(p0, p1, p2, p3)


@njit(cache=True)
def dot4(w0, w1, w2, w3, x):
    """Four rows times one vector in one pass over the vector, each row summed as ``dot``."""
    n = x.shape[0]
    a0 = a1 = a2 = a3 = 0.0
    b0 = b1 = b2 = b3 = 0.0
    c0 = c1 = c2 = c3 = 0.0
    d0 = d1 = d2 = d3 = 0.0
    full = n - n % 4
    for j in range(0, full, 4):
        x0, x1, x2, x3 = x[j], x[j + 1], x[j + 2], x[j + 3]
        a0 += w0[j] * x0
        a1 += w0[j + 1] * x1
        a2 += w0[j + 2] * x2
        a3 += w0[j + 3] * x3
        b0 += w1[j] * x0
        b1 += w1[j + 1] * x1
        b2 += w1[j + 2] * x2
        b3 += w1[j + 3] * x3
        c0 += w2[j] * x0
        c1 += w2[j + 1] * x1
        c2 += w2[j + 2] * x2
        c3 += w2[j + 3] * x3
        d0 += w3[j] * x0
        d1 += w3[j + 1] * x1
        d2 += w3[j + 2] * x2
        d3 += w3[j + 3] * x3
    if full < n:
        a0 += w0[full] * x[full]
        b0 += w1[full] * x[full]
        c0 += w2[full] * x[full]
        d0 += w3[full] * x[full]
    if full + 1 < n:
        a1 += w0[full + 1] * x[full + 1]
        b1 += w1[full + 1] * x[full + 1]
        c1 += w2[full + 1] * x[full + 1]
        d1 += w3[full + 1] * x[full + 1]
    if full + 2 < n:
        a2 += w0[full + 2] * x[full + 2]
        b2 += w1[full + 2] * x[full + 2]
        c2 += w2[full + 2] * x[full + 2]
        d2 += w3[full + 2] * x[full + 2]
    return combine(a0, a1, a2, a3), combine(b0, b1, b2, b3), combine(c0, c1, c2, c3), combine(d0, d1, d2, d3)


@njit(cache=True)
def dot4x2(w0, w1, w2, w3, x, y):
    """Four rows times two vectors (two passes over rows that stay in L1)."""
    s0, s1, s2, s3 = dot4(w0, w1, w2, w3, x)
    t0, t1, t2, t3 = dot4(w0, w1, w2, w3, y)
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


@njit(cache=True)
def outer4x4(a0, a1, a2, a3, p0, p1, p2, p3, q0, q1, q2, q3):
    """Four accumulator rows a_r += p_l[r] * q_l for four lanes l, added lane after lane (the
    order of lane-by-lane ``axpy``, so the same bits): each q value is loaded once for the
    four rows (the learning accumulation of a batch, blocked)."""
    p00, p01, p02, p03 = p0[0], p0[1], p0[2], p0[3]
    p10, p11, p12, p13 = p1[0], p1[1], p1[2], p1[3]
    p20, p21, p22, p23 = p2[0], p2[1], p2[2], p2[3]
    p30, p31, p32, p33 = p3[0], p3[1], p3[2], p3[3]
    for c in range(a0.shape[0]):
        v0, v1, v2, v3 = q0[c], q1[c], q2[c], q3[c]
        a0[c] = (((a0[c] + p00 * v0) + p10 * v1) + p20 * v2) + p30 * v3
        a1[c] = (((a1[c] + p01 * v0) + p11 * v1) + p21 * v2) + p31 * v3
        a2[c] = (((a2[c] + p02 * v0) + p12 * v1) + p22 * v2) + p32 * v3
        a3[c] = (((a3[c] + p03 * v0) + p13 * v1) + p23 * v2) + p33 * v3
