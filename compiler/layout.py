"""Memory layout of one core: the buffers a slice of a layer needs, and what they cost.

The partitioner sizes slices with the same function the scheduler uses to lay them out, so
the per-neuron costs it packs against are the buffers that will exist, not an estimate of
them. Costs are affine in the slice length (a fixed part for inboxes and reduction
registers, a per-neuron part for everything else), which is what lets the partitioner
solve for the largest slice that fits instead of searching.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.graph import Layer, NetworkGraph
from compiler.program import (
    ACCUMULATOR,
    COMPARTMENT,
    INBOX,
    OPTIMIZER,
    PARAM,
    REGISTER,
    TRACE,
    WEIGHT,
    Binding,
    Buffer,
)
from compiler.targets import ResourceTable
from neuropc.errors import FieldProblem
from neuropc.spec.schema import NetworkSpec

ROOT = 0  # slice index of the output slice that combines the softmax normaliser


@dataclass(frozen=True)
class RuleFacts:
    """The settings of a spec that change what a core stores or runs."""

    rule: str
    pc: bool  # predictive-coding inference (tpc, tpc-rtrl)
    fixed_prediction: bool
    rtrl: bool
    complex: bool
    learn_gamma: bool
    loss: str
    carry: str
    update: str
    optimizer: str
    lr: float
    iterations: int
    step: float
    activation: str
    lanes: int

    @classmethod
    def from_spec(cls, spec: NetworkSpec) -> RuleFacts:
        rule = spec.rule
        if rule.uses_inference and rule.inference.output_precision != 1.0:
            raise FieldProblem("rule.inference.output_precision",
                               f"the compiler and hwsim support only 1 so far (got "
                               f"{rule.inference.output_precision:g}); the numpy reference "
                               f"(neuropc train) runs other values")
        return cls(
            rule=rule.name, pc=rule.uses_inference,
            fixed_prediction=rule.inference.fixed_prediction, rtrl=rule.name == "tpc-rtrl",
            complex=spec.recurrent.complex, learn_gamma=spec.recurrent.gamma == "learned",
            loss=spec.loss, carry=rule.carry, update=rule.update,
            optimizer=rule.optimizer.name, lr=rule.optimizer.lr,
            iterations=rule.inference.iterations if rule.uses_inference else 0,
            step=rule.inference.step, activation=spec.readout.activation,
            # online updates need every sequence of a batch in lockstep (one lane each);
            # sequence updates let sequences run one after another into one accumulator
            lanes=spec.run.batch if rule.update == "online" else 1,
        )

    @property
    def moving_point(self) -> bool:
        """Derivatives and presynaptic activity taken at the inferred values (not fixed)."""
        return self.pc and not self.fixed_prediction

    def parts(self, layer: Layer) -> list[str]:
        return [".re", ".im"] if layer.parts == 2 else [""]


def _part(suffix: str) -> str | None:
    return suffix[1:] if suffix else None


class _Builder:
    def __init__(self, table: ResourceTable, facts: RuleFacts) -> None:
        self.table = table
        self.facts = facts
        self.buffers: dict[str, Buffer] = {}

    def add(self, name: str, kind: str, shape: tuple[int, ...],
            binding: Binding | None = None) -> None:
        bits = {COMPARTMENT: "state_bits", REGISTER: "state_bits", INBOX: "state_bits",
                WEIGHT: "weight_bits", PARAM: "param_bits", TRACE: "trace_bits",
                ACCUMULATOR: "accumulator_bits", OPTIMIZER: "optimizer_bits"}[kind]
        self.buffers[name] = Buffer(name, kind, shape, self.table[bits], binding)

    def learnable(self, name: str, kind: str, shape: tuple[int, ...], binding: Binding,
                  trainable: bool = True) -> None:
        """A stored parameter block and, if it learns, its accumulator and optimizer moments."""
        self.add(name, kind, shape, binding)
        if not trainable:
            return
        update = Binding("update", binding.name, binding.rows, binding.cols, binding.part,
                         None, binding.transpose, binding.copy)
        self.add(f"acc.{name}", ACCUMULATOR, shape, update)
        if self.facts.optimizer == "adam":
            for moment in ("m", "v"):
                b = Binding(f"adam_{moment}", binding.name, binding.rows, binding.cols,
                            binding.part, None, binding.transpose, binding.copy)
                self.add(f"{moment}.{name}", OPTIMIZER, shape, b)


def slice_buffers(net: NetworkGraph, facts: RuleFacts, table: ResourceTable, layer: Layer,
                  start: int, stop: int, slice_index: int, n_slices: int) -> dict[str, Buffer]:
    """Every buffer of the core holding neurons [start, stop) of ``layer``."""
    n = stop - start
    rows = (start, stop)
    b = _Builder(table, facts)
    layers = net.layers
    i = layer.index

    def state(name: str, kind: str, suffix: str = "") -> None:
        b.add(f"{name}{suffix}", kind, (n,), Binding("state", name, rows, part=_part(suffix),
                                                      layer=i))

    if layer.kind == "lru":
        above = layers[1]
        m = net.arch.inputs
        for s in facts.parts(layer):
            state("h", COMPARTMENT, s)
            state("mu", COMPARTMENT, s)
            if facts.pc:
                state("x", COMPARTMENT, s)
            state("eps", COMPARTMENT, s)
            state("act", REGISTER, s)
            b.add(f"drive{s}", REGISTER, (n,))
            if facts.pc:
                b.add(f"fb{s}", REGISTER, (n,))
        b.add("in.u", INBOX, (m,))
        b.add("in.err", INBOX, (above.size,))
        b.learnable("nu", PARAM, (n,), Binding("param", "nu", rows))
        if facts.complex:
            b.learnable("theta", PARAM, (n,), Binding("param", "theta", rows))
        b.learnable("gamma_log", PARAM, (n,), Binding("param", "gamma_log", rows),
                    trainable=facts.learn_gamma)
        for k, s in enumerate(facts.parts(layer)):
            pname = ("B_re", "B_im")[k] if facts.complex else "B"
            b.learnable(f"B{s}", WEIGHT, (n, m), Binding("param", pname, rows, (0, m)))
            # feedback copy: columns of W0 that read this slice's features, transposed
            cols = (start + k * layer.size, stop + k * layer.size)
            b.learnable(f"WT{s}", WEIGHT, (n, above.size),
                        Binding("param", "W0", (0, above.size), cols, transpose=True,
                                copy=True))
            if facts.rtrl:
                b.add(f"eB{s}", TRACE, (n, m), Binding("trace", "B", rows, (0, m), _part(s)))
                b.add(f"elam{s}", TRACE, (n,), Binding("trace", "lam", rows, part=_part(s)))
                if facts.learn_gamma:
                    b.add(f"egam{s}", TRACE, (n,), Binding("trace", "gam", rows,
                                                           part=_part(s)))
        return b.buffers

    below = layers[i - 1]
    state("mu", COMPARTMENT)
    if facts.pc and layer.kind == "hidden":
        state("x", COMPARTMENT)
    state("eps", COMPARTMENT)
    b.add("in.act", INBOX, (below.features,))
    b.learnable("W", WEIGHT, (n, below.features),
                Binding("param", f"W{i - 1}", rows, (0, below.features)))
    b.learnable("b", PARAM, (n,), Binding("param", f"b{i - 1}", rows))
    if layer.kind == "hidden":
        above = layers[i + 1]
        state("act", REGISTER)
        b.add("fb", REGISTER, (n,))
        if facts.pc:
            b.add("g", REGISTER, (n,))
        b.add("in.err", INBOX, (above.size,))
        b.learnable("WT", WEIGHT, (n, above.size),
                    Binding("param", f"W{i}", (0, above.size), rows, transpose=True, copy=True))
        return b.buffers

    # output layer
    b.add("loss", REGISTER, ())
    b.add("in.mask", INBOX, ())
    if facts.loss == "squared_error":
        b.add("in.target", INBOX, (n,))
        return b.buffers
    b.add("in.target", INBOX, ())
    b.add("lmax", REGISTER, ())
    b.add("lsum", REGISTER, ())
    root = slice_index == ROOT
    b.add("gmax", REGISTER if root else INBOX, ())
    b.add("logz", REGISTER if root else INBOX, ())
    if root and n_slices > 1:
        b.add("in.lmax", INBOX, (n_slices - 1,))
        b.add("in.lsum", INBOX, (n_slices - 1,))
    return b.buffers


@dataclass(frozen=True)
class Usage:
    """What one core uses of each limited resource."""

    compartments: int
    memory_bits: int
    input_axons: int
    output_axons: int

    def as_dict(self) -> dict[str, int]:
        return {"compartments": self.compartments, "memory_bits": self.memory_bits,
                "input_axons": self.input_axons, "output_axons": self.output_axons}


LIMITS = {"compartments": "compartments_per_core", "memory_bits": "synaptic_memory_bits",
          "input_axons": "input_axons_per_core", "output_axons": "output_axons_per_core"}


def memory_usage(buffers: dict[str, Buffer], lanes: int) -> tuple[int, int, int]:
    """(compartments, synaptic-memory bits, inbox values) of a core's buffers.

    Per-lane state is replicated per lane; weights, accumulators and optimizer moments are
    shared. Registers are the dendritic current / activity registers that a compartment
    already has, so they take no compartment of their own; inbox values are counted as
    input axons (a delivered value persists like Loihi's per-axon presynaptic trace).
    """
    compartments = memory = inbox = 0
    for buf in buffers.values():
        if buf.kind == COMPARTMENT:
            compartments += buf.size * lanes
        elif buf.kind == INBOX:
            inbox += buf.size
        elif buf.kind != REGISTER:
            memory += buf.size * buf.bits * (lanes if buf.per_lane else 1)
    return compartments, memory, inbox


def memory_breakdown(buffers: dict[str, Buffer], lanes: int) -> dict[str, int]:
    """Synaptic-memory bits by buffer kind, for fit errors and reports."""
    out: dict[str, int] = {}
    for buf in buffers.values():
        if buf.kind in (COMPARTMENT, REGISTER, INBOX):
            continue
        out[buf.kind] = out.get(buf.kind, 0) + buf.size * buf.bits * (
            lanes if buf.per_lane else 1)
    return out
