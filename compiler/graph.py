"""The IR: a population-level network graph lowered from a validated spec.

Nodes are populations (the value, prediction and error compartments of each layer, the
LRU's carried state, the activity a layer sends, and the host's input axons); edges are
synapse groups (forward weights, the transposed feedback copies that carry errors down, the
LRU's input weights and diagonal recurrence) and the local wiring between compartments.
Every node and edge is a small frozen dataclass and every edge's shape is checked against
its endpoints when the graph is built, so a later pass can trust sizes without re-deriving
them. Nothing here is per synapse: a 15 M-parameter network is a graph of a few dozen nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from neuropc.errors import NeuropcError
from neuropc.reference.network import Architecture
from neuropc.spec.schema import NetworkSpec


class ShapeError(NeuropcError):
    """A synapse group whose shape does not match the populations it connects."""


@dataclass(frozen=True)
class Layer:
    """Neurons that share an index space and are sliced together onto cores.

    ``parts`` compartments hold each quantity of one neuron (2 for a complex LRU unit: re
    and im). ``index`` is the reference's layer number: 0 the LRU state, 1..L-1 the hidden
    readout layers, L the output.
    """

    name: str
    index: int
    kind: str  # lru | hidden | output
    size: int
    parts: int

    @property
    def features(self) -> int:
        """Values this layer sends up (its activity): [Re h, Im h] for a complex LRU."""
        return self.size * self.parts


@dataclass(frozen=True)
class Population:
    """A group of compartments (or host axons) of one layer with one role."""

    name: str
    layer: str  # layer name, or "host" for input axons
    role: str  # state | prediction | value | error | activity | input | target | mask
    size: int
    parts: int = 1

    @property
    def compartments(self) -> int:
        return self.size * self.parts


@dataclass(frozen=True)
class SynapseGroup:
    """Connections from ``pre`` to ``post``; weights are stored with the post neurons.

    ``shape`` is (post features, pre features) for dense groups, (units,) for the diagonal
    recurrence and () for wiring without weights. ``planes`` is 2 for complex weights (B_re,
    B_im). ``params`` are the reference parameter names stored here; ``traces`` the
    eligibility traces tPC-RTRL keeps (per synapse for ``B``, per unit for the recurrence).
    """

    name: str
    kind: str  # dense | feedback | diagonal | one_to_one | reduce
    pre: str
    post: str
    shape: tuple[int, ...]
    planes: int = 1
    params: tuple[str, ...] = ()
    trainable: tuple[str, ...] = ()
    traces: tuple[str, ...] = ()
    copy_of: str | None = None

    @property
    def synapses(self) -> int:
        if self.kind == "dense" or self.kind == "feedback":
            return self.shape[0] * self.shape[1]
        return 0


@dataclass
class NetworkGraph:
    """Populations and synapse groups of one network, plus the rule facts passes need."""

    spec: NetworkSpec
    arch: Architecture
    layers: list[Layer]
    graph: nx.MultiDiGraph

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def populations(self) -> list[Population]:
        return [data["pop"] for _, data in self.graph.nodes(data=True)]

    def population(self, name: str) -> Population:
        return self.graph.nodes[name]["pop"]

    def groups(self) -> list[SynapseGroup]:
        return [data["group"] for _, _, data in self.graph.edges(data=True)]

    def group(self, name: str) -> SynapseGroup:
        return next(g for g in self.groups() if g.name == name)

    def parameter_count(self) -> int:
        """Trainable scalars stored as primaries (feedback copies are not parameters)."""
        total = 0
        for g in self.groups():
            if g.copy_of is not None:
                continue
            for name in g.trainable:
                total += _param_size(self, g, name)
        return total


def _param_size(net: NetworkGraph, group: SynapseGroup, name: str) -> int:
    if group.kind == "dense":
        if name.startswith("b"):
            return group.shape[0]
        return group.shape[0] * group.shape[1]
    return group.shape[0]


def layer_names(arch: Architecture) -> list[str]:
    """lru, hidden1..hidden{L-1}, output: indices match the reference's ``eps[l]``."""
    return ["lru"] + [f"hidden{i}" for i in range(1, arch.value_layers)] + ["output"]


def _add_group(g: nx.MultiDiGraph, group: SynapseGroup) -> None:
    pre: Population = g.nodes[group.pre]["pop"]
    post: Population = g.nodes[group.post]["pop"]
    if group.kind in ("dense", "feedback"):
        expected = (post.compartments, pre.compartments)
        if group.kind == "dense" and group.planes == 2:
            expected = (post.size, pre.compartments)  # complex weights act on unit rows
        if tuple(group.shape) != expected:
            raise ShapeError(
                f"synapse group {group.name} ({group.pre} -> {group.post}) has shape "
                f"{group.shape}, but its populations need {expected}"
            )
    elif group.kind in ("diagonal", "one_to_one"):
        if pre.size != post.size or (group.shape and group.shape != (post.size,)):
            raise ShapeError(
                f"synapse group {group.name} ({group.pre} -> {group.post}) is one-to-one but "
                f"connects {pre.size} to {post.size} neurons"
            )
    g.add_edge(group.pre, group.post, key=group.name, group=group)


