"""What a compiled network is: per-core memories, per-core op lists, and message channels.

This module is the contract between the compiler and whatever executes the result (the
hwsim simulator, a Lava backend). It depends on the standard library and numpy only, so an
executor can load an artifact without importing the compiler's passes.

Execution model (docs/compiler.md has the formulas of every op kind):

* A program runs in **phases** (reset, predict, infer x K, backprop, learn, advance, apply).
  Each phase is a sequence of **stages** separated by barriers. In a stage every core runs
  its ops of that stage in list order; a ``send`` op copies the source ranges of its channels,
  and those values arrive in the destination cores' inbox buffers at the end of the stage.
* Every op names its operands by **role**; a role's value is a buffer name of the same core
  (or, for roles marked ``parts``/``concat``, a list of names). The op's semantics are a
  function of its operands and ``params`` only, so the operands are a complete declaration
  of what it reads and writes, and a verifier can prove locality from them.
* Buffers marked ``per_lane`` hold one copy per concurrently running sequence (lane);
  others (weights, accumulators, optimizer state) are shared by all lanes, and ops that
  accumulate into them sum the contributions of every lane.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

FORMAT_VERSION = 2

# buffer kinds
COMPARTMENT = "compartment"  # neuron state value, per lane; counts against compartments
REGISTER = "register"  # per-lane scratch of a compartment (dendritic current, activity)
INBOX = "inbox"  # per-lane values delivered by channels (one input axon each)
WEIGHT = "weight"  # synaptic weights, shared
PARAM = "param"  # per-neuron parameters (bias, nu, theta, gamma_log), shared
TRACE = "trace"  # eligibility traces, per lane
ACCUMULATOR = "accumulator"  # summed descent directions, shared
OPTIMIZER = "optimizer"  # optimizer moments, shared

KINDS = (COMPARTMENT, REGISTER, INBOX, WEIGHT, PARAM, TRACE, ACCUMULATOR, OPTIMIZER)
PER_LANE_KINDS = (COMPARTMENT, REGISTER, INBOX, TRACE)
VALUE_KINDS = (COMPARTMENT, REGISTER, INBOX)
STORED_KINDS = (WEIGHT, PARAM)

#: Phases the compiler emits, in the order they run within a sequence; ``repeat`` of
#: ``infer`` is K. Executors follow ``Program.phases`` and each phase's ``when``.
PHASE_ORDER = ("reset", "predict", "infer", "backprop", "learn", "advance", "apply")

HOST = -1  # source core id of channels fed by the host (inputs, targets, masks)


@dataclass(frozen=True)
class Binding:
    """Which global array a buffer is a block of, so executors can load initial values and
    compare every state array with the numpy reference.

    space: ``param`` (reference parameter, e.g. W0, B_re, nu), ``update`` (accumulated
    descent direction of that parameter), ``adam_m``/``adam_v`` (optimizer moments),
    ``trace`` (tPC-RTRL traces: ``lam``, ``gam``, ``B``), ``state`` (``h``, ``mu``, ``x``,
    ``eps``, ``act`` of value layer ``layer``). ``part`` is ``re``/``im`` for the two
    compartments of a complex unit. The block is ``array[rows[0]:rows[1], cols[0]:cols[1]]``
    (``cols`` None for vectors), transposed when ``transpose`` is set; ``copy`` marks the
    feedback copy of a weight whose primary lives on another core.
    """

    space: str
    name: str
    rows: tuple[int, int]
    cols: tuple[int, int] | None = None
    part: str | None = None
    layer: int | None = None
    transpose: bool = False
    copy: bool = False

    @property
    def key(self) -> BindingKey:
        """Which global array this block belongs to: (space, name, part, layer, copy)."""
        return (self.space, self.name, self.part, self.layer, self.copy)

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "name": self.name, "rows": list(self.rows),
                "cols": list(self.cols) if self.cols else None, "part": self.part,
                "layer": self.layer, "transpose": self.transpose, "copy": self.copy}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Binding:
        return cls(d["space"], d["name"], tuple(d["rows"]),
                   tuple(d["cols"]) if d["cols"] is not None else None,
                   d["part"], d["layer"], d["transpose"], d["copy"])


@dataclass(frozen=True)
class Buffer:
    """A named array in one core's memory. ``shape`` excludes the lane dimension."""

    name: str
    kind: str
    shape: tuple[int, ...]
    bits: int
    binding: Binding | None = None

    @property
    def per_lane(self) -> bool:
        return self.kind in PER_LANE_KINDS

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape),
                "bits": self.bits,
                "binding": self.binding.to_dict() if self.binding else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Buffer:
        return cls(d["name"], d["kind"], tuple(d["shape"]), d["bits"],
                   Binding.from_dict(d["binding"]) if d["binding"] else None)


