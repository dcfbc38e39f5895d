"""Shared fixtures: small specs built from the shipped example, so tests need no data files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuropc.spec import NetworkSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# the suite runs in two processes (pytest-xdist) on two cores: the processes are the
# parallelism, so engines default to one worker thread (tests of the worker threads ask for
# theirs); subprocesses the tests start inherit it
os.environ.setdefault("NEUROPC_THREADS", "1")


@pytest.fixture(scope="session")
def copy_spec() -> NetworkSpec:
    return load_spec(ROOT / "examples" / "copy.yaml")


def small_spec(base: NetworkSpec, *, complex_lru: bool = True, hidden: tuple[int, ...] = (5,),
               rule: str = "tpc-rtrl", learn_gamma: bool = True, activation: str = "gelu",
               **extra: object) -> NetworkSpec:
    """A network small enough for finite differences: 6 states, 3 digits, delay 3."""
    overrides: dict[str, object] = {
        "recurrent.size": 6,
        "recurrent.complex": complex_lru,
        "recurrent.gamma": "learned" if learn_gamma else "fixed",
        "recurrent.radius": (0.6, 0.95),
        "readout.hidden": list(hidden),
        "readout.activation": activation,
        "readout.output": 3,
        "input.size": 5,
        "task.vocab": 3,
        "task.length": 3,
        "task.delay": 3,
        "rule.name": rule,
        "rule.inference.iterations": len(hidden) + 1,
    }
    overrides.update(extra)
    return base.with_overrides(overrides)
