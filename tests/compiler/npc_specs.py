"""Specs for the compiler tests (a module, not a conftest, so names never collide)."""

from __future__ import annotations

from pathlib import Path

from neuropc.spec import NetworkSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]


def tiny_spec(**overrides: object) -> NetworkSpec:
    """The copy network shrunk to a handful of neurons, with dotted-path overrides."""
    base = load_spec(ROOT / "examples" / "copy.yaml")
    settings: dict[str, object] = {
        "recurrent.size": 6, "readout.hidden": [5], "readout.output": 3, "input.size": 5,
        "task.vocab": 3, "rule.inference.iterations": 2,
    }
    settings.update(overrides)
    return base.with_overrides(settings)


COPY_YAML = ROOT / "examples" / "copy.yaml"
PAPER_YAML = ROOT / "examples" / "paper_scale.yaml"
