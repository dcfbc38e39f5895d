"""The compiler driver: spec -> IR -> partition -> schedule -> verify -> place -> artifact.

Scheduling comes before placement because the schedule fixes which channels exist and how
often each is sent per step, and that traffic is what placement minimises; the schedule
itself does not depend on where cores sit.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from compiler.artifact import Artifact
from compiler.graph import NetworkGraph, lower
from compiler.layout import RuleFacts
from compiler.partition import LayerPlan, partition
from compiler.placement import Placement, place
from compiler.program import FORMAT_VERSION, Program, RunDefaults, TaskContract
from compiler.report import build_report
from compiler.schedule import RunContext, schedule
from compiler.targets import ResourceTable, load_target
from compiler.verify import Verification, verify
from neuropc.errors import NeuropcError
from neuropc.reference.network import params_from_spec
from neuropc.spec.loading import dump_spec
from neuropc.spec.schema import HardwareSpec, NetworkSpec
from neuropc.tasks import task_from_spec as make_task
from neuropc.version import __version__


@dataclass
class Compiled:
    """Everything the passes produced for one spec and target."""

    spec: NetworkSpec
    net: NetworkGraph
    facts: RuleFacts
    table: ResourceTable
    plans: list[LayerPlan]
    program: Program
    verification: Verification
    placement: Placement
    params: dict[str, np.ndarray]
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def resolve_target(spec: NetworkSpec, target: str | None = None) -> ResourceTable:
    """The spec's hardware table (or ``target`` instead of its name), overrides applied."""
    hardware = spec.hardware or HardwareSpec()
    return load_target(target or hardware.target, hardware.overrides,
                       "--target" if target else "hardware.target")


def run_context(spec: NetworkSpec) -> RunContext:
    """The run facts the artifact carries so that no executor reads the spec."""
    task = make_task(spec.task)
    run = spec.run
    hardware = spec.hardware or HardwareSpec()
    return RunContext(
        task=TaskContract(spec.task.name, spec.task.model_dump(mode="json"),
                          task.sequence_length, task.describe()),
        run=RunDefaults(run.steps, run.batch, run.seed, run.eval_every, run.eval_sequences),
        thresholds=hardware.event_threshold.model_dump())


def compile_spec(spec: NetworkSpec, target: str | None = None,
                 with_params: bool = True) -> Compiled:
    """Run every pass; raise NeuropcError for anything the user can fix."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    table = resolve_target(spec, target)
    net = lower(spec)
    facts = RuleFacts.from_spec(spec)
    if not table.supports_optimizer(facts.optimizer):
        source = table.constants.get(f"optimizer_{facts.optimizer}")
        why = f": {source.source}" if source else ""
        raise NeuropcError(
            f"target {table.name} cannot apply optimizer '{facts.optimizer}' on chip{why}. "
            f"Use rule.optimizer.name: sgd, another target, or hardware.overrides "
            f"optimizer_{facts.optimizer}: 1 if your chip can"
        )
    lap("lower")
    plans = partition(net, facts, table)
    lap("partition")
    program = schedule(net, facts, table, plans, run_context(spec))
    lap("schedule")
    params = params_from_spec(spec) if with_params else {}
    lap("params")
    shapes = {k: v.shape for k, v in params.items()} if params else _param_shapes(net)
    verification = verify(program, table, shapes)
    lap("verify")
    placement = place(program, table, seed=spec.run.seed)
    lap("place")
    report = build_report(net, facts, table, plans, program, verification, placement)
    lap("report")
    return Compiled(spec, net, facts, table, plans, program, verification, placement, params,
                    report, timings)


def _param_shapes(net: NetworkGraph) -> dict[str, tuple[int, ...]]:
    arch = net.arch
    shapes: dict[str, tuple[int, ...]] = {"nu": (arch.state,), "gamma_log": (arch.state,)}
    if arch.complex:
        shapes.update(theta=(arch.state,), B_re=(arch.state, arch.inputs),
                      B_im=(arch.state, arch.inputs))
    else:
        shapes["B"] = (arch.state, arch.inputs)
    sizes = arch.readout_sizes
    for i in range(arch.readout_layers):
        shapes[f"W{i}"] = (sizes[i + 1], sizes[i])
        shapes[f"b{i}"] = (sizes[i + 1],)
    return shapes


def graph_document(compiled: Compiled) -> dict[str, Any]:
    """The population graph as plain JSON (nodes, edges, layers with their core counts)."""
    net = compiled.net
    return {
        "layers": [{**asdict(p.layer), "cores": p.cores, "capacity": p.capacity,
                    "limited_by": p.limited_by} for p in compiled.plans],
        "nodes": [asdict(p) for p in net.populations()],
        "edges": [{**asdict(g), "shape": list(g.shape)} for g in net.groups()],
    }


def artifact_contents(compiled: Compiled, spec_text: str) -> dict[str, Any]:
    """Keyword arguments for ``compiler.artifact.build_members``."""
    spec = compiled.spec
    hardware = (spec.hardware or HardwareSpec()).model_dump()
    hardware["target"] = compiled.table.name
    resolved = spec.model_copy(update={"hardware": HardwareSpec(**hardware)})
    p = compiled.placement
    geo = p.geometry
    slot = p.slot
    return {
        "manifest": {"neuropc_version": __version__, "spec_name": spec.name,
                     "target": compiled.table.name,
                     "created": datetime.now(UTC).isoformat(timespec="seconds"),
                     "cores": len(compiled.program.cores), "chips": geo.chips},
        "spec_text": spec_text,
        "resolved_spec_text": dump_spec(resolved),
        "target": compiled.table.to_dict(),
        "program": compiled.program,
        "placement": p.to_dict(),
        # per logical core: physical slot, chip and mesh position; per channel: the hops
        # and chip crossings of its XY route (messages per step follow from the program)
        "placement_arrays": {"slot": slot, "chip": geo.chip[slot], "x": geo.x[slot],
                             "y": geo.y[slot], "hops": p.hops.astype(np.int32),
                             "crossings": p.crossings.astype(np.int32)},
        "params": compiled.params,
        "graph": graph_document(compiled),
        "report": compiled.report,
    }


def compile_artifact(spec: NetworkSpec, spec_text: str = "") -> Artifact:
    """Compile a spec in memory into the same Artifact its .npc file would load as."""
    contents = artifact_contents(compile_spec(spec), spec_text)
    contents["manifest"] = {**contents["manifest"], "format_version": FORMAT_VERSION}
    return Artifact(**contents)