def lower(spec: NetworkSpec) -> NetworkGraph:
    """Build the population graph of ``spec`` for its learning rule.

    bptt is refused here (not later) because no per-core program can express it; the other
    rules differ only in which compartments and traces exist.
    """
    rule = spec.rule
    if rule.name == "bptt":
        raise NeuropcError(
            "rule 'bptt' cannot be compiled for a neuromorphic target: its gradient needs the "
            "activations of all T steps stored and an error pass that runs backward in time "
            "(reverse-time traffic), so no core program with fixed local memory can express "
            "it. It stays available as the reference (rule.name: bptt with `neuropc train`); "
            "compile rule tpc-rtrl, which gives the same gradient with per-synapse traces."
        )
    arch = Architecture.from_spec(spec)
    pc = rule.uses_inference
    rtrl = rule.name == "tpc-rtrl"
    parts = 2 if arch.complex else 1
    names = layer_names(arch)
    sizes = [arch.state, *arch.hidden, arch.outputs]
    layers = [Layer(names[0], 0, "lru", arch.state, parts)]
    layers += [Layer(names[i], i, "hidden", sizes[i], 1) for i in range(1, arch.value_layers)]
    layers.append(Layer(names[-1], arch.value_layers, "output", arch.outputs, 1))

    g = nx.MultiDiGraph()

    def pop(p: Population) -> None:
        g.add_node(p.name, pop=p)

    pop(Population("input", "host", "input", arch.inputs))
    target_size = 1 if arch.loss == "cross_entropy" else arch.outputs
    pop(Population("target", "host", "target", target_size))
    pop(Population("mask", "host", "mask", 1))
    for layer in layers:
        if layer.kind == "lru":
            pop(Population("lru.h", layer.name, "state", layer.size, parts))
        pop(Population(f"{layer.name}.mu", layer.name, "prediction", layer.size, layer.parts))
        if pc and layer.kind != "output":
            pop(Population(f"{layer.name}.x", layer.name, "value", layer.size, layer.parts))
        pop(Population(f"{layer.name}.eps", layer.name, "error", layer.size, layer.parts))
        if layer.kind != "output":
            pop(Population(f"{layer.name}.act", layer.name, "activity", layer.size,
                           layer.parts))

    lru = layers[0]
    b_names = ("B_re", "B_im") if arch.complex else ("B",)
    _add_group(g, SynapseGroup("B", "dense", "input", "lru.mu", (lru.size, arch.inputs),
                               planes=parts, params=b_names, trainable=b_names,
                               traces=("B",) if rtrl else ()))
    diag = ("nu", "theta", "gamma_log") if arch.complex else ("nu", "gamma_log")
    learned = tuple(n for n in diag if n != "gamma_log" or arch.learn_gamma)
    traces = ("lam", "gam") if arch.learn_gamma else ("lam",)
    _add_group(g, SynapseGroup("recurrence", "diagonal", "lru.h", "lru.mu", (lru.size,),
                               params=diag, trainable=learned, traces=traces if rtrl else ()))
    carry_src = "lru.x" if rule.carry == "inferred" else "lru.mu"
    _add_group(g, SynapseGroup("carry", "one_to_one", carry_src, "lru.h", ()))
    for layer in layers[:-1]:
        above = layers[layer.index + 1]
        w, b = f"W{layer.index}", f"b{layer.index}"
        _add_group(g, SynapseGroup(w, "dense", f"{layer.name}.act", f"{above.name}.mu",
                                   (above.size, layer.features), params=(w, b),
                                   trainable=(w, b)))
        down = f"{layer.name}.x" if pc else f"{layer.name}.eps"
        _add_group(g, SynapseGroup(f"{w}T", "feedback", f"{above.name}.eps", down,
                                   (layer.features, above.size), params=(w,), trainable=(w,),
                                   copy_of=w))
    for layer in layers:
        if pc and layer.kind != "output":
            _add_group(g, SynapseGroup(f"{layer.name}.error_value", "one_to_one",
                                       f"{layer.name}.x", f"{layer.name}.eps", ()))
        if layer.kind != "output":
            moving = pc and not rule.inference.fixed_prediction
            src = f"{layer.name}.x" if moving else f"{layer.name}.mu"
            _add_group(g, SynapseGroup(f"{layer.name}.activate", "one_to_one", src,
                                       f"{layer.name}.act", ()))
    out = layers[-1]
    _add_group(g, SynapseGroup("loss_target", "reduce" if target_size == 1 else "one_to_one",
                               "target", f"{out.name}.eps", ()))
    _add_group(g, SynapseGroup("loss_mask", "reduce", "mask", f"{out.name}.eps", ()))
    if arch.loss == "cross_entropy":
        _add_group(g, SynapseGroup("softmax", "reduce", f"{out.name}.mu", f"{out.name}.eps",
                                   ()))
    else:
        _add_group(g, SynapseGroup("output_error", "one_to_one", f"{out.name}.mu",
                                   f"{out.name}.eps", ()))
    net = NetworkGraph(spec, arch, layers, g)
    expected = sum(arch.parameter_count().values())
    if net.parameter_count() != expected:
        raise ShapeError(f"lowered graph holds {net.parameter_count()} trainable parameters, "
                         f"the reference network has {expected}")
    return net
