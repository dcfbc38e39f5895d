"""Verification: prove a compiled program is local, well formed, complete and within limits.

Locality is what makes a learning rule run on neuromorphic cores, so the compiler refuses a
program unless this pass finds no violation:

1. every operand of every op is a buffer of the op's own core, of a kind and shape the op
   kind allows (the op's semantics are a function of its operands only, so this is a
   complete account of what it touches);
2. data crosses cores only on declared channels: a ``send`` op lists only channels whose
   source is its own core and whose source range is in its memory; a channel writes only an
   inbox of its destination core, and inbox buffers are written by nothing else;
3. nothing is read before it exists within a step: an inbox only after every channel into
   it was sent at an earlier stage, a register only after an op of the same core wrote it;
4. every inbox is covered exactly once by its channels, every neuron, weight, feedback copy,
   trace and accumulator exists exactly once, and no core exceeds a limit of the target.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from compiler.layout import LIMITS, memory_usage
from compiler.ops import OPS
from compiler.program import (
    HOST,
    INBOX,
    PHASE_ORDER,
    REGISTER,
    CoreProgram,
    Op,
    Program,
)
from compiler.targets import ResourceTable
from neuropc.errors import NeuropcError


class LocalityError(NeuropcError):
    """The program is not local (or not well formed); the compiler refuses to emit it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"the compiled program fails verification ({len(problems)} "
                         f"problem(s)):\n  {shown}{more}")


_STEP_PHASES = ("predict", "infer", "backprop", "learn", "advance")
_SPAN = 1_000_000  # stages per phase in the linear position order


def _rank(phase: str) -> int:
    return PHASE_ORDER.index(phase) * _SPAN


def _active_phases(program: Program) -> dict[str, int]:
    """Phases that run at least once, with their rank."""
    return {p.name: _rank(p.name) for p in program.phases if p.repeat > 0}


def _check_op(core: CoreProgram, phase: str, op: Op, lanes_parts: int,
              problems: list[str]) -> None:
    where = f"core {core.core} ({core.layer}[{core.start}:{core.stop}]) {phase} stage " \
            f"{op.stage} {op.kind}"
    sig = OPS.get(op.kind)
    if sig is None:
        problems.append(f"{where}: unknown op kind")
        return
    for missing in [p for p in sig.params if p not in op.params]:
        problems.append(f"{where}: missing parameter '{missing}'")
    if op.kind != "send" and op.channels:
        problems.append(f"{where}: only send ops may use channels")
    letters: dict[str, object] = {}
    parts_seen: set[int] = set()
    for side, roles, operands in (("reads", sig.inputs, op.inputs),
                                  ("writes", sig.outputs, op.outputs)):
        for role in operands:
            if role not in roles:
                problems.append(f"{where}: unknown role '{role}' in {side}")
        for role, spec in roles.items():
            if role not in operands:
                if not spec.optional:
                    problems.append(f"{where}: role '{role}' missing from {side}")
                continue
            value = operands[role]
            names = [value] if isinstance(value, str) else list(value)
            if spec.mode == "one" and not isinstance(value, str):
                problems.append(f"{where}: role '{role}' takes one buffer")
                continue
            if spec.mode == "parts":
                parts_seen.add(len(names))
            shape = None
            total = 0
            for name in names:
                buf = core.buffers.get(name)
                if buf is None:
                    problems.append(f"{where} {side} '{name}' ({role}), which is not in "
                                    f"core {core.core}'s memory: not local")
                    continue
                if buf.kind not in spec.kinds:
                    problems.append(f"{where}: '{name}' is a {buf.kind}, role '{role}' "
                                    f"takes {'/'.join(spec.kinds)}")
                if shape is not None and buf.shape != shape and spec.mode == "parts":
                    problems.append(f"{where}: parts of '{role}' differ in shape")
                shape = buf.shape
                total += buf.size
            if shape is None:
                continue
            if spec.mode == "concat":
                continue
            _bind(where, role, spec.shape, shape, letters, problems)
    if parts_seen and (len(parts_seen) > 1 or not parts_seen <= {1, lanes_parts}):
        problems.append(f"{where}: re/im parts used inconsistently ({sorted(parts_seen)})")


