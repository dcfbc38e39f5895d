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
A few results are written so that they equal the hardware's bit for bit where it skips
work (``gate`` writes 0 where the gated value is 0, without evaluating f'; credits skip
nothing but add exact zeros), which keeps executors' send decisions identical.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from compiler.ops import OPS
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


# -- LRU coefficients ----------------------------------------------------------------------

def lru_lambda(o: Operands) -> np.ndarray:
    """lam = exp(-exp(nu)) e^{i exp(theta)} (real without theta), as magnitude and angle, the
    way a core evaluates it from its stored parameters."""
    magnitude = np.exp(-np.exp(o["nu"]))
    if "theta" not in o:
        return magnitude
    angle = np.exp(o["theta"])
    return magnitude * np.cos(angle) + 1j * (magnitude * np.sin(angle))


def lru_gamma(o: Operands) -> np.ndarray:
    return np.exp(o["gamma_log"])


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

@semantics("matvec")
def _matvec(o: Operands, p: Params, h: HostScalars) -> Results:
    y = o["x"] @ np.swapaxes(o["w"], -1, -2)
    if "bias" in o:
        y = y + o["bias"]
    return {"y": y}


# -- LRU ---------------------------------------------------------------------------------------

@semantics("lru_predict")
def _lru_predict(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"mu": lru_lambda(o) * o["h"] + lru_gamma(o) * o["drive"]}


@semantics("lru_trace")
def _lru_trace(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"trace": lru_lambda(o) * o["trace"] + o["src"]}


@semantics("lru_synapse_trace")
def _lru_synapse_trace(o: Operands, p: Params, h: HostScalars) -> Results:
    lam, gam = lru_lambda(o), lru_gamma(o)
    return {"trace": lam[:, None] * o["trace"] + gam[:, None] * o["u"][:, None, :]}


def _credit(o: Operands) -> np.ndarray:
    """c = sum over lanes of eps * conj(sens)."""
    return (o["eps"] * np.conj(o["sens"])).sum(axis=0)


@semantics("lru_lambda_credit")
def _lru_lambda_credit(o: Operands, p: Params, h: HostScalars) -> Results:
    c = _credit(o)
    lam = lru_lambda(o)
    out = {"acc_nu": o["acc_nu"] + np.real(c * np.conj(-np.exp(o["nu"]) * lam))}
    if "acc_theta" in o:
        out["acc_theta"] = o["acc_theta"] + np.real(c * np.conj(1j * np.exp(o["theta"]) * lam))
    return out


@semantics("lru_gamma_credit")
def _lru_gamma_credit(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"acc": o["acc"] + lru_gamma(o) * np.real(_credit(o))}


@semantics("lru_input_credit")
def _lru_input_credit(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"acc": o["acc"] + np.einsum("bn,bnm->nm", o["eps"], np.conj(o["trace"]))}


@semantics("lru_input_credit_immediate")
def _lru_input_credit_immediate(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"acc": o["acc"] + np.einsum("bn,bm->nm", o["eps"] * lru_gamma(o), o["u"])}


# -- readout learning --------------------------------------------------------------------------

@semantics("outer_accumulate")
def _outer_accumulate(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"acc": o["acc"] + o["post"].T @ o["pre"]}


@semantics("accumulate")
def _accumulate(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"acc": o["acc"] + o["x"].sum(axis=0)}


# -- softmax and losses ------------------------------------------------------------------------

@semantics("max")
def _max(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": _rows(o["x"]).max(axis=1)}


@semantics("sum_exp")
def _sum_exp(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": np.exp(o["x"] - o["shift"][:, None]).sum(axis=1)}


@semantics("log_sum")
def _log_sum(o: Operands, p: Params, h: HostScalars) -> Results:
    return {"y": np.log(_rows(o["x"]).sum(axis=1))}


def _log_probabilities(o: Operands) -> np.ndarray:
    return (o["logits"] - o["shift"][:, None]) - o["logz"][:, None]


def _local_target(o: Operands, p: Params) -> np.ndarray:
    """Each lane's class id relative to this slice of the output layer."""
    return (o["target"] - p["offset"]).astype(np.int64)


@semantics("xent_error")
def _xent_error(o: Operands, p: Params, h: HostScalars) -> Results:
    logits = o["logits"]
    onehot = np.arange(logits.shape[1])[None, :] == _local_target(o, p)[:, None]
    return {"eps": (onehot - np.exp(_log_probabilities(o))) * o["mask"][:, None]}


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
    return {"loss": 0.5 * (diff * diff).sum(axis=1) * o["mask"]}


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
