"""What every op kind computes, written once, in numpy.

``SEMANTICS[kind](operands, params, host)`` returns the new value of every buffer the op
writes (every role of ``OPS[kind].outputs`` that the op fills), given the current values of
its roles. ``compiler.ops`` declares the roles; docs/compiler.md states the formulas; an
executor (``hwsim.backends.interpreter``) fetches operands, calls this and stores the result.

Operand conventions, so that one function serves every lane count and both LRU variants:

* a per-lane buffer has a leading lane axis, a shared buffer (weights, parameters,
  accumulators, optimizer moments) none; ops that add lanes' contributions into a shared
  accumulator sum over the lane axis;
* a ``parts`` role is one array: complex (re + i im) when the program gave two buffers,
  real when it gave one; a parts result is returned the same way (the executor splits it);
* a ``concat`` role is a list of arrays (each with its lane axis), read as one vector;
* an optional role the program left out is absent from ``operands``.

Nothing here counts or thresholds: those are the executor's event rules (docs/hwsim.md).
Every formula fixes its order of operations ("arithmetic order" below), which compiled
kernels follow too, so that all backends agree bit for bit; a few results are also written
so that they equal the hardware's where it skips work (``gate`` writes 0 where the gated
value is 0, without evaluating f'; credits skip nothing but add exact zeros), which keeps
executors' send decisions identical.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from compiler.ops import OPS
from neuropc.elementary import cos, exp, log, sin
from neuropc.reference import activations

Operands = Mapping[str, Any]  # role -> array (or list of arrays for concat roles)
Params = Mapping[str, Any]
HostScalars = Mapping[str, float]
Results = dict[str, np.ndarray]
Semantics = Callable[[Operands, Params, HostScalars], Results]

#: op kind -> its semantics
SEMANTICS: dict[str, Semantics] = {}


def semantics(kind: str) -> Callable[[Semantics], Semantics]:
    """Register the semantics of op kind ``kind`` (which must be declared in OPS)."""
    if kind not in OPS:
        raise KeyError(f"semantics for unknown op kind {kind!r}")

    def register(fn: Semantics) -> Semantics:
        if kind in SEMANTICS:
            raise ValueError(f"op kind {kind!r} has semantics twice")
        SEMANTICS[kind] = fn
        return fn

    return register


def execute(kind: str, operands: Operands, params: Params | None = None,
            host: HostScalars | None = None) -> Results:
    """Run op kind ``kind`` on ``operands``; the results by written role."""
    return SEMANTICS[kind](operands, params or {}, host or {})


# -- arithmetic order ---------------------------------------------------------------------
#
# Every backend computes each value with the same operations in the same order, so their
# results agree to the last bit and so do their send decisions at threshold 0 (where any
# change is an event). The rules, which compiled kernels follow too: a complex product is
# written out in real arithmetic, (a + ib)(c + id) = (ac - bd) + i(ad + bc), never a library
# complex multiply (which may fuse); sums over lanes add lane 0, 1, 2 ... in turn; sums over
# a vector add its elements in turn from 0.0, and a synaptic product adds its columns in turn
# (``ordered_matvec``).

def parts(value: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A parts operand as (re, im), im None for a real unit."""
    if np.iscomplexobj(value):
        return np.real(value), np.imag(value)
    return np.asarray(value, dtype=np.float64), None


def joined(re: np.ndarray, im: np.ndarray | None) -> np.ndarray:
    """(re, im) back as one parts result: complex, or real when im is None."""
    if im is None:
        return re
    out = np.empty(np.shape(re), np.complex128)
    out.real, out.imag = re, im
    return out


def in_turn(values: np.ndarray, axis: int) -> np.ndarray:
    """The sum of ``values`` along ``axis``, element 0, 1, 2 ... added in turn (numpy's own
    sums pair elements up, which rounds differently from a core's accumulator)."""
    if values.shape[axis] == 0:
        return np.zeros(np.delete(values.shape, axis))
    return np.take(np.cumsum(values, axis=axis), -1, axis=axis)


# -- LRU coefficients ----------------------------------------------------------------------

def lru_lambda(o: Operands) -> tuple[np.ndarray, np.ndarray]:
    """lam = exp(-exp(nu)) e^{i exp(theta)} as (re, im), im 0 without theta: magnitude and
    angle, the way a core evaluates it from its stored parameters."""
    magnitude = exp(-exp(o["nu"]))
    if "theta" not in o:
        return magnitude, np.zeros_like(magnitude)
    angle = exp(o["theta"])
    return magnitude * cos(angle), magnitude * sin(angle)


def lru_gamma(o: Operands) -> np.ndarray:
    return exp(o["gamma_log"])


def _rows(values: Sequence[np.ndarray]) -> np.ndarray:
    """A concat role as one (lanes, total) matrix."""
    return np.concatenate([np.reshape(v, (np.shape(v)[0], -1)) for v in values], axis=1)


# -- elementwise -------------------------------------------------------------------------------

