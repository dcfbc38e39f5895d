"""The work of BPTT on conventional hardware, counted two ways that must agree.

1. Instrumented: ``BPTTCounter`` is passed to ``neuropc.reference.bptt.bptt_updates``, which
   reports every matrix product, elementwise stage, weight read, history write and read,
   gradient accumulation and parameter update it actually executes, with the arrays involved.
   The counter turns array shapes and dtypes into counts.
2. Closed form: ``bptt_work_closed_form`` from the layer sizes, the sequence length and the
   batch size.

``tests/hwsim/test_bptt_work.py`` holds them equal. The closed form is what reports use (it
is instant for any size); the instrumented count is what keeps it honest.

Also here: the memory each rule keeps per sequence, BPTT's activation history (grows with T)
against tPC-RTRL's carried state and eligibility traces (grows with the parameters only).
The counting rules are in ``docs/energy_model.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwsim.costs import CostProfile
from hwsim.counters import ConventionalWork, compress_slots
from neuropc.errors import NeuropcError
from neuropc.reference.bptt import bptt_updates
from neuropc.reference.network import Architecture, Params, init_params
from neuropc.tasks.base import SequenceBatch

MAC_KINDS = ("forward", "backward", "weight_gradient")
FP32_BYTES = 4


def _numbers(array: np.ndarray) -> int:
    """Real numbers held by an array (a complex entry is two)."""
    return int(array.size) * (2 if np.iscomplexobj(array) else 1)


def _mac_factor(a: np.ndarray, b: np.ndarray) -> int:
    """Real MACs per product: complex x complex 4, complex x real 2, real x real 1."""
    return (2 if np.iscomplexobj(a) else 1) * (2 if np.iscomplexobj(b) else 1)


@dataclass
class _Slot:
    written: int = 0
    read: int = 0
    fetched: int = 0
    seen: set[str] = field(default_factory=set)


class BPTTCounter:
    """Receives the reference's reports (the ``counter=`` hook) and tallies exact counts.

    Every stored number is ``value_bytes`` bytes (fp32 by default, whatever precision the
    numpy reference computes in); a complex number is two.
    """

    def __init__(self, value_bytes: int = FP32_BYTES) -> None:
        self.value_bytes = value_bytes
        self.macs = dict.fromkeys(MAC_KINDS, 0)
        self.elementwise_ops = 0
        self.optimizer_updates = 0
        self.weight_reads = 0
        self.gradient_bytes = 0
        self._weights: dict[str, int] = {}
        self._gradients: dict[str, int] = {}
        self._slots: dict[int, _Slot] = {}

    def _bytes(self, array: np.ndarray) -> int:
        return _numbers(array) * self.value_bytes

    def _add_macs(self, kind: str, count: int) -> None:
        if kind not in self.macs:
            raise ValueError(f"unknown MAC kind {kind!r} (expected one of {MAC_KINDS})")
        self.macs[kind] += count

    # --- arithmetic -------------------------------------------------------------------------
    def matmul(self, kind: str, a: np.ndarray, b: np.ndarray) -> None:
        """``a @ b`` with a (rows, k) and b (k, cols): rows * k * cols products, dense."""
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul expects (r, k) @ (k, c), got {a.shape} @ {b.shape}")
        self._add_macs(kind, a.shape[0] * a.shape[1] * b.shape[1] * _mac_factor(a, b))

    def dense(self, kind: str, weight: np.ndarray, out: np.ndarray) -> None:
        """``out = x @ weight.T + bias``: one MAC per weight per row, and one per bias add."""
        fan_out, fan_in = weight.shape
        if out.shape[-1] != fan_out:
            raise ValueError(f"dense layer output {out.shape} does not match weight {weight.shape}")
        rows = out.size // fan_out
        self._add_macs(kind, rows * (fan_in * fan_out + fan_out) * _mac_factor(weight, out))

    def product(self, kind: str, a: np.ndarray, b: np.ndarray) -> None:
        """An elementwise product that is accumulated (diagonal synapse, batch-summed credit)."""
        size = math.prod(np.broadcast_shapes(np.shape(a), np.shape(b)))
        self._add_macs(kind, size * _mac_factor(np.asarray(a), np.asarray(b)))

    def reduce(self, kind: str, a: np.ndarray) -> None:
        """A sum over the batch (a bias gradient): one MAC per summed number."""
        self._add_macs(kind, _numbers(a))

    def elementwise(self, out: np.ndarray) -> None:
        """An elementwise stage (activation, derivative, loss, mask): one op per number out."""
        self.elementwise_ops += _numbers(out)

    # --- memory -----------------------------------------------------------------------------
    def read_weight(self, name: str, array: np.ndarray) -> None:
        """A weight array read once for one use in one step (shared by the whole batch)."""
        size = self._bytes(array)
        self.weight_reads += size
        self._weights[name] = max(self._weights.get(name, 0), size)

    def accumulate_gradient(self, name: str, accumulator: np.ndarray) -> None:
        """``accumulator += this step's gradient``: an add per number, read and write back."""
        size = self._bytes(accumulator)
        self.elementwise_ops += _numbers(accumulator)
        self.gradient_bytes += 2 * size
        self._gradients[name] = max(self._gradients.get(name, 0), size)

    def optimizer_update(self, gradient: np.ndarray) -> None:
        """One optimizer update per trainable scalar the gradient covers."""
        self.optimizer_updates += int(gradient.size)

    def write_history(self, name: str, array: np.ndarray, slot: int) -> None:
        """The forward pass stores ``array`` for the backward pass, in history slot ``slot``."""
        self._slots.setdefault(slot, _Slot()).written += self._bytes(array)

    def read_history(self, name: str, array: np.ndarray, slot: int) -> None:
        """The backward pass reads ``array`` back from history slot ``slot``."""
        entry = self._slots.setdefault(slot, _Slot())
        size = self._bytes(array)
        entry.read += size
        if name not in entry.seen:
            entry.seen.add(name)
            entry.fetched += size

    # --- result -----------------------------------------------------------------------------
    def work(self, seq_len: int, sequences: int) -> ConventionalWork:
        slots = [self._slots.get(index, _Slot()) for index in range(max(self._slots, default=-1) + 1)]
        runs = compress_slots((s.written, s.read, s.fetched) for s in slots)
        return ConventionalWork(
            sequences=sequences,
            seq_len=seq_len,
            forward_macs=self.macs["forward"],
            backward_macs=self.macs["backward"],
            weight_gradient_macs=self.macs["weight_gradient"],
            elementwise_ops=self.elementwise_ops,
            optimizer_updates=self.optimizer_updates,
            weight_reads=self.weight_reads,
            gradient_bytes=self.gradient_bytes,
            activation_bytes_written=sum(s.written for s in slots),
            activation_bytes_read=sum(s.read for s in slots),
            resident_bytes=sum(self._weights.values()) + sum(self._gradients.values()),
            history_slots=runs,
        )


