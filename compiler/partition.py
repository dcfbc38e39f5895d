"""Partitioning: cut every layer into slices of consecutive neurons that fit one core.

Each core holds one slice of one layer. A slice's costs are affine in its length (see
``layout``): compartments, synaptic memory (weights, feedback copies, traces, accumulators,
optimizer moments at the target's bit widths) and input axons come from the slice's buffers;
output axons depend on how many cores the neighbouring layers occupy, because a neuron
needs one axon per destination core. Cutting one layer finer therefore raises its
neighbours' fan-out, so slice counts are raised together until nothing changes. Counts only
grow and are bounded by the layer sizes, so the loop ends; when a single neuron does not fit
a core the error names the layer, the resource, the need and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.graph import Layer, NetworkGraph
from compiler.layout import LIMITS, ROOT, RuleFacts, memory_breakdown, memory_usage, slice_buffers
from compiler.targets import ResourceTable
from neuropc.errors import NeuropcError


class FitError(NeuropcError):
    """The network needs more of some resource than the target has."""


@dataclass(frozen=True)
class LayerPlan:
    """How one layer is cut: ``slices`` are [start, stop) ranges, one per core."""

    layer: Layer
    slices: tuple[tuple[int, int], ...]
    capacity: int  # largest slice that fits
    limited_by: str  # the resource that set the capacity

    @property
    def cores(self) -> int:
        return len(self.slices)


def split(size: int, parts: int) -> tuple[tuple[int, int], ...]:
    """``parts`` consecutive ranges covering [0, size), lengths differing by at most one."""
    base, extra = divmod(size, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + base + (1 if k < extra else 0)
        bounds.append((start, stop))
        start = stop
    return tuple(bounds)


def _fmt(n: int) -> str:
    return f"{n:,}"


def out_axons_per_neuron(net: NetworkGraph, layer: Layer, counts: list[int]) -> int:
    """Axons one neuron needs: one per (sent compartment, destination core)."""
    i = layer.index
    per = 0
    if layer.kind != "output":
        per += layer.parts * counts[i + 1]  # activity up
    if layer.kind != "lru":
        per += counts[i - 1]  # error down
    return per


def fixed_out_axons(net: NetworkGraph, facts: RuleFacts, layer: Layer, counts: list[int]) -> int:
    """Output axons a core needs regardless of its length (softmax partials, worst slice)."""
    if layer.kind != "output" or facts.loss != "cross_entropy" or counts[layer.index] == 1:
        return 0
    return max(2 * (counts[layer.index] - 1), 2)  # root broadcasts 2 values to every other


def _describe_inputs(net: NetworkGraph, facts: RuleFacts, layer: Layer) -> str:
    i = layer.index
    parts = []
    if layer.kind == "lru":
        parts.append(f"{_fmt(net.arch.inputs)} input axons")
    else:
        below = net.layers[i - 1]
        parts.append(f"{_fmt(below.features)} activity values of {below.name}")
    if layer.kind != "output":
        above = net.layers[i + 1]
        parts.append(f"{_fmt(above.size)} errors of {above.name}")
    else:
        parts.append("targets, mask and softmax partials")
    return " + ".join(parts)


def partition(net: NetworkGraph, facts: RuleFacts, table: ResourceTable) -> list[LayerPlan]:
    """Slices for every layer; raises FitError with the numbers when something cannot fit."""
    layers = net.layers
    counts = [1] * len(layers)
    for _ in range(10_000):
        plans = [_plan_layer(net, facts, table, layer, counts) for layer in layers]
        new = [max(c, p.cores) for c, p in zip(counts, plans, strict=True)]
        if new == counts:
            _check_chips(table, sum(counts))
            return plans
        counts = new
    raise AssertionError("slice counts only grow and are bounded by layer sizes")


def _plan_layer(net: NetworkGraph, facts: RuleFacts, table: ResourceTable, layer: Layer,
                counts: list[int]) -> LayerPlan:
    n_slices = counts[layer.index]

    def usage(n: int) -> tuple[int, int, int, int]:
        buffers = slice_buffers(net, facts, table, layer, 0, n, ROOT, n_slices)
        comp, mem, inbox = memory_usage(buffers, facts.lanes)
        out = n * out_axons_per_neuron(net, layer, counts)
        out += fixed_out_axons(net, facts, layer, counts)
        return comp, mem, inbox, out

    one, two = usage(1), usage(2)
    names = ("compartments", "memory_bits", "input_axons", "output_axons")
    capacity, limited_by = layer.size, "layer size"
    for key, u1, u2 in zip(names, one, two, strict=True):
        limit = table[LIMITS[key]]
        per = u2 - u1
        fixed = u1 - per
        if per == 0:
            if fixed > limit:
                _raise_fixed(net, facts, table, layer, key, fixed, limit)
            continue
        cap = (limit - fixed) // per
        if cap < 1:
            _raise_neuron(net, facts, table, layer, key, u1, limit, counts)
        if cap < capacity:
            capacity, limited_by = cap, key
    cores = -(-layer.size // capacity)
    return LayerPlan(layer, split(layer.size, cores), capacity, limited_by)


def _raise_fixed(net: NetworkGraph, facts: RuleFacts, table: ResourceTable, layer: Layer,
                 key: str, need: int, limit: int) -> None:
    if key == "input_axons":
        raise FitError(
            f"does not fit on {table.name}: every core of layer {layer.name} "
            f"({_fmt(layer.size)} neurons) receives {_fmt(need)} input axons "
            f"({_describe_inputs(net, facts, layer)}) but a core has {_fmt(limit)} "
            f"(input_axons_per_core). Dense layers are not split by their inputs, so make "
            f"this layer's neighbours narrower or override input_axons_per_core."
        )
    raise FitError(f"does not fit on {table.name}: layer {layer.name} needs {_fmt(need)} "
                   f"{key.replace('_', ' ')} per core, limit {_fmt(limit)}")


def _raise_neuron(net: NetworkGraph, facts: RuleFacts, table: ResourceTable, layer: Layer,
                  key: str, need: int, limit: int, counts: list[int]) -> None:
    where = f"does not fit on {table.name}: layer {layer.name} ({_fmt(layer.size)} neurons): "
    if key == "memory_bits":
        buffers = slice_buffers(net, facts, table, layer, 0, 1, ROOT, counts[layer.index])
        parts = ", ".join(f"{kind} {_fmt(bits)}"
                          for kind, bits in memory_breakdown(buffers, facts.lanes).items())
        raise FitError(
            f"{where}one neuron needs {_fmt(need)} bits of synaptic memory ({parts}; "
            f"{facts.lanes} lane(s)) but a core has {_fmt(limit)} bits (synaptic_memory_bits)"
        )
    if key == "compartments":
        raise FitError(
            f"{where}one neuron needs {_fmt(need)} compartments ({facts.lanes} lane(s)) "
            f"but a core has {_fmt(limit)} (compartments_per_core)"
        )
    if key == "output_axons":
        raise FitError(
            f"{where}one neuron sends to {_fmt(need)} (compartment, core) pairs because its "
            f"neighbour layers occupy {', '.join(map(str, counts))} cores, but a core has "
            f"{_fmt(limit)} output axons (output_axons_per_core)"
        )
    raise FitError(f"{where}one neuron needs {_fmt(need)} {key.replace('_', ' ')}, "
                   f"limit {_fmt(limit)}")


def _check_chips(table: ResourceTable, cores: int) -> None:
    chips = -(-cores // table.cores_per_chip)
    if chips > table["max_chips"]:
        raise FitError(
            f"does not fit on {table.name}: the network needs {_fmt(cores)} cores = "
            f"{_fmt(chips)} chips of {table.cores_per_chip} cores, but the largest "
            f"{table.name} system has {_fmt(table['max_chips'])} chips (max_chips)"
        )
