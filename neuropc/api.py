"""The Python front door: the few calls a notebook needs, each one line.

    import neuropc
    spec = neuropc.load_spec("examples/copy.yaml")            # or neuropc.build_spec({...})
    trained = neuropc.train(spec, rule="tpc-rtrl", steps=200)  # numpy reference
    artifact = neuropc.compile(spec)                           # placed per-core programs
    run = neuropc.simulate(artifact, backend="native", steps=200, threshold=0.002)
    report = neuropc.price(run, artifact)                      # energy vs BPTT
    print(neuropc.render(report))

Conventions (the same everywhere in the package): weights are (out, in), so a layer computes
``W @ x``; parameter names are those of ``neuropc.reference.network`` (``nu``, ``theta``,
``gamma_log``, ``B`` or ``B_re``/``B_im``, ``W0``, ``b0``, ...); an *update* is a descent
direction (the optimizer adds ``lr * update``), so an update is minus a gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compiler.artifact import Artifact, is_artifact, load_artifact
from compiler.pipeline import compile_artifact
from hwsim.backends import backend_names
from hwsim.costs import CostProfile, load_profile
from hwsim.energy_render import render
from hwsim.energy_report import TARGET_PROFILES, EnergyReport, report_from_simulation
from hwsim.runner import SimulationResult
from hwsim.runner import simulate as run_on_backend
from neuropc.errors import FieldProblem, NeuropcError
from neuropc.resources import check_memory
from neuropc.run_files import RunDirectory
from neuropc.spec.loading import load_spec, locate_problem, parse_spec
from neuropc.spec.schema import NetworkSpec
from neuropc.training import TrainResult
from neuropc.training import train as train_reference


def build_spec(data: Mapping[str, Any]) -> NetworkSpec:
    """A spec from a mapping (the YAML file's structure), validated like a file."""
    from neuropc.spec.loading import dump_spec

    return parse_spec(dump_spec(NetworkSpec.model_validate(dict(data))), "<mapping>")


def train(spec: NetworkSpec, *, rule: str | None = None, steps: int | None = None,
          seed: int | None = None, out: str | Path | None = None) -> TrainResult:
    """Train with the numpy reference (``rule`` overrides ``rule.name``); ``out`` writes a
    run folder as ``neuropc train`` does."""
    overrides = {"rule.name": rule, "run.steps": steps, "run.seed": seed}
    spec = spec.with_overrides({k: v for k, v in overrides.items() if v is not None})
    return train_reference(spec, RunDirectory(Path(out)) if out is not None else None)


def compile(spec: NetworkSpec, spec_text: str = "") -> Artifact:  # noqa: A001 - the verb users know
    """Lower, partition, schedule, verify and place ``spec``: the artifact a backend runs."""
    return compile_artifact(spec, spec_text)


def load_source(path: str | Path) -> Artifact:
    """An artifact file, or a spec file compiled on the fly (NeuropcError for anything the
    user can fix: missing file, damaged artifact, invalid spec, a network that does not fit)."""
    path = Path(path)
    if not path.exists():
        raise NeuropcError(f"{path}: no such file (expected a .npc artifact or a .yaml spec)")
    if path.is_dir():
        raise NeuropcError(f"{path}: is a folder, expected a .npc artifact or a .yaml spec")
    if path.suffix == ".npc" or is_artifact(path):
        return load_artifact(path)
    spec = load_spec(path)
    try:
        check_memory(spec, "compile")
        return compile_artifact(spec, path.read_text(encoding="utf-8"))
    except FieldProblem as problem:
        raise locate_problem(problem, path) from None


def simulate(source: Artifact | NetworkSpec | str | Path, *, backend: str = "native",
             out: str | Path | None = None, **options: Any) -> SimulationResult:
    """Train and evaluate on a backend (``backends()`` lists them); ``source`` is an
    artifact, a spec (compiled first) or a file; ``options`` are those of
    ``hwsim.runner.simulate`` (steps, threshold, number_format, batch, lanes, dense, ...)."""
    if isinstance(source, NetworkSpec):
        artifact = compile_artifact(source)
    elif isinstance(source, Artifact):
        artifact = source
    else:
        artifact = load_source(source)
    run_dir = RunDirectory(Path(out)) if out is not None else None
    return run_on_backend(artifact, backend=backend, run_dir=run_dir, **options)


def price(result: SimulationResult, artifact: Artifact, profile: str | CostProfile | None = None,
          vs: str | CostProfile = "gpu-h100") -> EnergyReport:
    """The energy report of a run: its counts on a neuromorphic ``profile`` (default: the
    artifact's target's) against BPTT on the conventional ``vs``."""
    target = artifact.target.get("name", "loihi2")
    chip = profile if isinstance(profile, CostProfile) else load_profile(
        profile or TARGET_PROFILES.get(target, "loihi2-estimate"))
    conventional = vs if isinstance(vs, CostProfile) else load_profile(vs)
    return report_from_simulation(result, artifact, chip, conventional)


def backends() -> tuple[str, ...]:
    """Names of the registered backends."""
    return backend_names()


__all__ = ["Artifact", "EnergyReport", "NetworkSpec", "SimulationResult", "TrainResult", "backends",
           "build_spec", "compile", "load_source", "load_spec", "price", "render", "simulate", "train"]
