"""The driver: one ``execute`` call runs a block of time steps without returning to Python,
following the program's phases in program order and each phase's ``when``.

Inside a phase, stages run in order; in a stage every core runs its instructions (dispatched
by op family, ``FAMILY_OF``, from ``compiler.ops``), and the events its sends queued are
delivered at the end of the stage (``messages``). A call runs: the ``sequence_start`` phases
and the engine's reset (if asked), then per step the per-step restart of the error channels
(training), the host inputs and the ``step`` phases in order (``train_only`` ones only when
training; the loss and logits are read after the phase flagged ``outputs``; the phase flagged
``idle_without_loss`` may be charged its recorded counts instead of running, see
``_idle_phase``); the ``step_with_loss`` phases after a training step that carries loss; and
the ``sequence_end`` phases after the last step when the caller asks (``apply_end``). A phase
that holds optimizer ops is an optimizer step: the step count goes up before it and the
tables derived from the parameters are refreshed after it.
"""

from __future__ import annotations

import numpy as np

from compiler.ops import BY_CODE, FAMILIES
from hwsim.kernels import apply as apply_ops
from hwsim.kernels import elementwise, learn, lru, messages, output, synapse
from hwsim.kernels.counts import FIELD_COUNT
from hwsim.kernels.jit import inlined, kernel, record_entry
from hwsim.kernels.numeric import round_stored
from hwsim.kernels.resets import refresh, sequence_reset, step_reset
from hwsim.kernels.sync import LINE, barrier
from hwsim.kernels.tables import ROUND_NONE, SEQUENCE_END, SEQUENCE_START, STEP, STEP_WITH_LOSS, base

#: the modules that implement the op families, each declaring FAMILY and IMPLEMENTS
FAMILY_MODULES = (elementwise, synapse, lru, learn, output, messages, apply_ops)
ELEMENTWISE = FAMILIES.index(elementwise.FAMILY)
SYNAPSE = FAMILIES.index(synapse.FAMILY)
LRU = FAMILIES.index(lru.FAMILY)
LEARN = FAMILIES.index(learn.FAMILY)
OUTPUT = FAMILIES.index(output.FAMILY)
MESSAGE = FAMILIES.index(messages.FAMILY)
APPLY = FAMILIES.index(apply_ops.FAMILY)
#: family index of every opcode
FAMILY_OF = np.array([FAMILIES.index(BY_CODE[code].family) for code in range(len(BY_CODE))], np.int64)


@kernel
def _store_outputs(i, first, end, rounding, track, tables, state):
    """Round every value an instruction wrote for lanes ``first`` .. ``end`` - 1 as its buffer
    stores it (fixed-point grid or float32) and/or record the largest magnitude seen per
    buffer (calibration; one worker per buffer: ``run_phase`` splits no lanes then)."""
    buffers, ins = tables.buffers, tables.instructions
    mem, q_scale, q_lo, q_hi, qmax = state.mem, state.q_scale, state.q_lo, state.q_hi, state.q_max
    for q in range(ins.out_ptr[i], ins.out_ptr[i + 1]):
        k = ins.out_ids[q]
        size = buffers.size[k]
        start = base(buffers, k, first)
        values = mem[start:start + (size * (end - first) if buffers.lane[k] else size)]
        scale, lo, hi = q_scale[k], q_lo[k], q_hi[k]
        top = qmax[k]
        for e in range(values.shape[0]):
            v = values[e]
            if rounding != ROUND_NONE:
                v = round_stored(rounding, v, scale, lo, hi)
                values[e] = v
            if track and abs(v) > top:
                top = abs(v)
        qmax[k] = top


