"""Numba kernels: run the encoded per-core programs, event by event, counting every operation.

One call of ``execute`` runs a block of time steps (sequence reset, every phase of every step,
online or end-of-sequence apply) without returning to Python. Inside a phase, stages run in
order; in a stage every core runs its instructions, a ``send`` compares each value of its
channels with the last value sent on them and turns those that moved (delta coding) into
events, and the events are delivered into the destination inboxes at the end of the stage
(from the sender's snapshot, so later writes in the stage cannot leak through). A ``matvec``
whose input is an inbox keeps a hidden sigma-delta accumulator ``acc = W @ x_ref`` per lane
and processes only the inbox columns that changed since its last execution
(``acc += W[:, c] * (x[c] - x_ref[c])``); after the weights change it recomputes once,
densely. docs/hwsim.md states what every counter counts.

Tables are tuples of arrays built by ``hwsim.encode`` and ``hwsim.engine``. Every float array
is float64; the float32 and fixed-point formats round each value when it is stored
(``F_ROUND``), so one compiled specialisation serves all number formats.
Loops index slice views with the bare loop variable: numba then drops its negative-index
wraparound check and LLVM vectorises them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# counter fields, in hwsim.counters.WorkCounts order
SYN_D, SYN_E, NEURON, LW, LT, MSG, HOPS, MR, MW = range(9)
FIELDS = 9

# opcodes, as hwsim.encode.OPCODES
(ZERO, COPY, ACTIVATE, GATE, ERROR, MATVEC, RELAX, LRU_PREDICT, LRU_TRACE, LRU_SYNAPSE_TRACE,
 LAMBDA_CREDIT, GAMMA_CREDIT, INPUT_CREDIT, INPUT_CREDIT_IMMEDIATE, OUTER_ACCUMULATE,
 ACCUMULATE, MAX, SUM_EXP, LOG_SUM, XENT_ERROR, XENT_LOSS, SE_ERROR, SE_LOSS, SEND, APPLY_SGD,
 APPLY_ADAM) = range(26)
# not program ops: inbox writes at the receiver, host input writes, sequence-start reset,
# step-start restart of the error channels
DELIVER, HOST_INPUT, SEQUENCE_RESET, STEP_RESET = range(26, 30)
OPCODE_COUNT = 30

# phases, as compiler.program.PHASE_ORDER
RESET, PREDICT, INFER, BACKPROP, LEARN, ADVANCE, APPLY = range(7)

# integer flags of ``execute``
(F_LANES, F_RESET, F_STEPS, F_TRAIN, F_ONLINE, F_APPLY_END, F_COUNT, F_DENSE, F_ROUND,
 F_TRACK, F_MASK_COL, F_REPLAY) = range(12)
# F_ROUND: how stored values are rounded
ROUND_NONE, ROUND_FIXED, ROUND_FLOAT32 = range(3)
INT_FLAGS = 12
# float flags
G_THRESHOLD_ACTIVITY, G_THRESHOLD_ERROR, G_SCALE = range(3)
FLOAT_FLAGS = 3

# the state tuple (built by hwsim.engine.Engine)
(S_MEM, S_REF, S_SACC, S_XS, S_EX, S_LRE, S_LIM, S_DD, S_DVAL, S_QSCALE, S_QLO, S_QHI, S_QMAX,
 S_STALE, S_NNZ, S_CNT, S_OPCNT, S_FIRED, S_REC, S_ICOL, S_L0, S_L1, S_L2, S_L3,
 S_REST_CNT, S_REST_OPCNT, S_REST_OK) = range(27)
STATE_SIZE = 27

GELU_C = np.sqrt(2.0 / np.pi)
_FAST = {"reassoc", "contract", "nsz"}


# -- scalar helpers ----------------------------------------------------------------------

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
def _round(mode, v, scale, lo, hi):
    """A value as stored: on a fixed-point grid, as the nearest float32, or unchanged."""
    if mode == ROUND_FIXED:
        return quantize(v, scale, lo, hi)
    if mode == ROUND_FLOAT32:
        return np.float64(np.float32(v))
    return v


@njit(cache=True, fastmath=_FAST)
def _dot(x, y):
    """x . y for two views of equal length (reassociation lets it use SIMD partial sums)."""
    s = 0.0
    for j in range(x.shape[0]):
        s += x[j] * y[j]
    return s


@njit(cache=True, fastmath=_FAST)
def _dot4(w0, w1, w2, w3, x):
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


@njit(cache=True, fastmath=_FAST)
def _dot4x2(w0, w1, w2, w3, x, y):
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
def _store4(acc, o, s0, s1, s2, s3, add):
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
def _axpy(y, a, x):
    """y += a * x on views."""
    for j in range(y.shape[0]):
        y[j] += a * x[j]


@njit(cache=True, fastmath=_FAST)
def _outer4x4(a0, a1, a2, a3, p0, p1, p2, p3, q0, q1, q2, q3):
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


@njit(cache=True)
def _base(tb, k, b):
    b_off, b_size, b_lane = tb[0], tb[1], tb[2]
    return b_off[k] + b * b_size[k] * b_lane[k]


@njit(cache=True)
def _add(cnt, opcnt, row, core, op, field, n):
    cnt[row, core, field] += n
    opcnt[op, field] += n


# -- elementwise neuron ops ------------------------------------------------------------

@njit(cache=True)
def _elementwise(op, i, lanes, tb, ti, mem, cnt, opcnt):
    ins_core, ins_a, ins_i, ins_f = ti[1], ti[2], ti[3], ti[4]
    a = ins_a[i]
    core = ins_core[i]
    b_size = tb[1]
    n = b_size[a[0]]
    for b in range(lanes):
        if op == ZERO:
            yo = _base(tb, a[0], b)
            y = mem[yo:yo + n]
            for j in range(n):
                y[j] = 0.0
            _add(cnt, opcnt, b, core, op, MW, n)
            continue
        # operand slots 0 and 1 (then 2): x -> y; x, point -> y; value, prediction -> eps;
        # value, eps, drive -> value
        o0, o1 = _base(tb, a[0], b), _base(tb, a[1], b)
        first, second = mem[o0:o0 + n], mem[o1:o1 + n]
        if op == COPY:
            for j in range(n):
                second[j] = first[j]
        elif op == ACTIVATE:
            fn = ins_i[i, 0]
            for j in range(n):
                second[j] = act_value(fn, first[j])
        elif op == GATE:
            fn = ins_i[i, 0]
            o2 = _base(tb, a[2], b)
            y = mem[o2:o2 + n]
            for j in range(n):  # no derivative needed where the gated value is 0
                y[j] = act_derivative(fn, second[j]) * first[j] if first[j] != 0.0 else 0.0
        elif op == ERROR:
            o2 = _base(tb, a[2], b)
            y = mem[o2:o2 + n]
            for j in range(n):
                y[j] = first[j] - second[j]
        elif op == RELAX:
            step = ins_f[i, 0]
            o2 = _base(tb, a[2], b)
            drive = mem[o2:o2 + n]
            for j in range(n):
                first[j] = first[j] - step * (second[j] - drive[j])
        _add(cnt, opcnt, b, core, op, NEURON, n)


# -- LRU ops -----------------------------------------------------------------------------

@njit(cache=True)
def _lru(op, i, lanes, dense, tb, ti, mem, ex, lre, lim, lanecnt, cnt, opcnt):
    ins_core, ins_a = ti[1], ti[2]
    a = ins_a[i]
    core = ins_core[i]
    b_off, b_size = tb[0], tb[1]
    if op == LRU_PREDICT:
        h0, h1, d0, d1, nu, gl, m0, m1 = a[0], a[1], a[2], a[3], a[4], a[6], a[7], a[8]
        n = b_size[m0]
        nuo, glo = b_off[nu], b_off[gl]
        lr, li, g = lre[nuo:nuo + n], lim[nuo:nuo + n], ex[glo:glo + n]
        for b in range(lanes):
            ho, do, mo = _base(tb, h0, b), _base(tb, d0, b), _base(tb, m0, b)
            h, d, mu = mem[ho:ho + n], mem[do:do + n], mem[mo:mo + n]
            if m1 >= 0:
                hio, dio, mio = _base(tb, h1, b), _base(tb, d1, b), _base(tb, m1, b)
                hi, di, mi = mem[hio:hio + n], mem[dio:dio + n], mem[mio:mio + n]
                for j in range(n):
                    hr, him = h[j], hi[j]
                    mu[j] = (lr[j] * hr - li[j] * him) + g[j] * d[j]
                    mi[j] = (lr[j] * him + li[j] * hr) + g[j] * di[j]
                _add(cnt, opcnt, b, core, op, NEURON, 2 * n)
            else:
                for j in range(n):
                    mu[j] = lr[j] * h[j] + g[j] * d[j]
                _add(cnt, opcnt, b, core, op, NEURON, n)
    elif op == LRU_TRACE:
        t0, t1, s0, s1, nu = a[0], a[1], a[2], a[3], a[4]
        n = b_size[t0]
        nuo = b_off[nu]
        lr, li = lre[nuo:nuo + n], lim[nuo:nuo + n]
        for b in range(lanes):
            to, so = _base(tb, t0, b), _base(tb, s0, b)
            tr, sr = mem[to:to + n], mem[so:so + n]
            if t1 >= 0:
                tio, sio = _base(tb, t1, b), _base(tb, s1, b)
                ti_, si = mem[tio:tio + n], mem[sio:sio + n]
                for j in range(n):
                    re, im = tr[j], ti_[j]
                    tr[j] = (lr[j] * re - li[j] * im) + sr[j]
                    ti_[j] = (lr[j] * im + li[j] * re) + si[j]
                _add(cnt, opcnt, b, core, op, LT, 2 * n)
            else:
                for j in range(n):
                    tr[j] = lr[j] * tr[j] + sr[j]
                _add(cnt, opcnt, b, core, op, LT, n)
    elif op == LRU_SYNAPSE_TRACE:
        t0, t1, uu, nu, gl = a[0], a[1], a[2], a[4], a[6]
        n, m = tb[3][t0], tb[4][t0]
        nuo, glo = b_off[nu], b_off[gl]
        for b in range(lanes):
            to, uo = _base(tb, t0, b), _base(tb, uu, b)
            u = mem[uo:uo + m]
            if t1 >= 0:
                tio = _base(tb, t1, b)
                for r in range(n):
                    lr, li, g = lre[nuo + r], lim[nuo + r], ex[glo + r]
                    tr = mem[to + r * m:to + r * m + m]
                    tim = mem[tio + r * m:tio + r * m + m]
                    for j in range(m):
                        re, im = tr[j], tim[j]
                        tr[j] = (lr * re - li * im) + g * u[j]
                        tim[j] = lr * im + li * re
                _add(cnt, opcnt, b, core, op, LT, 2 * n * m)
            else:
                for r in range(n):
                    lr, g = lre[nuo + r], ex[glo + r]
                    tr = mem[to + r * m:to + r * m + m]
                    for j in range(m):
                        tr[j] = lr * tr[j] + g * u[j]
                _add(cnt, opcnt, b, core, op, LT, n * m)
    elif op == LAMBDA_CREDIT or op == GAMMA_CREDIT:
        e0, e1, s0, s1 = a[0], a[1], a[2], a[3]
        n = b_size[e0]
        cx = e1 >= 0
        lam_op = op == LAMBDA_CREDIT
        nuo = b_off[a[4]] if lam_op else 0
        tho = b_off[a[5]] if (lam_op and a[5] >= 0) else -1
        glo = 0 if lam_op else b_off[a[6]]
        acc = b_off[a[6]] if lam_op else b_off[a[7]]  # acc_nu, or the gamma accumulator
        acc_th = b_off[a[7]] if (lam_op and a[7] >= 0) else -1
        for b in range(lanes):
            lanecnt[b] = 0
        for j in range(n):
            cr = 0.0
            ci = 0.0
            touched = False
            for b in range(lanes):
                er = mem[_base(tb, e0, b) + j]
                ei = mem[_base(tb, e1, b) + j] if cx else 0.0
                if er == 0.0 and ei == 0.0 and not dense:
                    continue
                touched = True
                lanecnt[b] += 1
                sr = mem[_base(tb, s0, b) + j]
                if cx:
                    si = mem[_base(tb, s1, b) + j]
                    cr += er * sr + ei * si
                    ci += ei * sr - er * si
                else:
                    cr += er * sr
            if not touched:
                continue
            if lam_op:
                # Re(c conj(dlam/dnu)), dlam/dnu = -exp(nu) lam; dlam/dtheta = i exp(theta) lam
                decay, lr, li = ex[nuo + j], lre[nuo + j], lim[nuo + j]
                mem[acc + j] += cr * (-decay * lr) + ci * (-decay * li)
                if acc_th >= 0:
                    rot = ex[tho + j]
                    mem[acc_th + j] += cr * (-rot * li) + ci * (rot * lr)
            else:
                mem[acc + j] += ex[glo + j] * cr
        per = 2 if acc_th >= 0 else 1
        for b in range(lanes):
            _add(cnt, opcnt, b, core, op, LW, per * lanecnt[b])
    elif op == INPUT_CREDIT or op == INPUT_CREDIT_IMMEDIATE:
        e0, e1, src, acc0, acc1 = a[0], a[1], a[2], a[7], a[8]
        n, m = tb[3][acc0], tb[4][acc0]
        cx = e1 >= 0
        parts = 2 if cx else 1
        immediate = op == INPUT_CREDIT_IMMEDIATE
        glo = b_off[a[6]] if immediate else 0
        ao0 = b_off[acc0]
        ao1 = b_off[acc1] if cx else ao0
        for b in range(lanes):
            lanecnt[b] = 0
            nzu = 0
            eo = _base(tb, e0, b)
            eio = _base(tb, e1, b) if cx else eo
            so = _base(tb, src, b)
            sio = _base(tb, a[3], b) if (cx and not immediate) else so
            if immediate:
                for j in range(m):
                    if mem[so + j] != 0.0 or dense:
                        nzu += 1
            for r in range(n):
                er = mem[eo + r]
                ei = mem[eio + r] if cx else 0.0
                if er == 0.0 and ei == 0.0 and not dense:
                    continue
                acr = mem[ao0 + r * m:ao0 + r * m + m]
                aci = mem[ao1 + r * m:ao1 + r * m + m]
                if immediate:
                    g = ex[glo + r]
                    u = mem[so:so + m]
                    lanecnt[b] += nzu
                    for j in range(m):
                        gu = g * u[j]
                        if gu == 0.0 and not dense:
                            continue
                        acr[j] += er * gu
                        if cx:
                            aci[j] += ei * gu
                else:
                    lanecnt[b] += m
                    tr = mem[so + r * m:so + r * m + m]
                    if cx:
                        tim = mem[sio + r * m:sio + r * m + m]
                        for j in range(m):
                            acr[j] += er * tr[j] + ei * tim[j]
                            aci[j] += ei * tr[j] - er * tim[j]
                    else:
                        for j in range(m):
                            acr[j] += er * tr[j]
            _add(cnt, opcnt, b, core, op, LW, parts * lanecnt[b])


# -- readout learning ------------------------------------------------------------------

@njit(cache=True)
def _learn(op, i, lanes, dense, tb, ti, st):
    ins_core, ins_a = ti[1], ti[2]
    mem, cnt, opcnt, icol = st[S_MEM], st[S_CNT], st[S_OPCNT], st[S_ICOL]
    nzc, active, po, qo = st[S_L0], st[S_L1], st[S_L2], st[S_L3]
    a = ins_a[i]
    core = ins_core[i]
    b_off = tb[0]
    if op == OUTER_ACCUMULATE:
        post, pre, acc = a[0], a[1], a[2]
        rows, cols = tb[3][acc], tb[4][acc]
        ao = b_off[acc]
        width = icol.shape[0] // lanes
        for b in range(lanes):
            qo[b] = _base(tb, pre, b)
            po[b] = _base(tb, post, b)
            active[b] = 0
            q = mem[qo[b]:qo[b] + cols]
            k = 0
            for c in range(cols):
                if dense or q[c] != 0.0:
                    icol[b * width + k] = c
                    k += 1
            nzc[b] = k
            # rows whose post value is nonzero do work (adding 0 * pre changes nothing)
            p = mem[po[b]:po[b] + rows]
            if k > 0:
                for r in range(rows):
                    if dense or p[r] != 0.0:
                        active[b] += 1
            _add(cnt, opcnt, b, core, op, LW, active[b] * k)
        # lanes whose pre-synaptic vector has no zero go four at a time through _outer4x4
        # (their rows with a zero post value add exact zeros); the rest lane by lane below
        full = np.empty(lanes, np.int64)
        nfull = 0
        for b in range(lanes):
            if nzc[b] == cols and active[b] > 0:
                full[nfull] = b
                nfull += 1
        quads = nfull // 4 * 4
        in_quad = np.zeros(lanes, np.bool_)
        for f in range(quads):
            in_quad[full[f]] = True
        # blocks of four accumulator rows stay in L1 while every lane adds to them
        r = 0
        while r < rows:
            block = min(4, rows - r)
            base = ao + r * cols
            if block == 4:
                a0 = mem[base:base + cols]
                a1 = mem[base + cols:base + 2 * cols]
                a2 = mem[base + 2 * cols:base + 3 * cols]
                a3 = mem[base + 3 * cols:base + 4 * cols]
                for f in range(0, quads, 4):
                    b0, b1, b2, b3 = full[f], full[f + 1], full[f + 2], full[f + 3]
                    _outer4x4(a0, a1, a2, a3,
                              mem[po[b0] + r:po[b0] + r + 4], mem[po[b1] + r:po[b1] + r + 4],
                              mem[po[b2] + r:po[b2] + r + 4], mem[po[b3] + r:po[b3] + r + 4],
                              mem[qo[b0]:qo[b0] + cols], mem[qo[b1]:qo[b1] + cols],
                              mem[qo[b2]:qo[b2] + cols], mem[qo[b3]:qo[b3] + cols])
            for b in range(lanes):
                k = nzc[b]
                if k == 0 or active[b] == 0:
                    continue
                if block == 4 and in_quad[b]:
                    continue  # done above
                silent = True
                for rr in range(block):
                    if mem[po[b] + r + rr] != 0.0:
                        silent = False
                if silent:
                    continue
                q = mem[qo[b]:qo[b] + cols]
                nz = icol[b * width:b * width + k]
                for rr in range(block):
                    pv = mem[po[b] + r + rr]
                    if pv == 0.0:
                        continue
                    arow = mem[base + rr * cols:base + rr * cols + cols]
                    if k == cols:
                        _axpy(arow, pv, q)
                    else:
                        for j in range(k):
                            arow[nz[j]] += pv * q[nz[j]]
            r += block
    elif op == ACCUMULATE:
        x, acc = a[0], a[1]
        n = tb[1][acc]
        ao = b_off[acc]
        for b in range(lanes):
            xo = _base(tb, x, b)
            xv = mem[xo:xo + n]
            k = 0
            for j in range(n):
                if dense or xv[j] != 0.0:
                    k += 1
            _add(cnt, opcnt, b, core, op, LW, k)
        for j in range(n):
            s = 0.0
            for b in range(lanes):
                s += mem[_base(tb, x, b) + j]
            mem[ao + j] += s


# -- softmax and loss ------------------------------------------------------------------

@njit(cache=True)
def _output(op, i, lanes, tb, ti, mem, cnt, opcnt):
    ins_core, ins_a, ins_i, ins_f, list_ids = ti[1], ti[2], ti[3], ti[4], ti[7]
    a = ins_a[i]
    core = ins_core[i]
    b_size = tb[1]
    if op == MAX or op == LOG_SUM:
        y = a[2]
        for b in range(lanes):
            if op == MAX:
                best = -np.inf
                for q in range(ins_i[i, 2], ins_i[i, 3]):
                    k = list_ids[q]
                    ko = _base(tb, k, b)
                    for j in range(b_size[k]):
                        if mem[ko + j] > best:
                            best = mem[ko + j]
                mem[_base(tb, y, b)] = best
            else:
                total = 0.0
                for q in range(ins_i[i, 2], ins_i[i, 3]):
                    k = list_ids[q]
                    ko = _base(tb, k, b)
                    for j in range(b_size[k]):
                        total += mem[ko + j]
                mem[_base(tb, y, b)] = np.log(total)
            _add(cnt, opcnt, b, core, op, NEURON, 1)
    elif op == SUM_EXP:
        x, shift, y = a[0], a[1], a[2]
        n = b_size[x]
        for b in range(lanes):
            xo, s = _base(tb, x, b), mem[_base(tb, shift, b)]
            total = 0.0
            for j in range(n):
                total += np.exp(mem[xo + j] - s)
            mem[_base(tb, y, b)] = total
            _add(cnt, opcnt, b, core, op, NEURON, 1)
    elif op == XENT_ERROR or op == XENT_LOSS:
        lg, sh, lz, tg, mk, out = a[0], a[1], a[2], a[3], a[4], a[5]
        n = b_size[lg]
        offset = ins_f[i, 0]
        for b in range(lanes):
            lo = _base(tb, lg, b)
            shift, logz = mem[_base(tb, sh, b)], mem[_base(tb, lz, b)]
            mask = mem[_base(tb, mk, b)]
            k = int(mem[_base(tb, tg, b)] - offset)
            oo = _base(tb, out, b)
            if op == XENT_ERROR:
                for j in range(n):
                    onehot = 1.0 if j == k else 0.0
                    mem[oo + j] = (onehot - np.exp((mem[lo + j] - shift) - logz)) * mask
                _add(cnt, opcnt, b, core, op, NEURON, n)
            else:
                if 0 <= k < n:
                    mem[oo] = -((mem[lo + k] - shift) - logz) * mask
                else:
                    mem[oo] = 0.0
                _add(cnt, opcnt, b, core, op, NEURON, 1)
    elif op == SE_ERROR or op == SE_LOSS:
        pr, tg, mk, out = a[0], a[1], a[2], a[5]
        n = b_size[pr]
        for b in range(lanes):
            po, to, oo = _base(tb, pr, b), _base(tb, tg, b), _base(tb, out, b)
            mask = mem[_base(tb, mk, b)]
            if op == SE_ERROR:
                for j in range(n):
                    mem[oo + j] = -(mem[po + j] - mem[to + j]) * mask
                _add(cnt, opcnt, b, core, op, NEURON, n)
            else:
                total = 0.0
                for j in range(n):
                    diff = mem[po + j] - mem[to + j]
                    total += diff * diff
                mem[oo] = 0.5 * total * mask
                _add(cnt, opcnt, b, core, op, NEURON, 1)


# -- synaptic accumulation (sigma-delta) -----------------------------------------------

@njit(cache=True)
def _matvec(i, lanes, dense, tb, ti, ta, st):
    """y = W @ x (+ bias) through the hidden accumulator of (W, x), for every lane.

    Pass 1 per lane: the columns whose inbox value differs from the value the accumulator
    last saw are the events. Few of them (up to 1/8 of the columns) are applied at once
    (gathered columns); more go into a dense delta row; a stale accumulator (weights changed) or dense mode asks for a
    full recomputation. Pass 2 does delta rows and recomputations four weight rows at a
    time, so a weight row is read once for all lanes. Pass 3 writes y and the counts.
    """
    ins_core, ins_a, ins_i = ti[1], ti[2], ti[3]
    a_rows, a_cols, a_sacc, a_xs, w_nnz = ta[2], ta[3], ta[4], ta[5], ta[6]
    mem, sacc, xs, dd, dval = st[S_MEM], st[S_SACC], st[S_XS], st[S_DD], st[S_DVAL]
    stale, colnnz, icol, cnt, opcnt = st[S_STALE], st[S_NNZ], st[S_ICOL], st[S_CNT], st[S_OPCNT]
    mode, eff, events = st[S_L0], st[S_L1], st[S_L2]
    b_off = tb[0]
    a = ins_a[i]
    core = ins_core[i]
    w, x, bias, y = a[0], a[1], a[2], a[3]
    ac = ins_i[i, 1]
    rows, cols = a_rows[ac], a_cols[ac]
    wo = b_off[w]
    nnz = colnnz[w_nnz[w]:w_nnz[w] + cols]
    width = dd.shape[0] // lanes
    wide = False
    for b in range(lanes):
        xo = _base(tb, x, b)
        xv = mem[xo:xo + cols]
        so = a_sacc[ac] + b * rows
        xso = a_xs[ac] + b * cols
        ref = xs[xso:xso + cols]
        row = dd[b * width:b * width + cols]
        dc = ac * lanes + b
        if dense or stale[dc] != 0:
            stale[dc] = 0
            e = 0
            for c in range(cols):
                ref[c] = xv[c]
                if xv[c] != 0.0:
                    e += nnz[c]
            eff[b] = rows * cols if dense else e
            events[b] = cols
            mode[b] = 2
            wide = True
            continue
        m = 0
        e = 0
        for c in range(cols):
            d = xv[c] - ref[c]
            row[c] = d
            ref[c] = xv[c]
            if d != 0.0:
                m += 1
                e += nnz[c]
        eff[b] = e
        events[b] = m
        mode[b] = 0
        if 8 * m > cols:  # measured break-even of gathering against a dense delta row
            mode[b] = 1
            wide = True
        elif m > 0:
            k = 0
            for c in range(cols):
                if row[c] != 0.0:
                    icol[k] = c
                    dval[k] = row[c]
                    k += 1
            cl, dv = icol[:k], dval[:k]
            acc = sacc[so:so + rows]
            for r in range(rows):
                wrow = mem[wo + r * cols:wo + r * cols + cols]
                s = 0.0
                for j in range(k):
                    s += wrow[cl[j]] * dv[j]
                acc[r] += s
    if wide:
        # lanes by mode, so that two lanes of the same mode share each pass over four rows
        pairs = np.empty((2, lanes), np.int64)
        count = np.zeros(2, np.int64)
        for b in range(lanes):
            if mode[b] != 0:
                pairs[mode[b] - 1, count[mode[b] - 1]] = b
                count[mode[b] - 1] += 1
        r = 0
        while r < rows:
            if r + 4 <= rows:
                w0 = mem[wo + r * cols:wo + (r + 1) * cols]
                w1 = mem[wo + (r + 1) * cols:wo + (r + 2) * cols]
                w2 = mem[wo + (r + 2) * cols:wo + (r + 3) * cols]
                w3 = mem[wo + (r + 3) * cols:wo + (r + 4) * cols]
                for m in range(2):  # m = 0: delta rows added; m = 1: full recomputation
                    n = count[m]
                    for f in range(0, n, 2):
                        b = pairs[m, f]
                        xb = (dd[b * width:b * width + cols] if m == 0
                              else xs[a_xs[ac] + b * cols:a_xs[ac] + (b + 1) * cols])
                        if f + 1 < n:
                            c = pairs[m, f + 1]
                            xc = (dd[c * width:c * width + cols] if m == 0
                                  else xs[a_xs[ac] + c * cols:a_xs[ac] + (c + 1) * cols])
                            s0, s1, s2, s3, t0, t1, t2, t3 = _dot4x2(w0, w1, w2, w3, xb, xc)
                            _store4(sacc, a_sacc[ac] + c * rows + r, t0, t1, t2, t3, m == 0)
                        else:
                            s0, s1, s2, s3 = _dot4(w0, w1, w2, w3, xb)
                        _store4(sacc, a_sacc[ac] + b * rows + r, s0, s1, s2, s3, m == 0)
                r += 4
            else:
                wrow = mem[wo + r * cols:wo + (r + 1) * cols]
                for b in range(lanes):
                    so = a_sacc[ac] + b * rows + r
                    if mode[b] == 1:
                        sacc[so] += _dot(wrow, dd[b * width:b * width + cols])
                    elif mode[b] == 2:
                        xso = a_xs[ac] + b * cols
                        sacc[so] = _dot(wrow, xs[xso:xso + cols])
                r += 1
    extra = rows if bias >= 0 else 0
    bo = b_off[bias] if bias >= 0 else 0
    for b in range(lanes):
        so = a_sacc[ac] + b * rows
        acc = sacc[so:so + rows]
        yo = _base(tb, y, b)
        out = mem[yo:yo + rows]
        if bias >= 0:
            bv = mem[bo:bo + rows]
            for r in range(rows):
                out[r] = acc[r] + bv[r]
        else:
            for r in range(rows):
                out[r] = acc[r]
        _add(cnt, opcnt, b, core, MATVEC, SYN_D, rows * cols + extra)
        _add(cnt, opcnt, b, core, MATVEC, SYN_E, eff[b] + extra)
        _add(cnt, opcnt, b, core, MATVEC, NEURON, rows)
        _add(cnt, opcnt, b, core, MATVEC, MR, 2 * events[b])
        _add(cnt, opcnt, b, core, MATVEC, MW, events[b])


# -- messages --------------------------------------------------------------------------

@njit(cache=True)
def _send(i, lanes, dense, thresholds, tb, ti, ts, st, nrec, nfired):
    """Compare each value of the op's channel groups with the last value sent on them; those
    that moved more than their population's threshold (``thresholds``: activity, error;
    threshold 0: that changed at all; dense: all) are recorded as sent (the reference keeps
    the snapshot) and queued for delivery."""
    ins_core, ins_i = ti[1], ti[3]
    g_src, g_start, g_len, g_ch0, g_ch1, g_ref, g_hops, g_error = (
        ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[13], ts[15])
    mem, ref, fired, rec = st[S_MEM], st[S_REF], st[S_FIRED], st[S_REC]
    cnt, opcnt = st[S_CNT], st[S_OPCNT]
    core = ins_core[i]
    for g in range(ins_i[i, 0], ins_i[i, 1]):
        n = g_len[g]
        channels = g_ch1[g] - g_ch0[g]
        threshold = thresholds[g_error[g]]
        for b in range(lanes):
            so = _base(tb, g_src[g], b) + g_start[g]
            ro = g_ref[g] + b * n
            src, last = mem[so:so + n], ref[ro:ro + n]
            first = nfired
            for j in range(n):
                v = src[j]
                if dense:
                    fire = True
                elif threshold == 0.0:
                    fire = v != last[j]
                else:
                    fire = abs(v - last[j]) > threshold
                if fire:
                    last[j] = v
                    fired[nfired] = j
                    nfired += 1
            k = nfired - first
            _add(cnt, opcnt, b, core, SEND, MR, 2 * n)
            if k == 0:
                continue
            rec[nrec, 0] = g
            rec[nrec, 1] = b
            rec[nrec, 2] = first
            rec[nrec, 3] = k
            nrec += 1
            _add(cnt, opcnt, b, core, SEND, MW, k)
            _add(cnt, opcnt, b, core, SEND, MSG, k * channels)
            _add(cnt, opcnt, b, core, SEND, HOPS, k * g_hops[g])
    return nrec, nfired


@njit(cache=True)
def _deliver(nrec, rounding, track, tb, ts, st):
    """End of a stage: every queued value lands in the inbox of every channel of its group."""
    g_len, g_ch0, g_ch1, g_ref = ts[2], ts[3], ts[4], ts[5]
    c_dst_buf, c_dst_start, c_dst_core = ts[6], ts[7], ts[9]
    mem, ref, fired, rec = st[S_MEM], st[S_REF], st[S_FIRED], st[S_REC]
    q_scale, q_lo, q_hi, qmax = st[S_QSCALE], st[S_QLO], st[S_QHI], st[S_QMAX]
    cnt, opcnt = st[S_CNT], st[S_OPCNT]
    for e in range(nrec):
        g, b, first, k = rec[e, 0], rec[e, 1], rec[e, 2], rec[e, 3]
        n = g_len[g]
        last = ref[g_ref[g] + b * n:g_ref[g] + (b + 1) * n]
        idx = fired[first:first + k]
        for q in range(g_ch0[g], g_ch1[g]):
            dst = c_dst_buf[q]
            do = _base(tb, dst, b) + c_dst_start[q]
            inbox = mem[do:do + n]
            if rounding != ROUND_NONE or track:
                scale, lo, hi = q_scale[dst], q_lo[dst], q_hi[dst]
                for j in range(k):
                    v = _round(rounding, last[idx[j]], scale, lo, hi)
                    if track and abs(v) > qmax[dst]:
                        qmax[dst] = abs(v)
                    inbox[idx[j]] = v
            else:
                for j in range(k):
                    inbox[idx[j]] = last[idx[j]]
            _add(cnt, opcnt, b, c_dst_core[q], DELIVER, MW, k)


@njit(cache=True)
def _host(t, hin, lanes, dense, rounding, track, tb, th, st):
    """Deliver the host inputs of step t into the inboxes; only changed values are written."""
    h_col, h_len, h_dst_buf, h_dst_start = th[0], th[1], th[2], th[3]
    mem, cnt, opcnt = st[S_MEM], st[S_CNT], st[S_OPCNT]
    q_scale, q_lo, q_hi, qmax = st[S_QSCALE], st[S_QLO], st[S_QHI], st[S_QMAX]
    b_core = tb[5]
    for h in range(h_col.shape[0]):
        k = h_dst_buf[h]
        core = b_core[k]
        for b in range(lanes):
            do = _base(tb, k, b) + h_dst_start[h]
            written = 0
            for j in range(h_len[h]):
                v = _round(rounding, hin[t, b, h_col[h] + j], q_scale[k], q_lo[k], q_hi[k])
                if track and abs(v) > qmax[k]:
                    qmax[k] = abs(v)
                if dense or mem[do + j] != v:
                    mem[do + j] = v
                    written += 1
            _add(cnt, opcnt, b, core, HOST_INPUT, MW, written)


# -- apply -------------------------------------------------------------------------------

@njit(cache=True)
def _apply(op, i, lanes, scale, count, tb, ti, st):
    ins_core, ins_a, ins_f = ti[1], ti[2], ti[4]
    mem, cnt, opcnt = st[S_MEM], st[S_CNT], st[S_OPCNT]
    a = ins_a[i]
    core = ins_core[i]
    b_off, b_size = tb[0], tb[1]
    n = b_size[a[0]]
    param = mem[b_off[a[0]]:b_off[a[0]] + n]
    acc = mem[b_off[a[1]]:b_off[a[1]] + n]
    lr = ins_f[i, 0]
    if op == APPLY_SGD:
        for j in range(n):
            d = acc[j] * scale
            param[j] += lr * d
            acc[j] = 0.0
        _add(cnt, opcnt, lanes, core, op, MR, n)
        _add(cnt, opcnt, lanes, core, op, MW, n)
    else:
        b1, b2, eps = ins_f[i, 1], ins_f[i, 2], ins_f[i, 3]
        mm = mem[b_off[a[2]]:b_off[a[2]] + n]
        vv = mem[b_off[a[3]]:b_off[a[3]] + n]
        c1 = 1.0 - b1 ** np.float64(count)
        c2 = 1.0 - b2 ** np.float64(count)
        for j in range(n):
            d = acc[j] * scale
            m = mm[j] * b1 + (1.0 - b1) * d
            v = vv[j] * b2 + (1.0 - b2) * (d * d)
            mm[j] = m
            vv[j] = v
            param[j] += lr * (m / c1) / (np.sqrt(v / c2) + eps)
            acc[j] = 0.0
        _add(cnt, opcnt, lanes, core, op, MR, 3 * n)
        _add(cnt, opcnt, lanes, core, op, MW, 3 * n)
    _add(cnt, opcnt, lanes, core, op, LW, n)


@njit(cache=True)
def refresh(tb, ta, tl, st):
    """After the weights or LRU parameters changed: LRU coefficients, per-column nonzero
    counts of every matvec weight, and every sigma-delta accumulator marked stale."""
    lru_nu, lru_th, lru_gl = tl[0], tl[1], tl[2]
    mem, ex, lre, lim = st[S_MEM], st[S_EX], st[S_LRE], st[S_LIM]
    stale, colnnz = st[S_STALE], st[S_NNZ]
    a_w, w_nnz = ta[0], ta[6]
    b_off, b_size, b_rows, b_cols = tb[0], tb[1], tb[3], tb[4]
    for q in range(lru_nu.shape[0]):
        nuo, glo = b_off[lru_nu[q]], b_off[lru_gl[q]]
        th = lru_th[q]
        for j in range(b_size[lru_nu[q]]):
            decay = np.exp(mem[nuo + j])
            ex[nuo + j] = decay
            ex[glo + j] = np.exp(mem[glo + j])
            if th >= 0:
                rot = np.exp(mem[b_off[th] + j])
                ex[b_off[th] + j] = rot
                magnitude = np.exp(-decay)
                lre[nuo + j] = magnitude * np.cos(rot)
                lim[nuo + j] = magnitude * np.sin(rot)
            else:
                lre[nuo + j] = np.exp(-decay)
                lim[nuo + j] = 0.0
    done = np.zeros(b_off.shape[0], np.bool_)
    for ac in range(a_w.shape[0]):
        w = a_w[ac]
        if done[w]:
            continue
        done[w] = True
        rows, cols, wo, no = b_rows[w], b_cols[w], b_off[w], w_nnz[w]
        nnz = colnnz[no:no + cols]
        for c in range(cols):
            nnz[c] = 0
        for r in range(rows):
            wrow = mem[wo + r * cols:wo + (r + 1) * cols]
            for c in range(cols):
                if wrow[c] != 0.0:
                    nnz[c] += 1
    for j in range(stale.shape[0]):
        stale[j] = 1


@njit(cache=True)
def _post(i, lanes, rounding, track, tb, ti, st):
    """Round every value an instruction wrote as its buffer stores it (fixed-point grid or
    float32) and/or record the largest magnitude seen per buffer (calibration)."""
    out_ptr, out_ids = ti[5], ti[6]
    b_off, b_size, b_lane = tb[0], tb[1], tb[2]
    mem, q_scale, q_lo, q_hi, qmax = st[S_MEM], st[S_QSCALE], st[S_QLO], st[S_QHI], st[S_QMAX]
    for q in range(out_ptr[i], out_ptr[i + 1]):
        k = out_ids[q]
        start = b_off[k]
        values = mem[start:start + b_size[k] * (lanes if b_lane[k] else 1)]
        scale, lo, hi = q_scale[k], q_lo[k], q_hi[k]
        top = qmax[k]
        for e in range(values.shape[0]):
            v = values[e]
            if rounding != ROUND_NONE:
                v = _round(rounding, v, scale, lo, hi)
                values[e] = v
            if track and abs(v) > top:
                top = abs(v)
        qmax[k] = top


@njit(cache=True)
def _clear(lanes, tb, ts, ta, st, inboxes, errors_only, op):
    """Zero ``inboxes``, the delta-coding references and the sigma-delta accumulators (all of
    them, or only the error channels' when ``errors_only``), counting the writes under ``op``."""
    mem, ref, sacc, xs = st[S_MEM], st[S_REF], st[S_SACC], st[S_XS]
    cnt, opcnt = st[S_CNT], st[S_OPCNT]
    b_size, b_core = tb[1], tb[5]
    r_off, r_len, r_core, r_step = ts[10], ts[11], ts[12], ts[14]
    a_w, a_rows, a_cols, a_sacc, a_xs, a_step = ta[0], ta[2], ta[3], ta[4], ta[5], ta[7]
    for q in range(inboxes.shape[0]):
        k = inboxes[q]
        n = b_size[k]
        for b in range(lanes):
            o = _base(tb, k, b)
            box = mem[o:o + n]
            for j in range(n):
                box[j] = 0.0
            _add(cnt, opcnt, b, b_core[k], op, MW, n)
    for g in range(r_off.shape[0]):
        if errors_only and r_step[g] == 0:
            continue
        n = r_len[g]
        block = ref[r_off[g]:r_off[g] + n * lanes]
        for j in range(n * lanes):
            block[j] = 0.0
        for b in range(lanes):
            _add(cnt, opcnt, b, r_core[g], op, MW, n)
    for ac in range(a_w.shape[0]):
        if errors_only and a_step[ac] == 0:
            continue
        rows, cols = a_rows[ac], a_cols[ac]
        acc = sacc[a_sacc[ac]:a_sacc[ac] + rows * lanes]
        for j in range(rows * lanes):
            acc[j] = 0.0
        seen = xs[a_xs[ac]:a_xs[ac] + cols * lanes]
        for j in range(cols * lanes):
            seen[j] = 0.0
        for b in range(lanes):
            _add(cnt, opcnt, b, b_core[a_w[ac]], op, MW, rows + cols)


@njit(cache=True)
def _hw_reset(lanes, tb, ts, ta, to, st):
    """Sequence start: zero inboxes, delta-coding references and sigma-delta accumulators,
    so that what a sequence costs does not depend on what ran before it."""
    _clear(lanes, tb, ts, ta, st, to[3], False, SEQUENCE_RESET)
    stale = st[S_STALE]
    for j in range(stale.shape[0]):
        stale[j] = 0


@njit(cache=True)
def _step_reset(lanes, tb, ts, ta, to, st):
    """Training step start: error channels restart at 0 on both ends (``hwsim.encode.
    per_step_source`` says why), so no events are spent on carrying last step's errors back
    to 0. Their inboxes, delta references and the accumulators reading them are zeroed."""
    _clear(lanes, tb, ts, ta, st, to[4], True, STEP_RESET)


# -- driver ------------------------------------------------------------------------------

@njit(cache=True)
def _phase(p, fi, ff, tb, ti, tp, ts, ta, st):
    lanes, dense, rounding, track = fi[F_LANES], fi[F_DENSE] != 0, fi[F_ROUND], fi[F_TRACK] != 0
    thresholds, scale, count = ff[G_THRESHOLD_ACTIVITY:G_THRESHOLD_ERROR + 1], ff[G_SCALE], fi[F_COUNT]
    ph_first, ph_nst, ph_repeat, stage_ptr = tp[0], tp[1], tp[2], tp[3]
    ins_op = ti[0]
    mem, ex, lre, lim = st[S_MEM], st[S_EX], st[S_LRE], st[S_LIM]
    cnt, opcnt, lanecnt = st[S_CNT], st[S_OPCNT], st[S_L0]
    for _ in range(ph_repeat[p]):
        for s in range(ph_nst[p]):
            stage = ph_first[p] + s
            nrec = 0
            nfired = 0
            for i in range(stage_ptr[stage], stage_ptr[stage + 1]):
                op = ins_op[i]
                if op == MATVEC:
                    _matvec(i, lanes, dense, tb, ti, ta, st)
                elif op == SEND:
                    nrec, nfired = _send(i, lanes, dense, thresholds, tb, ti, ts, st, nrec, nfired)
                elif op <= RELAX:
                    _elementwise(op, i, lanes, tb, ti, mem, cnt, opcnt)
                elif op <= INPUT_CREDIT_IMMEDIATE:
                    _lru(op, i, lanes, dense, tb, ti, mem, ex, lre, lim, lanecnt, cnt, opcnt)
                elif op <= ACCUMULATE:
                    _learn(op, i, lanes, dense, tb, ti, st)
                elif op <= SE_LOSS:
                    _output(op, i, lanes, tb, ti, mem, cnt, opcnt)
                else:
                    _apply(op, i, lanes, scale, count, tb, ti, st)
                if rounding != ROUND_NONE or track:
                    _post(i, lanes, rounding, track, tb, ti, st)
            if nrec > 0:
                _deliver(nrec, rounding, track, tb, ts, st)


@njit(cache=True)
def _carries_loss(t, hin, lanes, fi):
    """Whether some lane's mask is on at step t."""
    for b in range(lanes):
        if hin[t, b, fi[F_MASK_COL]] != 0.0:
            return True
    return False


@njit(cache=True)
def _at_rest(t, hin, lanes, fi, st):
    """Whether step t's PC inference would change nothing but the counters: no lane carries
    loss (so after predict every error is exactly 0, the reference's ``errors_at_rest``: relax,
    gate and error ops rewrite the values they hold and no message is sent) and no
    accumulator is stale (nothing to recompute since the weights changed). Its counts are then
    the same at every such step. (Spatial BP's backprop phase is not covered: its value
    layers' errors are set there, not in predict, so it always runs.)"""
    if _carries_loss(t, hin, lanes, fi):
        return False
    stale = st[S_STALE]
    for j in range(stale.shape[0]):
        if stale[j] != 0:
            return False
    return True


@njit(cache=True)
def _inference(t, hin, fi, ff, tb, ti, tp, ts, ta, st):
    """The infer phase (K iterations of PC inference) of training step t. At rest
    (``_at_rest``) it is run once and its counts recorded; later steps at rest are charged
    those counts instead of running it again (``fi[F_REPLAY]``; never while calibrating, which
    watches every write)."""
    cnt, opcnt = st[S_CNT], st[S_OPCNT]
    rest_cnt, rest_op, recorded = st[S_REST_CNT], st[S_REST_OPCNT], st[S_REST_OK]
    rest = fi[F_REPLAY] != 0 and fi[F_TRACK] == 0 and _at_rest(t, hin, fi[F_LANES], fi, st)
    if rest and recorded[0] != 0:
        cnt += rest_cnt
        opcnt += rest_op
        return
    if rest:
        rest_cnt[...] = -cnt
        rest_op[...] = -opcnt
    _phase(INFER, fi, ff, tb, ti, tp, ts, ta, st)
    if rest:
        rest_cnt += cnt
        rest_op += opcnt
        recorded[0] = 1


@njit(cache=True)
def _totals(cnt, out):
    """Counts per lane row summed over cores."""
    for row in range(cnt.shape[0]):
        for f in range(FIELDS):
            out[row, f] = cnt[row, :, f].sum()


@njit(cache=True)
def execute(fi, ff, hin, loss_out, logit_out, step_cnt, tb, ti, tp, ts, th, ta, tl, to, st):
    """Run ``fi[F_STEPS]`` time steps for ``fi[F_LANES]`` lanes (see module docstring).

    ``hin`` (steps, lanes, host width) holds u, target and mask per step. Per step the
    loss (sum of the output cores' loss registers) and the logits after predict are written
    to ``loss_out`` / ``logit_out``, and the counts of the step per lane row (row ``lanes`` =
    shared work), summed over cores, to ``step_cnt``: step 0 includes the sequence reset, a
    step includes its online apply, and the last step the end-of-sequence apply, so the rows
    add up to everything the call did. Returns the optimizer step count.
    """
    lanes = fi[F_LANES]
    steps = fi[F_STEPS]
    train, online = fi[F_TRAIN] != 0, fi[F_ONLINE] != 0
    dense, rounding, track = fi[F_DENSE] != 0, fi[F_ROUND], fi[F_TRACK] != 0
    mem, cnt = st[S_MEM], st[S_CNT]
    out_mu, out_start, loss_bufs = to[0], to[1], to[2]
    b_size = tb[1]
    before = np.zeros((lanes + 1, FIELDS), np.int64)
    after = np.zeros((lanes + 1, FIELDS), np.int64)
    _totals(cnt, before)
    if fi[F_RESET] != 0:
        _phase(RESET, fi, ff, tb, ti, tp, ts, ta, st)
        _hw_reset(lanes, tb, ts, ta, to, st)
    for t in range(steps):
        if train and not (t == 0 and fi[F_RESET] != 0):
            _step_reset(lanes, tb, ts, ta, to, st)
        _host(t, hin, lanes, dense, rounding, track, tb, th, st)
        _phase(PREDICT, fi, ff, tb, ti, tp, ts, ta, st)
        for b in range(lanes):
            total = 0.0
            for q in range(loss_bufs.shape[0]):
                total += mem[_base(tb, loss_bufs[q], b)]
            loss_out[t, b] = total
            for q in range(out_mu.shape[0]):
                mo = _base(tb, out_mu[q], b)
                for j in range(b_size[out_mu[q]]):
                    logit_out[t, b, out_start[q] + j] = mem[mo + j]
        if train:
            _inference(t, hin, fi, ff, tb, ti, tp, ts, ta, st)
            _phase(BACKPROP, fi, ff, tb, ti, tp, ts, ta, st)
            _phase(LEARN, fi, ff, tb, ti, tp, ts, ta, st)
        _phase(ADVANCE, fi, ff, tb, ti, tp, ts, ta, st)
        if train and online and _carries_loss(t, hin, lanes, fi):
            fi[F_COUNT] += 1
            _phase(APPLY, fi, ff, tb, ti, tp, ts, ta, st)
            refresh(tb, ta, tl, st)
        if t == steps - 1 and fi[F_APPLY_END] != 0:
            fi[F_COUNT] += 1
            _phase(APPLY, fi, ff, tb, ti, tp, ts, ta, st)
            refresh(tb, ta, tl, st)
        _totals(cnt, after)
        for row in range(lanes + 1):
            for f in range(FIELDS):
                step_cnt[t, row, f] = after[row, f] - before[row, f]
                before[row, f] = after[row, f]
    if steps == 0 and fi[F_APPLY_END] != 0:
        fi[F_COUNT] += 1
        _phase(APPLY, fi, ff, tb, ti, tp, ts, ta, st)
        refresh(tb, ta, tl, st)
    return fi[F_COUNT]
