"""Which worker thread runs which lanes and which cores in each stage, and the arrays the
workers share.

The cores of a stage are independent until its events are delivered (the program's
semantics: a core reads only its own buffers and the inboxes filled at earlier stages), so
the engine can run them on several threads and stay exact: every core's instructions run in
program order on one thread, and each worker delivers the events for the cores it receives
for, in the order one thread would have queued them (``hwsim.kernels.messages.deliver``).
Per stage, cores go to workers by longest-processing-time-first on an estimate of their work
(the values their instructions' operands hold: a matvec's weights, an outer product's
accumulator), so that the largest cores of a stage land on different workers.

With lanes to spare (at least two per worker), the lanes are independent too: an instruction
that writes only per-lane buffers (``lane_local``) runs on every worker, each for its own
contiguous range of lanes, so the work of a stage halves on two workers however its cores'
sizes fall, and a lane's values stay in the cache of the worker that computes them (its
events included: a worker delivers its own lanes'). The instructions that add every lane into
a shared buffer (learning, the optimizer) still go to one worker per core, which adds the
lanes in lane order as one thread does; within a stage they follow a core's lane-local ones,
after a barrier.
"""

from __future__ import annotations

import os

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.sync import LINE
from hwsim.kernels.tables import INT_GROUPS_END, INT_GROUPS_FIRST, RECORD_COLUMNS, Tables, Team

#: work (values the instructions' operands hold, ``instruction_work``, summed over the
#: program, times lanes) below which the engine's default is one worker: there a stage lasts
#: about as long as the barrier after it. Measured on examples/copy.yaml (449 k per lane):
#: cores split, batch 3 ran slower on two workers and batch 8 (3.6 M) 1.2x faster; lanes
#: split (best of five interleaved rounds), batch 4 0.86x, 6 1.08x, 8 1.20x, 16 1.75x; the
#: 15 M-parameter network at batch 1 (123 M, cores split) 1.5x faster.
MIN_WORK_PER_EXTRA_WORKER = 3_500_000
#: the most workers the default takes (what this was measured on: two cores)
MAX_DEFAULT_WORKERS = 2
#: environment variable that sets the default (a sweep's workers set it to 1: the trials are
#: the parallelism there)
THREADS_VARIABLE = "NEUROPC_THREADS"


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_setting(setting: str | None) -> int | None:
    """The worker count ``NEUROPC_THREADS`` asks for (None: not set); ValueError naming the
    variable if it is not a whole number of at least 1."""
    if not setting:
        return None
    try:
        workers = int(setting)
    except ValueError:
        raise ValueError(f"{THREADS_VARIABLE} must be a whole number, got {setting!r}") from None
    if workers < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be at least 1, got {setting!r}")
    return workers


def default_workers(work: int, cpus: int, setting: str | None = None) -> int:
    """Worker threads the engine uses unless told: ``setting`` (the environment's
    ``NEUROPC_THREADS``, ``threads_setting``) if given, else one per available CPU up to
    ``MAX_DEFAULT_WORKERS``, and one alone for a small ``work`` (lanes x the program's
    ``instruction_work``)."""
    asked = threads_setting(setting)
    if asked is not None:
        return asked
    if work < MIN_WORK_PER_EXTRA_WORKER:
        return 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus))


def instruction_work(tables: Tables) -> np.ndarray:
    """Per instruction, the values its operands hold per lane (a send: the values of its
    groups): a proxy for its work."""
    ins, sizes = tables.instructions, tables.buffers.size
    used = ins.slots >= 0
    work = np.where(used, sizes[np.where(used, ins.slots, 0)], 0).sum(axis=1)
    sends = ins.op == OPS["send"].code
    sent = np.concatenate([[0], np.cumsum(tables.sends.length)])
    first, end = ins.ints[sends, INT_GROUPS_FIRST], ins.ints[sends, INT_GROUPS_END]
    work[sends] += sent[end] - sent[first]
    return work


