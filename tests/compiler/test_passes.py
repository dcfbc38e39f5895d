"""Lowering, partitioning and placement on their own."""

from __future__ import annotations

import numpy as np
import pytest
from npc_specs import PAPER_YAML, tiny_spec

from compiler.graph import NetworkGraph, ShapeError, SynapseGroup, _add_group, lower
from compiler.partition import split
from compiler.pipeline import compile_spec
from compiler.placement import Geometry, _abs_cost, sends_per_step
from compiler.targets import load_target
from neuropc.reference.network import Architecture
from neuropc.spec import load_spec


def test_lowering_builds_the_populations_and_checks_shapes() -> None:
    spec = tiny_spec(**{"readout.hidden": [5, 4], "recurrent.gamma": "learned"})
    net: NetworkGraph = lower(spec)
    assert [layer.name for layer in net.layers] == ["lru", "hidden1", "hidden2", "output"]
    assert net.layer("lru").parts == 2 and net.layer("lru").features == 12
    names = {p.name for p in net.populations()}
    assert {"lru.h", "lru.mu", "lru.x", "lru.eps", "hidden2.x", "output.eps", "input"} <= names
    w0t = net.group("W0T")
    assert (w0t.kind, w0t.pre, w0t.post, w0t.shape, w0t.copy_of) == (
        "feedback", "hidden1.eps", "lru.x", (12, 5), "W0")
    assert net.group("B").traces == ("B",) and net.group("recurrence").traces == ("lam", "gam")
    assert net.parameter_count() == sum(Architecture.from_spec(spec).parameter_count().values())
    with pytest.raises(ShapeError, match="W9 .* has shape \\(5, 7\\).*need \\(5, 12\\)"):
        _add_group(net.graph, SynapseGroup("W9", "dense", "lru.act", "hidden1.mu", (5, 7)))
    assert "lru.x" not in {p.name for p in lower(tiny_spec(**{"rule.name": "spatial-bp"}))
                           .populations()}


def test_split_makes_balanced_consecutive_slices() -> None:
    assert split(10, 3) == ((0, 4), (4, 7), (7, 10))
    assert split(5, 5) == tuple((i, i + 1) for i in range(5))


def test_abs_cost_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    hist = rng.uniform(size=17)
    brute = np.array([(hist * np.abs(x - np.arange(17))).sum() for x in range(17)])
    np.testing.assert_allclose(_abs_cost(hist), brute)


def test_geometry_spans_chips_in_a_grid() -> None:
    table = load_target("loihi")
    geo = Geometry.for_cores(300, table)
    assert geo.chips == 3 and geo.chip_grid == (2, 2) and geo.slots == 384
    assert geo.x.max() == 2 * 16 - 1 and geo.y.max() == 2 * 8 - 1
    assert len(set(zip(geo.x.tolist(), geo.y.tolist(), strict=True))) == geo.slots


def test_greedy_placement_beats_sequential_fill_across_chips() -> None:
    # a small chip forces a multi-chip mesh; count hop-weighted messages of both placements
    spec = tiny_spec(**{"recurrent.size": 24, "readout.hidden": [16, 16], "readout.output": 8,
                        "input.size": 10, "task.vocab": 8,
                        "hardware": {"target": "loihi2", "overrides": {
                            "compartments_per_core": 16, "mesh_rows": 2, "mesh_cols": 4,
                            "cores_per_chip": 8}}})
    compiled = compile_spec(spec, with_params=False)
    cost = compiled.placement.cost
    assert compiled.placement.geometry.chips > 2
    assert cost["greedy"]["hop_messages"] < cost["sequential"]["hop_messages"]
    assert compiled.placement.algorithm == "greedy"
    # routes are Manhattan distances between the placed cores
    p, ch = compiled.placement, compiled.program.channels
    inner = np.flatnonzero(ch.src >= 0)
    geo, slot = p.geometry, p.slot
    want = (np.abs(geo.x[slot[ch.src[inner]]] - geo.x[slot[ch.dst[inner]]])
            + np.abs(geo.y[slot[ch.src[inner]]] - geo.y[slot[ch.dst[inner]]]))
    np.testing.assert_array_equal(p.hops[inner], want)
    assert (p.messages == sends_per_step(compiled.program) * ch.length).all()


def test_messages_per_step_count_inference_iterations() -> None:
    spec = tiny_spec(**{"rule.inference.iterations": 3})
    compiled = compile_spec(spec, with_params=False)
    by_phase = compiled.report["messages_per_step"]["by_phase"]
    # one error pass down per iteration, the same pass once more in learn
    assert by_phase["infer"] == 3 * by_phase["learn"]
    # predict sends the 12 LRU features to hidden1 and 5 hidden values to the output
    assert by_phase["predict"] == 12 + 5


def test_paper_scale_spec_has_about_15m_parameters_and_fits_every_target() -> None:
    spec = load_spec(PAPER_YAML)
    total = sum(Architecture.from_spec(spec).parameter_count().values())
    assert 14_000_000 < total < 16_000_000
    for target in ("loihi", "loihi2", "spinnaker2"):
        compiled = compile_spec(spec, target, with_params=False)
        assert compiled.report["parameters"] == total
        assert compiled.placement.geometry.chips >= 2
