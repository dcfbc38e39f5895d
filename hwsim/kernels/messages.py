"""Messages: delta-coded sends, their delivery at the end of a stage, and host inputs.

A ``send`` compares each value of its channels with the last value sent on them and turns
those that moved by more than their population's threshold (delta coding; threshold 0: that
changed at all; dense: all) into events. The reference keeps the value sent, and the events
are delivered into the destination inboxes at the end of the stage from that snapshot, so
later writes in the stage cannot leak through. Which population's threshold a channel kind
travels at is the program's ``threshold_groups`` (``SendGroups.threshold_group``).
"""

from __future__ import annotations

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.counts import DELIVER, HOPS, HOST_INPUT, MR, MSG, MW, charge
from hwsim.kernels.jit import entry, kernel
from hwsim.kernels.numeric import round_stored
from hwsim.kernels.sync import LINE
from hwsim.kernels.tables import (
    INT_GROUPS_END,
    INT_GROUPS_FIRST,
    RECORD_COUNT,
    RECORD_FIRST,
    RECORD_GROUP,
    RECORD_INSTRUCTION,
    RECORD_LANE,
    ROUND_NONE,
    base,
)

FAMILY = "message"
IMPLEMENTS = ("send",)

SEND = OPS["send"].code


@kernel
def send(i, first_lane, end_lane, dense, thresholds, tables, state, scratch, nrec, nfired):
    """Queue the events of instruction ``i``'s send groups for lanes ``first_lane`` ..
    ``end_lane`` - 1; returns the new queue lengths (records, fired values) of the stage."""
    buffers, sends = tables.buffers, tables.sends
    mem, ref, fired, rec = state.mem, state.ref, scratch.fired, scratch.records
    core = tables.instructions.core[i]
    for g in range(tables.instructions.ints[i, INT_GROUPS_FIRST], tables.instructions.ints[i, INT_GROUPS_END]):
        n = sends.length[g]
        channels = sends.end_channel[g] - sends.first_channel[g]
        threshold = thresholds[sends.threshold_group[g]]
        for b in range(first_lane, end_lane):
            so = base(buffers, sends.src[g], b) + sends.start[g]
            ro = sends.ref[g] + b * n
            src, last = mem[so:so + n], ref[ro:ro + n]
            first = nfired
            if dense:
                for j in range(n):
                    last[j] = src[j]
                    fired[nfired + j] = j
                nfired += n
            elif threshold == 0.0:  # with a branch: at threshold 0 a channel's values mostly all
                for j in range(n):  # change (activities) or all stay (errors at rest)
                    v = src[j]
                    if v != last[j]:
                        last[j] = v
                        fired[nfired] = j
                        nfired += 1
            else:
                nfired = _moved(src, last, fired, nfired, n, threshold)
            k = nfired - first
            charge(state.counts, state.op_counts, b, core, SEND, MR, 2 * n)
            if k == 0:
                continue
            rec[nrec, RECORD_GROUP] = g
            rec[nrec, RECORD_LANE] = b
            rec[nrec, RECORD_FIRST] = first
            rec[nrec, RECORD_COUNT] = k
            rec[nrec, RECORD_INSTRUCTION] = i
            nrec += 1
            charge(state.counts, state.op_counts, b, core, SEND, MW, k)
            charge(state.counts, state.op_counts, b, core, SEND, MSG, k * channels)
            charge(state.counts, state.op_counts, b, core, SEND, HOPS, k * sends.hops[g])
    return nrec, nfired


@entry
def _moved(src, last, fired, nfired, n, threshold):
    """The values that moved by more than ``threshold`` become events: their indices go on
    ``fired`` and their reference takes the value. Written without a branch (every index is
    written, the queue advances by 0 or 1; ``fired`` has a spare slot), because under delta
    coding whether a value fires is as good as random, and a mispredicted branch per value
    made ``send`` take 2.6-3.5x more CPU time delta-coded than at threshold 0
    (docs/results/kernel_profile.md). The advance must be an integer: written as
    ``1 if fire else 0``, LLVM turned it back into a branch."""
    for j in range(n):
        v, seen = src[j], last[j]
        fire = np.int64(abs(v - seen) > threshold)
        fired[nfired] = j
        nfired += fire
        last[j] = v if fire else seen
    return nfired


