"""The hwsim engine: all cores of a compiled network in flat arrays, run by Numba kernels.

    engine = Engine(artifact, lanes=1)             # float64, the program's thresholds, events
    engine.reset()                                 # start of a sequence (every lane)
    out = engine.run(u, target, mask, train=True, reset=True, apply_end=True,
                     scale=1 / mask.sum())         # out.loss, out.logits, out.step_counts
    engine.gather("state", "h", (N,), part="re", layer=0)   # any array in reference layout
    engine.take_counts()                           # (lanes + 1, cores, 9) exact integers

``u`` is (T, lanes, M), ``target`` (T, lanes) class ids or (T, lanes, V), ``mask``
(T, lanes). Row ``lanes`` of the counts is work shared by the lanes (apply). What every
counter counts is in docs/hwsim.md; the kernels are in ``hwsim.kernels``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from compiler.artifact import Artifact
from compiler.program import assemble_bound, bound_buffers, optimizer_moments
from hwsim import kernels as K
from hwsim.counters import FIELDS, WORK_KINDS, work_counts
from hwsim.encode import Encoded, encode
from hwsim.kernels.jit import compile_for, kernel_optimisation
from hwsim.kernels.records import by_reference
from hwsim.kernels.tables import (
    ROUND_FIXED,
    ROUND_FLOAT32,
    ROUND_NONE,
    THRESHOLD_GROUPS,
    Options,
    Scratch,
    State,
    Team,
)
from hwsim.number_format import NUMBER_FORMATS, FixedFormat, group_key, quantize
from hwsim.team import THREADS_VARIABLE, available_cpus, default_workers, instruction_work, new_team
from neuropc.spec.schema import EventThresholds

#: names of the rows of ``Engine.op_counts``: hwsim.counters.WORK_KINDS (kept here until
#: callers import it from there)
OP_NAMES = WORK_KINDS
__all__ = ["FIELDS", "OP_NAMES", "BlockOutput", "Engine", "work_counts"]


@dataclass
class BlockOutput:
    """What one ``Engine.run`` produced."""

    loss: np.ndarray  # (T, lanes) masked loss at the feed-forward output, per step
    logits: np.ndarray  # (T, lanes, V) output prediction after predict
    step_counts: np.ndarray  # (T, lanes + 1, 9) counts per step (row lanes: shared work)


class Engine:
    """Executes one compiled program for ``lanes`` sequences in lockstep.

    ``lanes`` defaults to the program's. ``threshold``: delta-coding thresholds of activities
    and errors (``EventThresholds``, a mapping {"activity": a, "error": e}, or a number for
    both; 0 sends every change; default: the program's ``settings.thresholds``). Each send
    group travels at the threshold of its channel kind's group
    (``program.settings.threshold_groups``). ``dense``:
    send every value on every send and count every synapse and learning update (a
    clock-driven chip; data-independent counts). ``number_format``: float64, float32 or fixed;
    ``formats`` (fixed point only): the ``FixedFormat`` of every format group
    (``hwsim.number_format.group_key``). ``params``: initial parameters in the reference's
    names (default: the artifact's). ``threads``: worker threads that split the lanes (or,
    below two lanes each, the cores of each stage; ``hwsim.team``; the results are one
    thread's, bit for bit); default:
    ``hwsim.team.default_workers`` (two on two or more CPUs when the lanes' work is large).
    """

    def __init__(self, artifact: Artifact, lanes: int | None = None, *,
                 number_format: str = "float64",
                 threshold: EventThresholds | float | Mapping[str, float] | None = None,
                 dense: bool = False,
                 formats: dict[tuple[str, str, str], FixedFormat] | None = None,
                 params: dict[str, np.ndarray] | None = None,
                 threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if number_format not in NUMBER_FORMATS:
            raise ValueError(f"unknown number format {number_format!r}")
        if number_format == "fixed" and formats is None:
            raise ValueError("fixed point needs a format per buffer group (hwsim.runner."
                             "calibrate computes them)")
        program = artifact.program
        self.artifact = artifact
        self.program = program
        self._bound = bound_buffers(program)
        self.lanes = int(lanes if lanes is not None else program.lanes)
        self.number_format = number_format
        self.threshold = EventThresholds.model_validate(
            program.settings.thresholds if threshold is None else threshold)
        self.dense = bool(dense)
        self.fixed = number_format == "fixed"
        self.rounding = {"float64": ROUND_NONE, "float32": ROUND_FLOAT32,
                         "fixed": ROUND_FIXED}[number_format]
        self.count = 0  # optimizer steps taken (Adam's t)
        self.track = False
        #: charge training steps without loss the recorded counts of their infer phase instead
        #: of running it again (it changes no value there; False runs it, for the tests)
        self.replay_at_rest = True
        enc = encode(program, self.lanes, artifact.placement_arrays["hops"])
        self.enc: Encoded = enc
        lanes_ = self.lanes
        dt = np.float64  # float32 and fixed point round values as they are stored
        nb = len(enc.buffers)
        self.mem = np.zeros(enc.arena_size, dt)
        # fixed point tables (identity grid when not fixed)
        self.formats = formats or {}
        q_scale = np.ones(nb)
        q_lo = np.full(nb, -np.inf)
        q_hi = np.full(nb, np.inf)
        if self.fixed:
            for k, (core, buf) in enumerate(enc.buffers):
                fmt = self.formats[group_key(program.cores[core].layer, buf)]
                q_scale[k], q_lo[k], q_hi[k] = fmt.scale, fmt.lo, fmt.hi
        fields = len(FIELDS)
        # indexed [lane row, core, field], stored core-major: a core's counters are written by
        # the worker that runs the core, or with split lanes by each lane's worker (a worker's
        # lanes lie together); stored lane-major, the counters of a lane's cores, which
        # different workers charged, shared cache lines that moved between the CPUs every charge
        self.cnt = np.zeros((enc.cores, lanes_ + 1, fields), np.int64).transpose(1, 0, 2)
        self.core_totals = np.zeros((enc.cores, fields), np.int64)  # all counts taken so far
        self.opcnt = np.zeros((len(WORK_KINDS), fields), np.int64)
        self.qmax = np.zeros(nb)
        self._state = State(
            mem=self.mem, ref=np.zeros(max(enc.ref_size, 1), dt),
            sums=np.zeros(max(enc.sums_size, 1), dt), seen=np.zeros(max(enc.seen_size, 1), dt),
            exp=np.zeros(max(enc.shared_size, 1), dt), lam_re=np.zeros(max(enc.shared_size, 1), dt),
            lam_im=np.zeros(max(enc.shared_size, 1), dt), q_scale=q_scale, q_lo=q_lo, q_hi=q_hi,
            q_max=self.qmax,
            stale=np.zeros(max(len(enc.tables.accumulators.w) * lanes_, 1), np.int8),
            col_nonzero=np.zeros(max(enc.nonzero_size, 1), np.int64),
            by_column=np.zeros(max(enc.columns_size, 1), dt),
            derivative_at=np.full(max(enc.derivatives_size, 1), np.nan, dt),
            derivative=np.zeros(max(enc.derivatives_size, 1), dt),
            counts=self.cnt, op_counts=self.opcnt, rest_counts=np.zeros_like(self.cnt),  # the same layout
            rest_op_counts=np.zeros_like(self.opcnt), rest_recorded=np.zeros(1, np.int64))
        work = lanes_ * int(instruction_work(enc.tables).sum())
        self.threads = int(threads if threads is not None else
                           default_workers(work, available_cpus(), os.environ.get(THREADS_VARIABLE)))
        self._team = new_team(enc.tables, enc.cores, lanes_, self.threads, *_queue_sizes(enc, lanes_),
                              len(WORK_KINDS), fields)
        #: per worker, the records as the kernels take them (by reference, sharing the arrays
        #: above): its own scratch and op counts (worker 0's are the engine's)
        self._scratch = [_scratch(enc, lanes_, self._team, t) for t in range(self.threads)]
        with kernel_optimisation():  # the first engine of a process compiles (or loads) the kernels here
            self._workers = [by_reference(enc.tables, self._state if t == 0 else
                                          self._state._replace(op_counts=self._team.op_counts[t]), scratch)
                             for t, scratch in enumerate(self._scratch)]
            compile_for(K.refresh, *self._workers[0][:2])
        self._compiled = False  # execute: compiled for this engine's argument types at its first call
        self._records = self._workers[0]
        self._pool = (ThreadPoolExecutor(self.threads - 1, thread_name_prefix="neuropc-worker")
                      if self.threads > 1 else None)
        self._thresholds = np.array([getattr(self.threshold, group) for group in THRESHOLD_GROUPS])
        #: the program applies after every step with loss (update: online), not at sequence end
        self.online = any(p.when == "step_with_loss" for p in program.phases)
        self.load_params(params if params is not None else artifact.params)

    # -- state ---------------------------------------------------------------------------
    def _view(self, k: int) -> np.ndarray:
        """Buffer k of the arena: (lanes, *shape) if per lane, else its shape (a view)."""
        enc = self.enc
        core, buf = enc.buffers[k]
        off, size = enc.tables.buffers.off[k], enc.tables.buffers.size[k]
        if buf.per_lane:
            return self.mem[off:off + size * self.lanes].reshape(self.lanes, *buf.shape)
        return self.mem[off:off + size].reshape(buf.shape)

    def buffer(self, core: int, name: str) -> np.ndarray:
        return self._view(self.enc.buffer_id(core, name))

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Set every weight/param buffer from reference-named parameters (quantized in fixed
        point), zero everything else but optimizer state, refresh derived tables."""
        for k, (core, buf) in enumerate(self.enc.buffers):
            b = buf.binding
            if b is None or b.space != "param":
                continue
            array = params[b.name]
            block = array[b.rows[0]:b.rows[1]] if b.cols is None else \
                array[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
            value = np.asarray(block.T if b.transpose else block, dtype=np.float64)
            if self.fixed:
                fmt = self.formats[group_key(self.program.cores[core].layer, buf)]
                value = quantize(value, fmt)
            elif self.number_format == "float32":
                value = value.astype(np.float32).astype(np.float64)
            self._view(k)[...] = value
        self.refresh()

    def load_shared(self, other: Engine) -> None:
        """Copy weights, parameters, accumulators and optimizer state of another engine of the
        same program (any lane count): shared buffers come first in both arenas."""
        n = self.enc.shared_size
        if other.enc.shared_size != n or other.number_format != self.number_format:
            raise ValueError("engines of different programs or number formats")
        self.mem[:n] = other.mem[:n]
        self.count = other.count
        self.refresh()

    def refresh(self) -> None:
        K.refresh(*self._records[:2])

    def gather(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
               layer: int | None = None, copy: bool = False) -> np.ndarray:
        """Assemble a global array (reference layout) from the buffers bound to it; per-lane
        arrays get a leading lane axis. Raises KeyError if nothing is bound to it."""
        key = (space, name, part, layer, copy)
        return assemble_bound(self._bound.get(key, ()), self.buffer, self.lanes, key, shape)

    def parameters(self) -> dict[str, np.ndarray]:
        """The current parameters in the reference's names and shapes (primaries)."""
        return {name: self.gather("param", name, value.shape)
                for name, value in self.artifact.params.items()}

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        """Adam moments by parameter name (trainable ones), empty for SGD."""
        return optimizer_moments(self._bound, self.gather, self.artifact.params)

    # -- running -------------------------------------------------------------------------
    def host_rows(self, u: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(T, lanes, width) host input rows: u, target, mask side by side."""
        enc = self.enc
        steps = u.shape[0]
        rows = np.zeros((steps, self.lanes, enc.host_width))
        cols = enc.host_columns
        m = self.program.host_inputs["u"]
        rows[:, :, cols["u"]:cols["u"] + m] = u
        tw = self.program.host_inputs["target"]
        rows[:, :, cols["target"]:cols["target"] + tw] = np.asarray(target).reshape(
            steps, self.lanes, tw)
        rows[:, :, cols["mask"]] = mask
        return rows

    def run(self, u: np.ndarray, target: np.ndarray, mask: np.ndarray, *, train: bool = True,
            reset: bool = False, apply_end: bool = False, scale: float = 1.0) -> BlockOutput:
        """Run T = u.shape[0] steps (optionally after a sequence reset, and followed by the
        program's sequence_end phases). When the program applies is its own: an online program
        (apply phase ``step_with_loss``) applies after every training step whose mask has a
        one."""
        if u.ndim != 3 or u.shape[1] != self.lanes:
            raise ValueError(f"u must be (steps, {self.lanes} lanes, inputs), got {u.shape}")
        hin = self.host_rows(u, target, mask)
        return self._execute(hin, train=train, reset=reset, apply_end=apply_end, scale=scale)

    def _execute(self, hin: np.ndarray, *, train: bool, reset: bool, apply_end: bool,
                 scale: float) -> BlockOutput:
        steps = hin.shape[0]
        options = Options(lanes=self.lanes, train=bool(train), reset=bool(reset),
                          apply_end=bool(apply_end), dense=self.dense, rounding=self.rounding,
                          track=bool(self.track), replay=bool(self.replay_at_rest),
                          mask_col=int(self.enc.mask_col), thresholds=self._thresholds,
                          scale=float(scale))
        loss = np.zeros((steps, self.lanes))
        logits = np.zeros((steps, self.lanes, self.enc.outputs))
        step_counts = np.zeros((steps, self.lanes + 1, len(FIELDS)), np.int64)
        team = self._team
        team.flags[...] = 0
        args = (options, int(self.count), hin, loss, logits, step_counts)
        if not self._compiled:
            compile_for(K.execute, *args, *self._records, team, 0)
            self._compiled = True
        helpers = [self._pool.submit(K.execute, *args, *self._workers[t], team, t)
                   for t in range(1, self.threads)] if self._pool else []
        self.count = int(K.execute(*args, *self._records, team, 0))
        for helper in helpers:
            helper.result()
        return BlockOutput(loss, logits, step_counts)

    def reset(self) -> None:
        """Start a sequence in every lane: the program's reset phase plus the engine's own
        (inboxes, delta references, accumulators to zero)."""
        self._execute(np.zeros((0, self.lanes, self.enc.host_width)), train=False, reset=True,
                      apply_end=False, scale=1.0)

    def step(self, u: np.ndarray, target: np.ndarray, mask: np.ndarray) -> BlockOutput:
        """One training time step for every lane (u: (lanes, M))."""
        return self.run(u[None], np.asarray(target)[None], np.asarray(mask)[None], train=True)

    def apply(self, scale: float) -> None:
        """The program's sequence_end phases (the optimizer step of update mode sequence) with
        the host's ``scale``."""
        self._execute(np.zeros((0, self.lanes, self.enc.host_width)), train=False, reset=False,
                      apply_end=True, scale=scale)

    # -- counters ------------------------------------------------------------------------
    def take_counts(self) -> np.ndarray:
        """Counts since the last call, (lanes + 1, cores, 9); the counters restart at 0 and
        ``core_totals`` (cores, 9) keeps the running sum per core."""
        out = self.cnt.copy()
        self.cnt[...] = 0
        self.core_totals += out.sum(axis=0)
        return out

    def take_op_counts(self) -> np.ndarray:
        """Counts by op kind (rows ``OP_NAMES``) since the last call."""
        out = self.opcnt.copy()
        self.opcnt[...] = 0
        return out

    def calibration_maxima(self) -> dict[tuple[str, str, str], float]:
        """Largest magnitude per format group seen while ``track`` was on (and now)."""
        out: dict[tuple[str, str, str], float] = {}
        for k, (core, buf) in enumerate(self.enc.buffers):
            key = group_key(self.program.cores[core].layer, buf)
            out[key] = max(out.get(key, 0.0), float(self.qmax[k]),
                           float(np.abs(self._view(k)).max()) if buf.size else 0.0)
        return out



def _queue_sizes(enc: Encoded, lanes: int) -> tuple[int, int]:
    """Event records and fired values one stage can queue: every send group of every lane."""
    return len(enc.tables.sends.src) * lanes, int(enc.tables.sends.length.sum()) * lanes


def _scratch(enc: Encoded, lanes: int, team: Team, worker: int) -> Scratch:
    """Working arrays of one worker's kernels, each owned by one (hwsim.kernels.tables.Scratch);
    its event queue is the team's row for it."""
    width = enc.max_cols

    def per_lane() -> np.ndarray:
        return np.zeros(lanes, np.int64)

    return Scratch(
        fired=team.fired[worker], records=team.records[worker],
        event_values=np.zeros(width * lanes), event_columns=np.zeros(width * lanes, np.int64),
        matvec_nonzero=per_lane(), matvec_events=per_lane(), matvec_effective=per_lane(),
        learn_cols=np.zeros(width * lanes, np.int64), learn_nonzero=per_lane(), learn_rows=per_lane(),
        learn_post=per_lane(), learn_pre=per_lane(), credit_updates=per_lane(),
        credit_re=np.zeros(width), credit_im=np.zeros(width), credit_touched=np.zeros(width, np.int64),
        counts_before=np.zeros((lanes + 1, len(FIELDS)), np.int64),
        counts_after=np.zeros((lanes + 1, len(FIELDS)), np.int64))