# ---------------------------------------------------------------------------------------------
# Entry points.

def _place(work: ConventionalWork, profile: CostProfile | None) -> ConventionalWork:
    if profile is None:
        return work
    if profile.kind != "conventional":
        raise NeuropcError(f"cost profile {profile.name!r} is {profile.kind}; BPTT is priced on a "
                           f"conventional profile (cpu-45nm, gpu-h100 or a file based on one)")
    return work.placed(profile.onchip_capacity_bytes)


def count_bptt_work(arch: Architecture, params: Params, batch: SequenceBatch,
                    profile: CostProfile | None = None, value_bytes: int = FP32_BYTES) -> ConventionalWork:
    """Run the reference BPTT on ``batch`` and count what it did (instrumented)."""
    counter = BPTTCounter(value_bytes)
    bptt_updates(arch, params, batch, counter=counter)
    return _place(counter.work(batch.length, batch.size), profile)


def synthetic_batch(arch: Architecture, seq_len: int, batch: int, rng: np.random.Generator) -> SequenceBatch:
    """Random one-hot inputs and targets of the right shapes (the counts do not depend on values)."""
    inputs = np.eye(arch.inputs)[rng.integers(0, arch.inputs, size=(seq_len, batch))]
    if arch.loss == "cross_entropy":
        targets = rng.integers(0, arch.outputs, size=(seq_len, batch))
    else:
        targets = rng.normal(size=(seq_len, batch, arch.outputs))
    return SequenceBatch(inputs=inputs, targets=targets, mask=np.ones((seq_len, batch)))


