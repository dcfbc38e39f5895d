"""BPTT as practitioners run it, next to the per-step reference, each in closed form.

The reference (``hwsim.bptt_work``) does one step at a time: every step reads every weight
array and reads and writes every gradient accumulator. That is how the numpy reference is
written, not how BPTT is run. A framework applies the feed-forward readout as one matrix
product over all T x b rows of a batch and accumulates the weight gradient inside that
product, and runs the diagonal LRU recurrence as a scan. The variants here keep every MAC
and every activation of the reference and change what that restructuring changes:

- ``per-step``: the reference as counted (weights read and accumulators read and written at
  every step; both stay resident).
- ``time-batched``: each weight read once forward and once backward per batch, each gradient
  written once; gradient accumulation happens inside the products (no per-step adds); only
  the weights stay resident.
- ``truncated k``: time-batched over windows of k steps (the streaming setting, non-overlapping
  windows with one gradient per batch): weights and gradients are touched once per window,
  only k steps of history are alive; the gradient stops at window edges (approximate).
- ``checkpointed``: time-batched, storing the state every ceil(sqrt T) steps and recomputing
  each segment's forward pass during the backward pass: one more forward pass of MACs and
  activations, and only sqrt(T) checkpoints plus one segment of history alive.

Kernel counts (for the launch-bound time model) assume an unfused eager implementation:
per readout layer 2 kernels forward (product, activation) and 3 backward (two products, the
activation's derivative), per LRU 2 forward (drive product, recurrence) and 3 backward, 2
for the loss, 1 for the optimizer; the per-step variant launches the step kernels every step,
the others once per window (the LRU recurrence as one scan kernel), and the checkpointed one
adds the forward kernels once per recomputed segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hwsim.bptt_work import FP32_BYTES, _Sizes, bptt_work_closed_form
from hwsim.counters import ConventionalWork
from neuropc.reference.network import Architecture

VARIANTS = ("per-step", "time-batched", "truncated", "checkpointed")
#: the variant a report states its headline ratio for: how BPTT is run in practice
BPTT_VARIANT_DEFAULT = "time-batched"
#: batch sizes of the sweep (offline training: the GPU's throughput grows with the batch)
BATCH_SWEEP = (1, 8, 64, 512)


@dataclass(frozen=True)
class BPTTVariant:
    """One way of running BPTT on a batch: its work, live history, kernels and exactness."""

    name: str
    work: ConventionalWork
    live_history_bytes: int  # history alive at once (what must fit on chip)
    kernels: int  # kernel launches per batch
    exact: bool  # the gradient equals full BPTT's

    @property
    def label(self) -> str:
        return self.name


def step_kernels(arch: Architecture) -> int:
    """Kernels of one forward and backward pass over one window (see the module docstring)."""
    return 5 * arch.readout_layers + 5 + 2


def _batched(base: ConventionalWork, s: _Sizes, windows: int, seq_len: int, value_bytes: int) -> ConventionalWork:
    """Weights read twice and gradients written once per window; no per-step accumulation adds."""
    per_step_adds = seq_len * s.gradient_accumulators
    return replace(base, weight_reads=2 * windows * s.weights_used * value_bytes,
                   gradient_bytes=windows * s.gradient_accumulators * value_bytes,
                   elementwise_ops=base.elementwise_ops - per_step_adds + windows * s.gradient_accumulators,
                   resident_bytes=s.weights_used * value_bytes)


def bptt_variant(arch: Architecture, name: str, seq_len: int, batch: int = 1, window: int | None = None,
                 value_bytes: int = FP32_BYTES) -> BPTTVariant:
    """The work of one variant (``window``: the truncation length k of ``truncated``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown BPTT variant {name!r} (expected one of {', '.join(VARIANTS)})")
    s = _Sizes.of(arch)
    base = bptt_work_closed_form(arch, seq_len, batch, value_bytes)
    history = base.activation_bytes_written
    slot = batch * s.slot_written * value_bytes
    if name == "per-step":
        return BPTTVariant("per-step", base, history, seq_len * step_kernels(arch) + 1, True)
    if name == "time-batched":
        return BPTTVariant("time-batched", _batched(base, s, 1, seq_len, value_bytes), history,
                           step_kernels(arch) + 1, True)
    if name == "truncated":
        k = window if window is not None else seq_len
        if not 1 <= k <= seq_len:
            raise ValueError(f"the truncation window must be 1 to {seq_len} steps, got {k}")
        windows = math.ceil(seq_len / k)
        live = min(history, (k + 1) * slot)
        return BPTTVariant(f"truncated k={k}", _batched(base, s, windows, seq_len, value_bytes), live,
                           windows * step_kernels(arch) + 1, k >= seq_len)
    segment = math.ceil(math.sqrt(seq_len))
    checkpoints = math.ceil(seq_len / segment)
    state = batch * s.c * s.n * value_bytes
    batched = _batched(base, s, 1, seq_len, value_bytes)
    recompute = replace(batched, forward_macs=2 * batched.forward_macs,
                        elementwise_ops=batched.elementwise_ops + seq_len * batch * (s.hidden + s.v))
    live = min(history, checkpoints * state + segment * slot)
    forward_kernels = 2 * arch.readout_layers + 2
    return BPTTVariant(f"checkpointed (every {segment} steps)", recompute, live,
                       step_kernels(arch) + checkpoints * forward_kernels + 1, True)
