"""Encode a compiled ``Program`` once into the named tables of ``hwsim.kernels.tables``.

Everything the Numba kernels touch is a numpy array: one memory arena for every buffer of
every core, a buffer table, an instruction table ordered by (phase, stage, core, op), the
phases in program order, the send groups with their channels, the host channels, and the
hidden sigma-delta accumulators of every ``matvec``. Python walks the program here, never on
the hot path. Opcodes and operand slots come from ``compiler.ops``.

Arena layout: shared buffers (weights, parameters, accumulators, optimizer moments) first,
so two engines of the same program with different lane counts share offsets for them; then
per-lane buffers (compartments, registers, inboxes, traces), each stored lane-major
(``offset + lane * size + element``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ops import OPS, SLOTS
from compiler.program import HOST, INBOX, PHASE_WHEN, Buffer, Op, Program
from hwsim.kernels.tables import (
    FLOAT_BETA1,
    FLOAT_BETA2,
    FLOAT_EPSILON,
    FLOAT_LR,
    FLOAT_OFFSET,
    FLOAT_STEP,
    FLOATS,
    INT_ACCUMULATOR,
    INT_ACTIVATION,
    INT_DERIVATIVES,
    INT_GROUPS_END,
    INT_GROUPS_FIRST,
    INT_LIST_END,
    INT_LIST_FIRST,
    INTS,
    THRESHOLD_GROUPS,
    Accumulators,
    Buffers,
    Channels,
    HostChannels,
    Inboxes,
    Instructions,
    LruParams,
    Outputs,
    Phases,
    References,
    SendGroups,
    Tables,
    slot,
)

#: activation name -> id used by the kernels (hwsim.kernels.numeric.act_value)
ACTIVATIONS = {"tanh": 0, "relu": 1, "gelu": 2, "identity": 3}
HOST_STREAMS = ("u", "target", "mask")


@dataclass
class Encoded:
    """The tables of one program for a given number of lanes (see module docstring)."""

    program: Program
    lanes: int
    buffers: list[tuple[int, Buffer]]  # (core, buffer) per buffer id
    index: dict[tuple[int, str], int]  # (core, buffer name) -> buffer id
    shared_size: int
    arena_size: int
    tables: Tables
    ref_size: int  # delta-coding reference values (all lanes)
    sums_size: int  # sigma-delta accumulator values (all lanes)
    seen_size: int  # inbox values the accumulators have seen (all lanes)
    derivatives_size: int  # the gates' derivative memos (all lanes)
    nonzero_size: int  # per-column nonzero counts of the matvec weights
    columns_size: int  # column-major copies of the matvec weights
    channel_ids: np.ndarray  # program channel id per channel of a send group (inspection)
    host_width: int
    host_columns: dict[str, int]
    mask_col: int
    outputs: int
    max_cols: int  # longest row any kernel scans per lane

    @property
    def cores(self) -> int:
        return len(self.program.cores)

    def buffer_id(self, core: int, name: str) -> int:
        return self.index[(core, name)]


def _names(operand: str | tuple[str, ...]) -> list[str]:
    return [operand] if isinstance(operand, str) else list(operand)


def _ints(values: list, dtype=np.int64) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(-1)


def per_step_source(buffer: Buffer) -> bool:
    """Whether values sent from ``buffer`` are per-step errors.

    Every time step starts its inference from rest (x = mu, so every error node is 0), and every
    core knows when a step starts. An error channel therefore restarts at 0 on both ends at the
    step boundary (sender's delta reference, receiver's inbox and sigma-delta accumulator; on
    Loihi, a dendrite whose current decays fully each step) instead of spending events to
    carry the return to 0. Activities persist across steps and stay sigma-delta coded.
    """
    binding = buffer.binding
    return binding is not None and binding.space == "state" and binding.name == "eps"


# -- buffers ---------------------------------------------------------------------------------

def _arena(program: Program, lanes: int) -> tuple[list[tuple[int, Buffer]], Buffers, int, int]:
    """Buffer ids (shared buffers first), the buffer table, shared size and arena size."""
    order = [(core.core, buf) for per_lane in (False, True) for core in program.cores
             for buf in core.buffers.values() if buf.per_lane == per_lane]
    offsets, offset = [], 0
    for _, buf in order:
        offsets.append(offset)
        offset += buf.size * (lanes if buf.per_lane else 1)
    table = Buffers(
        off=_ints(offsets), size=_ints([b.size for _, b in order]),
        lane=_ints([int(b.per_lane) for _, b in order]),
        rows=_ints([b.shape[0] if b.shape else 1 for _, b in order]),
        cols=_ints([b.shape[1] if len(b.shape) == 2 else 1 for _, b in order]),
        core=_ints([c for c, _ in order]))
    shared = sum(buf.size for _, buf in order if not buf.per_lane)
    return order, table, shared, offset


# -- sigma-delta accumulators ----------------------------------------------------------------

def _accumulator_keys(program: Program, order: list[tuple[int, Buffer]],
                      index: dict[tuple[int, str], int]) -> dict[tuple[int, int], int]:
    """One accumulator per distinct (weight, inbox) pair read by a matvec, in program order."""
    keys: dict[tuple[int, int], int] = {}
    for core in program.cores:
        for ops in core.phases.values():
            for op in ops:
                if op.kind != "matvec":
                    continue
                w, x = index[(core.core, op.inputs["w"])], index[(core.core, op.inputs["x"])]
                if order[x][1].kind != INBOX:
                    raise ValueError(f"core {core.core}: matvec reads {op.inputs['x']}, which is not "
                                     f"an inbox; hwsim drives every matvec by the events arriving in "
                                     f"its inbox")
                keys.setdefault((w, x), len(keys))
    return keys


def _accumulators(keys: dict[tuple[int, int], int], buffers: Buffers, lanes: int,
                  step_inboxes: set[int]) -> tuple[Accumulators, int, int, int, int]:
    """The accumulator table and the sizes of the sums, seen values, nonzero counts and
    column-major weight copies."""
    a_w = [w for w, _ in keys]
    a_x = [x for _, x in keys]
    rows = _ints([buffers.rows[w] for w in a_w])
    cols = _ints([buffers.cols[w] for w in a_w])
    sums = np.concatenate([[0], np.cumsum(rows * lanes)]).astype(np.int64)
    seen = np.concatenate([[0], np.cumsum(cols * lanes)]).astype(np.int64)
    w_nonzero = np.full(buffers.off.shape[0], -1, np.int64)
    w_columns = np.full(buffers.off.shape[0], -1, np.int64)
    nonzero = 0
    by_column = 0
    for w in sorted(set(a_w)):
        w_nonzero[w] = nonzero
        nonzero += int(buffers.cols[w])
        w_columns[w] = by_column
        by_column += int(buffers.rows[w] * buffers.cols[w])
    table = Accumulators(w=_ints(a_w), x=_ints(a_x), rows=rows, cols=cols, sums=sums[:-1],
                         seen=seen[:-1], w_nonzero=w_nonzero, w_columns=w_columns,
                         per_step=_ints([int(x in step_inboxes) for x in a_x]))
    return table, int(sums[-1]), int(seen[-1]), nonzero, by_column


# -- send groups -----------------------------------------------------------------------------

class _SendGroupBuilder:
    """Send groups of send ops, in instruction order: consecutive channels sharing a source
    range. The delta-coding reference (last value sent) belongs to the channels, so two send
    ops of the same channels (errors sent in infer and again in learn) share it."""

    def __init__(self, program: Program, order: list[tuple[int, Buffer]],
                 index: dict[tuple[int, str], int], lanes: int, hops: np.ndarray) -> None:
        self.program, self.order, self.index, self.lanes, self.hops = program, order, index, lanes, hops
        self.groups: dict[str, list[int]] = {f: [] for f in SendGroups._fields}
        self.channels: dict[str, list[int]] = {f: [] for f in Channels._fields}
        self.refs: dict[str, list[int]] = {f: [] for f in References._fields}
        self.channel_ids: list[int] = []
        self.channel_hops: list[int] = []
        self.ref_of: dict[tuple[int, ...], int] = {}  # channel ids of a group -> its references
        self.ref_size = 0
        self.step_inboxes: set[int] = set()
        self.other_inboxes: set[int] = set()

    def _threshold_group(self, kind: str) -> int:
        group = self.program.settings.threshold_group(kind)
        if group not in THRESHOLD_GROUPS:
            raise ValueError(f"channel kind {kind} is sent by a core but travels at the "
                             f"{group!r} threshold; sends know {', '.join(THRESHOLD_GROUPS)}")
        return THRESHOLD_GROUPS.index(group)

    def add(self, core: int, op: Op) -> tuple[int, int]:
        """The groups of one send op: (first, end) group ids."""
        ch, names, g = self.program.channels, self.program.channels.names, self.groups
        first = len(g["src"])
        previous = None
        members: list[int] = []
        for cid in (int(c) for c in op.channel_ids()):
            src = self.index[(core, names[int(ch.src_buffer[cid])])]
            key = (src, int(ch.src_start[cid]), int(ch.length[cid]))
            if key != previous:
                if len(g["src"]) > first:
                    self._close(core, members)
                g["src"].append(key[0])
                g["start"].append(key[1])
                g["length"].append(key[2])
                g["first_channel"].append(len(self.channel_ids))
                g["threshold_group"].append(self._threshold_group(names[int(ch.kind[cid])]))
                members = []
                previous = key
            members.append(cid)
            dst_core = int(ch.dst[cid])
            dst = self.index[(dst_core, names[int(ch.dst_buffer[cid])])]
            per_step = per_step_source(self.order[src][1])
            (self.step_inboxes if per_step else self.other_inboxes).add(dst)
            self.channels["dst_buf"].append(dst)
            self.channels["dst_start"].append(int(ch.dst_start[cid]))
            self.channels["dst_core"].append(dst_core)
            self.channel_hops.append(int(self.hops[cid]))
            self.channel_ids.append(cid)
        if len(g["src"]) > first:
            self._close(core, members)
        return first, len(g["src"])

    def _close(self, core: int, members: list[int]) -> None:
        g = self.groups
        g["end_channel"].append(len(self.channel_ids))
        g["hops"].append(sum(self.channel_hops[g["first_channel"][-1]:]))
        key = tuple(members)
        if key not in self.ref_of:
            self.ref_of[key] = self.ref_size
            self.refs["off"].append(self.ref_size)
            self.refs["length"].append(g["length"][-1])
            self.refs["core"].append(core)
            self.refs["per_step"].append(int(per_step_source(self.order[g["src"][-1]][1])))
            self.ref_size += g["length"][-1] * self.lanes
        g["ref"].append(self.ref_of[key])

    def tables(self) -> tuple[SendGroups, Channels, References]:
        mixed = self.step_inboxes & self.other_inboxes
        if mixed:
            core, buf = self.order[min(mixed)]
            raise ValueError(f"core {core}: inbox {buf.name} receives both per-step errors and "
                             f"persistent values; hwsim cannot restart it at every step")
        return (SendGroups(**{f: _ints(v) for f, v in self.groups.items()}),
                Channels(**{f: _ints(v) for f, v in self.channels.items()}),
                References(**{f: _ints(v) for f, v in self.refs.items()}))


# -- instructions ----------------------------------------------------------------------------

def _operands(core: int, op: Op, index: dict[tuple[int, str], int],
              list_ids: list[int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Operand buffer ids by slot (``compiler.ops`` roles), and the range of the op's concat
    operands appended to ``list_ids``. A role the op kind does not declare is an error."""
    if op.kind not in OPS:
        raise ValueError(f"core {core}: unknown op kind {op.kind!r}")
    roles = OPS[op.kind].roles
    slots = np.full(SLOTS, -1, np.int64)
    listed = (len(list_ids), len(list_ids))
    for role, operand in {**op.inputs, **op.outputs}.items():
        spec = roles.get(role)
        if spec is None:
            raise ValueError(f"core {core}: op {op.kind} has no role {role!r} "
                             f"(compiler.ops declares {', '.join(roles) or 'none'})")
        names = _names(operand)
        if spec.mode == "concat":
            start = len(list_ids)
            list_ids.extend(index[(core, name)] for name in names)
            listed = (start, len(list_ids))
            continue
        if len(names) > spec.width:
            raise ValueError(f"core {core}: op {op.kind} role {role!r} takes {spec.width} "
                             f"buffer(s), got {len(names)}")
        for k, name in enumerate(names):
            slots[spec.slot + k] = index[(core, name)]
    return slots, listed