def bptt_work(arch: Architecture, seq_len: int, batch: int = 1, profile: CostProfile | None = None,
              *, value_bytes: int = FP32_BYTES, instrumented: bool = False, seed: int = 0) -> ConventionalWork:
    """BPTT's work on ``batch`` sequences of ``seq_len`` steps, placed on ``profile`` if given.

    Closed form by default; ``instrumented=True`` runs the reference on random data instead
    (slow for long sequences, identical counts).
    """
    if seq_len < 1 or batch < 1:
        raise ValueError(f"seq_len and batch must be at least 1, got {seq_len} and {batch}")
    if instrumented:
        rng = np.random.default_rng(seed)
        params = init_params(arch, (0.9, 0.999), 0.2 * np.pi, rng)
        return count_bptt_work(arch, params, synthetic_batch(arch, seq_len, batch, rng), profile, value_bytes)
    return _place(bptt_work_closed_form(arch, seq_len, batch, value_bytes), profile)


# ---------------------------------------------------------------------------------------------
# Closed form.

@dataclass(frozen=True)
class _Sizes:
    """Per-sample sizes in real numbers, shared by the closed form and the footprints."""

    c: int  # numbers per state entry (2 complex, 1 real)
    n: int
    m: int
    hidden: int  # sum of hidden widths
    v: int
    target: int  # numbers per target (1 class id, or V reals)
    g: int  # 1 if gamma is learned
    readout_params: int  # weights and biases of the readout
    readout_weights: int  # weights only

    @classmethod
    def of(cls, arch: Architecture) -> _Sizes:
        sizes = arch.readout_sizes
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        return cls(
            c=2 if arch.complex else 1, n=arch.state, m=arch.inputs, hidden=sum(arch.hidden),
            v=arch.outputs, target=1 if arch.loss == "cross_entropy" else arch.outputs,
            g=1 if arch.learn_gamma else 0,
            readout_params=sum(i * o + o for i, o in pairs), readout_weights=sum(i * o for i, o in pairs),
        )

    @property
    def weights_used(self) -> int:
        """Weight arrays the steps read: B, lambda, gamma (coefficient form) and the readout."""
        return self.c * self.n * self.m + self.c * self.n + self.n + self.readout_params

    @property
    def forward_macs(self) -> int:
        """MACs of one step's forward pass for one sequence: B u, lambda h, gamma (B u), readout."""
        return self.m * self.n * self.c + self.n * self.c * self.c + self.n * self.c + self.readout_params

    @property
    def gradient_accumulators(self) -> int:
        """Readout gradients plus the credits of lambda, gamma (if learned) and B."""
        return self.readout_params + self.c * self.n * (1 + self.g + self.m)

    @property
    def slot_written(self) -> int:
        """Numbers one step stores: input, target, mask, drive, state, hidden, output, loss."""
        return self.m + self.target + 1 + 2 * self.c * self.n + self.hidden + self.v + 1

    @property
    def slot_fetched(self) -> int:
        """Distinct numbers of one step the backward pass reads (the drive only for gamma)."""
        return self.c * self.n * (1 + self.g) + self.hidden + self.v + self.target + 1 + self.m + 1


def bptt_work_closed_form(arch: Architecture, seq_len: int, batch: int = 1,
                          value_bytes: int = FP32_BYTES) -> ConventionalWork:
    """The counts of ``BPTTCounter`` on the reference, from the sizes alone."""
    s, t, b = _Sizes.of(arch), seq_len, batch
    c, n, m = s.c, s.n, s.m
    state = c * n
    forward = t * b * s.forward_macs
    backward = t * b * (s.readout_weights + n * c * c)
    weight_gradient = t * b * (s.readout_params + n * c * c * (1 + s.g) + n * c + n * m * c)
    elementwise = t * (b * (4 * s.hidden + 3 * s.v) + s.gradient_accumulators)
    weight_reads = t * value_bytes * (s.weights_used + s.readout_weights + state + n)
    initial = b * state * value_bytes
    written = b * s.slot_written * value_bytes
    fetched = b * s.slot_fetched * value_bytes
    twice = fetched + b * state * value_bytes  # states[t] is read again by the step before
    slots = [(initial, initial, initial)] + [(written, twice, fetched)] * (t - 1) + [(written, fetched, fetched)]
    runs = compress_slots(slots)
    return ConventionalWork(
        sequences=b,
        seq_len=t,
        forward_macs=forward,
        backward_macs=backward,
        weight_gradient_macs=weight_gradient,
        elementwise_ops=elementwise,
        optimizer_updates=sum(arch.parameter_count().values()),
        weight_reads=weight_reads,
        gradient_bytes=2 * t * s.gradient_accumulators * value_bytes,
        activation_bytes_written=sum(r.count * r.written for r in runs),
        activation_bytes_read=sum(r.count * r.read for r in runs),
        resident_bytes=(s.weights_used + s.gradient_accumulators) * value_bytes,
        history_slots=runs,
    )


