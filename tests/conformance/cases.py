"""The networks every backend is held against: the copy network shrunk to a few neurons, in
every variant the compiler emits (rules, real/complex, 0-2 hidden layers, fixed or moving
inference, carry modes, layers split over several cores, online updates, squared error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.artifact import Artifact
from compiler.pipeline import compile_artifact
from hwsim.backends import available_backends
from neuropc.spec import NetworkSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
LANES = 3
#: every registered backend whose dependencies are installed (lava only with the extra)
BACKENDS = available_backends()


def tiny(rule: str = "tpc-rtrl", *, complex_lru: bool = True, hidden: tuple[int, ...] = (5,),
         K: int = 2, fixed: bool = True, carry: str = "prediction", gamma: str = "learned",
         vocab: int = 3, split: bool = False, optimizer: str = "adam", activation: str = "tanh",
         update: str = "sequence", batch: int = LANES, **extra: object) -> NetworkSpec:
    """The copy network shrunk to a few neurons; ``split`` forces several cores per layer."""
    base = load_spec(ROOT / "examples" / "copy.yaml")
    overrides: dict[str, object] = {
        "recurrent.size": 6, "recurrent.complex": complex_lru, "recurrent.gamma": gamma,
        "recurrent.radius": (0.6, 0.95), "readout.hidden": list(hidden),
        "readout.activation": activation, "readout.output": vocab, "input.size": vocab + 2,
        "task.vocab": vocab, "task.length": 3, "task.delay": 2, "rule.name": rule,
        "rule.carry": carry, "rule.inference.iterations": K,
        "rule.inference.fixed_prediction": fixed, "rule.inference.step": 0.7,
        "rule.optimizer.name": optimizer, "rule.optimizer.lr": 0.05, "rule.update": update,
        "run.batch": batch,
        "hardware": {"target": "loihi2",
                     "overrides": {"compartments_per_core": 8} if split else {}},
    }
    overrides.update(extra)
    return base.with_overrides(overrides)


#: update mode 'sequence': the reference's TemporalLearner step by step, then one apply
SEQUENCE_CASES = {
    "rtrl-complex-fixed-K2": tiny(),
    "rtrl-complex-moving-inferred-K3": tiny(fixed=False, carry="inferred", K=3),
    "rtrl-real-two-hidden-gelu": tiny(complex_lru=False, hidden=(5, 4), K=3, activation="gelu"),
    "rtrl-no-hidden-K0": tiny(hidden=(), K=0),
    "rtrl-no-hidden-real-K1-moving": tiny(hidden=(), K=1, complex_lru=False, fixed=False),
    "rtrl-fixed-gamma-relu-sgd": tiny(gamma="fixed", activation="relu", optimizer="sgd"),
    "rtrl-split-cores-moving": tiny(split=True, vocab=6, hidden=(7,), fixed=False, K=2),
    "rtrl-split-two-hidden-inferred": tiny(split=True, vocab=6, hidden=(9, 7), carry="inferred",
                                           K=3, activation="gelu"),
    "tpc-complex-inferred-K1": tiny(rule="tpc", carry="inferred", K=1),
    "tpc-real-moving-K2": tiny(rule="tpc", complex_lru=False, fixed=False),
    "tpc-two-hidden-K0": tiny(rule="tpc", hidden=(5, 4), K=0),
    "spatial-bp-complex": tiny(rule="spatial-bp", hidden=(5, 4)),
    "spatial-bp-real-split": tiny(rule="spatial-bp", complex_lru=False, split=True, vocab=6),
    "spatial-bp-no-hidden": tiny(rule="spatial-bp", hidden=()),
    # real-valued targets and the squared-error output error (the sysid task's path)
    "squared-error": tiny(hidden=(4,)).model_copy(update={"loss": "squared_error"}),
}
#: every case, with online updates
CASES = {
    **SEQUENCE_CASES,
    "online-rtrl-adam": tiny(update="online"),
    "online-spatial-bp-sgd": tiny(rule="spatial-bp", update="online", optimizer="sgd", hidden=(5, 4)),
}

#: the cases the Lava backend runs in CI (every Lava process is a forked OS process with a
#: handshake per stage, so the whole list would take most of the CI budget): tpc-rtrl and tpc,
#: real and complex LRU, 0 and 1 hidden layers, one layer split over two cores
LAVA_CASES = ("rtrl-complex-fixed-K2", "rtrl-no-hidden-K0", "rtrl-no-hidden-real-K1-moving",
              "rtrl-split-cores-moving", "tpc-complex-inferred-K1", "tpc-real-moving-K2")
#: the cases each backend runs: every case, except for lava (LAVA_CASES)
SUBSETS = {"lava": LAVA_CASES}


def backend_cases(backends: tuple[str, ...] | list[str], cases: dict | list) -> list[tuple[str, str]]:
    """(backend, case) pairs for a parametrization, each backend limited to its subset."""
    return [(b, c) for b in backends for c in cases if c in SUBSETS.get(b, cases)]


_artifacts: dict[str, Artifact] = {}


def artifact(case: str) -> Artifact:
    """The compiled case (compiled once per test session)."""
    if case not in _artifacts:
        _artifacts[case] = compile_artifact(CASES[case])
    return _artifacts[case]


def step_inputs(program_artifact: Artifact, rng: np.random.Generator, t: int, lanes: int = LANES
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One time step for ``lanes`` lanes: one-hot inputs, targets, a mask with some lanes off;
    step 1 carries no loss at all (every error is exactly zero there)."""
    settings = program_artifact.program.settings
    u = np.eye(settings.inputs)[rng.integers(0, settings.inputs, size=lanes)]
    if settings.loss == "cross_entropy":
        target = rng.integers(0, settings.outputs, size=lanes)
    else:
        target = rng.normal(size=(lanes, settings.outputs))
    mask = (rng.uniform(size=lanes) < 0.7).astype(float)
    mask[t % lanes] = 1.0
    if t == 1:
        mask[:] = 0.0
    return u, target, mask