def _params(op: Op, ints: np.ndarray, floats: np.ndarray) -> None:
    """The op's parameters into its int and float columns (``hwsim.kernels.tables``)."""
    p = op.params
    if op.kind in ("activate", "gate"):
        ints[INT_ACTIVATION] = ACTIVATIONS[p["fn"]]
    elif op.kind == "relax":
        floats[FLOAT_STEP] = p["step"]
    elif op.kind in ("xent_error", "xent_loss"):
        floats[FLOAT_OFFSET] = p["offset"]
    elif op.kind == "apply_sgd":
        floats[FLOAT_LR] = p["lr"]
    elif op.kind == "apply_adam":
        floats[[FLOAT_LR, FLOAT_BETA1, FLOAT_BETA2, FLOAT_EPSILON]] = (
            p["lr"], p["beta1"], p["beta2"], p["epsilon"])


def _instructions(program: Program, index: dict[tuple[int, str], int],
                  accumulators: dict[tuple[int, int], int],
                  sends: _SendGroupBuilder) -> tuple[Instructions, Phases]:
    """Instructions phase by phase (program order), stage by stage, core by core, and the
    phase table."""
    op_codes, op_cores, slots_rows, int_rows, float_rows = [], [], [], [], []
    out_ptr, out_ids, list_ids = [0], [], []
    stage_ptr = [0]
    phase_rows: dict[str, list[int]] = {f: [] for f in Phases._fields if f != "stage_ptr"}
    for phase in program.phases:
        applies = False
        phase_rows["first_stage"].append(len(stage_ptr) - 1)
        for stage in range(phase.stages):
            for core in program.cores:
                c = core.core
                for op in core.phases.get(phase.name, []):
                    if op.stage != stage:
                        continue
                    slots, listed = _operands(c, op, index, list_ids)
                    ints = np.zeros(INTS, np.int64)
                    floats = np.zeros(FLOATS, np.float64)
                    ints[INT_LIST_FIRST], ints[INT_LIST_END] = listed
                    _params(op, ints, floats)
                    if op.kind == "matvec":
                        ints[INT_ACCUMULATOR] = accumulators[(slots[0], slots[1])]
                    if op.kind == "send":
                        ints[INT_GROUPS_FIRST], ints[INT_GROUPS_END] = sends.add(c, op)
                    applies |= OPS[op.kind].family == "apply"
                    op_codes.append(OPS[op.kind].code)
                    op_cores.append(c)
                    slots_rows.append(slots)
                    int_rows.append(ints)
                    float_rows.append(floats)
                    out_ids.extend(index[(c, name)] for operand in op.outputs.values()
                                   for name in _names(operand))
                    out_ptr.append(len(out_ids))
            stage_ptr.append(len(op_codes))
        for name, value in (("stages", phase.stages), ("repeat", phase.repeat),
                            ("when", PHASE_WHEN.index(phase.when)),
                            ("train_only", phase.train_only),
                            ("idle_without_loss", phase.idle_without_loss),
                            ("outputs", phase.outputs), ("applies", applies)):
            phase_rows[name].append(int(value))
    instructions = Instructions(
        op=_ints(op_codes), core=_ints(op_cores),
        slots=np.asarray(slots_rows, np.int64).reshape(-1, SLOTS),
        ints=np.asarray(int_rows, np.int64).reshape(-1, INTS),
        floats=np.asarray(float_rows, np.float64).reshape(-1, FLOATS),
        out_ptr=_ints(out_ptr), out_ids=_ints(out_ids), list_ids=_ints(list_ids))
    phases = Phases(**{f: _ints(v) for f, v in phase_rows.items()}, stage_ptr=_ints(stage_ptr))
    return instructions, phases


