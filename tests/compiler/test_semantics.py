"""The compiled per-core programs compute exactly what the reference learner computes.

The interpreter backend (``hwsim.backends.interpreter``: each op's numpy semantics from
``compiler.op_semantics``) runs the programs of small networks core by core,
with messages delivered only on declared channels, and every state
array, error, trace and accumulated update is compared with
``neuropc.reference.temporal.TemporalLearner.step`` after every step (float64, 1e-9).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.pipeline import compile_artifact as artifact_from_spec
from hwsim.backends.interpreter import InterpreterBackend
from neuropc.reference.network import Architecture
from neuropc.reference.optim import Optimizer
from neuropc.reference.temporal import TemporalLearner
from neuropc.spec import NetworkSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
LANES = 3
STEPS = 4


def tiny(rule: str = "tpc-rtrl", *, complex_lru: bool = True, hidden: tuple[int, ...] = (5,),
         K: int = 2, fixed: bool = True, carry: str = "prediction", gamma: str = "learned",
         vocab: int = 3, split: bool = False, optimizer: str = "adam",
         activation: str = "tanh") -> NetworkSpec:
    base = load_spec(ROOT / "examples" / "copy.yaml")
    overrides: dict[str, object] = {
        "recurrent.size": 6, "recurrent.complex": complex_lru, "recurrent.gamma": gamma,
        "recurrent.radius": (0.6, 0.95), "readout.hidden": list(hidden),
        "readout.activation": activation, "readout.output": vocab, "input.size": vocab + 2,
        "task.vocab": vocab, "rule.name": rule, "rule.carry": carry,
        "rule.inference.iterations": K, "rule.inference.fixed_prediction": fixed,
        "rule.inference.step": 0.7, "rule.optimizer.name": optimizer,
        "hardware": {"target": "loihi2",
                     "overrides": {"compartments_per_core": 8} if split else {}},
    }
    return base.with_overrides(overrides)


CASES = {
    "rtrl-complex-fixed": tiny(),
    "rtrl-complex-moving-inferred": tiny(fixed=False, carry="inferred", K=3),
    "rtrl-real-two-hidden": tiny(complex_lru=False, hidden=(5, 4), K=3, activation="gelu"),
    "rtrl-no-hidden-K0": tiny(hidden=(), K=0),
    "rtrl-fixed-gamma-relu": tiny(gamma="fixed", activation="relu", optimizer="sgd"),
    "rtrl-split-cores": tiny(split=True, vocab=6, hidden=(7,), fixed=False, K=2),
    "tpc-complex-inferred": tiny(rule="tpc", carry="inferred", K=1),
    "tpc-real-moving": tiny(rule="tpc", complex_lru=False, fixed=False),
    "spatial-bp-complex": tiny(rule="spatial-bp", hidden=(5, 4)),
    "spatial-bp-real-split": tiny(rule="spatial-bp", complex_lru=False, split=True, vocab=6),
}


def _inputs(spec: NetworkSpec, rng: np.random.Generator, t: int):
    m = spec.input.size
    u = np.eye(m)[rng.integers(0, m, size=LANES)]
    if spec.loss == "cross_entropy":
        target = rng.integers(0, spec.readout.output, size=LANES)
    else:
        target = rng.normal(size=(LANES, spec.readout.output))
    mask = (rng.uniform(size=LANES) < 0.8).astype(float)
    mask[t % LANES] = 1.0
    return u, target, mask


def _close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11, err_msg=what)


def _check_step(interp: InterpreterBackend, spec: NetworkSpec, learner: TemporalLearner,
                result, totals: dict[str, np.ndarray]) -> None:
    arch = learner.arch
    n = arch.state
    parts = ("re", "im") if arch.complex else (None,)

    def state(name: str, layer: int, size: int) -> np.ndarray:
        got = [interp.read("state", name, (size,), part=p, layer=layer) for p in parts]
        return got[0] + 1j * got[1] if layer == 0 and arch.complex else got[0]

    _close(state("h", 0, n), learner.state, "carried LRU state")
    sizes = [n, *arch.hidden, arch.outputs]
    for layer, eps in enumerate(result.errors.eps):
        if layer == 0:
            _close(state("eps", 0, n), eps, "LRU error")
        else:
            got = interp.read("state", "eps", (sizes[layer],), layer=layer)
            _close(got, eps, f"error of layer {layer}")
    for name, total in totals.items():
        _close(interp.read("update", name, total.shape), total, f"update {name}")
        if name.startswith("W"):
            _close(interp.read("update", name, total.shape, copy=True), total,
                   f"feedback copy of update {name}")
    if learner.traces is not None:
        lam = state_trace(interp, "lam", n, parts)
        _close(lam, learner.traces.lam, "trace lam")
        b = [interp.read("trace", "B", (n, arch.inputs), part=p) for p in parts]
        _close(b[0] + 1j * b[1] if arch.complex else b[0], learner.traces.B, "trace B")
    loss = sum(interp.mem[c.core]["loss"] for c in interp.program.cores if c.layer == "output")
    _close(loss, result.errors.loss, "loss")


def state_trace(interp: InterpreterBackend, name: str, n: int, parts) -> np.ndarray:
    got = [interp.read("trace", name, (n,), part=p) for p in parts]
    return got[0] + 1j * got[1] if len(got) == 2 else got[0]


@pytest.mark.parametrize("case", list(CASES))
def test_programs_reproduce_the_reference_learner(case: str) -> None:
    spec = CASES[case]
    compiled = artifact_from_spec(spec)
    if "split" in case:  # several cores per layer, the softmax combined across slices
        assert all(layer.cores > 1 for layer in compiled.program.settings.layers)
    arch = Architecture.from_spec(spec)
    params = {k: v.copy() for k, v in compiled.params.items()}
    learner = TemporalLearner(arch, spec.rule, LANES)
    interp = InterpreterBackend(compiled, LANES)
    interp.reset()
    totals = {name: np.zeros_like(params[name]) for name in arch.trainable()}
    rng = np.random.default_rng(7)
    for t in range(STEPS):
        u, target, mask = _inputs(spec, rng, t)
        result = learner.step(params, u, target, mask)
        for name in totals:
            totals[name] += result.updates[name]
        interp.run(u[None], target[None], mask[None], train=True)
        _check_step(interp, spec, learner, result, totals)
    # sequence end: the apply phase equals the reference optimizer on the summed updates
    scale = 1.0 / 7.0
    optimizer = Optimizer(spec.rule.optimizer)
    optimizer.apply(params, {k: v * scale for k, v in totals.items()})
    interp.apply(scale)
    for name, value in params.items():
        _close(interp.read("param", name, value.shape), value, f"parameter {name} after apply")
        if name.startswith("W"):
            _close(interp.read("param", name, value.shape, copy=True), value,
                   f"feedback copy of {name} after apply")


def test_squared_error_output_matches_the_reference() -> None:
    """The copy task only allows cross-entropy, so build the regression variant unvalidated."""
    spec = tiny(hidden=(4,)).model_copy(update={"loss": "squared_error"})
    compiled = artifact_from_spec(spec)
    arch = Architecture.from_spec(spec)
    params = {k: v.copy() for k, v in compiled.params.items()}
    learner = TemporalLearner(arch, spec.rule, LANES)
    interp = InterpreterBackend(compiled, LANES)
    interp.reset()
    totals = {name: np.zeros_like(params[name]) for name in arch.trainable()}
    rng = np.random.default_rng(3)
    for t in range(STEPS):
        u, target, mask = _inputs(spec, rng, t)
        result = learner.step(params, u, target, mask)
        for name in totals:
            totals[name] += result.updates[name]
        interp.run(u[None], target[None], mask[None], train=True)
        _check_step(interp, spec, learner, result, totals)
