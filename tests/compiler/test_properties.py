"""Property tests over random networks and core limits: whatever compiles respects every
limit of every core and places every neuron, weight, copy, trace and accumulator exactly
once; whatever does not compile fails with a FitError that carries the numbers."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from npc_specs import tiny_spec

from compiler.partition import FitError
from compiler.pipeline import _param_shapes, compile_spec
from compiler.program import COMPARTMENT, HOST, INBOX, REGISTER


@st.composite
def networks(draw):
    target = draw(st.sampled_from(["loihi", "loihi2", "spinnaker2"]))
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    optimizer = "sgd" if target == "loihi" else draw(st.sampled_from(["sgd", "adam"]))
    vocab = draw(st.integers(2, 12))
    overrides = {
        "compartments_per_core": draw(st.integers(8, 600)),
        "synaptic_memory_bits": draw(st.integers(4_000, 400_000)),
        "input_axons_per_core": draw(st.integers(16, 600)),
        "output_axons_per_core": draw(st.integers(16, 600)),
        "mesh_rows": rows, "mesh_cols": cols, "cores_per_chip": rows * cols,
        "weight_bits": draw(st.integers(1, 16)),
        "trace_bits": draw(st.integers(1, 16)),
        "max_chips": 100_000,
    }
    rule = draw(st.sampled_from(["tpc-rtrl", "tpc", "spatial-bp"]))
    spec = tiny_spec(**{
        "recurrent.size": draw(st.integers(1, 24)),
        "recurrent.complex": draw(st.booleans()),
        "recurrent.gamma": draw(st.sampled_from(["fixed", "learned"])),
        "readout.hidden": draw(st.lists(st.integers(1, 24), max_size=2)),
        "readout.output": vocab, "input.size": vocab + 2, "task.vocab": vocab,
        "rule.name": rule,
        "rule.carry": "prediction" if rule == "spatial-bp" else
        draw(st.sampled_from(["prediction", "inferred"])),
        "rule.update": draw(st.sampled_from(["sequence", "online"])),
        "rule.inference.iterations": draw(st.integers(0, 3)),
        "rule.inference.fixed_prediction": draw(st.booleans()),
        "rule.optimizer.name": optimizer,
        "run.batch": draw(st.integers(1, 3)),
        "hardware": {"target": target, "overrides": overrides},
    })
    return spec


def _usage(program, lanes: int) -> list[dict[str, int]]:
    """Resource use recomputed here from buffers and channels, independently of verify."""
    ch = program.channels
    out = []
    for core in program.cores:
        comp = mem = 0
        for buf in core.buffers.values():
            if buf.kind == COMPARTMENT:
                comp += int(np.prod(buf.shape)) * lanes
            elif buf.kind not in (REGISTER, INBOX):
                mem += int(np.prod(buf.shape)) * buf.bits * (lanes if buf.per_lane else 1)
        incoming = int(ch.length[ch.dst == core.core].sum())
        outgoing = int(ch.length[(ch.src == core.core) & (ch.src != HOST)].sum())
        out.append({"compartments_per_core": comp, "synaptic_memory_bits": mem,
                    "input_axons_per_core": incoming, "output_axons_per_core": outgoing})
    return out


def _counts(program, shapes):
    """How many cores hold each element of every bound array, as dense count arrays."""
    counts: dict[tuple, np.ndarray] = {}
    layers = {layer.index: layer.size for layer in program.settings.layers}
    m = program.settings.inputs
    n = layers[0]
    trace_shapes = {"B": (n, m), "lam": (n,), "gam": (n,)}
    for core in program.cores:
        for buf in core.buffers.values():
            b = buf.binding
            if b is None:
                continue
            key = b.key
            if b.space == "state":
                shape = (layers[b.layer],)
            elif b.space == "trace":
                shape = trace_shapes[b.name]
            else:
                shape = shapes[b.name]
            arr = counts.setdefault(key, np.zeros(shape, dtype=np.int64))
            index = (slice(*b.rows),) if b.cols is None else (slice(*b.rows), slice(*b.cols))
            arr[index] += 1
            block_shape = arr[index].shape
            assert (buf.shape[::-1] if b.transpose else buf.shape) == block_shape
    return counts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_no_core_exceeds_a_limit_and_everything_is_placed_once(spec) -> None:
    try:
        compiled = compile_spec(spec, with_params=False)
    except FitError as exc:
        event("does not fit")
        assert "does not fit" in str(exc) and re.search(r"\d", str(exc))
        return
    event("fits")
    program, table = compiled.program, compiled.table
    for core, use in zip(program.cores, _usage(program, program.lanes), strict=True):
        for key, value in use.items():
            assert value <= table[key], (core.core, core.layer, key, value, table[key])
    # every neuron of every layer on exactly one core
    for layer in program.settings.layers:
        hits = np.zeros(layer.size, dtype=np.int64)
        for core in program.cores:
            if core.layer == layer.name:
                hits[core.start:core.stop] += 1
        assert (hits == 1).all(), layer.name
    # every weight, feedback copy, trace, accumulator and state element exactly once
    shapes = _param_shapes(compiled.net)
    counts = _counts(program, shapes)
    for key, arr in counts.items():
        assert (arr == 1).all(), key
    for name in compiled.net.arch.trainable():
        assert ("param", name, None, None, False) in counts
        assert ("update", name, None, None, False) in counts
        if name.startswith("W"):
            assert ("param", name, None, None, True) in counts  # its feedback copy
    if spec.rule.name == "tpc-rtrl":
        assert any(k[:2] == ("trace", "B") for k in counts)
    # placement: one physical core per logical core, all on allocated chips
    slot = compiled.placement.slot
    assert len(np.unique(slot)) == len(slot)
    assert slot.max() < compiled.placement.geometry.slots
    assert compiled.placement.geometry.chips == -(-len(slot) // table.cores_per_chip)