@semantics("zero")
def _zero(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": np.zeros_like(o["y"])}


@semantics("copy")
def _copy(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": np.array(o["x"], dtype=np.float64)}


@semantics("activate")
def _activate(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": activations.value(p["fn"], o["x"])}


@semantics("gate")
def _gate(o: Operands, p: Params, h: HostScalars) -> Results:
    x = o["x"]
    return {"y": np.where(x != 0.0, activations.derivative(p["fn"], o["point"]) * x, 0.0)}


@semantics("error")
def _error(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"eps": o["value"] - o["prediction"]}


@semantics("relax")
def _relax(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"value": o["value"] - p["step"] * (o["eps"] - o["drive"])}


# -- synapses ----------------------------------------------------------------------------------

def ordered_matvec(w: np.ndarray, x: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """start + W @ x per lane (x: (..., cols), W: (rows, cols); start defaults to 0.0), summed
    in the one order every backend follows: column after column in increasing order,
    y = ((start + W[:, 0] x_0) + W[:, 1] x_1) + ..., each product rounded before it is added
    (no fused multiply-add). At threshold 0 a value is sent when it changed at all, so the
    backends' event counts agree only if their sums agree to the last bit; a BLAS or
    SIMD-width-dependent order would make them (and a run's counts across machines) differ.

    This is the order of an event-driven core: a sigma-delta accumulator adds
    W[:, c] dx_c for each column c that changed, in column order (``start`` is the
    accumulator). A column whose value is 0 adds exact zeros (the running sum, built up from
    +0.0, is never -0.0), so skipping it gives the same bits and the work follows the
    events; and a column update vectorises over rows without reassociating anything."""
    x = np.asarray(x, dtype=np.float64)
    shape = (*x.shape[:-1], w.shape[0])
    y = np.zeros(shape) if start is None else np.array(np.broadcast_to(start, shape), dtype=np.float64)
    for c in range(w.shape[-1]):
        y = y + x[..., c, None] * w[:, c]
    return y


@semantics("matvec")
def _matvec(o: Operands, p: Params, h: HostScalars) -> Results:
    y = ordered_matvec(o["w"], o["x"])
    if "bias" in o:
        y = y + o["bias"]
    return {"y": y}


# -- LRU ---------------------------------------------------------------------------------------

@semantics("lru_predict")
def _lru_predict(o: Operands, p: Params, h: HostScalars) -> Results:
    lr, li = lru_lambda(o)
    g = lru_gamma(o)
    hr, hi = parts(o["h"])
    dr, di = parts(o["drive"])
    if hi is None:
        return {"mu": lr * hr + g * dr}
    return {"mu": joined((lr * hr - li * hi) + g * dr, (lr * hi + li * hr) + g * di)}


@semantics("lru_trace")
def _lru_trace(o: Operands, p: Params, h: HostScalars) -> Results:
    lr, li = lru_lambda(o)
    tr, ti = parts(o["trace"])
    sr, si = parts(o["src"])
    if ti is None:
        return {"trace": lr * tr + sr}
    return {"trace": joined((lr * tr - li * ti) + sr, (lr * ti + li * tr) + si)}


@semantics("lru_synapse_trace")
def _lru_synapse_trace(o: Operands, p: Params, h: HostScalars) -> Results:
    lr, li = (c[:, None] for c in lru_lambda(o))
    gu = lru_gamma(o)[:, None] * o["u"][:, None, :]
    tr, ti = parts(o["trace"])
    if ti is None:
        return {"trace": lr * tr + gu}
    return {"trace": joined((lr * tr - li * ti) + gu, lr * ti + li * tr)}


def _credit(o: Operands) -> tuple[np.ndarray, np.ndarray]:
    """c = sum over lanes of eps * conj(sens), as (re, im), lanes added in turn."""
    er, ei = parts(o["eps"])
    sr, si = parts(o["sens"])
    cr = np.zeros(er.shape[1:])
    ci = np.zeros(er.shape[1:])
    for b in range(er.shape[0]):
        if ei is None:
            cr = cr + er[b] * sr[b]
        else:
            cr = cr + (er[b] * sr[b] + ei[b] * si[b])
            ci = ci + (ei[b] * sr[b] - er[b] * si[b])
    return cr, ci


@semantics("lru_lambda_credit")
def _lru_lambda_credit(o: Operands, p: Params, h: HostScalars) -> Results:
    """Re(c conj(dlam/dnu)) with dlam/dnu = -exp(nu) lam; Re(c conj(dlam/dtheta)) with
    dlam/dtheta = i exp(theta) lam."""
    cr, ci = _credit(o)
    lr, li = lru_lambda(o)
    decay = exp(o["nu"])
    out = {"acc_nu": o["acc_nu"] + (cr * (-decay * lr) + ci * (-decay * li))}
    if "acc_theta" in o:
        rot = exp(o["theta"])
        out["acc_theta"] = o["acc_theta"] + (cr * (-rot * li) + ci * (rot * lr))
    return out


@semantics("lru_gamma_credit")
def _lru_gamma_credit(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"acc": o["acc"] + lru_gamma(o) * _credit(o)[0]}


@semantics("lru_input_credit")
def _lru_input_credit(o: Operands, p: Params, h: HostScalars) -> Results:
    """acc += eps_r conj(trace_rj), lane by lane."""
    er, ei = parts(o["eps"])
    tr, ti = parts(o["trace"])
    ar, ai = parts(o["acc"])
    for b in range(er.shape[0]):
        e_re = er[b][:, None]
        if ei is None:
            ar = ar + e_re * tr[b]
        else:
            e_im = ei[b][:, None]
            ar = ar + (e_re * tr[b] + e_im * ti[b])
            ai = ai + (e_im * tr[b] - e_re * ti[b])
    return {"acc": joined(ar, ai)}


@semantics("lru_input_credit_immediate")
def _lru_input_credit_immediate(o: Operands, p: Params, h: HostScalars) -> Results:
    """acc += eps_r (gamma_r u_j), lane by lane."""
    er, ei = parts(o["eps"])
    ar, ai = parts(o["acc"])
    g = lru_gamma(o)[:, None]
    for b in range(er.shape[0]):
        gu = g * o["u"][b][None, :]
        ar = ar + er[b][:, None] * gu
        if ei is not None:
            ai = ai + ei[b][:, None] * gu
    return {"acc": joined(ar, ai)}


# -- readout learning --------------------------------------------------------------------------

@semantics("outer_accumulate")
def _outer_accumulate(o: Operands, p: Params, h: HostScalars) -> Results:
    acc = o["acc"]
    for b in range(o["post"].shape[0]):
        acc = acc + np.outer(o["post"][b], o["pre"][b])
    return {"acc": acc}


@semantics("accumulate")
def _accumulate(o: Operands, p: Params, h: HostScalars) -> Results:
    total = np.zeros(np.shape(o["acc"]))
    for row in o["x"]:
        total = total + row
    return {"acc": o["acc"] + total}


# -- softmax and losses ------------------------------------------------------------------------

@semantics("max")
def _max(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": _rows(o["x"]).max(axis=1)}


@semantics("sum_exp")
def _sum_exp(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": in_turn(exp(o["x"] - o["shift"][:, None]), axis=1)}


@semantics("log_sum")
def _log_sum(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": log(in_turn(_rows(o["x"]), axis=1))}


def _log_probabilities(o: Operands) -> np.ndarray:
    return (o["logits"] - o["shift"][:, None]) - o["logz"][:, None]


def _local_target(o: Operands, p: Params) -> np.ndarray:
    """Each lane's class id relative to this slice of the output layer."""
    return (o["target"] - p["offset"]).astype(np.int64)


@semantics("xent_error")
def _xent_error(o: Operands, p: Params, h: HostScalars) -> Results:
    logits = o["logits"]
    onehot = np.arange(logits.shape[1])[None, :] == _local_target(o, p)[:, None]
    return {"eps": (onehot - exp(_log_probabilities(o))) * o["mask"][:, None]}


@semantics("xent_loss")
def _xent_loss(o: Operands, p: Params, h: HostScalars) -> Results:
    logp = _log_probabilities(o)
    k = _local_target(o, p)
    inside = (k >= 0) & (k < logp.shape[1])
    picked = logp[np.arange(logp.shape[0]), np.where(inside, k, 0)]
    return {"loss": np.where(inside, -picked * o["mask"], 0.0)}


@semantics("se_error")
def _se_error(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"eps": -(o["prediction"] - o["target"]) * o["mask"][:, None]}


@semantics("se_loss")
def _se_loss(o: Operands, p: Params, h: HostScalars) -> Results:
    diff = o["prediction"] - o["target"]
    return {"loss": 0.5 * in_turn(diff * diff, axis=1) * o["mask"]}


# -- messages ----------------------------------------------------------------------------------

@semantics("send")
def _send(o: Operands, p: Params, h: HostScalars) -> Results:
    """A send writes no buffer of its core: it names channels, and what moves on them (delta
    coding, delivery at the end of the stage) is the executor's event rule."""
    return {}


# -- optimizer ---------------------------------------------------------------------------------

@semantics("apply_sgd")
def _apply_sgd(o: Operands, p: Params, h: HostScalars) -> Results:
    d = o["acc"] * h["scale"]
    return {"param": o["param"] + p["lr"] * d, "acc": np.zeros_like(o["acc"])}


@semantics("apply_adam")
def _apply_adam(o: Operands, p: Params, h: HostScalars) -> Results:
    b1, b2, count = p["beta1"], p["beta2"], h["count"]
    d = o["acc"] * h["scale"]
    m = o["m"] * b1 + (1.0 - b1) * d
    v = o["v"] * b2 + (1.0 - b2) * (d * d)
    step = p["lr"] * (m / (1.0 - b1 ** count)) / (np.sqrt(v / (1.0 - b2 ** count)) + p["epsilon"])
    return {"param": o["param"] + step, "acc": np.zeros_like(o["acc"]), "m": m, "v": v}


_missing = sorted(set(OPS) - set(SEMANTICS))
if _missing:
    raise ImportError(f"op kinds without semantics: {', '.join(_missing)}")
