"""What one core does with its own memory, as docs/hwsim.md states the event rules.

Shared by the backends that execute a program op by op in numpy: the interpreter (all cores
in one Python object, delivery between them a function call) and the Lava backend (each core
in its own Lava process, delivery across Lava ports). Everything here is local to one core:
executing an op through ``compiler.op_semantics``, the sigma-delta synaptic accumulation of
a ``matvec``, delta-coding a send against the core's references, writing received values into
its inboxes, host inputs, the sequence-start and per-step resets, and every counting rule.
What crosses between cores is a ``Delivery``: a send group with the values it carries and,
per lane and value, whether a message was sent. How deliveries move is the backend's business.

The layout (``EventLayout``) is computed once from the whole program, because a core needs a
little global knowledge: which of its inboxes receive per-step errors (decided by the sending
core's buffer) and the hop count of every channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.op_semantics import SEMANTICS, ordered_matvec
from compiler.ops import OPS
from compiler.program import HOST, INBOX, Buffer, CoreProgram, Op, Program, bound_block
from hwsim.counters import FIELDS, WORK_KINDS
from hwsim.encode import per_step_source
from hwsim.number_format import NUMBER_FORMATS, FixedFormat, group_key, quantize

FIELD = {name: i for i, name in enumerate(FIELDS)}
KIND = {name: i for i, name in enumerate(WORK_KINDS)}
SYN_DENSE, SYN_EFFECTIVE, NEURON = "synaptic_ops_dense", "synaptic_ops_effective", "neuron_updates"
WEIGHT_UPDATES, TRACE_UPDATES = "learning_weight_updates", "learning_trace_updates"
MESSAGES, HOPS, READS, WRITES = "messages", "hops", "memory_reads", "memory_writes"

#: key of one send op: (phase name, index of the op in the core's list for that phase)
OpKey = tuple[str, int]


# -- storage -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Storage:
    """How a core stores a value in each of its buffers: unchanged (float64), as the nearest
    float32, or on the buffer's fixed-point grid (round to nearest, ties to even, saturate;
    ``hwsim.number_format``), the same rounding the native kernels apply, at the same
    moments: parameters loaded, every op's results, every delivered message, host inputs."""

    number_format: str
    formats: dict[str, FixedFormat]  # buffer name -> its group's format (fixed point only)

    @classmethod
    def of(cls, program: Program, core: int, number_format: str,
           formats: Mapping[tuple[str, str, str], FixedFormat] | None = None) -> Storage:
        if number_format not in NUMBER_FORMATS:
            raise ValueError(f"unknown number format {number_format!r}")
        spec = program.cores[core]
        if number_format != "fixed":
            return cls(number_format, {})
        if formats is None:
            raise ValueError("fixed point needs a format per buffer group")
        keys = {name: group_key(spec.layer, buf) for name, buf in spec.buffers.items()}
        missing = sorted({key for key in keys.values() if key not in formats})
        if missing:
            raise ValueError(f"core {core}: no fixed-point format for buffer group {missing[0]} "
                             f"(hwsim.runner.calibrate computes every group's format)")
        return cls(number_format, {name: formats[key] for name, key in keys.items()})

    def __call__(self, name: str, values: np.ndarray) -> np.ndarray:
        """``values`` as buffer ``name`` stores them."""
        if self.number_format == "float32":
            return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)
        if self.number_format == "fixed":
            return quantize(values, self.formats[name])
        return values


def lane_rows(array: np.ndarray, lanes: int) -> np.ndarray:
    """A per-lane buffer as a (lanes, values) view (a per-lane scalar becomes one column)."""
    return array.reshape(lanes, -1)


