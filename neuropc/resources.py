"""How much memory a train, simulate or compile of a spec needs, before anything is allocated.

numpy allocates lazily enough that an absurd size (``run.batch: 1e15``) only fails deep inside
a run, with "Unable to allocate 21.3 PiB" and a traceback, after the run folder was created.
This module estimates the bytes from the spec and the run's options alone, attributes them to
the field that drives them, and refuses (naming that field and the number) when the estimate
exceeds the memory the machine has available. The estimate is an upper-bound-ish model of the
largest arrays (parameters with their optimizer state, per-sequence state and traces for every
lane, the activations BPTT keeps for a whole sequence, a batch of inputs, the held-out set),
not an accounting of every temporary: its job is to catch sizes that cannot possibly run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuropc.errors import FieldProblem
from neuropc.spec.schema import NetworkSpec
from neuropc.tasks import task_from_spec

Purpose = Literal["train", "simulate", "compile"]
WORD = 8  # bytes per float64 / int64
#: compiling keeps the graph, the partitioned blocks, the per-core buffers and the artifact's
#: members: several copies of every parameter
COMPILE_COPIES = 8
#: the engine's arena holds per weight: the weight, its feedback copy, update, Adam m and v,
#: and the traces of tPC-RTRL
SIMULATE_COPIES = 6


def available_memory() -> tuple[int | None, str]:
    """(bytes the machine can give a new allocation, where that number comes from).

    Linux: ``MemAvailable`` of /proc/meminfo (free memory plus reclaimable caches); elsewhere
    the physical memory from ``os.sysconf``. None when neither can be read: then no spec is
    refused for its memory (a check that cannot measure must not block the user).
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages) * int(size), "physical memory (os.sysconf)"
    except (AttributeError, ValueError, OSError):
        pass
    return None, "unknown (neither /proc/meminfo nor os.sysconf could be read)"


def human_bytes(count: float) -> str:
    """``21.3 PiB``: binary prefixes, as the operating system reports memory."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if count < 1024 or unit == "EiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated bytes by the spec field (or option) that drives them."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def largest(self) -> str:
        """The field responsible for the most memory: the one to lower."""
        return max(self.parts, key=lambda k: self.parts[k])


def parameter_count(spec: NetworkSpec) -> int:
    """Real numbers in the parameters (complex input weights count twice)."""
    state, inputs = spec.recurrent.size, spec.input.size
    parts = 2 if spec.recurrent.complex else 1
    count = state * (parts + 1) + state * inputs * parts  # nu, theta, gamma_log; B
    widths = (spec.features, *spec.readout.hidden, spec.readout.output)
    count += sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return count


def estimate(spec: NetworkSpec, purpose: Purpose, *, batch: int | None = None,
             eval_lanes: int = 64) -> MemoryEstimate:
    """Bytes a ``purpose`` run of ``spec`` needs, by the field that drives each part.

    ``batch`` overrides ``run.batch`` (``simulate --batch``; its key is then ``--batch``).
    All arithmetic is on Python integers, so absurd sizes give absurd numbers, not overflow.
    """
    batch_key = "run.batch" if batch is None else "--batch"
    lanes = spec.run.batch if batch is None else batch
    length = task_from_spec(spec.task).sequence_length
    params = parameter_count(spec)
    widths = spec.features + sum(spec.readout.hidden) + spec.readout.output
    parts = 2 if spec.recurrent.complex else 1
    # the field that makes the network big: the widest layer
    sizes = {"recurrent.size": spec.recurrent.size, "input.size": spec.input.size,
             **{f"readout.hidden[{i}]": h for i, h in enumerate(spec.readout.hidden)}}
    size_key = max(sizes, key=lambda k: sizes[k])
    if purpose == "compile":
        return MemoryEstimate({size_key: COMPILE_COPIES * WORD * params})
    # per sequence in flight: the values of every layer for the whole sequence (BPTT, and the
    # recorded outputs), the tPC-RTRL traces (one per input weight) and a sequence of inputs
    per_sequence = WORD * (length * (widths + spec.input.size + 4)
                           + spec.recurrent.size * (spec.input.size + 2) * parts)
    copies = SIMULATE_COPIES if purpose == "simulate" else 4
    held_out_lanes = min(spec.run.eval_sequences, eval_lanes) if purpose == "simulate" \
        else spec.run.eval_sequences
    return MemoryEstimate({
        size_key: copies * WORD * params,
        batch_key: lanes * per_sequence,
        "run.eval_sequences": held_out_lanes * per_sequence
        + spec.run.eval_sequences * WORD * length * (spec.input.size + 2),
    })


def check_memory(spec: NetworkSpec, purpose: Purpose, *, batch: int | None = None,
                 available: int | None = None) -> MemoryEstimate:
    """The estimate, or a FieldProblem naming the field to lower when it exceeds the memory
    available (``available`` None: measure it now)."""
    needed = estimate(spec, purpose, batch=batch)
    if available is None:
        available, _ = available_memory()
    if available is not None and needed.total > available:
        key = needed.largest
        verb = {"train": "training", "simulate": "simulating", "compile": "compiling"}[purpose]
        raise FieldProblem(key, f"{verb} this spec needs about {human_bytes(needed.total)} of memory "
                                f"({human_bytes(needed.parts[key])} because of {key}), more than the "
                                f"{human_bytes(available)} available on this machine; lower {key}")
    return needed
