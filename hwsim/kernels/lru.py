"""LRU ops: the complex diagonal recurrence, its eligibility traces and their credit.

A complex unit lives in two compartments (re, im): a ``parts`` role takes two operand slots
and the imaginary slot is -1 for a real LRU. lambda = exp(-exp(nu)) * exp(i exp(theta)) and
gamma = exp(gamma_log) are cached per parameter by ``resets.refresh`` whenever the parameters
change (``State.exp``, ``lam_re``, ``lam_im`` at the parameters' arena offsets).
"""

from __future__ import annotations

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.counts import LT, LW, NEURON, charge
from hwsim.kernels.jit import kernel
from hwsim.kernels.tables import base, slot

FAMILY = "lru"
IMPLEMENTS = ("lru_predict", "lru_trace", "lru_synapse_trace", "lru_lambda_credit",
              "lru_gamma_credit", "lru_input_credit", "lru_input_credit_immediate")

PREDICT = OPS["lru_predict"].code
TRACE = OPS["lru_trace"].code
SYNAPSE_TRACE = OPS["lru_synapse_trace"].code
LAMBDA_CREDIT = OPS["lru_lambda_credit"].code
GAMMA_CREDIT = OPS["lru_gamma_credit"].code
INPUT_CREDIT = OPS["lru_input_credit"].code
INPUT_CREDIT_IMMEDIATE = OPS["lru_input_credit_immediate"].code

P_H, P_DRIVE, P_NU, P_GAMMA, P_MU = (slot("lru_predict", r) for r in ("h", "drive", "nu", "gamma_log", "mu"))
T_TRACE, T_SRC, T_NU = (slot("lru_trace", r) for r in ("trace", "src", "nu"))
S_TRACE, S_U, S_NU, S_GAMMA = (slot("lru_synapse_trace", r) for r in ("trace", "u", "nu", "gamma_log"))
L_EPS, L_SENS, L_NU, L_THETA, L_ACC_NU, L_ACC_THETA = (
    slot("lru_lambda_credit", r) for r in ("eps", "sens", "nu", "theta", "acc_nu", "acc_theta"))
G_EPS, G_SENS, G_GAMMA, G_ACC = (slot("lru_gamma_credit", r) for r in ("eps", "sens", "gamma_log", "acc"))
I_EPS, I_TRACE, I_ACC = (slot("lru_input_credit", r) for r in ("eps", "trace", "acc"))
J_EPS, J_U, J_GAMMA, J_ACC = (slot("lru_input_credit_immediate", r) for r in ("eps", "u", "gamma_log", "acc"))


@kernel
def _predict(i, first, end, tables, state):
    """mu = lambda * h + gamma * drive."""
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem, ex, lre, lim = state.mem, state.exp, state.lam_re, state.lam_im
    h0, h1, d0, d1, m0, m1 = a[P_H], a[P_H + 1], a[P_DRIVE], a[P_DRIVE + 1], a[P_MU], a[P_MU + 1]
    n = buffers.size[m0]
    nuo, glo = buffers.off[a[P_NU]], buffers.off[a[P_GAMMA]]
    lr, li, g = lre[nuo:nuo + n], lim[nuo:nuo + n], ex[glo:glo + n]
    for b in range(first, end):
        ho, do, mo = base(buffers, h0, b), base(buffers, d0, b), base(buffers, m0, b)
        h, d, mu = mem[ho:ho + n], mem[do:do + n], mem[mo:mo + n]
        if m1 >= 0:
            hio, dio, mio = base(buffers, h1, b), base(buffers, d1, b), base(buffers, m1, b)
            hi, di, mi = mem[hio:hio + n], mem[dio:dio + n], mem[mio:mio + n]
            for j in range(n):
                hr, him = h[j], hi[j]
                mu[j] = (lr[j] * hr - li[j] * him) + g[j] * d[j]
                mi[j] = (lr[j] * him + li[j] * hr) + g[j] * di[j]
            charge(state.counts, state.op_counts, b, core, PREDICT, NEURON, 2 * n)
        else:
            for j in range(n):
                mu[j] = lr[j] * h[j] + g[j] * d[j]
            charge(state.counts, state.op_counts, b, core, PREDICT, NEURON, n)