@kernel
def _meet(team, tid):
    """Wait until every worker got here (``sync.barrier``); one worker goes straight on. A
    worker's next barrier number is one more than the last it published (its flag has no
    other writer)."""
    flags = team.flags
    barrier(flags, tid, flags.shape[0] // LINE, flags[tid * LINE] + 1)


@kernel
def _fold_op_counts(state, team):
    """Worker 0 adds the other workers' counts by work kind to its own (``State.op_counts``);
    only where the others wait at a barrier (they count into theirs while they run)."""
    ops = team.op_counts
    for t in range(1, ops.shape[0]):
        for kind in range(ops.shape[1]):
            for f in range(ops.shape[2]):
                state.op_counts[kind, f] += ops[t, kind, f]
                ops[t, kind, f] = 0


@inlined
def _own_lanes(options, team, tid):
    """The lanes worker ``tid`` runs lane-local instructions for, resets, feeds and reads out:
    its own when the team splits lanes (``Team.first_lane``; else all are worker 0's), all on
    worker 0 while calibrating (a buffer's recorded largest magnitude has one writer)."""
    if options.track:
        return np.int64(0), np.int64(options.lanes if tid == 0 else 0)
    return team.first_lane[tid], team.end_lane[tid]


@inlined
def _instruction(i, first, end, count, options, tables, state, scratch, nrec, nfired):
    """Instruction ``i`` for lanes ``first`` .. ``end`` - 1, dispatched by op family; returns
    the stage's queue lengths (records, fired values) after it. Copied into ``run_phase``'s
    one call site: as a kernel of its own, every op family's kernels were optimised once more
    at its level (``jit``), and the cold compile took about 4 s longer."""
    op = tables.instructions.op[i]
    family = FAMILY_OF[op]
    dense = options.dense
    if family == SYNAPSE:
        synapse.run(i, first, end, options.lanes, dense, tables, state, scratch)
    elif family == MESSAGE:
        nrec, nfired = messages.send(i, first, end, dense, options.thresholds, tables, state, scratch, nrec, nfired)
    elif family == ELEMENTWISE:
        elementwise.run(op, i, first, end, tables, state)
    elif family == LRU:
        lru.run(op, i, first, end, dense, tables, state, scratch)
    elif family == LEARN:
        learn.run(op, i, options.lanes, dense, tables, state, scratch)
    elif family == OUTPUT:
        output.run(op, i, first, end, tables, state)
    else:  # APPLY
        apply_ops.run(op, i, options.lanes, options.scale, count, tables, state)
    if options.rounding != ROUND_NONE or options.track:
        _store_outputs(i, first, end, options.rounding, options.track, tables, state)
    return nrec, nfired


@kernel
def run_phase(p, count, options, tables, state, scratch, team, tid):
    """Phase ``p``: its stages, ``repeat`` times; ``count`` is the optimizer step number.
    In each stage worker ``tid`` runs the lane-local instructions (``Team.local``) for its own
    lanes, then (after a barrier, if the stage has both) the others it owns (``Team.owner``:
    all of a core's in a stage) for every lane; then every worker delivers its share of the
    stage's events (``messages.deliver``) and waits until all have. Calibration (``track``)
    splits no lanes (``_own_lanes``)."""
    phases, owner, local = tables.phases, team.owner, team.local
    lanes = options.lanes
    first, end = _own_lanes(options, team, tid)
    for _ in range(phases.repeat[p]):
        for s in range(phases.stages[p]):
            stage = phases.first_stage[p] + s
            lo, hi = phases.stage_ptr[stage], phases.stage_ptr[stage + 1]
            kind = 0 if options.track else team.stage_local[stage]
            nrec = np.int64(0)  # typed, not literals: one specialisation of send
            nfired = np.int64(0)
            # part 0: the lane-local instructions for this worker's lanes; part 1: the others it
            # owns, for every lane (one call site of the inlined dispatch, compiled once)
            for part in range(2):
                if (part == 0 and kind == 0) or (part == 1 and kind == 1):
                    continue
                if part == 1 and kind == 2:
                    _meet(team, tid)
                lane0, lane_end = (first, end) if part == 0 else (np.int64(0), lanes)
                for i in range(lo, hi):
                    mine = local[i] != 0 if part == 0 else owner[i] == tid and (kind == 0 or local[i] == 0)
                    if mine:
                        nrec, nfired = _instruction(i, lane0, lane_end, count, options, tables, state, scratch,
                                                    nrec, nfired)
            team.queued[tid * LINE] = nrec
            _meet(team, tid)
            messages.deliver(team, tid, kind == 1, options.rounding, options.track, tables, state)
            _meet(team, tid)


@inlined
def _run_counted(p, count, options, tables, state, scratch, team, tid):
    """Phase ``p``, as an optimizer step if it holds optimizer ops; returns the step count."""
    applies = tables.phases.applies[p] != 0
    if applies:
        count += 1
    run_phase(p, count, options, tables, state, scratch, team, tid)
    if applies:
        if tid == 0:
            refresh(tables, state)
        _meet(team, tid)
    return count


@inlined
def _run_when(when, count, options, tables, state, scratch, team, tid):
    """Every phase of ``when``, in program order; returns the step count."""
    phases = tables.phases
    for p in range(phases.when.shape[0]):
        if phases.when[p] == when:
            count = _run_counted(p, count, options, tables, state, scratch, team, tid)
    return count


@kernel
def _carries_loss(t, hin, options):
    """Whether some lane's mask is on at step t."""
    for b in range(options.lanes):
        if hin[t, b, options.mask_col] != 0.0:
            return True
    return False


@kernel
def _at_rest(t, hin, options, state):
    """Whether the idle phase at step t would change nothing but the counters: no lane carries
    loss (so after predict every error is exactly 0, the reference's ``errors_at_rest``: relax,
    gate and error ops rewrite the values they hold and no message is sent) and no
    accumulator is stale (nothing to recompute since the weights changed). Its counts are then
    the same at every such step. (Spatial BP's backprop phase is not flagged idle: its value
    layers' errors are set there, not in predict, so it always runs.)"""
    if _carries_loss(t, hin, options):
        return False
    stale = state.stale
    for j in range(stale.shape[0]):
        if stale[j] != 0:
            return False
    return True


@inlined
def _idle_phase(p, t, hin, count, options, tables, state, scratch, team, tid):
    """Phase ``p`` (``idle_without_loss``: PC inference) of training step t. At rest
    (``_at_rest``) it is run once and its counts recorded; later steps at rest are charged
    those counts instead of running it again (``options.replay``; never while calibrating,
    which watches every write). Every worker decides alike (the phase before ended at a
    barrier); worker 0 keeps the books."""
    cnt, opcnt = state.counts, state.op_counts
    rest_cnt, rest_op, recorded = state.rest_counts, state.rest_op_counts, state.rest_recorded
    rest = options.replay and not options.track and _at_rest(t, hin, options, state)
    if rest and recorded[0] != 0:
        if tid == 0:
            cnt += rest_cnt
            opcnt += rest_op
        _meet(team, tid)
        return count
    if rest:
        if tid == 0:
            _fold_op_counts(state, team)
            np.negative(cnt, rest_cnt)
            np.negative(opcnt, rest_op)
        _meet(team, tid)
    count = _run_counted(p, count, options, tables, state, scratch, team, tid)
    if rest:
        if tid == 0:
            _fold_op_counts(state, team)
            rest_cnt += cnt
            rest_op += opcnt
            recorded[0] = 1
        _meet(team, tid)
    return count


@kernel
def _read_outputs(t, first, end, loss_out, logit_out, tables, state):
    """Loss (sum of the output cores' loss registers) and logits of step t, per lane."""
    buffers, outputs, mem = tables.buffers, tables.outputs, state.mem
    for b in range(first, end):
        total = 0.0
        for q in range(outputs.loss.shape[0]):
            total += mem[base(buffers, outputs.loss[q], b)]
        loss_out[t, b] = total
        for q in range(outputs.mu.shape[0]):
            mo = base(buffers, outputs.mu[q], b)
            for j in range(buffers.size[outputs.mu[q]]):
                logit_out[t, b, outputs.start[q] + j] = mem[mo + j]


@kernel
def _totals(cnt, out):
    """Counts per lane row summed over cores."""
    for row in range(cnt.shape[0]):
        for f in range(FIELD_COUNT):
            out[row, f] = cnt[row, :, f].sum()


@record_entry
def execute(options, count, hin, loss_out, logit_out, step_cnt, tables, state, scratch, team, tid):
    """Run ``hin.shape[0]`` time steps for ``options.lanes`` lanes (see module docstring) as
    worker ``tid`` of the team (``Team``; every worker calls this with its own ``state``
    record, whose ``op_counts`` is its own, and its own ``scratch``). Each worker resets,
    feeds and reads out its own lanes (``_own_lanes``) and worker 0 keeps the counts, each
    followed by a barrier; one worker alone runs everything.

    ``hin`` (steps, lanes, host width) holds u, target and mask per step. Per step the
    loss and the logits are written to ``loss_out`` / ``logit_out``, and the counts of the
    step per lane row (row ``lanes`` = shared work), summed over cores, to ``step_cnt``:
    step 0 includes the sequence reset, a step includes its step_with_loss phases, and the
    last step the sequence_end phases, so the rows add up to everything the call did.
    ``count`` is the optimizer step count so far; returns it after the call.
    """
    lanes, train, phases = options.lanes, options.train, tables.phases
    steps = hin.shape[0]
    cnt = state.counts
    before, after = scratch.counts_before, scratch.counts_after
    lead = tid == 0
    first, end = _own_lanes(options, team, tid)
    if lead:
        _totals(cnt, before)
    _meet(team, tid)
    if options.reset:
        count = _run_when(SEQUENCE_START, count, options, tables, state, scratch, team, tid)
        sequence_reset(first, end, lanes, tables, state)
        _meet(team, tid)
    for t in range(steps):
        if train and not (t == 0 and options.reset):
            step_reset(first, end, tables, state)
        messages.host_input(t, hin, first, end, options.dense, options.rounding, options.track, tables, state)
        _meet(team, tid)
        for p in range(phases.when.shape[0]):
            if phases.when[p] != STEP or (phases.train_only[p] != 0 and not train):
                continue
            if train and phases.idle_without_loss[p] != 0:
                count = _idle_phase(p, t, hin, count, options, tables, state, scratch, team, tid)
            else:
                count = _run_counted(p, count, options, tables, state, scratch, team, tid)
            if phases.outputs[p] != 0:
                _read_outputs(t, first, end, loss_out, logit_out, tables, state)
                _meet(team, tid)
        if train and _carries_loss(t, hin, options):
            count = _run_when(STEP_WITH_LOSS, count, options, tables, state, scratch, team, tid)
        if t == steps - 1 and options.apply_end:
            count = _run_when(SEQUENCE_END, count, options, tables, state, scratch, team, tid)
        if lead:
            _totals(cnt, after)
            for row in range(lanes + 1):
                for f in range(FIELD_COUNT):
                    step_cnt[t, row, f] = after[row, f] - before[row, f]
                    before[row, f] = after[row, f]
        _meet(team, tid)
    if steps == 0 and options.apply_end:
        count = _run_when(SEQUENCE_END, count, options, tables, state, scratch, team, tid)
    _meet(team, tid)
    if lead:
        _fold_op_counts(state, team)
    return count
