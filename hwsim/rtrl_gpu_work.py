"""tPC-RTRL run on a conventional chip: the reference's operations counted in closed form.

Separates the rule from the hardware: with this, the report fills the 2 x 2 table
{tPC-RTRL, BPTT} x {chip, GPU}. For a diagonal LRU the RTRL traces are element-wise, so
tPC-RTRL is not expensive on a GPU either. The counting rules are BPTT's
(``hwsim.bptt_work``): a real multiply-accumulate is one MAC, complex x complex is 4 and
complex x real 2, matrix products are counted dense, every stored number is ``value_bytes``.

Per time step and sequence, following ``neuropc.reference.temporal.TemporalLearner.step``
with fixed-prediction inference:

- forward: the drive B u (m n c), the recurrence lam h + gam (B u) (n c^2 + n c), the
  readout prediction (its weights and biases);
- K inference iterations, each sending every layer's error down through its weights
  (the readout weights, once per iteration), with 4 element-wise ops per value node and one
  per output;
- traces: lam and gam traces (n c^2 + n c each), the B trace scaled by lam (c^2 n m) and the
  direct term added for the nonzero inputs (n c per nonzero input; one for one-hot inputs);
- credit: the state error against the B trace (c^2 n m), the lam and gam credits (n c^2 each)
  and the readout's outer products (its weights and biases);
- every update is added to its accumulator (one op per accumulator), the optimizer steps once
  per batch.

Memory per step: every weight array read (the readout weights once more per inference
iteration), every accumulator read and written, and the B trace read twice (scaled, then
contracted) and written once per sequence. Nothing is stored for a backward pass. Every step
is treated as a loss step, an upper bound for tasks with silent steps.

This is a closed form written from the reference's code, not an instrumented count: the
reference's tPC-RTRL path has no counter hook yet (BPTT's has).
"""

from __future__ import annotations

from hwsim.bptt_work import FP32_BYTES, _Sizes
from hwsim.counters import ConventionalWork
from neuropc.reference.network import Architecture


def rtrl_kernels(arch: Architecture, iterations: int) -> int:
    """Kernels of one step in an unfused eager implementation: forward (2 per readout layer, 2
    for the LRU), 2 per layer per inference iteration, 4 for the traces, 2 per readout layer
    and 3 for the LRU credit, 1 for the accumulation."""
    layers = arch.readout_layers
    return 2 * layers + 2 + 2 * layers * iterations + 4 + 2 * layers + 3 + 1


def rtrl_work_closed_form(arch: Architecture, seq_len: int, batch: int, iterations: int,
                          nonzero_inputs: int = 1, value_bytes: int = FP32_BYTES) -> ConventionalWork:
    """tPC-RTRL's work on ``batch`` sequences of ``seq_len`` steps on a conventional chip."""
    if min(seq_len, batch) < 1 or iterations < 0:
        raise ValueError(f"seq_len and batch must be at least 1 and iterations not negative, got "
                         f"{seq_len}, {batch}, {iterations}")
    s, t, b = _Sizes.of(arch), seq_len, batch
    c, n, m = s.c, s.n, s.m
    state = c * n
    forward = t * b * s.forward_macs
    inference = t * b * iterations * s.readout_weights
    traces = t * b * (2 * (n * c * c + n * c) + c * c * n * m + n * c * nonzero_inputs)
    credit = t * b * (c * c * n * m + 2 * n * c * c + s.readout_params)
    nodes = state + s.hidden
    elementwise = t * (b * (iterations * (4 * nodes + s.v) + 2 * s.hidden + 2 * s.v) + s.gradient_accumulators)
    b_trace = b * c * n * m
    return ConventionalWork(
        sequences=b,
        seq_len=t,
        forward_macs=forward,
        backward_macs=inference,
        weight_gradient_macs=traces + credit,
        elementwise_ops=elementwise,
        optimizer_updates=sum(arch.parameter_count().values()),
        weight_reads=t * value_bytes * (s.weights_used + iterations * s.readout_weights),
        gradient_bytes=2 * t * s.gradient_accumulators * value_bytes,
        activation_bytes_written=0,
        activation_bytes_read=0,
        resident_bytes=(s.weights_used + s.gradient_accumulators + b_trace + 2 * b * state) * value_bytes,
        history_slots=(),
        trace_bytes=3 * t * b_trace * value_bytes,
    )
