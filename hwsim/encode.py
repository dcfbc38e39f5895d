"""Encode a compiled ``Program`` once into flat integer and float tables for the kernels.

Everything the Numba kernels touch is a numpy array: one memory arena for every buffer of
every core, a buffer table, an instruction table ordered by (phase, stage, core, op), the
send groups with their channels, the host channels, and the hidden sigma-delta accumulators
of every ``matvec``. Python walks the program here, never on the hot path.

Arena layout: shared buffers (weights, parameters, accumulators, optimizer moments) first,
so two engines of the same program with different lane counts share offsets for them; then
per-lane buffers (compartments, registers, inboxes, traces), each stored lane-major
(``offset + lane * size + element``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.program import HOST, INBOX, PHASE_ORDER, Buffer, Op, Program

#: Operand slots per instruction (role -> slot); parts roles take two (re, im) slots.
SLOTS = 10
OPCODES = ("zero", "copy", "activate", "gate", "error", "matvec", "relax", "lru_predict",
           "lru_trace", "lru_synapse_trace", "lru_lambda_credit", "lru_gamma_credit",
           "lru_input_credit", "lru_input_credit_immediate", "outer_accumulate", "accumulate",
           "max", "sum_exp", "log_sum", "xent_error", "xent_loss", "se_error", "se_loss", "send",
           "apply_sgd", "apply_adam")
OP = {name: i for i, name in enumerate(OPCODES)}
#: activation name -> id used by the kernels
ACTIVATIONS = {"tanh": 0, "relu": 1, "gelu": 2, "identity": 3}
PHASE = {name: i for i, name in enumerate(PHASE_ORDER)}
HOST_STREAMS = ("u", "target", "mask")

# role -> slot, per op kind; a parts role occupies slot and slot + 1
_LAYOUT: dict[str, dict[str, int]] = {
    "zero": {"y": 0},
    "copy": {"x": 0, "y": 1},
    "activate": {"x": 0, "y": 1},
    "gate": {"x": 0, "point": 1, "y": 2},
    "error": {"value": 0, "prediction": 1, "eps": 2},
    "matvec": {"w": 0, "x": 1, "bias": 2, "y": 3},
    "relax": {"value": 0, "eps": 1, "drive": 2},
    "lru_predict": {"h": 0, "drive": 2, "nu": 4, "theta": 5, "gamma_log": 6, "mu": 7},
    "lru_trace": {"trace": 0, "src": 2, "nu": 4, "theta": 5},
    "lru_synapse_trace": {"trace": 0, "u": 2, "nu": 4, "theta": 5, "gamma_log": 6},
    "lru_lambda_credit": {"eps": 0, "sens": 2, "nu": 4, "theta": 5, "acc_nu": 6, "acc_theta": 7},
    "lru_gamma_credit": {"eps": 0, "sens": 2, "gamma_log": 6, "acc": 7},
    "lru_input_credit": {"eps": 0, "trace": 2, "acc": 7},
    "lru_input_credit_immediate": {"eps": 0, "u": 2, "gamma_log": 6, "acc": 7},
    "outer_accumulate": {"post": 0, "pre": 1, "acc": 2},
    "accumulate": {"x": 0, "acc": 1},
    "max": {"y": 2},
    "sum_exp": {"x": 0, "shift": 1, "y": 2},
    "log_sum": {"y": 2},
    "xent_error": {"logits": 0, "shift": 1, "logz": 2, "target": 3, "mask": 4, "eps": 5},
    "xent_loss": {"logits": 0, "shift": 1, "logz": 2, "target": 3, "mask": 4, "loss": 5},
    "se_error": {"prediction": 0, "target": 1, "mask": 2, "eps": 5},
    "se_loss": {"prediction": 0, "target": 1, "mask": 2, "loss": 5},
    "send": {},
    "apply_sgd": {"param": 0, "acc": 1},
    "apply_adam": {"param": 0, "acc": 1, "m": 2, "v": 3},
}


@dataclass
class Encoded:
    """The flat tables of one program for a given number of lanes (see module docstring)."""

    program: Program
    lanes: int
    buffers: list[tuple[int, Buffer]]  # (core, buffer) per buffer id
    index: dict[tuple[int, str], int]  # (core, buffer name) -> buffer id
    shared_size: int
    arena_size: int
    # buffer table
    b_off: np.ndarray
    b_size: np.ndarray
    b_lane: np.ndarray
    b_rows: np.ndarray
    b_cols: np.ndarray
    b_core: np.ndarray
    # instructions
    ins_op: np.ndarray
    ins_core: np.ndarray
    ins_a: np.ndarray  # (n, SLOTS) buffer ids, -1 if absent
    ins_i: np.ndarray  # (n, 4) int params: activation / accumulator / list range / send groups
    ins_f: np.ndarray  # (n, 4) float params
    out_ptr: np.ndarray  # outputs of instruction i: out_ids[out_ptr[i]:out_ptr[i+1]]
    out_ids: np.ndarray
    list_ids: np.ndarray  # concat operands (max, log_sum)
    # phases
    ph_first: np.ndarray  # first stage index of each phase (PHASE_ORDER)
    ph_nst: np.ndarray  # stages per phase (0 if absent)
    ph_repeat: np.ndarray
    stage_ptr: np.ndarray  # instructions of stage s: [stage_ptr[s], stage_ptr[s+1])
    # sends: groups of channels sharing one source range
    g_src: np.ndarray
    g_start: np.ndarray
    g_len: np.ndarray
    g_ch0: np.ndarray
    g_ch1: np.ndarray
    g_ref: np.ndarray  # offset of the group's delta-coding references (lane-major)
    g_hops: np.ndarray  # hops of one value sent on every channel of the group
    # 1: the group travels at the errors' threshold (errors, and the softmax normaliser scalars
    # that scale the output error); 0: at the activities' threshold
    g_error: np.ndarray
    ref_size: int
    c_dst_buf: np.ndarray  # per channel of a group (in group order)
    c_dst_start: np.ndarray
    c_hops: np.ndarray
    c_dst_core: np.ndarray
    c_id: np.ndarray  # program channel id (for inspection)
    r_off: np.ndarray  # distinct reference blocks: offset, values per lane, source core
    r_len: np.ndarray
    r_core: np.ndarray
    r_step: np.ndarray  # 1 if the block carries per-step errors (restarts at 0 every step)
    # host channels
    h_col: np.ndarray  # first column in the host input row
    h_len: np.ndarray
    h_dst_buf: np.ndarray
    h_dst_start: np.ndarray
    host_width: int
    host_columns: dict[str, int]
    mask_col: int
    # sigma-delta accumulators, one per distinct (weight, inbox) pair read by a matvec
    a_w: np.ndarray
    a_x: np.ndarray
    a_rows: np.ndarray
    a_cols: np.ndarray
    a_sacc: np.ndarray  # offset into the accumulator array (lanes x rows)
    a_xs: np.ndarray  # offset of the inbox values the accumulator has seen (lanes x cols)
    sacc_size: int
    xs_size: int
    w_nnz: np.ndarray  # offset of the per-column nonzero counts of weight buffer k, or -1
    nnz_size: int
    # LRU coefficient cache: (nu, theta or -1, gamma_log) buffer ids per LRU core
    lru_nu: np.ndarray
    lru_th: np.ndarray
    lru_gl: np.ndarray
    # outputs: logits (output-layer mu) and loss registers
    out_mu: np.ndarray
    out_start: np.ndarray
    loss_bufs: np.ndarray
    outputs: int
    inboxes: np.ndarray  # per-lane inbox buffer ids (zeroed at sequence start)
    step_inboxes: np.ndarray  # inboxes fed by per-step errors (zeroed at every step start)
    a_step: np.ndarray  # 1 if the accumulator reads one of those inboxes
    max_cols: int

    @property
    def cores(self) -> int:
        return len(self.program.cores)

    def buffer_id(self, core: int, name: str) -> int:
        return self.index[(core, name)]


def _names(operand: str | tuple[str, ...]) -> list[str]:
    return [operand] if isinstance(operand, str) else list(operand)


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


def encode(program: Program, lanes: int, hops: np.ndarray) -> Encoded:
    """Flatten ``program`` for ``lanes`` concurrent sequences; ``hops`` per channel."""
    if lanes < 1:
        raise ValueError("lanes must be at least 1")
    # -- buffers: shared ones first ------------------------------------------------------
    order: list[tuple[int, Buffer]] = []
    for per_lane in (False, True):
        for core in program.cores:
            for buf in core.buffers.values():
                if buf.per_lane == per_lane:
                    order.append((core.core, buf))
    index = {(c, b.name): i for i, (c, b) in enumerate(order)}
    nb = len(order)
    b_off = np.zeros(nb, np.int64)
    b_size = np.zeros(nb, np.int64)
    b_lane = np.zeros(nb, np.int64)
    b_rows = np.zeros(nb, np.int64)
    b_cols = np.zeros(nb, np.int64)
    b_core = np.zeros(nb, np.int64)
    offset = 0
    shared_size = sum(buf.size for _, buf in order if not buf.per_lane)
    for i, (core, buf) in enumerate(order):
        b_off[i] = offset
        b_size[i] = buf.size
        b_lane[i] = int(buf.per_lane)
        b_rows[i] = buf.shape[0] if buf.shape else 1
        b_cols[i] = buf.shape[1] if len(buf.shape) == 2 else 1
        b_core[i] = core
        offset += buf.size * (lanes if buf.per_lane else 1)
    arena_size = offset

    # -- sigma-delta accumulators ---------------------------------------------------------
    acc_key: dict[tuple[int, int], int] = {}
    a_w, a_x = [], []
    for core in program.cores:
        for ops in core.phases.values():
            for op in ops:
                if op.kind == "matvec":
                    w = index[(core.core, op.inputs["w"])]
                    x = index[(core.core, op.inputs["x"])]
                    if order[x][1].kind != INBOX:
                        raise ValueError(f"core {core.core}: matvec reads {op.inputs['x']}, "
                                         f"which is not an inbox; hwsim drives every matvec by "
                                         f"the events arriving in its inbox")
                    if (w, x) not in acc_key:
                        acc_key[(w, x)] = len(a_w)
                        a_w.append(w)
                        a_x.append(x)
    na = len(a_w)
    a_rows = np.array([b_rows[w] for w in a_w], np.int64)
    a_cols = np.array([b_cols[w] for w in a_w], np.int64)
    a_sacc = np.zeros(na, np.int64)
    a_xs = np.zeros(na, np.int64)
    s = x_ = 0
    for a in range(na):
        a_sacc[a], a_xs[a] = s, x_
        s += a_rows[a] * lanes
        x_ += a_cols[a] * lanes
    w_nnz = np.full(nb, -1, np.int64)
    nnz_size = 0
    for w in sorted(set(a_w)):
        w_nnz[w] = nnz_size
        nnz_size += b_cols[w]

    # -- channels and send groups ---------------------------------------------------------
    ch = program.channels
    names = ch.names
    g_src, g_start, g_len, g_ch0, g_ch1, g_ref, g_error = [], [], [], [], [], [], []
    c_dst_buf, c_dst_start, c_hops, c_dst_core, c_id = [], [], [], [], []
    ref_size = 0

    ref_of: dict[tuple[int, ...], int] = {}  # channel ids of a group -> its references
    r_off: list[int] = []  # distinct reference blocks (offset, length per lane, source core)
    r_len: list[int] = []
    r_core: list[int] = []
    r_step: list[int] = []
    step_inbox_set: set[int] = set()
    other_inbox_set: set[int] = set()

    def groups_of(core: int, op: Op) -> tuple[int, int]:
        """Send groups of one send op: consecutive channels sharing a source range. The
        delta-coding reference (last value sent) belongs to the channels, so two send ops
        of the same channels (errors sent in infer and again in learn) share it."""
        nonlocal ref_size
        first = len(g_src)
        previous = None
        members: list[int] = []

        def close() -> None:
            nonlocal ref_size
            g_ch1.append(len(c_id))
            key = tuple(members)
            if key not in ref_of:
                ref_of[key] = ref_size
                r_off.append(ref_size)
                r_len.append(g_len[-1])
                r_core.append(core)
                r_step.append(int(per_step_source(order[g_src[-1]][1])))
                ref_size += g_len[-1] * lanes
            g_ref.append(ref_of[key])

        for cid in op.channel_ids():
            cid = int(cid)
            src = index[(core, names[int(ch.src_buffer[cid])])]
            key = (src, int(ch.src_start[cid]), int(ch.length[cid]))
            if key != previous:
                if len(g_src) > first:
                    close()
                g_src.append(key[0])
                g_error.append(int(names[int(ch.kind[cid])] != "activity"))
                g_start.append(key[1])
                g_len.append(key[2])
                g_ch0.append(len(c_id))
                members = []
                previous = key
            members.append(cid)
            dst_core = int(ch.dst[cid])
            dst = index[(dst_core, names[int(ch.dst_buffer[cid])])]
            (step_inbox_set if per_step_source(order[src][1]) else other_inbox_set).add(dst)
            c_dst_buf.append(dst)
            c_dst_start.append(int(ch.dst_start[cid]))
            c_hops.append(int(hops[cid]))
            c_dst_core.append(dst_core)
            c_id.append(cid)
        if len(g_src) > first:
            close()
        return first, len(g_src)

    # -- instructions, phase by phase, stage by stage, core by core -----------------------
    ins_op, ins_core, ins_a, ins_i, ins_f = [], [], [], [], []
    out_ptr = [0]
    out_ids: list[int] = []
    list_ids: list[int] = []
    ph_first = np.zeros(len(PHASE_ORDER), np.int64)
    ph_nst = np.zeros(len(PHASE_ORDER), np.int64)
    ph_repeat = np.zeros(len(PHASE_ORDER), np.int64)
    stage_ptr = [0]
    n_stages = 0
    for p, name in enumerate(PHASE_ORDER):
        phase = program.phase(name)
        ph_first[p] = n_stages
        if phase is None:
            continue
        ph_nst[p] = phase.stages
        ph_repeat[p] = phase.repeat
        for stage in range(phase.stages):
            for core in program.cores:
                for op in core.phases.get(name, []):
                    if op.stage != stage:
                        continue
                    c = core.core
                    slots = np.full(SLOTS, -1, np.int64)
                    ints = np.zeros(4, np.int64)
                    floats = np.zeros(4, np.float64)
                    layout = _LAYOUT[op.kind]
                    for role, operand in {**op.inputs, **op.outputs}.items():
                        if role not in layout:
                            continue  # concat roles go to the list table below
                        for k, buf_name in enumerate(_names(operand)):
                            slots[layout[role] + k] = index[(c, buf_name)]
                    if op.kind in ("max", "log_sum"):
                        ints[2] = len(list_ids)
                        for buf_name in _names(op.inputs["x"]):
                            list_ids.append(index[(c, buf_name)])
                        ints[3] = len(list_ids)
                    if op.kind in ("activate", "gate"):
                        ints[0] = ACTIVATIONS[op.params["fn"]]
                    if op.kind == "matvec":
                        ints[1] = acc_key[(slots[0], slots[1])]
                    if op.kind == "send":
                        ints[0], ints[1] = groups_of(c, op)
                    if op.kind == "relax":
                        floats[0] = op.params["step"]
                    if op.kind in ("xent_error", "xent_loss"):
                        floats[0] = op.params["offset"]
                    if op.kind == "apply_sgd":
                        floats[0] = op.params["lr"]
                    if op.kind == "apply_adam":
                        floats[:] = (op.params["lr"], op.params["beta1"], op.params["beta2"],
                                     op.params["epsilon"])
                    ins_op.append(OP[op.kind])
                    ins_core.append(c)
                    ins_a.append(slots)
                    ins_i.append(ints)
                    ins_f.append(floats)
                    for operand in op.outputs.values():
                        for buf_name in _names(operand):
                            out_ids.append(index[(c, buf_name)])
                    out_ptr.append(len(out_ids))
            n_stages += 1
            stage_ptr.append(len(ins_op))

    # -- host channels ---------------------------------------------------------------------
    host_columns: dict[str, int] = {}
    width = 0
    for stream in HOST_STREAMS:
        host_columns[stream] = width
        width += int(program.host_inputs[stream])
    h_col, h_len, h_dst_buf, h_dst_start = [], [], [], []
    for cid in np.flatnonzero(ch.src == HOST):
        stream = names[int(ch.src_buffer[cid])]
        dst_core = int(ch.dst[cid])
        h_col.append(host_columns[stream] + int(ch.src_start[cid]))
        h_len.append(int(ch.length[cid]))
        h_dst_buf.append(index[(dst_core, names[int(ch.dst_buffer[cid])])])
        h_dst_start.append(int(ch.dst_start[cid]))

    # -- LRU coefficient cache, outputs ----------------------------------------------------
    lru_nu, lru_th, lru_gl = [], [], []
    out_mu, out_start, loss_bufs = [], [], []
    top = max(core.layer_index for core in program.cores)
    for core in program.cores:
        if core.layer == "lru":
            lru_nu.append(index[(core.core, "nu")])
            lru_th.append(index[(core.core, "theta")] if "theta" in core.buffers else -1)
            lru_gl.append(index[(core.core, "gamma_log")])
        if core.layer_index == top:
            out_mu.append(index[(core.core, "mu")])
            out_start.append(core.start)
            loss_bufs.append(index[(core.core, "loss")])
    outputs = max(core.stop for core in program.cores if core.layer_index == top)
    inboxes = np.array([i for i, (_, b) in enumerate(order) if b.kind == INBOX], np.int64)
    mixed = step_inbox_set & other_inbox_set
    if mixed:
        core, buf = order[min(mixed)]
        raise ValueError(f"core {core}: inbox {buf.name} receives both per-step errors and "
                         f"persistent values; hwsim cannot restart it at every step")
    step_inboxes = np.array(sorted(step_inbox_set), np.int64)
    a_step = np.array([int(x in step_inbox_set) for x in a_x], np.int64)
    # longest row any kernel scans per lane: matrix columns, or a vector's length
    max_cols = max([1, *(int(b.shape[-1]) for _, b in order if b.shape)])

    def arr(values: list, dtype=np.int64) -> np.ndarray:
        return np.asarray(values, dtype=dtype).reshape(-1)

    return Encoded(
        program=program, lanes=lanes, buffers=order, index=index, shared_size=shared_size,
        arena_size=arena_size, b_off=b_off, b_size=b_size, b_lane=b_lane, b_rows=b_rows,
        b_cols=b_cols, b_core=b_core,
        ins_op=arr(ins_op), ins_core=arr(ins_core),
        ins_a=np.asarray(ins_a, np.int64).reshape(-1, SLOTS),
        ins_i=np.asarray(ins_i, np.int64).reshape(-1, 4),
        ins_f=np.asarray(ins_f, np.float64).reshape(-1, 4),
        out_ptr=arr(out_ptr), out_ids=arr(out_ids), list_ids=arr(list_ids),
        ph_first=ph_first, ph_nst=ph_nst, ph_repeat=ph_repeat, stage_ptr=arr(stage_ptr),
        g_src=arr(g_src), g_start=arr(g_start), g_len=arr(g_len), g_ch0=arr(g_ch0),
        g_ch1=arr(g_ch1), g_ref=arr(g_ref),
        g_hops=np.array([sum(c_hops[g_ch0[g]:g_ch1[g]]) for g in range(len(g_src))], np.int64),
        g_error=arr(g_error),
        ref_size=ref_size, c_dst_buf=arr(c_dst_buf),
        c_dst_start=arr(c_dst_start), c_hops=arr(c_hops), c_dst_core=arr(c_dst_core),
        c_id=arr(c_id), r_off=arr(r_off), r_len=arr(r_len), r_core=arr(r_core),
        r_step=arr(r_step),
        h_col=arr(h_col), h_len=arr(h_len), h_dst_buf=arr(h_dst_buf),
        h_dst_start=arr(h_dst_start), host_width=width, host_columns=host_columns,
        mask_col=host_columns["mask"],
        a_w=arr(a_w), a_x=arr(a_x), a_rows=a_rows, a_cols=a_cols, a_sacc=a_sacc, a_xs=a_xs,
        sacc_size=int(s), xs_size=int(x_), w_nnz=w_nnz,
        nnz_size=int(nnz_size), lru_nu=arr(lru_nu), lru_th=arr(lru_th), lru_gl=arr(lru_gl),
        out_mu=arr(out_mu), out_start=arr(out_start), loss_bufs=arr(loss_bufs), outputs=outputs,
        inboxes=inboxes, step_inboxes=step_inboxes, a_step=a_step, max_cols=max_cols,
    )