@kernel
def _trace(i, first, end, tables, state):
    """trace = lambda * trace + src."""
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem, lre, lim = state.mem, state.lam_re, state.lam_im
    t0, t1, s0, s1 = a[T_TRACE], a[T_TRACE + 1], a[T_SRC], a[T_SRC + 1]
    n = buffers.size[t0]
    nuo = buffers.off[a[T_NU]]
    lr, li = lre[nuo:nuo + n], lim[nuo:nuo + n]
    for b in range(first, end):
        to, so = base(buffers, t0, b), base(buffers, s0, b)
        tr, sr = mem[to:to + n], mem[so:so + n]
        if t1 >= 0:
            tio, sio = base(buffers, t1, b), base(buffers, s1, b)
            tim, si = mem[tio:tio + n], mem[sio:sio + n]
            for j in range(n):
                re, im = tr[j], tim[j]
                tr[j] = (lr[j] * re - li[j] * im) + sr[j]
                tim[j] = (lr[j] * im + li[j] * re) + si[j]
            charge(state.counts, state.op_counts, b, core, TRACE, LT, 2 * n)
        else:
            for j in range(n):
                tr[j] = lr[j] * tr[j] + sr[j]
            charge(state.counts, state.op_counts, b, core, TRACE, LT, n)


@kernel
def _synapse_trace(i, first, end, tables, state):
    """trace[r, j] = lambda_r * trace[r, j] + gamma_r * u_j."""
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem, ex, lre, lim = state.mem, state.exp, state.lam_re, state.lam_im
    t0, t1, uu = a[S_TRACE], a[S_TRACE + 1], a[S_U]
    n, m = buffers.rows[t0], buffers.cols[t0]
    nuo, glo = buffers.off[a[S_NU]], buffers.off[a[S_GAMMA]]
    for b in range(first, end):
        to, uo = base(buffers, t0, b), base(buffers, uu, b)
        u = mem[uo:uo + m]
        if t1 >= 0:
            tio = base(buffers, t1, b)
            for r in range(n):
                lr, li, g = lre[nuo + r], lim[nuo + r], ex[glo + r]
                tr = mem[to + r * m:to + r * m + m]
                tim = mem[tio + r * m:tio + r * m + m]
                for j in range(m):
                    re, im = tr[j], tim[j]
                    tr[j] = (lr * re - li * im) + g * u[j]
                    tim[j] = lr * im + li * re
            charge(state.counts, state.op_counts, b, core, SYNAPSE_TRACE, LT, 2 * n * m)
        else:
            for r in range(n):
                lr, g = lre[nuo + r], ex[glo + r]
                tr = mem[to + r * m:to + r * m + m]
                for j in range(m):
                    tr[j] = lr * tr[j] + g * u[j]
            charge(state.counts, state.op_counts, b, core, SYNAPSE_TRACE, LT, n * m)