def _bind(where: str, role: str, pattern: str, shape: tuple[int, ...],
          letters: dict[str, object], problems: list[str]) -> None:
    if pattern == "*":
        return
    if len(pattern) == 1 and pattern.isupper():
        bound = letters.setdefault(pattern, shape)
        if bound != shape:
            problems.append(f"{where}: role '{role}' has shape {shape}, expected {bound}")
        return
    if len(shape) != len(pattern):
        problems.append(f"{where}: role '{role}' has shape {shape}, expected rank "
                        f"{len(pattern)}")
        return
    for letter, dim in zip(pattern, shape, strict=True):
        bound = letters.setdefault(letter, dim)
        if bound != dim:
            problems.append(f"{where}: role '{role}' dimension {letter}={dim} but {bound} "
                            f"elsewhere in the op")


@dataclass
class Verification:
    """What the verifier measured on the way (reused by the report)."""

    usage: list[dict[str, int]]
    first_delivery: np.ndarray  # per channel: linear position of its first send


def verify(program: Program, table: ResourceTable, param_shapes: dict[str, tuple[int, ...]]
           ) -> Verification:
    """Run every check; raise LocalityError listing all problems found."""
    problems: list[str] = []
    ch = program.channels
    n_cores = len(program.cores)
    active = _active_phases(program)
    cores = program.cores
    for k, core in enumerate(cores):
        if core.core != k:
            problems.append(f"core list out of order at {k}")
    parts = {core.core: max(2 if b.binding is not None and b.binding.part else 1
                            for b in core.buffers.values()) for core in cores}

    # 1. ops: operands local, typed and shaped
    for core in cores:
        for phase, ops in core.phases.items():
            if phase not in PHASE_ORDER:
                problems.append(f"core {core.core}: unknown phase '{phase}'")
                continue
            for op in ops:
                _check_op(core, phase, op, parts[core.core], problems)

    # 2. channels: endpoints, buffers, ranges
    src, dst = ch.src, ch.dst
    if len(ch) and (dst.min() < 0 or dst.max() >= n_cores or src.max() >= n_cores
                    or src.min() < HOST):
        problems.append("a channel names a core that does not exist")
        raise LocalityError(problems)
    names = ch.names
    width = max(len(names), 1)
    if len(ch):
        for key in np.unique(dst * width + ch.dst_buffer):
            core, bname = cores[int(key // width)], names[int(key % width)]
            buf = core.buffers.get(bname)
            if buf is None or buf.kind != INBOX:
                problems.append(f"channels write '{bname}' on core {core.core}, which is not "
                                f"an inbox of that core")
    _check_coverage(program, problems)
    host = src == HOST
    for i in np.flatnonzero(host):
        stream = names[int(ch.src_buffer[i])]
        size = program.host_inputs.get(stream)
        if size is None or ch.src_start[i] + ch.length[i] > size:
            problems.append(f"channel {i} reads host stream '{stream}' out of range")
    inner = ~host
    if inner.any():
        keys = src[inner] * width + ch.src_buffer[inner]
        ends = (ch.src_start + ch.length)[inner]
        order = np.argsort(keys, kind="stable")
        keys, ends = keys[order], ends[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        for key, end in zip(keys[starts], np.maximum.reduceat(ends, starts), strict=True):
            core, bname = cores[int(key // width)], names[int(key % width)]
            buf = core.buffers.get(bname)
            if buf is None:
                problems.append(f"channels read '{bname}' on core {core.core}, which is not "
                                f"in its memory")
            elif end > buf.size:
                problems.append(f"channels read past the end of '{bname}' on core {core.core}")

    # 3. send ops: own channels only; first delivery position of every channel
    first = np.full(len(ch), np.iinfo(np.int64).max, dtype=np.int64)
    first[host] = _rank("predict") - 1
    for core in cores:
        for phase, ops in core.phases.items():
            for op in ops:
                if op.kind != "send":
                    continue
                ids = op.channel_ids()
                if ids.size and (ids.min() < 0 or ids.max() >= len(ch)):
                    problems.append(f"core {core.core} {phase}: send lists a channel that "
                                    f"does not exist")
                    continue
                foreign = ids[src[ids] != core.core]
                if foreign.size:
                    problems.append(
                        f"core {core.core} {phase} stage {op.stage}: send uses channel "
                        f"{int(foreign[0])} whose source is core {int(src[foreign[0]])}: "
                        f"not local")
                if phase in active:
                    np.minimum.at(first, ids, active[phase] + op.stage)
    unsent = np.flatnonzero(first == np.iinfo(np.int64).max)
    if unsent.size:
        problems.append(f"{unsent.size} channel(s) are declared but never sent "
                        f"(first: {int(unsent[0])})")

    # 4. dataflow within a step: inboxes after delivery, registers after a local write
    ready: dict[tuple[int, str], int] = {}
    if len(ch):
        keys = dst * width + ch.dst_buffer
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        latest = np.maximum.reduceat(first[order], starts)
        for key, pos in zip(keys[starts], latest, strict=True):
            ready[(int(key // width), names[int(key % width)])] = int(pos)
    for core in cores:
        _check_dataflow(core, active, ready, problems)

    # 5. limits
    usage = core_usage(program)
    for core, u in zip(cores, usage, strict=True):
        for key, limit_name in LIMITS.items():
            if u[key] > table[limit_name]:
                problems.append(f"core {core.core} ({core.layer}) uses {u[key]:,} {key}, "
                                f"limit {table[limit_name]:,}")
    problems.extend(check_placement_once(program, param_shapes))
    if problems:
        raise LocalityError(problems)
    return Verification(usage, first)


def _check_dataflow(core: CoreProgram, active: dict[str, int],
                    ready: dict[tuple[int, str], int], problems: list[str]) -> None:
    written: set[str] = set()
    step_ops = sorted(((active[p], op) for p, ops in core.phases.items()
                       if p in active and p in _STEP_PHASES for op in ops),
                      key=lambda t: t[0] + t[1].stage)
    for rank, op in step_ops:
        pos = rank + op.stage
        for name in op.reads:
            buf = core.buffers.get(name)
            if buf is None:
                continue
            if buf.kind == INBOX:
                at = ready.get((core.core, name))
                if at is None or at >= pos:
                    phase = PHASE_ORDER[rank // _SPAN]
                    problems.append(
                        f"core {core.core} {phase} stage {op.stage} {op.kind} reads inbox "
                        f"'{name}' before every channel into it has delivered")
            elif buf.kind == REGISTER and name not in written:
                phase = PHASE_ORDER[rank // _SPAN]
                problems.append(f"core {core.core} {phase} stage {op.stage} {op.kind} reads "
                                f"register '{name}' before anything on the core wrote it")
        written.update(op.writes)
    for phase in ("reset", "apply"):
        for op in core.phases.get(phase, []):
            for name in op.reads:
                buf = core.buffers.get(name)
                if buf is not None and buf.kind in (INBOX, REGISTER):
                    problems.append(f"core {core.core} {phase}: {op.kind} reads per-step "
                                    f"value '{name}' at a sequence boundary")


def _check_coverage(program: Program, problems: list[str]) -> None:
    """Channels into each inbox tile it exactly: no element twice, none missing."""
    ch = program.channels
    covered: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    if len(ch):
        order = np.lexsort((ch.dst_start, ch.dst_buffer, ch.dst))
        d, b = ch.dst[order], ch.dst_buffer[order]
        s, n = ch.dst_start[order], ch.length[order]
        new = np.r_[True, (d[1:] != d[:-1]) | (b[1:] != b[:-1])]
        # within a group, each start must equal the previous end
        prev_end = np.r_[0, (s + n)[:-1]]
        gap = (~new & (s != prev_end)) | (new & (s != 0))
        for i in np.flatnonzero(gap)[:5]:
            problems.append(f"inbox '{ch.names[int(b[i])]}' of core {int(d[i])} has "
                            f"overlapping or missing channel ranges near {int(s[i])}")
        ends = np.r_[np.flatnonzero(new)[1:] - 1, len(d) - 1]
        for i in ends:
            covered[(int(d[i]), ch.names[int(b[i])])] = [(0, int(s[i] + n[i]))]
    for core in program.cores:
        for buf in core.buffers.values():
            if buf.kind != INBOX:
                continue
            got = covered.get((core.core, buf.name))
            if got is None or got[0][1] != buf.size:
                problems.append(f"inbox '{buf.name}' of core {core.core} ({buf.size} values) "
                                f"is not filled exactly by its channels")


def core_usage(program: Program) -> list[dict[str, int]]:
    """Compartments, memory bits, input and output axons of every core, from its buffers
    and from the channel table (one axon per value a channel carries)."""
    ch = program.channels
    n = len(program.cores)
    in_axons = np.bincount(ch.dst, weights=ch.length, minlength=n).astype(np.int64)
    mask = ch.src != HOST
    out_axons = np.bincount(ch.src[mask], weights=ch.length[mask], minlength=n).astype(np.int64)
    usage = []
    for core in program.cores:
        comp, mem, _ = memory_usage(core.buffers, program.lanes)
        usage.append({"compartments": comp, "memory_bits": mem,
                      "input_axons": int(in_axons[core.core]),
                      "output_axons": int(out_axons[core.core])})
    return usage


def _tiles(blocks: list[tuple[tuple[int, int], tuple[int, int] | None]],
           shape: tuple[int, ...]) -> str | None:
    """None if the blocks cover an array of ``shape`` exactly once, else what is wrong."""
    if len(shape) == 1:
        spans = sorted(r for r, _ in blocks)
        pos = 0
        for a, b in spans:
            if a != pos:
                return f"rows {pos}..{a} {'missing' if a > pos else 'placed twice'}"
            pos = b
        return None if pos == shape[0] else f"rows {pos}..{shape[0]} missing"
    by_cols: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for rows, cols in blocks:
        by_cols[cols or (0, shape[1])].append(rows)
    pos = 0
    for cols in sorted(by_cols):
        if cols[0] != pos:
            return f"columns {pos}..{cols[0]} missing or placed twice"
        pos = cols[1]
        problem = _tiles([(r, None) for r in by_cols[cols]], (shape[0],))
        if problem:
            return f"columns {cols[0]}..{cols[1]}: {problem}"
    return None if pos == shape[1] else f"columns {pos}..{shape[1]} missing"


def check_placement_once(program: Program, param_shapes: dict[str, tuple[int, ...]]
                         ) -> list[str]:
    """Every neuron, weight (primary and feedback copy), trace and accumulator is held by
    exactly one core; returns the problems found."""
    problems: list[str] = []
    layers = program.settings.layers
    for layer in layers:
        spans = sorted((c.start, c.stop) for c in program.cores if c.layer == layer.name)
        problem = _tiles([(s, None) for s in spans], (layer.size,))
        if problem:
            problems.append(f"layer {layer.name}: neurons {problem}")
    groups: dict[tuple, list] = defaultdict(list)
    for core in program.cores:
        for buf in core.buffers.values():
            bnd = buf.binding
            if bnd is None or bnd.space == "state" and bnd.name == "act":
                continue
            rows, cols = bnd.rows, bnd.cols
            groups[(bnd.space, bnd.name, bnd.part, bnd.layer, bnd.copy)].append((rows, cols))
    lru = layers[0]
    m = program.settings.inputs
    trace_shapes = {"B": (lru.size, m), "lam": (lru.size,), "gam": (lru.size,)}
    for key, blocks in groups.items():
        space, name = key[0], key[1]
        if space == "state":
            shape = (next(x.size for x in layers if x.index == key[3]),)
        elif space == "trace":
            shape = trace_shapes[name]
        else:
            shape = param_shapes[name]
        problem = _tiles(blocks, shape)
        if problem:
            what = f"{space} {name}" + (f".{key[2]}" if key[2] else "") + \
                   (" (feedback copy)" if key[4] else "")
            problems.append(f"{what}: {problem}")
    for name in param_shapes:
        if ("param", name, None, None, False) not in groups:
            problems.append(f"parameter {name} is on no core")
    return problems