def lane_ranges(lanes: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Each worker's first and end lane where lane-local instructions split the lanes: even
    shares cut at even lanes (the synapse takes lanes in pairs); all on worker 0 (and none on
    the others) below two lanes per worker, where the lanes are not split."""
    first, end = np.zeros(workers, np.int64), np.zeros(workers, np.int64)
    if not splits_lanes(lanes, workers):
        end[0] = lanes
        return first, end
    cuts = [t * lanes // workers // 2 * 2 for t in range(workers)] + [lanes]
    first[:], end[:] = cuts[:-1], cuts[1:]
    return first, end


def splits_lanes(lanes: int, workers: int) -> bool:
    """Whether lane-local instructions run on every worker, each for its own lanes."""
    return workers > 1 and lanes >= 2 * workers


def lane_local(tables: Tables, lanes: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per instruction, 1 if it runs on every worker for the worker's own lanes: the team
    splits lanes (``splits_lanes``), it writes per-lane buffers only, and so does every
    instruction before it of its core in its stage (a core's instructions keep their order,
    and the stage's shared ones run after a barrier). Per stage: 0 none such, 1 all, 2 some."""
    ins, stage_ptr, per_lane = tables.instructions, tables.phases.stage_ptr, tables.buffers.lane
    local = np.zeros(len(ins.op), np.int64)
    stages = np.zeros(len(stage_ptr) - 1, np.int64)
    if not splits_lanes(lanes, workers):
        return local, stages
    for s in range(len(stage_ptr) - 1):
        lo, hi = int(stage_ptr[s]), int(stage_ptr[s + 1])
        shared_seen: set[int] = set()  # cores with a shared-writing instruction so far
        for i in range(lo, hi):
            core = int(ins.core[i])
            writes = ins.out_ids[ins.out_ptr[i]:ins.out_ptr[i + 1]]
            if core in shared_seen or not per_lane[writes].all():
                shared_seen.add(core)
            else:
                local[i] = 1
        part = local[lo:hi]
        stages[s] = 0 if not part.any() else 1 if part.all() else 2
    return local, stages


def plan_owners(tables: Tables, workers: int, local: np.ndarray | None = None) -> np.ndarray:
    """The worker of every instruction that is not lane-local (``local``; default none): a
    core's instructions in a stage share one, and the cores of each stage are spread by
    estimated work (largest first onto the least loaded worker; ties to the lower worker, so
    a lone core runs on worker 0)."""
    ins, stage_ptr = tables.instructions, tables.phases.stage_ptr
    owner = np.zeros(len(ins.op), np.int64)
    if workers == 1:
        return owner
    work = instruction_work(tables)
    if local is not None:
        work = np.where(local != 0, 0, work)
    for s in range(len(stage_ptr) - 1):
        lo, hi = int(stage_ptr[s]), int(stage_ptr[s + 1])
        cores = ins.core[lo:hi]
        per_core: dict[int, int] = {}
        for core, w in zip(cores.tolist(), work[lo:hi].tolist(), strict=True):
            per_core[core] = per_core.get(core, 0) + int(w)
        assigned = _spread(per_core, workers)
        owner[lo:hi] = [assigned[c] for c in cores.tolist()]
    return owner


def _spread(work: dict[int, int], workers: int) -> dict[int, int]:
    """Items by work, largest first onto the least loaded worker (ties: the lower worker)."""
    load = [0] * workers
    assigned: dict[int, int] = {}
    for item in sorted(work, key=lambda c: (-work[c], c)):
        worker = min(range(workers), key=lambda t: (load[t], t))
        assigned[item] = worker
        load[worker] += work[item]
    return assigned


def plan_receivers(tables: Tables, cores: int, workers: int) -> np.ndarray:
    """The worker that delivers into each core's inboxes: cores spread by the values their
    channels bring per lane."""
    sends, channels = tables.sends, tables.channels
    received = dict.fromkeys(range(cores), 0)
    for g in range(len(sends.src)):
        for q in range(int(sends.first_channel[g]), int(sends.end_channel[g])):
            received[int(channels.dst_core[q])] += int(sends.length[g])
    assigned = _spread(received, workers)
    return np.array([assigned[c] for c in range(cores)], np.int64)


def new_team(tables: Tables, cores: int, lanes: int, workers: int, records: int, values: int, kinds: int,
             fields: int) -> Team:
    """The shared arrays of ``workers`` workers (``Team``) for ``lanes`` lanes, queues sized as
    one worker's."""
    local, stages = lane_local(tables, lanes, workers)
    first, end = lane_ranges(lanes, workers)
    return Team(flags=np.zeros(workers * LINE, np.int64),
                owner=plan_owners(tables, workers, local), receiver=plan_receivers(tables, cores, workers),
                local=local, stage_local=stages, first_lane=first, end_lane=end,
                queued=np.zeros(workers * LINE, np.int64),
                records=np.zeros((workers, max(records, 1), RECORD_COLUMNS), np.int64),
                fired=np.zeros((workers, values + 1), np.int64),  # + 1: a send writes one past its last event
                cursor=np.zeros((workers, workers), np.int64),
                op_counts=np.zeros((workers, kinds, fields), np.int64))