def _gate_memos(instructions: Instructions, buffers: Buffers, lanes: int) -> int:
    """Place each gate's derivative memo (``hwsim.kernels.elementwise``): where it starts
    into the gate's ``INT_DERIVATIVES`` (lane b at + b * its size); returns their total size."""
    gates = np.flatnonzero(instructions.op == OPS["gate"].code)
    sizes = lanes * buffers.size[instructions.slots[gates, slot("gate", "x")]]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    instructions.ints[gates, INT_DERIVATIVES] = starts[:-1]
    return int(starts[-1])


# -- host channels, LRU parameters, outputs --------------------------------------------------

def _host_channels(program: Program, index: dict[tuple[int, str], int]
                   ) -> tuple[HostChannels, int, dict[str, int]]:
    """Host streams (u, target, mask side by side in one row) into inboxes."""
    columns: dict[str, int] = {}
    width = 0
    for stream in HOST_STREAMS:
        columns[stream] = width
        width += int(program.host_inputs[stream])
    ch, names = program.channels, program.channels.names
    rows: dict[str, list[int]] = {f: [] for f in HostChannels._fields}
    for cid in np.flatnonzero(ch.src == HOST):
        rows["col"].append(columns[names[int(ch.src_buffer[cid])]] + int(ch.src_start[cid]))
        rows["length"].append(int(ch.length[cid]))
        rows["dst_buf"].append(index[(int(ch.dst[cid]), names[int(ch.dst_buffer[cid])])])
        rows["dst_start"].append(int(ch.dst_start[cid]))
    return HostChannels(**{f: _ints(v) for f, v in rows.items()}), width, columns