def bound_block(array: np.ndarray, binding: Binding) -> np.ndarray:
    """The block of a global array (reference layout) that a buffer bound by ``binding``
    holds, in the buffer's layout: the inverse of ``assemble_bound`` for one buffer, which
    backends use to load parameters and restore optimizer moments from a checkpoint."""
    b = binding
    block = array[b.rows[0]:b.rows[1]] if b.cols is None else array[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
    return np.asarray(block.T if b.transpose else block, dtype=np.float64)


def restored_blocks(program: Program, optimizer_state: Mapping[str, Mapping[str, np.ndarray]],
                    copies: Mapping[str, Mapping[str, np.ndarray]] | None = None
                    ) -> Iterator[tuple[int, Buffer, np.ndarray]]:
    """(core, buffer, block) for everything a checkpoint restores besides the parameters
    themselves (``Backend.restore``): feedback copies as they were (a copy is updated on its
    own core and can differ from its primary in the last bit) and optimizer moments. Every
    backend loads the parameters first, in its number format, then these blocks over them."""
    for core in program.cores:
        for buf in core.buffers.values():
            b = buf.binding
            if b is None:
                continue
            if b.copy and copies and b.name in copies.get(b.space, {}):
                yield core.core, buf, bound_block(copies[b.space][b.name], b)
            elif b.name in optimizer_state.get(b.space, {}):
                yield core.core, buf, bound_block(optimizer_state[b.space][b.name], b)


#: (space, name, part, layer, copy): which global array a binding is a block of
BindingKey = tuple[str, str, str | None, int | None, bool]


def bound_buffers(program: Program) -> dict[BindingKey, list[tuple[int, Buffer]]]:
    """(core id, buffer) of every buffer bound to a global array, by the array's key: what an
    executor's ``read`` assembles (``assemble_bound``), found once rather than by going
    through every buffer of the program on every read."""
    bound: dict[BindingKey, list[tuple[int, Buffer]]] = {}
    for core in program.cores:
        for buf in core.buffers.values():
            if buf.binding is not None:
                bound.setdefault(buf.binding.key, []).append((core.core, buf))
    return bound


def bound_extents(program: Program) -> dict[BindingKey, tuple[int, ...]]:
    """The shape of every global array some buffer of ``program`` is bound to (the largest
    stop over its blocks), so a caller can read each one whole (``assemble_bound``,
    ``Backend.read``) without knowing the network."""
    extents: dict[BindingKey, tuple[int, ...]] = {}
    for key, blocks in bound_buffers(program).items():
        stops = [[b.rows[1]] + ([b.cols[1]] if b.cols else []) for b in (buf.binding for _, buf in blocks)]
        extents[key] = tuple(max(stop[axis] for stop in stops) for axis in range(len(stops[0])))
    return extents


def assemble_bound(blocks: Iterable[tuple[int, Buffer]], value_of: Callable[[int, str], np.ndarray], lanes: int,
                   key: BindingKey, shape: tuple[int, ...]) -> np.ndarray:
    """One global array (the reference's layout) from the buffers bound to it (``blocks``:
    (core, buffer) as ``bound_buffers`` gives them for ``key``), each read by ``value_of(core,
    buffer name)``, so any executor of a program can be compared with the reference array by
    array; per-lane arrays get a leading lane axis. Raises KeyError if nothing is bound to it."""
    out = None
    for core, buf in blocks:
        b = buf.binding
        if out is None:
            out = np.full(((lanes, *shape) if buf.per_lane else shape), np.nan)
        lead = (slice(None),) if buf.per_lane else ()
        value = value_of(core, buf.name)
        block = np.swapaxes(value, -1, -2) if b.transpose else value
        if b.cols is None:
            out[lead + (slice(*b.rows),)] = block
        else:
            out[lead + (slice(*b.rows), slice(*b.cols))] = block
    if out is None:
        space, name, part, layer, copy = key
        raise KeyError(f"no buffer is bound to {space} {name} part={part} layer={layer} copy={copy}")
    return out


#: the optimizer's state arrays, one per parameter (Adam's moments)
OPTIMIZER_SPACES = ("adam_m", "adam_v")


def optimizer_moments(bound: Mapping[BindingKey, object], read: Callable[[str, str, tuple[int, ...]], np.ndarray],
                      params: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Every optimizer moment bound in a program (``bound``: ``bound_buffers``' keys), read
    whole by an executor's ``read(space, name, shape)`` in its parameter's shape; empty for SGD."""
    state: dict[str, dict[str, np.ndarray]] = {space: {} for space in OPTIMIZER_SPACES}
    for space, name, *_ in bound:
        if space in state and name not in state[space]:
            state[space][name] = read(space, name, params[name].shape)
    return state


Operand = str | tuple[str, ...]


@dataclass(frozen=True)
class Op:
    """One operation of a core's program.

    ``inputs``/``outputs`` map roles to buffer names; ``channels`` (``send`` only) are
    half-open ranges of channel ids whose source is this core.
    """

    kind: str
    stage: int
    inputs: dict[str, Operand]
    outputs: dict[str, Operand]
    params: dict[str, Any] = field(default_factory=dict)
    channels: tuple[tuple[int, int], ...] = ()

    @property
    def reads(self) -> list[str]:
        return _flatten(self.inputs.values())

    @property
    def writes(self) -> list[str]:
        return _flatten(self.outputs.values())

    def channel_ids(self) -> np.ndarray:
        if not self.channels:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in self.channels])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "stage": self.stage,
                             "inputs": {k: _jsonable(v) for k, v in self.inputs.items()},
                             "outputs": {k: _jsonable(v) for k, v in self.outputs.items()}}
        if self.params:
            d["params"] = self.params
        if self.channels:
            d["channels"] = [list(r) for r in self.channels]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Op:
        return cls(d["kind"], d["stage"],
                   {k: _operand(v) for k, v in d["inputs"].items()},
                   {k: _operand(v) for k, v in d["outputs"].items()},
                   dict(d.get("params", {})),
                   tuple(tuple(r) for r in d.get("channels", [])))


def _flatten(values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend([v] if isinstance(v, str) else list(v))
    return out


def _jsonable(v: Operand) -> str | list[str]:
    return v if isinstance(v, str) else list(v)


def _operand(v: str | list[str]) -> Operand:
    return v if isinstance(v, str) else tuple(v)


@dataclass
class CoreProgram:
    """One core: the slice of one layer it holds, its memory and its ops per phase."""

    core: int
    layer: str
    layer_index: int
    start: int
    stop: int
    slice_index: int
    buffers: dict[str, Buffer]
    phases: dict[str, list[Op]]

    @property
    def neurons(self) -> int:
        return self.stop - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"core": self.core, "layer": self.layer, "layer_index": self.layer_index,
                "start": self.start, "stop": self.stop, "slice_index": self.slice_index,
                "buffers": [b.to_dict() for b in self.buffers.values()],
                "phases": {p: [op.to_dict() for op in ops] for p, ops in self.phases.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CoreProgram:
        buffers = [Buffer.from_dict(b) for b in d["buffers"]]
        return cls(d["core"], d["layer"], d["layer_index"], d["start"], d["stop"],
                   d["slice_index"], {b.name: b for b in buffers},
                   {p: [Op.from_dict(o) for o in ops] for p, ops in d["phases"].items()})


#: Columns of the channel table (numpy arrays of equal length, one row per channel).
CHANNEL_COLUMNS = ("src", "dst", "src_buffer", "src_start", "dst_buffer", "dst_start",
                   "length", "kind")


@dataclass
class Channels:
    """Every static message route: ``length`` values from ``src_buffer[src_start:]`` on core
    ``src`` (or the host stream of that name when ``src`` is HOST) to
    ``dst_buffer[dst_start:]`` on core ``dst``. Buffer names and kinds are indices into the
    ``names`` string table, so millions of channels stay compact numpy arrays."""

    src: np.ndarray
    dst: np.ndarray
    src_buffer: np.ndarray
    src_start: np.ndarray
    dst_buffer: np.ndarray
    dst_start: np.ndarray
    length: np.ndarray
    kind: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return int(self.src.shape[0])

    def name(self, index: int) -> str:
        return self.names[int(index)]

    def arrays(self) -> dict[str, np.ndarray]:
        d = {c: getattr(self, c) for c in CHANNEL_COLUMNS}
        d["names"] = np.array(self.names, dtype=str)
        return d

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> Channels:
        return cls(*(np.asarray(d[c]) for c in CHANNEL_COLUMNS), names=[str(n) for n in d["names"]])


PhaseWhen = Literal["sequence_start", "step", "step_with_loss", "sequence_end"]
#: when a phase runs: at the start of every sequence, at every time step, after every
#: training step that carries loss (online updates), or once at the end of a sequence
PHASE_WHEN: tuple[str, ...] = ("sequence_start", "step", "step_with_loss", "sequence_end")


@dataclass(frozen=True)
class Phase:
    """A phase of the step loop, in the order phases of the same ``when`` run.

    ``train_only``: skipped when a program only evaluates (inference, backprop, learning,
    apply). ``idle_without_loss``: at a training step where no lane carries loss the phase
    changes no value (every error is exactly 0), so an executor may charge the counts of an
    earlier such step instead of running it again. ``outputs``: the output layer's prediction
    and loss registers are read after this phase.
    """

    name: str
    repeat: int
    when: PhaseWhen
    stages: int
    train_only: bool = False
    idle_without_loss: bool = False
    outputs: bool = False

    def __post_init__(self) -> None:
        if self.when not in PHASE_WHEN:
            raise ValueError(f"phase {self.name}: unknown 'when' {self.when!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LayerFacts:
    """One layer of the network as the program lays it out."""

    name: str
    index: int
    kind: str
    size: int
    parts: int
    cores: int
    first_core: int


@dataclass(frozen=True)
class OptimizerSettings:
    name: str
    lr: float
    beta1: float
    beta2: float
    epsilon: float


@dataclass(frozen=True)
class TaskContract:
    """The task a program is trained on, as data: ``params`` is the spec's task section
    (``name`` and its fields), which ``neuropc.tasks`` turns back into a Task."""

    name: str
    params: dict[str, Any]
    sequence_length: int
    description: str


@dataclass(frozen=True)
class RunDefaults:
    """The run the spec asked for (a simulation may override steps and batch)."""

    steps: int
    batch: int
    seed: int
    eval_every: int
    eval_sequences: int


@dataclass(frozen=True)
class ProgramSettings:
    """Every fact about a program that an executor or a runner needs besides its cores and
    channels, typed, so nothing downstream re-reads the spec.

    ``threshold_groups`` maps each channel kind to the population whose delta-coding
    threshold it travels at (``thresholds``: population -> default threshold);
    ``update``: ``sequence`` applies once per batch, ``online`` after every step with loss.
    """

    rule: str
    loss: str
    activation: str
    iterations: int
    step: float
    fixed_prediction: bool
    carry: str
    update: str
    optimizer: OptimizerSettings
    complex: bool
    learn_gamma: bool
    inputs: int
    outputs: int
    layers: tuple[LayerFacts, ...]
    threshold_groups: dict[str, str]
    thresholds: dict[str, float]
    number_format: str
    task: TaskContract
    run: RunDefaults
    stages_per_step: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProgramSettings:
        return cls(**{**d, "optimizer": OptimizerSettings(**d["optimizer"]),
                      "layers": tuple(LayerFacts(**x) for x in d["layers"]),
                      "task": TaskContract(**d["task"]), "run": RunDefaults(**d["run"])})

    def threshold_group(self, channel_kind: str) -> str:
        """The population a channel kind's values are thresholded as (KeyError if none)."""
        return self.threshold_groups[channel_kind]


@dataclass
class Program:
    """All cores of a compiled network plus the global facts an executor needs."""

    phases: list[Phase]
    cores: list[CoreProgram]
    channels: Channels
    lanes: int
    host_inputs: dict[str, int]  # host stream -> values per lane per step
    settings: ProgramSettings

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"lanes": self.lanes, "host_inputs": self.host_inputs,
                "settings": self.settings.to_dict(), "phases": [p.to_dict() for p in self.phases],
                "cores": [c.to_dict() for c in self.cores]}

    @classmethod
    def from_dict(cls, d: dict[str, Any], channels: Channels) -> Program:
        return cls([Phase(**p) for p in d["phases"]],
                   [CoreProgram.from_dict(c) for c in d["cores"]],
                   channels, d["lanes"], dict(d["host_inputs"]),
                   ProgramSettings.from_dict(d["settings"]))

    def phases_when(self, when: str) -> list[Phase]:
        """The phases that run at ``when``, in order."""
        return [p for p in self.phases if p.when == when]