@kernel
def _decay_credit(op, i, first, end, dense, tables, state, scratch):
    """lru_lambda_credit and lru_gamma_credit: c = sum over lanes of eps * conj(sens) per
    neuron, then the accumulators of nu (and theta) or gamma_log. Neurons whose error is 0 in
    every lane do no work (unless dense); each lane is charged the neurons where it had one."""
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem, ex, lre, lim = state.mem, state.exp, state.lam_re, state.lam_im
    lanecnt = scratch.credit_updates
    lam_op = op == LAMBDA_CREDIT
    e0 = a[L_EPS] if lam_op else a[G_EPS]
    e1 = a[L_EPS + 1] if lam_op else a[G_EPS + 1]
    s0 = a[L_SENS] if lam_op else a[G_SENS]
    s1 = a[L_SENS + 1] if lam_op else a[G_SENS + 1]
    n = buffers.size[e0]
    cx = e1 >= 0
    nuo = buffers.off[a[L_NU]] if lam_op else 0
    tho = buffers.off[a[L_THETA]] if (lam_op and a[L_THETA] >= 0) else -1
    glo = 0 if lam_op else buffers.off[a[G_GAMMA]]
    acc = buffers.off[a[L_ACC_NU]] if lam_op else buffers.off[a[G_ACC]]
    acc_th = buffers.off[a[L_ACC_THETA]] if (lam_op and a[L_ACC_THETA] >= 0) else -1
    cre, cim, touched = scratch.credit_re, scratch.credit_im, scratch.credit_touched
    for j in range(n):
        cre[j] = 0.0
        cim[j] = 0.0
        touched[j] = 0
    # lane after lane, each over all neurons (a loop that vectorises): every neuron's sum
    # still adds the lanes in turn; a lane whose error is 0 there adds +0.0, which changes no
    # bit (the sum, built from +0.0, is never -0.0), as if it were skipped
    for b in range(first, end):
        eo, so = base(buffers, e0, b), base(buffers, s0, b)
        eio = base(buffers, e1, b) if cx else eo
        sio = base(buffers, s1, b) if cx else so
        count = 0
        for j in range(n):
            er = mem[eo + j]
            ei = mem[eio + j] if cx else 0.0
            work = dense or er != 0.0 or ei != 0.0
            count += np.int64(work)
            touched[j] |= np.int64(work)
            sr = mem[so + j]
            if cx:
                si = mem[sio + j]
                cre[j] += er * sr + ei * si if work else 0.0
                cim[j] += ei * sr - er * si if work else 0.0
            else:
                cre[j] += er * sr if work else 0.0
        lanecnt[b] = count
    for j in range(n):
        if touched[j] == 0:
            continue
        cr, ci = cre[j], cim[j]
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
    for b in range(first, end):
        charge(state.counts, state.op_counts, b, core, op, LW, per * lanecnt[b])


@kernel
def _input_credit(op, i, first, end, dense, tables, state, scratch):
    """lru_input_credit (acc += eps_r * conj(trace_rj)) and its immediate form
    (acc += eps_r * gamma_r * u_j); rows whose error is 0 do no work (unless dense)."""
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem, ex = state.mem, state.exp
    lanecnt = scratch.credit_updates
    immediate = op == INPUT_CREDIT_IMMEDIATE
    e0 = a[J_EPS] if immediate else a[I_EPS]
    e1 = a[J_EPS + 1] if immediate else a[I_EPS + 1]
    src = a[J_U] if immediate else a[I_TRACE]
    src_im = -1 if immediate else a[I_TRACE + 1]
    acc0 = a[J_ACC] if immediate else a[I_ACC]
    acc1 = a[J_ACC + 1] if immediate else a[I_ACC + 1]
    n, m = buffers.rows[acc0], buffers.cols[acc0]
    cx = e1 >= 0
    parts = 2 if cx else 1
    glo = buffers.off[a[J_GAMMA]] if immediate else 0
    ao0 = buffers.off[acc0]
    ao1 = buffers.off[acc1] if cx else ao0
    for b in range(first, end):
        lanecnt[b] = 0
        nzu = 0
        eo = base(buffers, e0, b)
        eio = base(buffers, e1, b) if cx else eo
        so = base(buffers, src, b)
        sio = base(buffers, src_im, b) if (cx and not immediate) else so
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
        charge(state.counts, state.op_counts, b, core, op, LW, parts * lanecnt[b])


@kernel
def run(op, i, first, end, dense, tables, state, scratch):
    """Instruction ``i`` (an LRU op) for lanes ``first`` .. ``end`` - 1."""
    if op == PREDICT:
        _predict(i, first, end, tables, state)
    elif op == TRACE:
        _trace(i, first, end, tables, state)
    elif op == SYNAPSE_TRACE:
        _synapse_trace(i, first, end, tables, state)
    elif op == LAMBDA_CREDIT or op == GAMMA_CREDIT:
        _decay_credit(op, i, first, end, dense, tables, state, scratch)
    else:  # INPUT_CREDIT, INPUT_CREDIT_IMMEDIATE
        _input_credit(op, i, first, end, dense, tables, state, scratch)
