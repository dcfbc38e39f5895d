"""The hwsim engine: all cores of a compiled network in flat arrays, run by Numba kernels.

    engine = Engine(artifact, lanes=1)             # float64, threshold 0, events
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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from compiler.artifact import Artifact
from compiler.program import assemble_bound
from hwsim import kernels as K
from hwsim.counters import WorkCounts
from hwsim.encode import OPCODES, Encoded, encode
from hwsim.number_format import NUMBER_FORMATS, FixedFormat, group_key, quantize
from neuropc.spec.schema import EventThresholds

#: names of the rows of ``Engine.op_counts`` (program op kinds, then engine-internal work)
OP_NAMES = (*OPCODES, "deliver", "host_input", "sequence_reset", "step_reset")
FIELDS = WorkCounts.names()


@dataclass
class BlockOutput:
    """What one ``Engine.run`` produced."""

    loss: np.ndarray  # (T, lanes) masked loss at the feed-forward output, per step
    logits: np.ndarray  # (T, lanes, V) output prediction after predict
    step_counts: np.ndarray  # (T, lanes + 1, 9) counts per step (row lanes: shared work)


class Engine:
    """Executes one compiled program for ``lanes`` sequences in lockstep.

    ``lanes`` defaults to the program's. ``threshold``: delta-coding thresholds of activities
    and errors (``EventThresholds``; a number sets both; 0 sends every change;
    ``hwsim.simulate`` passes the spec's ``hardware.event_threshold``). ``dense``:
    send every value on every send and count every synapse and learning update (a
    clock-driven chip; data-independent counts). ``number_format``: float64, float32 or fixed;
    ``formats`` (fixed point only): the ``FixedFormat`` of every format group
    (``hwsim.number_format.group_key``). ``params``: initial parameters in the reference's
    names (default: the artifact's).
    """

    def __init__(self, artifact: Artifact, lanes: int | None = None, *,
                 number_format: str = "float64", threshold: EventThresholds | float | Mapping[str, float] = 0.0,
                 dense: bool = False,
                 formats: dict[tuple[str, str, str], FixedFormat] | None = None,
                 params: dict[str, np.ndarray] | None = None) -> None:
        if number_format not in NUMBER_FORMATS:
            raise ValueError(f"unknown number format {number_format!r}")
        if number_format == "fixed" and formats is None:
            raise ValueError("fixed point needs a format per buffer group (hwsim.simulate."
                             "calibrate computes them)")
        program = artifact.program
        self.artifact = artifact
        self.program = program
        self.lanes = int(lanes if lanes is not None else program.lanes)
        self.number_format = number_format
        self.threshold = EventThresholds.model_validate(threshold)
        self.dense = bool(dense)
        self.fixed = number_format == "fixed"
        self.rounding = {"float64": K.ROUND_NONE, "float32": K.ROUND_FLOAT32,
                         "fixed": K.ROUND_FIXED}[number_format]
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
        values = int(sum(enc.g_len[g] for g in range(len(enc.g_src)))) * lanes_
        width = enc.max_cols
        self.cnt = np.zeros((lanes_ + 1, enc.cores, K.FIELDS), np.int64)
        self.core_totals = np.zeros((enc.cores, K.FIELDS), np.int64)  # all counts taken so far
        self.opcnt = np.zeros((K.OPCODE_COUNT, K.FIELDS), np.int64)
        self.qmax = np.zeros(nb)
        accumulators = len(enc.a_w)
        state = [None] * K.STATE_SIZE
        state[K.S_MEM] = self.mem
        state[K.S_REF] = np.zeros(max(enc.ref_size, 1), dt)  # last value sent per channel value
        state[K.S_SACC] = np.zeros(max(enc.sacc_size, 1), dt)  # sigma-delta accumulators
        state[K.S_XS] = np.zeros(max(enc.xs_size, 1), dt)  # inbox values they have seen
        state[K.S_EX] = np.zeros(max(enc.shared_size, 1), dt)  # exp(nu), exp(theta), exp(gamma_log)
        state[K.S_LRE] = np.zeros(max(enc.shared_size, 1), dt)  # Re lambda, at nu's offset
        state[K.S_LIM] = np.zeros(max(enc.shared_size, 1), dt)  # Im lambda
        state[K.S_DD] = np.zeros(width * lanes_, dt)  # dense delta rows
        state[K.S_DVAL] = np.zeros(width, dt)  # gathered deltas
        state[K.S_QSCALE], state[K.S_QLO], state[K.S_QHI] = q_scale, q_lo, q_hi
        state[K.S_QMAX] = self.qmax
        state[K.S_STALE] = np.zeros(max(accumulators * lanes_, 1), np.int8)
        state[K.S_NNZ] = np.zeros(max(enc.nnz_size, 1), np.int64)  # nonzero weights per column
        state[K.S_CNT], state[K.S_OPCNT] = self.cnt, self.opcnt
        state[K.S_FIRED] = np.zeros(max(values, 1), np.int64)  # indices of sent values
        state[K.S_REC] = np.zeros((max(len(enc.g_src) * lanes_, 1), 4), np.int64)  # send records
        state[K.S_ICOL] = np.zeros(width * lanes_, np.int64)  # column lists
        for k in (K.S_L0, K.S_L1, K.S_L2, K.S_L3):
            state[k] = np.zeros(lanes_, np.int64)  # per-lane scratch
        # the counts of the inference phases at a step at rest (kernels._inference)
        state[K.S_REST_CNT] = np.zeros_like(self.cnt)
        state[K.S_REST_OPCNT] = np.zeros_like(self.opcnt)
        state[K.S_REST_OK] = np.zeros(1, np.int64)
        self._state = tuple(state)
        self._tables = (
            (enc.b_off, enc.b_size, enc.b_lane, enc.b_rows, enc.b_cols, enc.b_core),
            (enc.ins_op, enc.ins_core, enc.ins_a, enc.ins_i, enc.ins_f,
             enc.out_ptr, enc.out_ids, enc.list_ids),
            (enc.ph_first, enc.ph_nst, enc.ph_repeat, enc.stage_ptr),
            (enc.g_src, enc.g_start, enc.g_len, enc.g_ch0, enc.g_ch1, enc.g_ref,
             enc.c_dst_buf, enc.c_dst_start, enc.c_hops, enc.c_dst_core, enc.r_off, enc.r_len,
             enc.r_core, enc.g_hops, enc.r_step, enc.g_error),
            (enc.h_col, enc.h_len, enc.h_dst_buf, enc.h_dst_start),
            (enc.a_w, enc.a_x, enc.a_rows, enc.a_cols, enc.a_sacc, enc.a_xs, enc.w_nnz, enc.a_step),
            (enc.lru_nu, enc.lru_th, enc.lru_gl),
            (enc.out_mu, enc.out_start, enc.loss_bufs, enc.inboxes, enc.step_inboxes),
        )
        self._fi = np.zeros(K.INT_FLAGS, np.int64)
        self._ff = np.zeros(K.FLOAT_FLAGS, np.float64)
        self.load_params(params if params is not None else artifact.params)

    # -- state ---------------------------------------------------------------------------
    def _view(self, k: int) -> np.ndarray:
        """Buffer k of the arena: (lanes, *shape) if per lane, else its shape (a view)."""
        enc = self.enc
        core, buf = enc.buffers[k]
        off, size = enc.b_off[k], enc.b_size[k]
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
        tb, _, _, _, _, ta, tl, _ = self._tables
        K.refresh(tb, ta, tl, self._state)

    def gather(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
               layer: int | None = None, copy: bool = False) -> np.ndarray:
        """Assemble a global array (reference layout) from the buffers bound to it; per-lane
        arrays get a leading lane axis. Raises KeyError if nothing is bound to it."""
        pieces = ((buf, self._view(k).astype(np.float64)) for k, (_, buf) in enumerate(self.enc.buffers))
        return assemble_bound(pieces, self.lanes, space, name, shape, part, layer, copy)

    def parameters(self) -> dict[str, np.ndarray]:
        """The current parameters in the reference's names and shapes (primaries)."""
        return {name: self.gather("param", name, value.shape)
                for name, value in self.artifact.params.items()}

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        """Adam moments by parameter name (trainable ones), empty for SGD."""
        state: dict[str, dict[str, np.ndarray]] = {"adam_m": {}, "adam_v": {}}
        seen = {(buf.binding.space, buf.binding.name) for _, buf in self.enc.buffers
                if buf.binding is not None and buf.binding.space in state}
        for space, name in seen:
            state[space][name] = self.gather(space, name, self.artifact.params[name].shape)
        return state

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
            reset: bool = False, online: bool = False, apply_end: bool = False,
            scale: float = 1.0) -> BlockOutput:
        """Run T = u.shape[0] steps (optionally after a sequence reset, and followed by an
        end-of-sequence apply). ``online`` applies after every step whose mask has a one."""
        if u.ndim != 3 or u.shape[1] != self.lanes:
            raise ValueError(f"u must be (steps, {self.lanes} lanes, inputs), got {u.shape}")
        hin = self.host_rows(u, target, mask)
        return self._execute(hin, train=train, reset=reset, online=online,
                             apply_end=apply_end, scale=scale)

    def _execute(self, hin: np.ndarray, *, train: bool, reset: bool, online: bool,
                 apply_end: bool, scale: float) -> BlockOutput:
        steps = hin.shape[0]
        fi, ff = self._fi, self._ff
        fi[K.F_LANES] = self.lanes
        fi[K.F_RESET] = int(reset)
        fi[K.F_STEPS] = steps
        fi[K.F_TRAIN] = int(train)
        fi[K.F_ONLINE] = int(online)
        fi[K.F_APPLY_END] = int(apply_end)
        fi[K.F_COUNT] = self.count
        fi[K.F_DENSE] = int(self.dense)
        fi[K.F_ROUND] = self.rounding
        fi[K.F_TRACK] = int(self.track)
        fi[K.F_MASK_COL] = self.enc.mask_col
        fi[K.F_REPLAY] = int(self.replay_at_rest)
        ff[K.G_THRESHOLD_ACTIVITY] = self.threshold.activity
        ff[K.G_THRESHOLD_ERROR] = self.threshold.error
        ff[K.G_SCALE] = scale
        loss = np.zeros((steps, self.lanes))
        logits = np.zeros((steps, self.lanes, self.enc.outputs))
        step_counts = np.zeros((steps, self.lanes + 1, K.FIELDS), np.int64)
        self.count = int(K.execute(fi, ff, hin, loss, logits, step_counts, *self._tables,
                                   self._state))
        return BlockOutput(loss, logits, step_counts)

    def reset(self) -> None:
        """Start a sequence in every lane: the program's reset phase plus the engine's own
        (inboxes, delta references, accumulators to zero)."""
        self._execute(np.zeros((0, self.lanes, self.enc.host_width)), train=False, reset=True,
                      online=False, apply_end=False, scale=1.0)

    def step(self, u: np.ndarray, target: np.ndarray, mask: np.ndarray) -> BlockOutput:
        """One training time step for every lane (u: (lanes, M))."""
        return self.run(u[None], np.asarray(target)[None], np.asarray(mask)[None], train=True)

    def apply(self, scale: float) -> None:
        """The apply phase (optimizer step) with the host's ``scale``."""
        self._execute(np.zeros((0, self.lanes, self.enc.host_width)), train=False, reset=False,
                      online=False, apply_end=True, scale=scale)

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


def work_counts(row: np.ndarray) -> WorkCounts:
    """A (9,) or (..., 9) integer array (summed over leading axes) as WorkCounts."""
    totals = np.asarray(row, dtype=np.int64).reshape(-1, len(FIELDS)).sum(axis=0)
    return WorkCounts(**{name: int(v) for name, v in zip(FIELDS, totals, strict=True)})