# ---------------------------------------------------------------------------------------------
# Memory per sequence: BPTT's history against tPC-RTRL's state.

@dataclass(frozen=True)
class MemoryFootprint:
    """Bytes a rule keeps while it processes ``batch`` sequences, by part."""

    rule: str
    seq_len: int | None  # None: does not depend on the sequence length
    batch: int
    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def per_sequence(self) -> float:
        return self.total / self.batch


def bptt_history_bytes(arch: Architecture, seq_len: int, batch: int = 1,
                       value_bytes: int = FP32_BYTES) -> MemoryFootprint:
    """The activation history the reference BPTT stores for ``seq_len`` steps (grows with T).

    Its total equals ``ConventionalWork.activation_bytes_written``: everything is written once.
    """
    s, t, b, vb = _Sizes.of(arch), seq_len, batch, value_bytes
    state = s.c * s.n
    parts = {
        "initial state": b * state * vb,
        "LRU states": t * b * state * vb,
        "LRU drives (B u)": t * b * state * vb,
        "readout hidden pre-activations": t * b * s.hidden * vb,
        "outputs": t * b * s.v * vb,
        "per-step losses": t * b * vb,
        "inputs": t * b * s.m * vb,
        "targets": t * b * s.target * vb,
        "loss masks": t * b * vb,
    }
    return MemoryFootprint("bptt", seq_len, batch, parts)


def rtrl_state_bytes(arch: Architecture, batch: int = 1, value_bytes: int = FP32_BYTES) -> MemoryFootprint:
    """What tPC-RTRL carries per sequence: state, eligibility traces and one step's PC nodes.

    Independent of the sequence length; the B trace (one per input synapse) dominates. The
    gamma trace counts only when gamma is learned.
    """
    s, b, vb = _Sizes.of(arch), batch, value_bytes
    state = s.c * s.n
    parts = {
        "carried state": b * state * vb,
        "trace lambda": b * state * vb,
        "trace B (one per input synapse)": b * state * s.m * vb,
        "trace gamma": b * state * s.g * vb,
        "step value and error nodes": b * (2 * (state + s.hidden) + s.v) * vb,
    }
    return MemoryFootprint("tpc-rtrl", None, batch, parts)


def parameter_bytes(arch: Architecture, value_bytes: int = FP32_BYTES) -> int:
    """Bytes of the stored parameters (both rules keep them; not part of either footprint above)."""
    s = _Sizes.of(arch)
    return ((s.c + 1) * s.n + s.c * s.n * s.m + s.readout_params) * value_bytes


def inference_work_closed_form(arch: Architecture, steps: int = 1, batch: int = 1,
                               value_bytes: int = FP32_BYTES) -> ConventionalWork:
    """A conventional chip running the trained network forward only (no learning, no history).

    Same counting rules as the forward part of ``bptt_work_closed_form``: forward MACs, one
    elementwise op per hidden activation and per output (softmax exponent), each weight array
    read once per step. Nothing is stored for a backward pass.
    """
    s, t, b = _Sizes.of(arch), steps, batch
    return ConventionalWork(
        sequences=b,
        seq_len=t,
        forward_macs=t * b * s.forward_macs,
        backward_macs=0,
        weight_gradient_macs=0,
        elementwise_ops=t * b * (s.hidden + s.v),
        optimizer_updates=0,
        weight_reads=t * value_bytes * s.weights_used,
        gradient_bytes=0,
        activation_bytes_written=0,
        activation_bytes_read=0,
        resident_bytes=s.weights_used * value_bytes,
        history_slots=(),
    )
