"""The interpreter backend: runs a compiled program op by op in numpy, with the hardware's
event semantics and counts, as docs/hwsim.md states them.

It is the readable twin of the Numba engine (``hwsim.engine``): what every op computes comes
from ``compiler.op_semantics`` (written once); what moves between cores and what is counted
are the documented event rules, one function each below (delta-coded sends, delivery at the
end of a stage, host inputs written where they changed, sigma-delta synaptic accumulation,
the sequence-start reset and the per-step restart of the error channels, the counting rule
of every op family). The phases run as ``program.phases`` and their ``when`` say. The
conformance tests hold it to the engine: equal values and identical counts.

Number formats: float64, and float32 (every stored value rounded to the nearest float32, as
the engine's ``_round``). Fixed point is not implemented here (NotImplementedError).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.artifact import Artifact
from compiler.op_semantics import SEMANTICS
from compiler.ops import OPS
from compiler.program import HOST, INBOX, Buffer, Op, Phase, Program, assemble_bound, bound_block
from hwsim.backends.protocol import BlockOutput, ExecutionOptions
from hwsim.counters import FIELDS, WORK_KINDS
from hwsim.encode import per_step_source

_FIELD = {name: i for i, name in enumerate(FIELDS)}
_KIND = {name: i for i, name in enumerate(WORK_KINDS)}
SYN_DENSE, SYN_EFFECTIVE, NEURON = "synaptic_ops_dense", "synaptic_ops_effective", "neuron_updates"
WEIGHT_UPDATES, TRACE_UPDATES = "learning_weight_updates", "learning_trace_updates"
MESSAGES, HOPS, READS, WRITES = "messages", "hops", "memory_reads", "memory_writes"


# -- storage -------------------------------------------------------------------------------------

def _rounding(number_format: str) -> Callable[[np.ndarray], np.ndarray]:
    """How a value is stored: as the nearest float32, or unchanged (float64)."""
    if number_format == "float32":
        return lambda v: np.asarray(v, dtype=np.float64).astype(np.float32).astype(np.float64)
    if number_format == "float64":
        return lambda v: v
    raise NotImplementedError(f"the interpreter backend runs float64 and float32, not {number_format!r}; "
                              f"use the native backend for fixed point")


def _lane_rows(array: np.ndarray, lanes: int) -> np.ndarray:
    """A per-lane buffer as a (lanes, values) view (a per-lane scalar becomes one column)."""
    return array.reshape(lanes, -1)


def _bound_block(params: dict[str, np.ndarray], buf: Buffer) -> np.ndarray | None:
    """The initial value of a buffer bound to a parameter, in the buffer's layout."""
    b = buf.binding
    if b is None or b.space != "param":
        return None
    array = params[b.name]
    block = array[b.rows[0]:b.rows[1]] if b.cols is None else array[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
    return np.asarray(block.T if b.transpose else block, dtype=np.float64)


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
        self.rows[:self.lanes, core, _FIELD[name]] += amount
        self.by_kind[_KIND[kind], _FIELD[name]] += int(amount.sum())

    def shared(self, kind: str, name: str, core: int, amount: int) -> None:
        self.rows[self.lanes, core, _FIELD[name]] += amount
        self.by_kind[_KIND[kind], _FIELD[name]] += amount

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
    core: int
    inbox: str
    start: int


@dataclass
class SendGroup:
    """Consecutive channels of one send op with the same source range: one source value, one
    message per destination. ``reference`` keys the last values sent on these channels."""

    core: int
    source: str
    start: int
    length: int
    population: str
    hops: int
    destinations: list[Destination]
    reference: tuple[int, ...]


@dataclass
class Reference:
    """The last value sent on a group of channels, per lane (the delta-coding reference)."""

    core: int
    values: np.ndarray  # (lanes, length)
    per_step: bool  # carries per-step errors: restarts at 0 every training step


@dataclass
class SigmaDelta:
    """The hidden accumulator of one (weight, inbox) pair: acc = W @ seen, per lane."""

    core: int
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


@dataclass
class Pending:
    """Values sent in the current stage, delivered at its end."""

    deliveries: list[tuple[SendGroup, np.ndarray]] = field(default_factory=list)


def _send_groups(program: Program, core: int, op: Op, hops: np.ndarray,
                 populations: dict[str, str]) -> list[SendGroup]:
    """The groups of one send op (see ``SendGroup``)."""
    ch = program.channels
    groups: list[SendGroup] = []
    members: list[list[int]] = []
    for cid in (int(c) for c in op.channel_ids()):
        source = (ch.name(ch.src_buffer[cid]), int(ch.src_start[cid]), int(ch.length[cid]))
        if not groups or (groups[-1].source, groups[-1].start, groups[-1].length) != source:
            groups.append(SendGroup(core, *source, populations[ch.name(ch.kind[cid])], 0, [], ()))
            members.append([])
        group = groups[-1]
        group.destinations.append(Destination(int(ch.dst[cid]), ch.name(ch.dst_buffer[cid]), int(ch.dst_start[cid])))
        group.hops += int(hops[cid])
        members[-1].append(cid)
    for group, ids in zip(groups, members, strict=True):
        group.reference = tuple(ids)
    return groups


# -- the backend ----------------------------------------------------------------------------------

class InterpreterBackend:
    """One artifact's program for ``lanes`` sequences in lockstep, op by op in numpy."""

    name = "interpreter"
    counts = True

    def __init__(self, artifact: Artifact, lanes: int, options: ExecutionOptions | None = None) -> None:
        options = options or ExecutionOptions()
        self.artifact = artifact
        self.program = artifact.program
        self.lanes = int(lanes)
        if self.lanes < 1:
            raise ValueError("lanes must be at least 1")
        self.options = options
        self.store_as = _rounding(options.number_format)
        self.dense = bool(options.dense)
        self.thresholds = options.resolved_thresholds(self.program)
        self.optimizer_steps = 0
        self.counter = EventCounter(self.lanes, len(self.program.cores))
        self.mem = self._allocate()
        self._layout_events(np.asarray(artifact.placement_arrays["hops"]))
        self.load_params(artifact.params)

    # -- construction ---------------------------------------------------------------------------
    def _allocate(self) -> list[dict[str, np.ndarray]]:
        return [{buf.name: np.zeros((self.lanes, *buf.shape) if buf.per_lane else buf.shape)
                 for buf in core.buffers.values()} for core in self.program.cores]

    def _layout_events(self, hops: np.ndarray) -> None:
        """Send groups, delta references, sigma-delta accumulators and host channels."""
        program = self.program
        populations = program.settings.threshold_groups
        self.groups: dict[tuple[int, int], list[SendGroup]] = {}
        self.references: dict[tuple[int, ...], Reference] = {}
        step_inboxes: set[tuple[int, str]] = set()
        for core in program.cores:
            for ops in core.phases.values():
                for op in ops:
                    if op.kind != "send":
                        continue
                    groups = _send_groups(program, core.core, op, hops, populations)
                    self.groups[(core.core, id(op))] = groups
                    for g in groups:
                        per_step = per_step_source(core.buffers[g.source])
                        if per_step:
                            step_inboxes |= {(d.core, d.inbox) for d in g.destinations}
                        if g.reference not in self.references:
                            self.references[g.reference] = Reference(
                                core.core, np.zeros((self.lanes, g.length)), per_step)
        self.inboxes = [(core.core, buf.name) for core in program.cores for buf in core.buffers.values()
                        if buf.kind == INBOX]
        self.step_inboxes = step_inboxes
        self.synapses: dict[tuple[int, str, str], SigmaDelta] = {}
        for core in program.cores:
            for ops in core.phases.values():
                for op in ops:
                    if op.kind == "matvec":
                        self._synapse_for(core.core, op, step_inboxes)
        ch = program.channels
        self.host_channels = [
            HostChannel(ch.name(ch.src_buffer[c]), int(ch.src_start[c]), int(ch.length[c]),
                        Destination(int(ch.dst[c]), ch.name(ch.dst_buffer[c]), int(ch.dst_start[c])))
            for c in np.flatnonzero(ch.src == HOST)]

    def _synapse_for(self, core: int, op: Op, step_inboxes: set[tuple[int, str]]) -> None:
        w, x = op.inputs["w"], op.inputs["x"]
        if self.program.cores[core].buffers[x].kind != INBOX:
            raise ValueError(f"core {core}: matvec reads {x}, which is not an inbox; every matvec is "
                             f"driven by the events arriving in its inbox")
        if (core, w, x) not in self.synapses:
            rows, cols = self.program.cores[core].buffers[w].shape
            self.synapses[(core, w, x)] = SigmaDelta(core, np.zeros((self.lanes, rows)),
                                                     np.zeros((self.lanes, cols)),
                                                     np.ones(self.lanes, bool), (core, x) in step_inboxes)

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Set every buffer bound to a parameter (stored in the number format); the weights
        changed, so every sigma-delta accumulator recomputes at its next use."""
        for core in self.program.cores:
            for buf in core.buffers.values():
                block = _bound_block(params, buf)
                if block is not None:
                    self.mem[core.core][buf.name][...] = self.store_as(block)
        self._weights_changed()

    def _weights_changed(self) -> None:
        for synapse in self.synapses.values():
            synapse.stale[:] = True

    # -- the step loop ---------------------------------------------------------------------------
    def run(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, *, train: bool,
            reset: bool = False, apply_end: bool = False, scale: float = 1.0) -> BlockOutput:
        """See ``hwsim.backends.protocol.Backend.run``."""
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim != 3 or inputs.shape[1] != self.lanes:
            raise ValueError(f"inputs must be (steps, {self.lanes} lanes, inputs), got {inputs.shape}")
        steps = inputs.shape[0]
        targets = np.asarray(targets, dtype=np.float64).reshape(steps, self.lanes, -1)
        mask = np.asarray(mask, dtype=np.float64).reshape(steps, self.lanes)
        outputs_width = max(c.stop for c in self._output_cores())
        loss = np.zeros((steps, self.lanes))
        outputs = np.zeros((steps, self.lanes, outputs_width))
        step_counts = np.zeros((steps, self.lanes + 1, len(FIELDS)), np.int64)
        before = self.counter.row_totals()
        if reset:
            self.reset()
        for t in range(steps):
            if train and not (t == 0 and reset):
                self._restart_errors()
            self._deliver_host({"u": inputs[t], "target": targets[t], "mask": mask[t][:, None]})
            for phase in self.program.phases_when("step"):
                if phase.train_only and not train:
                    continue
                self._run_phase(phase)
                if phase.outputs:
                    loss[t], outputs[t] = self._read_outputs(outputs_width)
            if train and np.any(mask[t] != 0.0):
                self._optimizer_step(self.program.phases_when("step_with_loss"), scale)
            if t == steps - 1 and apply_end:
                self.apply(scale)
            after = self.counter.row_totals()
            step_counts[t] = after - before
            before = after
        if steps == 0 and apply_end:
            self.apply(scale)
        return BlockOutput(loss, outputs, step_counts)

    def reset(self) -> None:
        """Start a sequence in every lane: the program's ``sequence_start`` phases, then the
        hardware's own reset (``_start_sequence``)."""
        for phase in self.program.phases_when("sequence_start"):
            self._run_phase(phase)
        self._start_sequence()

    def apply(self, scale: float) -> None:
        """The ``sequence_end`` phases (the optimizer step), whatever ``train_only`` says: the
        caller asked for them."""
        self._optimizer_step(self.program.phases_when("sequence_end"), scale)

    def _optimizer_step(self, phases: list[Phase], scale: float) -> None:
        if not phases:
            return
        self.optimizer_steps += 1
        host = {"scale": float(scale), "count": float(self.optimizer_steps)}
        for phase in phases:
            self._run_phase(phase, host)
        self._weights_changed()

    def _run_phase(self, phase: Phase, host: dict[str, float] | None = None) -> None:
        """Every stage of the phase, ``repeat`` times: each core runs its ops of the stage in
        order, then everything sent in the stage is delivered."""
        for _ in range(phase.repeat):
            for stage in range(phase.stages):
                pending = Pending()
                for core in self.program.cores:
                    for op in core.phases.get(phase.name, []):
                        if op.stage == stage:
                            self._execute(core.core, op, pending, host or {})
                self._deliver(pending)

    def _execute(self, core: int, op: Op, pending: Pending, host: dict[str, float]) -> None:
        if op.kind == "send":
            for group in self.groups[(core, id(op))]:
                pending.deliveries.append((group, self._send(group)))
            return
        operands = self._operands(core, op)
        if op.kind == "matvec":
            results = self._synaptic_accumulation(core, op, operands)
        else:
            self._count_op(core, op, operands)
            results = SEMANTICS[op.kind](operands, op.params, host)
        self._store(core, op, results)

    # -- operands ---------------------------------------------------------------------------------
    def _operands(self, core: int, op: Op) -> dict[str, object]:
        """Every role's current value: parts as one (complex) array, concat as a list."""
        roles = OPS[op.kind].roles
        mem = self.mem[core]
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

    def _store(self, core: int, op: Op, results: dict[str, np.ndarray]) -> None:
        """Write each result into its buffer(s), as the number format stores it."""
        mem = self.mem[core]
        for role, value in results.items():
            names = op.outputs[role]
            names = [names] if isinstance(names, str) else list(names)
            if len(names) == 2:
                mem[names[0]][...] = self.store_as(np.real(value))
                mem[names[1]][...] = self.store_as(np.imag(value))
            else:
                mem[names[0]][...] = self.store_as(np.real(value))

    # -- event rules: messages ---------------------------------------------------------------------
    def _fires(self, values: np.ndarray, last: np.ndarray, threshold: float) -> np.ndarray:
        """Which values a send emits: all when dense; those that differ from the last value
        sent at threshold 0; those that moved by more than the threshold otherwise."""
        if self.dense:
            return np.ones(values.shape, bool)
        if threshold == 0.0:
            return values != last
        return np.abs(values - last) > threshold

    def _send(self, group: SendGroup) -> np.ndarray:
        """Delta-code one group: compare with the reference, update it where sent, count
        (per lane: 2 reads per value considered; per sent value a reference write, one
        message per destination and the hops of every channel). Returns what was sent."""
        source = _lane_rows(self.mem[group.core][group.source], self.lanes)
        values = source[:, group.start:group.start + group.length]
        reference = self.references[group.reference].values
        fired = self._fires(values, reference, self.thresholds[group.population])
        reference[fired] = values[fired]
        sent = fired.sum(axis=1)
        c = self.counter
        c.per_lane("send", READS, group.core, 2 * group.length)
        c.per_lane("send", WRITES, group.core, sent)
        c.per_lane("send", MESSAGES, group.core, sent * len(group.destinations))
        c.per_lane("send", HOPS, group.core, sent * group.hops)
        return fired

    def _deliver(self, pending: Pending) -> None:
        """End of a stage: every sent value lands in the inbox of every destination (from the
        reference, the snapshot the send took); one write per value at the receiver."""
        for group, fired in pending.deliveries:
            values = self.store_as(self.references[group.reference].values)
            for d in group.destinations:
                inbox = _lane_rows(self.mem[d.core][d.inbox], self.lanes)[:, d.start:d.start + group.length]
                inbox[fired] = values[fired]
                self.counter.per_lane("deliver", WRITES, d.core, fired.sum(axis=1))

    def _deliver_host(self, streams: dict[str, np.ndarray]) -> None:
        """Host inputs of a step into their inboxes: written (and counted) only where they
        changed (always when dense); never thresholded, not messages."""
        for h in self.host_channels:
            values = self.store_as(streams[h.stream][:, h.start:h.start + h.length])
            d = h.destination
            inbox = _lane_rows(self.mem[d.core][d.inbox], self.lanes)[:, d.start:d.start + h.length]
            written = np.full(self.lanes, h.length) if self.dense else (inbox != values).sum(axis=1)
            inbox[...] = values
            self.counter.per_lane("host_input", WRITES, d.core, written)

    # -- event rules: resets ----------------------------------------------------------------------
    def _start_sequence(self) -> None:
        """Sequence start: every inbox, delta reference and sigma-delta accumulator to zero
        (counted as writes), consistent with any weights, so nothing is stale."""
        self._clear("sequence_reset", errors_only=False)
        for synapse in self.synapses.values():
            synapse.stale[:] = False

    def _restart_errors(self) -> None:
        """Training step start: the error channels restart at 0 on both ends
        (``hwsim.encode.per_step_source`` says why)."""
        self._clear("step_reset", errors_only=True)

    def _clear(self, kind: str, errors_only: bool) -> None:
        c = self.counter
        inboxes = self.step_inboxes if errors_only else self.inboxes
        for core, name in sorted(inboxes):
            self.mem[core][name][...] = 0.0
            c.per_lane(kind, WRITES, core, self.mem[core][name][0].size)
        for reference in self.references.values():
            if reference.per_step or not errors_only:
                reference.values[...] = 0.0
                c.per_lane(kind, WRITES, reference.core, reference.values.shape[1])
        for synapse in self.synapses.values():
            if synapse.per_step or not errors_only:
                synapse.acc[...] = 0.0
                synapse.seen[...] = 0.0
                c.per_lane(kind, WRITES, synapse.core, synapse.acc.shape[1] + synapse.seen.shape[1])

    # -- event rules: synapses ------------------------------------------------------------------------
    def _synaptic_accumulation(self, core: int, op: Op, operands: dict[str, object]) -> dict[str, np.ndarray]:
        """y = W @ x (+ bias) through the pair's sigma-delta accumulator: the inbox columns
        that changed since the accumulator last saw them are the events (acc += W[:, c] dx_c);
        a stale accumulator (weights changed) or dense mode recomputes acc = W @ x. Counts per
        lane: dense ops rows x cols, effective ops the nonzero weights of the event columns
        (of the nonzero columns when recomputing; rows x cols when dense), a bias adds rows to
        both; rows neuron updates; per event column 2 reads and 1 write."""
        synapse = self.synapses[(core, op.inputs["w"], op.inputs["x"])]
        w, x = operands["w"], operands["x"]
        rows, cols = w.shape
        nonzero_per_column = (w != 0.0).sum(axis=0)
        recompute = synapse.stale | self.dense
        changed = x != synapse.seen
        delta = np.where(changed, x - synapse.seen, 0.0)
        linear = SEMANTICS["matvec"]
        increment = linear({"w": w, "x": delta}, {}, {})["y"]
        full = linear({"w": w, "x": x}, {}, {})["y"]
        synapse.acc[...] = np.where(recompute[:, None], full, synapse.acc + increment)
        synapse.seen[...] = x
        synapse.stale[:] = False
        events = np.where(recompute, cols, changed.sum(axis=1))
        effective = np.where(recompute, (x != 0.0) @ nonzero_per_column, changed @ nonzero_per_column)
        if self.dense:
            effective = np.full(self.lanes, rows * cols)
        bias = rows if "bias" in operands else 0
        c = self.counter
        c.per_lane("matvec", SYN_DENSE, core, rows * cols + bias)
        c.per_lane("matvec", SYN_EFFECTIVE, core, effective + bias)
        c.per_lane("matvec", NEURON, core, rows)
        c.per_lane("matvec", READS, core, 2 * events)
        c.per_lane("matvec", WRITES, core, events)
        y = synapse.acc + operands["bias"] if "bias" in operands else synapse.acc.copy()
        return {"y": y}

    # -- counting rules of the other ops -------------------------------------------------------------
    def _count_op(self, core: int, op: Op, o: dict[str, object]) -> None:
        rule = _COUNT_RULES[OPS[op.kind].family]
        rule(self, core, op, o)

    def _nonzero(self, value: np.ndarray) -> np.ndarray:
        """Per lane, how many entries of a (lanes, n) operand do work: the nonzero ones (a
        zero contributes nothing and is skipped), all n when dense."""
        if self.dense:
            return np.full(value.shape[0], value.shape[1])
        return (value != 0.0).sum(axis=1)

    def _count_elementwise(self, core: int, op: Op, o: dict[str, object]) -> None:
        """``zero``: one write per element cleared; every other neuron op one update per
        element written."""
        if op.kind == "zero":
            self.counter.per_lane("zero", WRITES, core, o["y"][0].size)
            return
        written = next(iter(o[r] for r in OPS[op.kind].outputs))
        self.counter.per_lane(op.kind, NEURON, core, written[0].size)

    def _count_lru(self, core: int, op: Op, o: dict[str, object]) -> None:
        """Dynamics: one neuron or trace update per real word written (a complex value is
        two). Credits: one weight update per accumulator word a lane adds a nonzero
        contribution to (a zero error contributes nothing)."""
        c, kind = self.counter, op.kind
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

    def _count_learn(self, core: int, op: Op, o: dict[str, object]) -> None:
        """One weight update per accumulator element a lane changes: nonzero post x nonzero
        pre (outer_accumulate), nonzero x (accumulate)."""
        if op.kind == "outer_accumulate":
            pre = self._nonzero(o["pre"])
            post = np.where(pre > 0, self._nonzero(o["post"]), 0)
            self.counter.per_lane(op.kind, WEIGHT_UPDATES, core, post * pre)
        else:
            self.counter.per_lane(op.kind, WEIGHT_UPDATES, core, self._nonzero(o["x"]))

    def _count_output(self, core: int, op: Op, o: dict[str, object]) -> None:
        """One neuron update per element written (a scalar register is one)."""
        written = next(iter(o[r] for r in OPS[op.kind].outputs))
        self.counter.per_lane(op.kind, NEURON, core, max(written[0].size, 1))

    def _count_apply(self, core: int, op: Op, o: dict[str, object]) -> None:
        """Shared work: per parameter element one weight update, and reads and writes of the
        accumulator (SGD) or of the accumulator and both moments (Adam)."""
        n = o["param"].size
        words = 3 if op.kind == "apply_adam" else 1
        c = self.counter
        c.shared(op.kind, READS, core, words * n)
        c.shared(op.kind, WRITES, core, words * n)
        c.shared(op.kind, WEIGHT_UPDATES, core, n)

    # -- reading ------------------------------------------------------------------------------------
    def _output_cores(self):
        top = max(core.layer_index for core in self.program.cores)
        return [core for core in self.program.cores if core.layer_index == top]

    def _read_outputs(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The masked loss (sum of the output cores' loss registers) and the output layer's
        prediction, per lane."""
        loss = np.zeros(self.lanes)
        prediction = np.zeros((self.lanes, width))
        for core in self._output_cores():
            mem = self.mem[core.core]
            loss += mem["loss"]
            prediction[:, core.start:core.stop] = mem["mu"]
        return loss, prediction

    def buffer(self, core: int, name: str) -> np.ndarray:
        return self.mem[core][name]

    def _pieces(self) -> Iterable[tuple[Buffer, np.ndarray]]:
        return ((buf, self.mem[core.core][buf.name]) for core in self.program.cores
                for buf in core.buffers.values())

    def read(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
             layer: int | None = None, copy: bool = False) -> np.ndarray:
        return assemble_bound(self._pieces(), self.lanes, space, name, shape, part, layer, copy)

    def parameters(self) -> dict[str, np.ndarray]:
        return {name: self.read("param", name, value.shape) for name, value in self.artifact.params.items()}

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        state: dict[str, dict[str, np.ndarray]] = {"adam_m": {}, "adam_v": {}}
        bound = {(buf.binding.space, buf.binding.name) for buf, _ in self._pieces()
                 if buf.binding is not None and buf.binding.space in state}
        for space, name in bound:
            state[space][name] = self.read(space, name, self.artifact.params[name].shape)
        return state

    def restore(self, params: Mapping[str, np.ndarray],
                optimizer_state: Mapping[str, Mapping[str, np.ndarray]], optimizer_steps: int,
                copies: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> None:
        """Parameters (stored in the number format), optimizer moments into the buffers bound
        to them, and the optimizer step count; the accumulators recompute."""
        self.load_params(dict(params))
        for core in self.program.cores:
            for buf in core.buffers.values():
                b = buf.binding
                if b is not None and b.copy and copies and b.name in copies.get(b.space, {}):
                    self.mem[core.core][buf.name][...] = bound_block(copies[b.space][b.name], b)
                    continue
                if b is None or b.space not in optimizer_state or b.name not in optimizer_state[b.space]:
                    continue
                self.mem[core.core][buf.name][...] = bound_block(optimizer_state[b.space][b.name], b)
        self.optimizer_steps = int(optimizer_steps)
        self._weights_changed()

    def load_shared(self, other: InterpreterBackend) -> None:
        """Take the other backend's shared buffers (weights, parameters, accumulators,
        optimizer moments) and optimizer step count; the accumulators recompute."""
        if (_shared_layout(other.program) != _shared_layout(self.program)
                or other.options.number_format != self.options.number_format):
            raise ValueError("backends of different programs or number formats")
        for core in self.program.cores:
            for buf in core.buffers.values():
                if not buf.per_lane:
                    self.mem[core.core][buf.name][...] = other.mem[core.core][buf.name]
        self.optimizer_steps = other.optimizer_steps
        self._weights_changed()

    # -- counts -------------------------------------------------------------------------------------
    def take_counts(self) -> np.ndarray:
        return self.counter.take()

    def take_work_counts(self) -> np.ndarray:
        return self.counter.take_by_kind()

    def core_totals(self) -> np.ndarray:
        return self.counter.totals + self.counter.rows.sum(axis=0)


def _shared_layout(program: Program) -> list[tuple[int, str, tuple[int, ...]]]:
    """Every shared buffer: (core, name, shape)."""
    return [(core.core, buf.name, buf.shape) for core in program.cores for buf in core.buffers.values()
            if not buf.per_lane]


def _words(value: np.ndarray) -> int:
    """Real words per element of a parts operand: 2 for a complex unit, 1 for a real one."""
    return 2 if np.iscomplexobj(value) else 1


_COUNT_RULES: dict[str, Callable[[InterpreterBackend, int, Op, dict[str, object]], None]] = {
    "elementwise": InterpreterBackend._count_elementwise,
    "lru": InterpreterBackend._count_lru,
    "learn": InterpreterBackend._count_learn,
    "output": InterpreterBackend._count_output,
    "apply": InterpreterBackend._count_apply,
}
