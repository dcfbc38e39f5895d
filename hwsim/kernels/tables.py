"""The named tables the kernels read, and the state and scratch arrays they write.

``hwsim.encode`` builds the tables from a program (once); ``hwsim.engine.Engine`` allocates
the state and scratch. Every record is a ``typing.NamedTuple`` of numpy arrays (numba takes
heterogeneous named tuples as arguments), so kernels read ``tables.buffers.off[k]``, never a
positional index. Buffer ids index ``Buffers``; per-lane buffers are stored lane-major
(``off + lane * size + element``, ``base``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.jit import kernel

#: every (op kind, role) whose slot a kernel module reads (tests/hwsim/test_kernel_vocabulary.py)
SLOTS_READ: set[tuple[str, str]] = set()


def slot(op: str, role: str) -> int:
    """The operand slot of ``role`` of op kind ``op`` (``compiler.ops``); a parts role's
    imaginary compartment is at ``slot + 1``."""
    found = OPS[op].roles[role].slot
    if found is None:
        raise ValueError(f"op {op}: role {role} has no slot (concat roles use the list table)")
    SLOTS_READ.add((op, role))
    return found


#: columns of ``Instructions.ints``
INT_ACTIVATION = 0  # activate, gate: activation id (hwsim.encode.ACTIVATIONS)
INT_ACCUMULATOR = 1  # matvec: its sigma-delta accumulator
INT_DERIVATIVES = 1  # gate: where its derivatives' memo starts (lane b at + b * size)
INT_GROUPS_FIRST, INT_GROUPS_END = 0, 1  # send: its send groups
INT_LIST_FIRST, INT_LIST_END = 2, 3  # max, log_sum: its concat operands in list_ids
INTS = 4
#: columns of ``Instructions.floats``
FLOAT_STEP = 0  # relax
FLOAT_OFFSET = 0  # xent_error, xent_loss
FLOAT_LR, FLOAT_BETA1, FLOAT_BETA2, FLOAT_EPSILON = 0, 1, 2, 3  # apply_sgd, apply_adam
FLOATS = 4

#: columns of ``Scratch.records`` (one row per sending lane of a send group in a stage; the
#: sending instruction orders the delivery of several workers' queues)
RECORD_GROUP, RECORD_LANE, RECORD_FIRST, RECORD_COUNT, RECORD_INSTRUCTION = range(5)
RECORD_COLUMNS = 5
#: the populations whose delta-coding thresholds a send group travels at (Options.thresholds)
THRESHOLD_GROUPS = ("activity", "error")
#: how stored values are rounded (Options.rounding)
ROUND_NONE, ROUND_FIXED, ROUND_FLOAT32 = range(3)
#: when a phase runs (compiler.program.PHASE_WHEN)
SEQUENCE_START, STEP, STEP_WITH_LOSS, SEQUENCE_END = range(4)


class Buffers(NamedTuple):
    """Per buffer id: arena offset, values per lane, 1 if per lane, rows, columns, core."""

    off: np.ndarray
    size: np.ndarray
    lane: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    core: np.ndarray


class Instructions(NamedTuple):
    """Per instruction, ordered by (phase, stage, core, op): opcode (compiler.ops code),
    core, operand buffer ids by slot (-1 if absent), int and float params, the buffers it
    writes (``out_ids[out_ptr[i]:out_ptr[i + 1]]``) and the concat operand table."""

    op: np.ndarray
    core: np.ndarray
    slots: np.ndarray
    ints: np.ndarray
    floats: np.ndarray
    out_ptr: np.ndarray
    out_ids: np.ndarray
    list_ids: np.ndarray


class Phases(NamedTuple):
    """The program's phases in program order: first stage, stages, repeat, when (code above),
    train_only, idle_without_loss, outputs (loss and logits read after it), applies (holds
    optimizer ops: an optimizer step, after which derived tables are refreshed); and the
    instructions of stage s, ``[stage_ptr[s], stage_ptr[s + 1])``."""

    first_stage: np.ndarray
    stages: np.ndarray
    repeat: np.ndarray
    when: np.ndarray
    train_only: np.ndarray
    idle_without_loss: np.ndarray
    outputs: np.ndarray
    applies: np.ndarray
    stage_ptr: np.ndarray


class SendGroups(NamedTuple):
    """Consecutive channels of a send op sharing one source range: source buffer, start,
    length, its channels ``[first_channel, end_channel)`` of ``Channels``, the offset of its
    delta-coding references, hops of one value sent on all its channels, and the threshold
    group (index into THRESHOLD_GROUPS)."""

    src: np.ndarray
    start: np.ndarray
    length: np.ndarray
    first_channel: np.ndarray
    end_channel: np.ndarray
    ref: np.ndarray
    hops: np.ndarray
    threshold_group: np.ndarray


class Channels(NamedTuple):
    """Per channel of a send group (in group order): destination buffer, start and core."""

    dst_buf: np.ndarray
    dst_start: np.ndarray
    dst_core: np.ndarray


class References(NamedTuple):
    """Distinct delta-coding reference blocks: offset, values per lane, source core, and 1 if
    the block carries per-step errors (restarts at 0 every step)."""

    off: np.ndarray
    length: np.ndarray
    core: np.ndarray
    per_step: np.ndarray


class HostChannels(NamedTuple):
    """Host streams into inboxes: first column of the host row, length, destination."""

    col: np.ndarray
    length: np.ndarray
    dst_buf: np.ndarray
    dst_start: np.ndarray


class Accumulators(NamedTuple):
    """Sigma-delta accumulators, one per distinct (weight, inbox) read by a matvec: weight and
    inbox buffer, rows, columns, offsets of the sums (lanes x rows) and of the inbox values
    they have seen (lanes x cols), the offsets of each weight buffer's per-column nonzero
    counts and of its column-major copy (by buffer id, -1 if none), and 1 if the inbox
    carries per-step errors."""

    w: np.ndarray
    x: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    sums: np.ndarray
    seen: np.ndarray
    w_nonzero: np.ndarray
    w_columns: np.ndarray
    per_step: np.ndarray


class LruParams(NamedTuple):
    """Per LRU core: buffer ids of nu, theta (-1 if real) and gamma_log."""

    nu: np.ndarray
    theta: np.ndarray
    gamma_log: np.ndarray


class Outputs(NamedTuple):
    """Output cores: prediction (mu) buffer and its first logit, loss register."""

    mu: np.ndarray
    start: np.ndarray
    loss: np.ndarray


class Inboxes(NamedTuple):
    """Per-lane inboxes: all (zeroed at sequence start), those fed by per-step errors (zeroed
    at every training step start)."""

    every: np.ndarray
    per_step: np.ndarray


class Tables(NamedTuple):
    """Everything the encoder built; read-only for the kernels."""

    buffers: Buffers
    instructions: Instructions
    phases: Phases
    sends: SendGroups
    channels: Channels
    references: References
    host: HostChannels
    accumulators: Accumulators
    lru: LruParams
    outputs: Outputs
    inboxes: Inboxes


class State(NamedTuple):
    """What the kernels write and keep between calls (allocated by the engine)."""

    mem: np.ndarray  # the arena: every buffer of every core
    ref: np.ndarray  # last value sent per channel value (delta coding)
    sums: np.ndarray  # sigma-delta accumulators
    seen: np.ndarray  # inbox values the accumulators have seen
    exp: np.ndarray  # exp(nu), exp(theta), exp(gamma_log), at the parameters' offsets
    lam_re: np.ndarray  # Re lambda, at nu's offset
    lam_im: np.ndarray  # Im lambda
    q_scale: np.ndarray  # per buffer: fixed-point grid (identity when not fixed)
    q_lo: np.ndarray
    q_hi: np.ndarray
    q_max: np.ndarray  # largest magnitude seen per buffer (calibration)
    stale: np.ndarray  # per (accumulator, lane): weights changed since its last recompute
    col_nonzero: np.ndarray  # nonzero weights per column of every matvec weight
    by_column: np.ndarray  # every matvec weight column-major (column c contiguous), for events
    derivative_at: np.ndarray  # gate: per lane and value, the point its memo's derivative is of
    derivative: np.ndarray  # .. and that derivative (``elementwise``)
    counts: np.ndarray  # (lanes + 1, cores, fields)
    op_counts: np.ndarray  # (work kinds, fields)
    rest_counts: np.ndarray  # counts of the idle phase at a step at rest (driver.idle_phase)
    rest_op_counts: np.ndarray
    rest_recorded: np.ndarray  # 1 once they are recorded


class Scratch(NamedTuple):
    """Per-call working arrays, each owned by one kernel."""

    fired: np.ndarray  # messages: indices of the values sent in the current stage (and a spare slot)
    records: np.ndarray  # messages: RECORD_COLUMNS per sending lane of a send group
    event_values: np.ndarray  # synapse, per lane and inbox column (lanes x width): what the column
    #   adds (its change, its value when recomputing, 0.0 without an event)
    event_columns: np.ndarray  # synapse, per lane (lanes x width): the inbox columns with an event,
    #   in column order (a lane with events in under half its columns adds them from this list)
    matvec_nonzero: np.ndarray  # synapse, per lane: columns with a nonzero addition (listed)
    matvec_events: np.ndarray  # synapse, per lane: inbox columns processed
    matvec_effective: np.ndarray  # synapse, per lane: effective synaptic ops
    learn_cols: np.ndarray  # learn: nonzero pre-synaptic columns per lane (lanes x width)
    learn_nonzero: np.ndarray  # learn, per lane: how many
    learn_rows: np.ndarray  # learn, per lane: rows with a nonzero post value
    learn_post: np.ndarray  # learn, per lane: offset of the post vector
    learn_pre: np.ndarray  # learn, per lane: offset of the pre vector
    credit_updates: np.ndarray  # lru credit, per lane: learning updates
    credit_re: np.ndarray  # lru decay credit, per neuron (width): the sum over lanes, real part
    credit_im: np.ndarray  # .. imaginary part
    credit_touched: np.ndarray  # .. per neuron (width): 1 if a lane had an error there
    counts_before: np.ndarray  # driver: counts per lane row before a step ((lanes + 1) x fields)
    counts_after: np.ndarray  # driver: and after it


class Team(NamedTuple):
    """What the workers of one ``driver.execute`` share (``hwsim.team`` plans it): worker t
    runs the lane-local instructions for its lanes and the others whose ``owner`` is t, and
    at the end of a stage delivers its own lanes' events of lane-local sends and every
    worker's other queued events into the inboxes of the cores whose ``receiver`` it is. One
    worker: the same, with nothing to wait for."""

    flags: np.ndarray  # sync: barriers reached, one cache line (sync.LINE slots) per worker
    owner: np.ndarray  # per instruction: the worker that runs it (unless it is lane-local)
    receiver: np.ndarray  # per core: the worker that writes its inboxes and their counts
    local: np.ndarray  # per instruction: 1 if every worker runs it for its own lanes
    stage_local: np.ndarray  # per stage: 0 no lane-local instruction, 1 only such, 2 both
    first_lane: np.ndarray  # per worker: its lanes in lane-local instructions, first ..
    end_lane: np.ndarray  # .. end - 1
    queued: np.ndarray  # per worker (sync.LINE apart): event records queued in this stage
    records: np.ndarray  # (workers, records, RECORD_COLUMNS): each worker's Scratch.records
    fired: np.ndarray  # (workers, values + 1): each worker's Scratch.fired
    cursor: np.ndarray  # (workers, workers): each worker's next record of every queue
    op_counts: np.ndarray  # (workers, kinds, fields): workers 1.. count here; worker 0 folds them


class Options(NamedTuple):
    """How one ``driver.execute`` call runs."""

    lanes: int
    train: bool
    reset: bool
    apply_end: bool
    dense: bool
    rounding: int
    track: bool
    replay: bool
    mask_col: int
    thresholds: np.ndarray  # by THRESHOLD_GROUPS
    scale: float


@kernel
def base(buffers, k, lane):
    """Arena offset of lane ``lane`` of buffer ``k`` (its only copy if shared)."""
    return buffers.off[k] + lane * buffers.size[k] * buffers.lane[k]

