"""The network of docs/algorithm.md, 'Network': an LRU followed by a dense readout.

Parameters live in a flat ``dict[str, ndarray]`` of real float64 arrays (a complex weight is
stored as ``B_re``/``B_im``) so that optimizers, checkpoints, finite differences and the
compiler all see the same thing: named real numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropc.elementary import exp, log, log1p, polar
from neuropc.reference import activations
from neuropc.spec.schema import NetworkSpec

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class Architecture:
    """The static shape of a network: everything but the parameter values."""

    complex: bool
    state: int
    inputs: int
    hidden: tuple[int, ...]
    outputs: int
    activation: str
    loss: str
    learn_gamma: bool

    @classmethod
    def from_spec(cls, spec: NetworkSpec) -> Architecture:
        return cls(
            complex=spec.recurrent.complex,
            state=spec.recurrent.size,
            inputs=spec.input.size,
            hidden=tuple(spec.readout.hidden),
            outputs=spec.readout.output,
            activation=spec.readout.activation,
            loss=spec.loss,
            learn_gamma=spec.recurrent.gamma == "learned",
        )

    @property
    def features(self) -> int:
        return 2 * self.state if self.complex else self.state

    @property
    def readout_sizes(self) -> tuple[int, ...]:
        """Widths from the LRU features through the hidden layers to the output."""
        return (self.features, *self.hidden, self.outputs)

    @property
    def value_layers(self) -> int:
        """PC value nodes per step: the LRU state and each hidden layer."""
        return 1 + len(self.hidden)

    @property
    def readout_layers(self) -> int:
        return len(self.hidden) + 1

    @property
    def dtype(self) -> type:
        return np.complex128 if self.complex else np.float64

    def recurrent_names(self) -> list[str]:
        names = ["nu"] + (["theta"] if self.complex else [])
        names += ["gamma_log"]
        names += ["B_re", "B_im"] if self.complex else ["B"]
        return names

    def readout_names(self) -> list[str]:
        return [name for layer in range(self.readout_layers) for name in (f"W{layer}", f"b{layer}")]

    def trainable(self) -> list[str]:
        """Parameters a learning rule updates (gamma only when the spec learns it)."""
        names = self.recurrent_names() + self.readout_names()
        return [n for n in names if n != "gamma_log" or self.learn_gamma]

    def parameter_count(self) -> dict[str, int]:
        """Scalar parameter counts per layer, as printed by ``neuropc check``."""
        n, m = self.state, self.inputs
        recurrent = n * (2 if self.complex else 1) + n * m * (2 if self.complex else 1)
        recurrent += n if self.learn_gamma else 0
        counts = {"lru": recurrent}
        sizes = self.readout_sizes
        for layer in range(self.readout_layers):
            counts[f"readout{layer}"] = sizes[layer + 1] * sizes[layer] + sizes[layer + 1]
        return counts


def init_params(arch: Architecture, radius: tuple[float, float], max_phase: float,
                rng: np.random.Generator) -> Params:
    """LRU initialisation of Orvieto et al.: |lambda|^2 uniform on [r_min^2, r_max^2]."""
    n, m = arch.state, arch.inputs
    r_min, r_max = radius
    r_squared = rng.uniform(r_min**2, r_max**2, size=n)
    # |lambda| = exp(-exp(nu))  =>  nu = log(-log |lambda|) = log(-0.5 log |lambda|^2)
    params: Params = {"nu": log(-0.5 * log(r_squared))}
    if arch.complex:
        phase = max_phase * (1.0 - rng.uniform(0.0, 1.0, size=n))  # in (0, max_phase]
        params["theta"] = log(phase)
    params["gamma_log"] = 0.5 * log1p(-r_squared)  # gamma = sqrt(1 - |lambda|^2)
    if arch.complex:
        params["B_re"] = rng.normal(0.0, np.sqrt(1.0 / (2 * m)), size=(n, m))
        params["B_im"] = rng.normal(0.0, np.sqrt(1.0 / (2 * m)), size=(n, m))
    else:
        params["B"] = rng.normal(0.0, np.sqrt(1.0 / m), size=(n, m))
    sizes = arch.readout_sizes
    for layer in range(arch.readout_layers):
        fan_in, fan_out = sizes[layer], sizes[layer + 1]
        params[f"W{layer}"] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_out, fan_in))
        params[f"b{layer}"] = np.zeros(fan_out)
    return params


def params_from_spec(spec: NetworkSpec, seed: int | None = None) -> Params:
    rng = np.random.default_rng(spec.run.seed if seed is None else seed)
    return init_params(Architecture.from_spec(spec), spec.recurrent.radius,
                       spec.recurrent.max_phase, rng)


@dataclass(frozen=True)
class LRUCoefficients:
    """lambda, gamma, B and the derivatives of lambda, evaluated once per parameter set."""

    lam: np.ndarray
    gam: np.ndarray
    B: np.ndarray
    dlam: dict[str, np.ndarray]  # d lambda / d nu (and d theta)


def lru_coefficients(arch: Architecture, params: Params) -> LRUCoefficients:
    decay = exp(params["nu"])
    if arch.complex:
        rotation = exp(params["theta"])
        lam = polar(exp(-decay), rotation)
        dlam = {"nu": -decay * lam, "theta": 1j * rotation * lam}
        B = params["B_re"] + 1j * params["B_im"]
    else:
        lam = exp(-decay)
        dlam = {"nu": -decay * lam}
        B = params["B"]
    return LRUCoefficients(lam=lam, gam=exp(params["gamma_log"]), B=B, dlam=dlam)


def lru_drive(coef: LRUCoefficients, u: np.ndarray) -> np.ndarray:
    """B u_t for a batch of inputs (batch, M) -> (batch, N).

    A real input times a complex B is two real products: numpy's mixed real @ complex
    product does not use BLAS and took 48 ms per step at batch 16, M 256, N 64 (charlm)."""
    if np.iscomplexobj(coef.B) and not np.iscomplexobj(u):
        return u @ coef.B.real.T + 1j * (u @ coef.B.imag.T)
    return u @ coef.B.T


def features(arch: Architecture, h: np.ndarray) -> np.ndarray:
    """What the readout sees of the state: [Re h, Im h] (complex) or h (real)."""
    return np.concatenate([h.real, h.imag], axis=-1) if arch.complex else h


def features_adjoint(arch: Architecture, g: np.ndarray) -> np.ndarray:
    """Pull a gradient on the features back to the state as dL/dRe h + i dL/dIm h."""
    n = arch.state
    return g[..., :n] + 1j * g[..., n:] if arch.complex else g


def readout_forward(arch: Architecture, params: Params, h: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Predictions of every readout layer. Returns (hidden pre-activations, output)."""
    act = features(arch, h)
    hidden_pre = []
    for layer in range(arch.readout_layers):
        pre = act @ params[f"W{layer}"].T + params[f"b{layer}"]
        if layer == arch.readout_layers - 1:
            return hidden_pre, pre
        hidden_pre.append(pre)
        act = activations.value(arch.activation, pre)
    raise AssertionError("unreachable: a readout has at least one layer")


def layer_activity(arch: Architecture, layer: int, value: np.ndarray) -> np.ndarray:
    """f_l(x^l): what value node ``layer`` sends up (layer 0 is the LRU state)."""
    return features(arch, value) if layer == 0 else activations.value(arch.activation, value)
