"""The resource report: what a compiled network needs of the target, and where it is tight.

Built as plain data (stored in the artifact, tested, printed by the CLI) and rendered to
text separately, so numbers are computed once and every consumer sees the same ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.graph import NetworkGraph
from compiler.layout import LIMITS, RuleFacts
from compiler.partition import LayerPlan
from compiler.placement import STEP_PHASES, Placement, step_sends
from compiler.program import COMPARTMENT, HOST, Program
from compiler.targets import ResourceTable
from compiler.verify import Verification


def _messages_by_phase(program: Program) -> dict[str, int]:
    """Values sent between cores per step and lane, by phase (infer counts K times)."""
    length = program.channels.length
    out: dict[str, int] = {}
    for phase, op, repeat in step_sends(program):
        out[phase] = out.get(phase, 0) + int(length[op.channel_ids()].sum()) * repeat
    return {p: out[p] for p in STEP_PHASES if p in out}


def build_report(net: NetworkGraph, facts: RuleFacts, table: ResourceTable,
                 plans: list[LayerPlan], program: Program, verification: Verification,
                 placement: Placement) -> dict[str, Any]:
    """Every number the CLI prints, as data."""
    usage = verification.usage
    n = len(program.cores)
    utilisation = {}
    for key, limit_name in LIMITS.items():
        values = np.array([u[key] for u in usage], dtype=np.float64)
        limit = table[limit_name]
        utilisation[key] = {"limit": limit, "provenance": table.provenance(limit_name),
                            "min": float(values.min() / limit), "mean": float(values.mean() / limit),
                            "max": float(values.max() / limit)}
    ch = program.channels
    messages = placement.messages
    inner = ch.src != HOST
    traffic = np.bincount(ch.dst[inner], weights=messages[inner], minlength=n)
    traffic += np.bincount(ch.src[inner], weights=messages[inner], minlength=n)
    busiest = int(np.argmax(traffic))
    bcore = program.cores[busiest]
    per_neuron = {}
    for plan in plans:
        first = next(c for c in program.cores if c.layer == plan.layer.name)
        comp = sum(b.size for b in first.buffers.values() if b.kind == COMPARTMENT)
        per_neuron[plan.layer.name] = comp // max(first.neurons, 1)
    warnings = []
    if table["payload_bits"] == 0:
        warnings.append(f"{table.name} spikes are binary: each graded value is counted as one "
                        f"message here, a lower bound on the spikes needed")
    opt_key = f"optimizer_{facts.optimizer}"
    if table.provenance(opt_key) == "assumed":
        warnings.append(f"on-chip {facts.optimizer} on {table.name} is assumed, not documented")
    limits_assumed = sorted(k for k in LIMITS.values() if table.provenance(k) == "assumed")
    if limits_assumed:
        warnings.append(f"{table.name} limits flagged assumed: {', '.join(limits_assumed)}")
    by_phase = _messages_by_phase(program)
    cost = placement.cost
    return {
        "target": {"name": table.name, "description": table.description,
                   "cores_per_chip": table.cores_per_chip,
                   "mesh": [table["mesh_rows"], table["mesh_cols"]],
                   "bits": {k: table[k] for k in ("weight_bits", "trace_bits",
                                                  "accumulator_bits", "optimizer_bits",
                                                  "param_bits")},
                   "overridden": list(table.overridden)},
        "rule": {"name": facts.rule, "iterations": facts.iterations,
                 "fixed_prediction": facts.fixed_prediction, "carry": facts.carry,
                 "update": facts.update, "optimizer": facts.optimizer, "loss": facts.loss},
        "lanes": facts.lanes,
        "parameters": int(sum(net.arch.parameter_count().values())),
        "layers": [{"name": p.layer.name, "kind": p.layer.kind, "neurons": p.layer.size,
                    "compartments_per_neuron": per_neuron[p.layer.name], "cores": p.cores,
                    "capacity": p.capacity, "limited_by": p.limited_by} for p in plans],
        "cores": n,
        "chips": placement.geometry.chips,
        "utilisation": utilisation,
        "messages_per_step": {"total": int(messages[inner].sum()), "by_phase": by_phase,
                              "host": int(messages[~inner].sum()),
                              "channels": int(inner.sum())},
        "hops_per_step": {"placement": placement.algorithm,
                          "hop_messages": cost[placement.algorithm]["hop_messages"],
                          "chip_crossings": cost[placement.algorithm]["chip_crossings"],
                          "compared": cost},
        "busiest_core": {"core": busiest, "layer": bcore.layer,
                         "neurons": [bcore.start, bcore.stop],
                         "messages": int(traffic[busiest]),
                         "utilisation": {k: usage[busiest][k] / table[v]
                                         for k, v in LIMITS.items()}},
        "warnings": warnings,
    }


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def render_report(report: dict[str, Any]) -> str:
    """The text the ``compile`` command prints."""
    t, r = report["target"], report["rule"]
    lines = [f"target {t['name']}: {t['description']}"]
    if t["overridden"]:
        lines.append(f"  overridden: {', '.join(t['overridden'])}")
    rule = f"rule {r['name']}"
    if r["name"] != "spatial-bp":
        rule += (f", K={r['iterations']} inference iterations, "
                 f"{'fixed' if r['fixed_prediction'] else 'moving'} prediction, "
                 f"carry {r['carry']}")
    lines.append(f"{rule}, update {r['update']}, optimizer {r['optimizer']}, "
                 f"{report['lanes']} lane(s)")
    lines.append(f"parameters {report['parameters']:,}")
    lines.append("")
    lines.append(f"{'layer':<10}{'neurons':>9}{'comp/n':>8}{'cores':>7}{'max/core':>10}"
                 f"  limited by")
    for layer in report["layers"]:
        lines.append(f"{layer['name']:<10}{layer['neurons']:>9,}"
                     f"{layer['compartments_per_neuron']:>8}{layer['cores']:>7,}"
                     f"{layer['capacity']:>10,}  {layer['limited_by'].replace('_', ' ')}")
    lines.append("")
    lines.append(f"cores {report['cores']:,} on {report['chips']:,} chip(s) "
                 f"({t['cores_per_chip']} cores per chip, mesh {t['mesh'][0]}x{t['mesh'][1]})")
    lines.append(f"{'per-core utilisation':<24}{'min':>7}{'mean':>7}{'max':>7}   limit")
    for key, u in report["utilisation"].items():
        lines.append(f"  {key.replace('_', ' '):<22}{_pct(u['min']):>7}{_pct(u['mean']):>7}"
                     f"{_pct(u['max']):>7}   {u['limit']:,} ({u['provenance']})")
    m = report["messages_per_step"]
    phases = ", ".join(f"{p} {v:,}" for p, v in m["by_phase"].items())
    lines.append(f"messages per step and lane {m['total']:,} ({phases}) on "
                 f"{m['channels']:,} channels; host inputs {m['host']:,}")
    h = report["hops_per_step"]
    cmp = h["compared"]
    naive = cmp["sequential"]["hop_messages"]
    gain = (1 - h["hop_messages"] / naive) if naive else 0.0
    lines.append(f"hops per step and lane {h['hop_messages']:,} with {h['placement']} "
                 f"placement (sequential fill {naive:,}, random "
                 f"{cmp['random']['hop_messages']:,}; {100 * gain:.1f}% fewer than "
                 f"sequential); chip crossings {h['chip_crossings']:,}")
    b = report["busiest_core"]
    util = ", ".join(f"{k.replace('_', ' ')} {_pct(v).strip()}" for k, v in b["utilisation"].items())
    lines.append(f"busiest core {b['core']} ({b['layer']}[{b['neurons'][0]}:{b['neurons'][1]}]):"
                 f" {b['messages']:,} messages in+out per step; {util}")
    for w in report["warnings"]:
        lines.append(f"note: {w}")
    return "\n".join(lines)


def _operand_text(value: Any) -> str:
    return value if isinstance(value, str) else "[" + ", ".join(value) + "]"


def render_core(artifact: Any, core_id: int) -> str:
    """One core of a loaded artifact: where it sits, what it uses, its memory and program."""
    from compiler.verify import core_usage  # local: only inspect needs it

    program = artifact.program
    core = program.cores[core_id]
    arrays = artifact.placement_arrays
    layer_cores = [c for c in program.cores if c.layer == core.layer]
    lines = [f"core {core.core}: {core.layer}[{core.start}:{core.stop}] (layer {core.layer_index},"
             f" slice {core.slice_index + 1} of {len(layer_cores)}) on chip "
             f"{int(arrays['chip'][core.core])} at mesh x={int(arrays['x'][core.core])} "
             f"y={int(arrays['y'][core.core])}"]
    usage = core_usage(program)[core.core]
    constants = artifact.target["constants"]
    parts = []
    for key, limit_name in LIMITS.items():
        limit = constants[limit_name]["value"]
        parts.append(f"{key.replace('_', ' ')} {usage[key]:,}/{limit:,} "
                     f"({100 * usage[key] / limit:.1f}%)")
    lines.append("uses " + ", ".join(parts))
    lines.append("")
    lines.append(f"  {'buffer':<14}{'kind':<13}{'shape':<14}{'bits':>5}  binds")
    for buf in core.buffers.values():
        b = buf.binding
        binds = ""
        if b is not None:
            block = f"[{b.rows[0]}:{b.rows[1]}" + (f", {b.cols[0]}:{b.cols[1]}]" if b.cols
                                                     else "]")
            binds = f"{b.space} {b.name}{'.' + b.part if b.part else ''}{block}"
            binds += (" layer " + str(b.layer)) if b.layer is not None else ""
            binds += " transposed" if b.transpose else ""
            binds += " (feedback copy)" if b.copy else ""
        shape = "x".join(map(str, buf.shape)) or "scalar"
        lines.append(f"  {buf.name:<14}{buf.kind:<13}{shape:<14}{buf.bits:>5}  {binds}")
    ch = program.channels
    for phase in program.phases:
        ops = core.phases.get(phase.name, [])
        if not ops:
            continue
        times = f"x{phase.repeat}" if phase.name == "infer" else "once"
        lines.append("")
        lines.append(f"phase {phase.name} ({times} per {phase.when.replace('_', ' ')}, "
                     f"{phase.stages} stage(s))")
        for op in ops:
            if op.kind == "send":
                ids = op.channel_ids()
                dst = np.unique(ch.dst[ids])
                srcs = sorted({ch.name(i) for i in ch.src_buffer[ids]})
                shown = ", ".join(map(str, dst[:8])) + (" ..." if dst.size > 8 else "")
                text = (f"{', '.join(srcs)} -> {ids.size} channel(s) to core(s) {shown} "
                        f"({int(ch.length[ids].sum()):,} values)")
            else:
                outs = " ".join(f"{k}={_operand_text(v)}" for k, v in op.outputs.items())
                ins = " ".join(f"{k}={_operand_text(v)}" for k, v in op.inputs.items())
                params = " ".join(f"{k}={v}" for k, v in op.params.items())
                text = f"{outs} <- {ins}" + (f"  ({params})" if params else "")
            lines.append(f"  stage {op.stage:<3}{op.kind:<27}{text}")
    return "\n".join(lines)