def host_block(inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, lanes: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block's host rows as float64 (T, lanes, M), (T, lanes, targets per lane) and
    (T, lanes); ValueError when the inputs are not laid out for ``lanes`` lanes."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 3 or inputs.shape[1] != lanes:
        raise ValueError(f"inputs must be (steps, {lanes} lanes, inputs), got {inputs.shape}")
    steps = inputs.shape[0]
    return (inputs, np.asarray(targets, dtype=np.float64).reshape(steps, lanes, -1),
            np.asarray(mask, dtype=np.float64).reshape(steps, lanes))


def block_results(steps: int, lanes: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroed loss (T, lanes), outputs (T, lanes, width) and per-step counts
    (T, lanes + 1, fields) of a block."""
    return (np.zeros((steps, lanes)), np.zeros((steps, lanes, width)),
            np.zeros((steps, lanes + 1, len(FIELDS)), np.int64))


def param_block(params: Mapping[str, np.ndarray], buf: Buffer) -> np.ndarray | None:
    """The initial value of a buffer bound to a parameter, in the buffer's layout (None for
    a buffer bound to no parameter)."""
    b = buf.binding
    if b is None or b.space != "param":
        return None
    return bound_block(params[b.name], b)


def allocate(core: CoreProgram, lanes: int) -> dict[str, np.ndarray]:
    """Zeroed memory for every buffer of a core (per-lane buffers get a leading lane axis)."""
    return {buf.name: np.zeros((lanes, *buf.shape) if buf.per_lane else buf.shape)
            for buf in core.buffers.values()}


# -- counting -----------------------------------------------------------------------------------

class EventCounter:
    """Counts per lane row (row ``lanes``: work the lanes share), core and field, and per kind
    of work (``WORK_KINDS``), as ``hwsim.backends.protocol`` specifies them."""

    def __init__(self, lanes: int, cores: int) -> None:
        self.lanes = lanes
        self.rows = np.zeros((lanes + 1, cores, len(FIELDS)), np.int64)
        self.by_kind = np.zeros((len(WORK_KINDS), len(FIELDS)), np.int64)
        self.totals = np.zeros((cores, len(FIELDS)), np.int64)

    def per_lane(self, kind: str, name: str, core: int, amount: np.ndarray | int) -> None:
        """Work each lane did (an amount per lane, or the same for every lane)."""
        amount = np.broadcast_to(np.asarray(amount, np.int64), (self.lanes,))
        self.rows[:self.lanes, core, FIELD[name]] += amount
        self.by_kind[KIND[kind], FIELD[name]] += int(amount.sum())

    def shared(self, kind: str, name: str, core: int, amount: int) -> None:
        self.rows[self.lanes, core, FIELD[name]] += amount
        self.by_kind[KIND[kind], FIELD[name]] += amount

    def add(self, rows: np.ndarray, by_kind: np.ndarray) -> None:
        """Counts taken elsewhere (another process's counter)."""
        self.rows += rows
        self.by_kind += by_kind

    def take(self) -> np.ndarray:
        out = self.rows.copy()
        self.rows[...] = 0
        self.totals += out.sum(axis=0)
        return out

    def take_by_kind(self) -> np.ndarray:
        out = self.by_kind.copy()
        self.by_kind[...] = 0
        return out

    def row_totals(self) -> np.ndarray:
        """Counts so far (since the last take) per lane row, summed over cores."""
        return self.rows.sum(axis=1)


# -- the message and synapse state the hardware keeps beside the program's buffers -----------

@dataclass(frozen=True)
class Destination:
    """Where one channel of a send group lands, and how many hops it travels."""

    channel: int
    core: int
    inbox: str
    start: int
    hops: int


@dataclass
class SendGroup:
    """Consecutive channels of one send op with the same source range: one source value, one
    message per destination. ``reference`` keys the last values sent on these channels."""

    core: int
    source: str
    start: int
    length: int
    population: str
    destinations: list[Destination]
    reference: tuple[int, ...]


@dataclass
class Reference:
    """The last value sent on a group of channels, per lane (the delta-coding reference)."""

    values: np.ndarray  # (lanes, length)
    per_step: bool  # carries per-step errors: restarts at 0 every training step


@dataclass
class SigmaDelta:
    """The hidden accumulator of one (weight, inbox) pair: acc = W @ seen, per lane."""

    acc: np.ndarray  # (lanes, rows)
    seen: np.ndarray  # (lanes, cols)
    stale: np.ndarray  # (lanes,) the weights changed since acc was computed
    per_step: bool  # reads an inbox of per-step errors


@dataclass
class HostChannel:
    stream: str
    start: int
    length: int
    destination: Destination


@dataclass(frozen=True)
class Delivery:
    """What one send group emitted in a stage: ``values`` (lanes, length), the reference
    snapshot the send took, and ``fired`` (lanes, length), where a message was sent."""

    group: SendGroup
    fired: np.ndarray
    values: np.ndarray


def _send_groups(program: Program, core: int, op: Op, hops: np.ndarray,
                 populations: dict[str, str]) -> list[SendGroup]:
    """The groups of one send op (see ``SendGroup``)."""
    ch = program.channels
    groups: list[SendGroup] = []
    members: list[list[int]] = []
    for cid in (int(c) for c in op.channel_ids()):
        source = (ch.name(ch.src_buffer[cid]), int(ch.src_start[cid]), int(ch.length[cid]))
        if not groups or (groups[-1].source, groups[-1].start, groups[-1].length) != source:
            groups.append(SendGroup(core, *source, populations[ch.name(ch.kind[cid])], [], ()))
            members.append([])
        groups[-1].destinations.append(Destination(cid, int(ch.dst[cid]), ch.name(ch.dst_buffer[cid]),
                                                   int(ch.dst_start[cid]), int(hops[cid])))
        members[-1].append(cid)
    for group, ids in zip(groups, members, strict=True):
        group.reference = tuple(ids)
    return groups


@dataclass
class EventLayout:
    """The event machinery of a whole program: send groups per send op, which inboxes carry
    per-step errors, and the host channels. Built once; each core takes its part."""

    groups: dict[tuple[int, str, int], list[SendGroup]] = field(default_factory=dict)
    step_inboxes: set[tuple[int, str]] = field(default_factory=set)
    host_channels: list[HostChannel] = field(default_factory=list)

    @classmethod
    def of(cls, program: Program, hops: np.ndarray) -> EventLayout:
        layout = cls()
        populations = program.settings.threshold_groups
        for core in program.cores:
            for phase, ops in core.phases.items():
                for index, op in enumerate(ops):
                    if op.kind != "send":
                        continue
                    groups = _send_groups(program, core.core, op, hops, populations)
                    layout.groups[(core.core, phase, index)] = groups
                    for g in groups:
                        if per_step_source(core.buffers[g.source]):
                            layout.step_inboxes |= {(d.core, d.inbox) for d in g.destinations}
        ch = program.channels
        layout.host_channels = [
            HostChannel(ch.name(ch.src_buffer[c]), int(ch.src_start[c]), int(ch.length[c]),
                        Destination(int(c), int(ch.dst[c]), ch.name(ch.dst_buffer[c]), int(ch.dst_start[c]), 0))
            for c in np.flatnonzero(ch.src == HOST)]
        return layout

    def sends_of(self, core: int) -> Iterable[SendGroup]:
        """Every send group whose source is ``core``."""
        return (g for (c, _, _), groups in self.groups.items() if c == core for g in groups)


# -- one core -------------------------------------------------------------------------------------

class CoreRules:
    """One core's memory and the rules it follows, for ``lanes`` sequences in lockstep.

    ``mem`` maps buffer names to arrays the caller may own (the Lava backend hands in the
    arrays behind its Vars); every write here is in place, so the owner sees it."""

    def __init__(self, program: Program, core: int, layout: EventLayout, lanes: int, *,
                 store: Storage, dense: bool,
                 thresholds: dict[str, float], counter: EventCounter,
                 mem: dict[str, np.ndarray] | None = None) -> None:
        self.program = program
        self.core = core
        self.spec = program.cores[core]
        self.layout = layout
        self.lanes = lanes
        self.store = store
        self.dense = dense
        self.thresholds = thresholds
        self.counter = counter
        self.mem = mem if mem is not None else allocate(self.spec, lanes)
        self.references: dict[tuple[int, ...], Reference] = {}
        for g in layout.sends_of(core):
            if g.reference not in self.references:
                self.references[g.reference] = Reference(
                    np.zeros((lanes, g.length)), per_step_source(self.spec.buffers[g.source]))
        self.inboxes = sorted(buf.name for buf in self.spec.buffers.values() if buf.kind == INBOX)
        self.step_inboxes = sorted(name for c, name in layout.step_inboxes if c == core)
        self.host_channels = [h for h in layout.host_channels if h.destination.core == core]
        self.synapses: dict[tuple[str, str], SigmaDelta] = {}
        for ops in self.spec.phases.values():
            for op in ops:
                if op.kind == "matvec":
                    self._synapse_for(op)

    def _synapse_for(self, op: Op) -> None:
        w, x = op.inputs["w"], op.inputs["x"]
        if self.spec.buffers[x].kind != INBOX:
            raise ValueError(f"core {self.core}: matvec reads {x}, which is not an inbox; every matvec "
                             f"is driven by the events arriving in its inbox")
        if (w, x) not in self.synapses:
            rows, cols = self.spec.buffers[w].shape
            self.synapses[(w, x)] = SigmaDelta(np.zeros((self.lanes, rows)), np.zeros((self.lanes, cols)),
                                               np.ones(self.lanes, bool), x in self.step_inboxes)

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Set every buffer bound to a parameter (stored in the number format)."""
        for buf in self.spec.buffers.values():
            block = param_block(params, buf)
            if block is not None:
                self.mem[buf.name][...] = self.store(buf.name, block)
        self.weights_changed()

    def weights_changed(self) -> None:
        """The weights changed: every sigma-delta accumulator recomputes at its next use."""
        for synapse in self.synapses.values():
            synapse.stale[:] = True

    # -- ops ----------------------------------------------------------------------------------------
    def run_stage(self, phase: str, stage: int, host: dict[str, float]) -> list[Delivery]:
        """The core's ops of one stage of a phase, in order; returns what its sends emitted."""
        out: list[Delivery] = []
        for index, op in enumerate(self.spec.phases.get(phase, [])):
            if op.stage == stage:
                out.extend(self.execute(phase, index, op, host))
        return out

    def execute(self, phase: str, index: int, op: Op, host: dict[str, float]) -> list[Delivery]:
        if op.kind == "send":
            return [self._send(group) for group in self.layout.groups[(self.core, phase, index)]]
        operands = self._operands(op)
        if op.kind == "matvec":
            results = self._synaptic_accumulation(op, operands)
        else:
            _COUNT_RULES[OPS[op.kind].family](self, op, operands)
            results = SEMANTICS[op.kind](operands, op.params, host)
        self._store(op, results)
        return []

    def _operands(self, op: Op) -> dict[str, object]:
        """Every role's current value: parts as one (complex) array, concat as a list."""
        roles = OPS[op.kind].roles
        mem = self.mem
        out: dict[str, object] = {}
        for role, names in {**op.inputs, **op.outputs}.items():
            names = [names] if isinstance(names, str) else list(names)
            mode = roles[role].mode
            if mode == "concat":
                out[role] = [mem[n] for n in names]
            elif len(names) == 2:
                out[role] = mem[names[0]] + 1j * mem[names[1]]
            else:
                out[role] = mem[names[0]]
        return out

    def _store(self, op: Op, results: dict[str, np.ndarray]) -> None:
        """Write each result into its buffer(s), as the number format stores it."""
        mem = self.mem
        for role, value in results.items():
            names = op.outputs[role]
            names = [names] if isinstance(names, str) else list(names)
            if len(names) == 2:
                mem[names[0]][...] = self.store(names[0], np.real(value))
                mem[names[1]][...] = self.store(names[1], np.imag(value))
            else:
                mem[names[0]][...] = self.store(names[0], np.real(value))

    # -- event rules: messages ---------------------------------------------------------------------
    def _fires(self, values: np.ndarray, last: np.ndarray, threshold: float) -> np.ndarray:
        """Which values a send emits: all when dense; those that differ from the last value
        sent at threshold 0; those that moved by more than the threshold otherwise."""
        if self.dense:
            return np.ones(values.shape, bool)
        if threshold == 0.0:
            return values != last
        return np.abs(values - last) > threshold

    def _send(self, group: SendGroup) -> Delivery:
        """Delta-code one group: compare with the reference and update it where sent; counts
        at the sender, per lane: 2 reads per value considered, a reference write per value
        sent. (Messages and hops are counted where they arrive: ``receive``.)"""
        source = lane_rows(self.mem[group.source], self.lanes)
        values = source[:, group.start:group.start + group.length]
        reference = self.references[group.reference].values
        fired = self._fires(values, reference, self.thresholds[group.population])
        reference[fired] = values[fired]
        self.counter.per_lane("send", READS, self.core, 2 * group.length)
        self.counter.per_lane("send", WRITES, self.core, fired.sum(axis=1))
        return Delivery(group, fired, reference.copy())

    def receive(self, source_core: int, destination: Destination, fired: np.ndarray,
                values: np.ndarray) -> None:
        """End of a stage: the values sent on one channel land in this core's inbox where a
        message arrived; per message one write here, and the message and its hops (charged
        to the sending core, as the network carried them on its behalf)."""
        d = destination
        inbox = lane_rows(self.mem[d.inbox], self.lanes)[:, d.start:d.start + fired.shape[1]]
        inbox[fired] = self.store(d.inbox, values)[fired]
        arrived = fired.sum(axis=1)
        c = self.counter
        c.per_lane("deliver", WRITES, self.core, arrived)
        c.per_lane("send", MESSAGES, source_core, arrived)
        c.per_lane("send", HOPS, source_core, arrived * d.hops)

    def deliver_host(self, streams: dict[str, np.ndarray]) -> None:
        """Host inputs of a step into their inboxes: written (and counted) only where they
        changed (always when dense); never thresholded, not messages."""
        for h in self.host_channels:
            d = h.destination
            values = self.store(d.inbox, streams[h.stream][:, h.start:h.start + h.length])
            inbox = lane_rows(self.mem[d.inbox], self.lanes)[:, d.start:d.start + h.length]
            written = np.full(self.lanes, h.length) if self.dense else (inbox != values).sum(axis=1)
            inbox[...] = values
            self.counter.per_lane("host_input", WRITES, self.core, written)

    # -- event rules: resets ----------------------------------------------------------------------
    def start_sequence(self) -> None:
        """Sequence start: every inbox, delta reference and sigma-delta accumulator to zero
        (counted as writes), consistent with any weights, so nothing is stale."""
        self._clear("sequence_reset", errors_only=False)
        for synapse in self.synapses.values():
            synapse.stale[:] = False

    def restart_errors(self) -> None:
        """Training step start: the error channels restart at 0 on both ends
        (``hwsim.encode.per_step_source`` says why)."""
        self._clear("step_reset", errors_only=True)

    def _clear(self, kind: str, errors_only: bool) -> None:
        c = self.counter
        for name in (self.step_inboxes if errors_only else self.inboxes):
            self.mem[name][...] = 0.0
            c.per_lane(kind, WRITES, self.core, self.mem[name][0].size)
        for reference in self.references.values():
            if reference.per_step or not errors_only:
                reference.values[...] = 0.0
                c.per_lane(kind, WRITES, self.core, reference.values.shape[1])
        for synapse in self.synapses.values():
            if synapse.per_step or not errors_only:
                synapse.acc[...] = 0.0
                synapse.seen[...] = 0.0
                c.per_lane(kind, WRITES, self.core, synapse.acc.shape[1] + synapse.seen.shape[1])

    # -- event rules: synapses ------------------------------------------------------------------------
    def _synaptic_accumulation(self, op: Op, operands: dict[str, object]) -> dict[str, np.ndarray]:
        """y = W @ x (+ bias) through the pair's sigma-delta accumulator: the inbox columns
        that changed since the accumulator last saw them are the events (acc += W[:, c] dx_c);
        a stale accumulator (weights changed) or dense mode recomputes acc = W @ x. Counts per
        lane: dense ops rows x cols, effective ops the nonzero weights of the event columns
        (of the nonzero columns when recomputing; rows x cols when dense), a bias adds rows to
        both; rows neuron updates; per event column 2 reads and 1 write."""
        synapse = self.synapses[(op.inputs["w"], op.inputs["x"])]
        w, x = operands["w"], operands["x"]
        rows, cols = w.shape
        nonzero_per_column = (w != 0.0).sum(axis=0)
        recompute = synapse.stale | self.dense
        changed = x != synapse.seen
        delta = np.where(changed, x - synapse.seen, 0.0)
        # one pass per lane: a recomputing lane adds its values from 0.0, the others their
        # changes onto the accumulator
        adds = np.where(recompute[:, None], x, delta)
        synapse.acc[...] = ordered_matvec(w, adds, start=np.where(recompute[:, None], 0.0, synapse.acc))
        synapse.seen[...] = x
        synapse.stale[:] = False
        events = np.where(recompute, cols, changed.sum(axis=1))
        effective = np.where(recompute, (x != 0.0) @ nonzero_per_column, changed @ nonzero_per_column)
        if self.dense:
            effective = np.full(self.lanes, rows * cols)
        bias = rows if "bias" in operands else 0
        c, core = self.counter, self.core
        c.per_lane("matvec", SYN_DENSE, core, rows * cols + bias)
        c.per_lane("matvec", SYN_EFFECTIVE, core, effective + bias)
        c.per_lane("matvec", NEURON, core, rows)
        c.per_lane("matvec", READS, core, 2 * events)
        c.per_lane("matvec", WRITES, core, events)
        y = synapse.acc + operands["bias"] if "bias" in operands else synapse.acc.copy()
        return {"y": y}

    # -- counting rules of the other ops -------------------------------------------------------------
    def _nonzero(self, value: np.ndarray) -> np.ndarray:
        """Per lane, how many entries of a (lanes, n) operand do work: the nonzero ones (a
        zero contributes nothing and is skipped), all n when dense."""
        if self.dense:
            return np.full(value.shape[0], value.shape[1])
        return (value != 0.0).sum(axis=1)

    def _count_elementwise(self, op: Op, o: dict[str, object]) -> None:
        """``zero``: one write per element cleared; every other neuron op one update per
        element written."""
        if op.kind == "zero":
            self.counter.per_lane("zero", WRITES, self.core, o["y"][0].size)
            return
        written = next(iter(o[r] for r in OPS[op.kind].outputs))
        self.counter.per_lane(op.kind, NEURON, self.core, written[0].size)

    def _count_lru(self, op: Op, o: dict[str, object]) -> None:
        """Dynamics: one neuron or trace update per real word written (a complex value is
        two). Credits: one weight update per accumulator word a lane adds a nonzero
        contribution to (a zero error contributes nothing)."""
        c, kind, core = self.counter, op.kind, self.core
        if kind == "lru_predict":
            c.per_lane(kind, NEURON, core, o["mu"][0].size * _words(o["mu"]))
        elif kind in ("lru_trace", "lru_synapse_trace"):
            c.per_lane(kind, TRACE_UPDATES, core, o["trace"][0].size * _words(o["trace"]))
        elif kind in ("lru_lambda_credit", "lru_gamma_credit"):
            per = 2 if "acc_theta" in o else 1
            c.per_lane(kind, WEIGHT_UPDATES, core, per * self._nonzero(o["eps"]))
        elif kind == "lru_input_credit":
            width = o["acc"].shape[1]
            c.per_lane(kind, WEIGHT_UPDATES, core, _words(o["eps"]) * width * self._nonzero(o["eps"]))
        elif kind == "lru_input_credit_immediate":
            inputs = self._nonzero(o["u"])
            c.per_lane(kind, WEIGHT_UPDATES, core, _words(o["eps"]) * inputs * self._nonzero(o["eps"]))

    def _count_learn(self, op: Op, o: dict[str, object]) -> None:
        """One weight update per accumulator element a lane changes: nonzero post x nonzero
        pre (outer_accumulate), nonzero x (accumulate)."""
        if op.kind == "outer_accumulate":
            pre = self._nonzero(o["pre"])
            post = np.where(pre > 0, self._nonzero(o["post"]), 0)
            self.counter.per_lane(op.kind, WEIGHT_UPDATES, self.core, post * pre)
        else:
            self.counter.per_lane(op.kind, WEIGHT_UPDATES, self.core, self._nonzero(o["x"]))

    def _count_output(self, op: Op, o: dict[str, object]) -> None:
        """One neuron update per element written (a scalar register is one)."""
        written = next(iter(o[r] for r in OPS[op.kind].outputs))
        self.counter.per_lane(op.kind, NEURON, self.core, max(written[0].size, 1))

    def _count_apply(self, op: Op, o: dict[str, object]) -> None:
        """Shared work: per parameter element one weight update, and reads and writes of the
        accumulator (SGD) or of the accumulator and both moments (Adam)."""
        n = o["param"].size
        words = 3 if op.kind == "apply_adam" else 1
        c = self.counter
        c.shared(op.kind, READS, self.core, words * n)
        c.shared(op.kind, WRITES, self.core, words * n)
        c.shared(op.kind, WEIGHT_UPDATES, self.core, n)


def _words(value: np.ndarray) -> int:
    """Real words per element of a parts operand: 2 for a complex unit, 1 for a real one."""
    return 2 if np.iscomplexobj(value) else 1


_COUNT_RULES: dict[str, Callable[[CoreRules, Op, dict[str, object]], None]] = {
    "elementwise": CoreRules._count_elementwise,
    "lru": CoreRules._count_lru,
    "learn": CoreRules._count_learn,
    "output": CoreRules._count_output,
    "apply": CoreRules._count_apply,
}


def output_cores(program: Program) -> list[CoreProgram]:
    """The cores of the output layer (they hold the ``loss`` and ``mu`` registers)."""
    top = max(core.layer_index for core in program.cores)
    return [core for core in program.cores if core.layer_index == top]


def shared_layout(program: Program) -> list[tuple[int, str, tuple[int, ...]]]:
    """Every shared buffer: (core, name, shape)."""
    return [(core.core, buf.name, buf.shape) for core in program.cores for buf in core.buffers.values()
            if not buf.per_lane]