def _lru_params(program: Program, index: dict[tuple[int, str], int]) -> LruParams:
    cores = [core for core in program.cores if core.layer == "lru"]
    return LruParams(
        nu=_ints([index[(c.core, "nu")] for c in cores]),
        theta=_ints([index[(c.core, "theta")] if "theta" in c.buffers else -1 for c in cores]),
        gamma_log=_ints([index[(c.core, "gamma_log")] for c in cores]))


def _outputs(program: Program, index: dict[tuple[int, str], int]) -> tuple[Outputs, int]:
    """Output cores (the top layer): logits (mu), first logit, loss register; and V."""
    top = max(core.layer_index for core in program.cores)
    cores = [core for core in program.cores if core.layer_index == top]
    table = Outputs(mu=_ints([index[(c.core, "mu")] for c in cores]),
                    start=_ints([c.start for c in cores]),
                    loss=_ints([index[(c.core, "loss")] for c in cores]))
    return table, max(c.stop for c in cores)


# -- all of it -------------------------------------------------------------------------------

def encode(program: Program, lanes: int, hops: np.ndarray) -> Encoded:
    """Flatten ``program`` for ``lanes`` concurrent sequences; ``hops`` per channel."""
    if lanes < 1:
        raise ValueError("lanes must be at least 1")
    order, buffers, shared_size, arena_size = _arena(program, lanes)
    index = {(c, b.name): i for i, (c, b) in enumerate(order)}
    keys = _accumulator_keys(program, order, index)
    sends = _SendGroupBuilder(program, order, index, lanes, hops)
    instructions, phases = _instructions(program, index, keys, sends)
    derivatives_size = _gate_memos(instructions, buffers, lanes)
    send_groups, channels, references = sends.tables()
    accumulators, sums_size, seen_size, nonzero_size, columns_size = _accumulators(
        keys, buffers, lanes, sends.step_inboxes)
    host, host_width, host_columns = _host_channels(program, index)
    outputs, width = _outputs(program, index)
    inboxes = Inboxes(every=_ints([i for i, (_, b) in enumerate(order) if b.kind == INBOX]),
                      per_step=_ints(sorted(sends.step_inboxes)))
    tables = Tables(buffers=buffers, instructions=instructions, phases=phases, sends=send_groups,
                    channels=channels, references=references, host=host,
                    accumulators=accumulators, lru=_lru_params(program, index), outputs=outputs,
                    inboxes=inboxes)
    return Encoded(
        program=program, lanes=lanes, buffers=order, index=index, shared_size=shared_size,
        arena_size=arena_size, tables=tables, ref_size=sends.ref_size, sums_size=sums_size,
        seen_size=seen_size, nonzero_size=nonzero_size, columns_size=columns_size,
        derivatives_size=derivatives_size, channel_ids=_ints(sends.channel_ids),
        host_width=host_width, host_columns=host_columns, mask_col=host_columns["mask"],
        outputs=width, max_cols=max([1, *(int(b.shape[-1]) for _, b in order if b.shape)]))