@kernel
def deliver(team, tid, by_lane, rounding, track, tables, state):
    """End of a stage: every queued value lands in the inbox of every channel of its group.
    ``by_lane`` (every instruction of the stage was lane-local): each worker delivers the
    events it queued, its own lanes', to every channel. Else each worker queued its own
    instructions' events in instruction order; every worker goes through all queues merged by
    instruction (the order one worker would have queued them) and writes the inboxes of the
    cores it receives for (``Team.receiver``). Either way each inbox of a lane and its
    counters have one writer, and a lane's events land in the order one worker would have
    delivered them."""
    queued, records, fired, at = team.queued, team.records, team.fired, team.cursor[tid]
    if by_lane:
        for r in range(queued[tid * LINE]):
            _deliver_record(records[tid, r], fired[tid], team.receiver, np.int64(-1), rounding, track, tables, state)
        return
    workers = records.shape[0]
    for t in range(workers):
        at[t] = 0
    while True:
        pick = -1
        for t in range(workers):
            if at[t] < queued[t * LINE] and (
                    pick < 0 or records[t, at[t], RECORD_INSTRUCTION] < records[pick, at[pick], RECORD_INSTRUCTION]):
                pick = t
        if pick < 0:
            return
        _deliver_record(records[pick, at[pick]], fired[pick], team.receiver, tid, rounding, track, tables, state)
        at[pick] += 1


@kernel
def _deliver_record(record, fired, receiver, tid, rounding, track, tables, state):
    """One queued record: lane ``b``'s fired values of group ``g`` into the inbox of every
    channel whose core worker ``tid`` receives for (of every channel: ``tid`` = -1)."""
    buffers, sends, channels = tables.buffers, tables.sends, tables.channels
    mem, ref = state.mem, state.ref
    q_scale, q_lo, q_hi, qmax = state.q_scale, state.q_lo, state.q_hi, state.q_max
    g, b = record[RECORD_GROUP], record[RECORD_LANE]
    first, k = record[RECORD_FIRST], record[RECORD_COUNT]
    n = sends.length[g]
    last = ref[sends.ref[g] + b * n:sends.ref[g] + (b + 1) * n]
    idx = fired[first:first + k]
    for q in range(sends.first_channel[g], sends.end_channel[g]):
        if tid >= 0 and receiver[channels.dst_core[q]] != tid:
            continue
        dst = channels.dst_buf[q]
        do = base(buffers, dst, b) + channels.dst_start[q]
        inbox = mem[do:do + n]
        if rounding != ROUND_NONE or track:
            scale, lo, hi = q_scale[dst], q_lo[dst], q_hi[dst]
            for j in range(k):
                v = round_stored(rounding, last[idx[j]], scale, lo, hi)
                if track and abs(v) > qmax[dst]:
                    qmax[dst] = abs(v)
                inbox[idx[j]] = v
        elif k == n:  # every value fired (threshold 0, dense): the indices are 0 .. n - 1, in order
            for j in range(n):
                inbox[j] = last[j]
        else:
            for j in range(k):
                inbox[idx[j]] = last[idx[j]]
        charge(state.counts, state.op_counts, b, channels.dst_core[q], DELIVER, MW, k)


@kernel
def host_input(t, hin, first, end, dense, rounding, track, tables, state):
    """Deliver the host inputs of step t into the inboxes of lanes ``first`` .. ``end`` - 1;
    only changed values are written."""
    buffers, host = tables.buffers, tables.host
    mem = state.mem
    q_scale, q_lo, q_hi, qmax = state.q_scale, state.q_lo, state.q_hi, state.q_max
    for h in range(host.col.shape[0]):
        k = host.dst_buf[h]
        core = buffers.core[k]
        for b in range(first, end):
            do = base(buffers, k, b) + host.dst_start[h]
            written = 0
            for j in range(host.length[h]):
                v = round_stored(rounding, hin[t, b, host.col[h] + j], q_scale[k], q_lo[k], q_hi[k])
                if track and abs(v) > qmax[k]:
                    qmax[k] = abs(v)
                if dense or mem[do + j] != v:
                    mem[do + j] = v
                    written += 1
            charge(state.counts, state.op_counts, b, core, HOST_INPUT, MW, written)
