"""Where the native engine's time goes: a sampling profile of its Numba kernels, by kernel,
at threshold 0 and delta-coded side by side.

    python bench/profile_kernels.py                      # batch 32, one thread, 8 s of training each
    python bench/profile_kernels.py --batch 1 --seconds 5 --out /tmp/profile.md

Needs Linux's ``perf`` (Debian's linux-perf) with the software clock event (``cpu-clock``;
hardware counters are not needed). The script runs itself under ``perf record``: the child
compiles the kernels in a fresh numba cache (so that their machine code is in this process,
not loaded from disk), writes ``/tmp/perf-PID.map`` (each compiled function's address, size
and name, which perf reads to name JIT code), then trains the copy network
(``examples/copy.yaml``) on the native engine, at threshold 0 and delta-coded (the speed
benchmarks' setting, ``timing.DELTA``) in alternating rounds (``--rounds``, ``--seconds`` in
all per setting), and writes how many sequence-steps it trained. The parent groups the
samples that fell into the kernels (and the C library's exp/expm1/log they call) by kernel
function and prints, for both settings, each kernel's share of the kernels' time and its CPU
time per sequence-step (the samples' periods, nanoseconds of CPU time under cpu-clock, over
the sequence-steps trained), so that what shrinks with the events and what does not stand
side by side. Only the samples of the training (its start and end on CLOCK_MONOTONIC,
which ``perf record -k mono`` stamps the samples with) count: the compilation before it runs
LLVM, whose own calls to the C library (memset, memmove) would otherwise be counted as the
kernels'. Samples in Python and numpy are left out of the table (their share of the training
is printed under it). LLVM inlines some kernels into their callers, whose share then includes
them. The C library's memset and memmove are counted too: LLVM turns the kernels' zeroing and
copying loops into calls to them, but numpy's array allocations between the engine's calls
land there as well, so their share is an upper bound.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import cpu_name  # noqa: E402  (bench/machine.py)
from timing import DELTA  # noqa: E402  (bench/timing.py)

#: perf's sampling rate (samples per second of CPU time)
RATE = 2000
#: the samples of the training outside the kernels (Python, numpy, the interpreter's GC)
OUTSIDE = "(outside the kernels)"

#: the kernels whose work is events (by module), each with the count of those events: the
#: bound on delta coding's speed-up scales their threshold-0 time by the events' ratio
EVENT_KERNELS = {"synapse": "synaptic_ops_effective", "messages": "messages"}
EVENT_FIELDS = tuple(sorted(set(EVENT_KERNELS.values())))

#: a kernel's mangled name: _ZN5hwsim7kernels<len><module><len><function>...
_KERNEL = re.compile(r"_ZN5hwsim7kernels(\d+)")
_LIBRARY = ("exp", "expm1", "log", "log1p", "sin", "cos", "memmove", "memcpy", "memset")


def kernel_name(symbol: str) -> str | None:
    """'module.function' of a kernel's mangled symbol, 'libm.NAME' for the C library's
    functions the kernels call, None for anything else."""
    match = _KERNEL.match(symbol)
    if match:
        rest = symbol[match.end():]
        module, rest = rest[:int(match.group(1))], rest[int(match.group(1)):]
        length = re.match(r"\d+", rest)
        if length is None:
            return module
        return f"{module}.{rest[length.end():length.end() + int(length.group())]}"
    base = symbol.lstrip("_").split("@")[0]
    for name in _LIBRARY:
        if base == name or base.startswith((f"{name}_", f"ieee754_{name}", f"{name}_avx", f"{name}_fma")):
            return f"libc.{name}"
    return None


def _write_perf_map(dispatcher) -> int:
    """/tmp/perf-PID.map for every function compiled into the dispatcher's libraries."""
    rows: set[tuple[int, str]] = set()
    seen: set[int] = set()

    def walk(library) -> None:
        if id(library) in seen:
            return
        seen.add(id(library))
        for function in library._final_module.functions:
            if not function.is_declaration:
                address = library._codegen._engine.get_function_address(function.name)
                if address:
                    rows.add((address, function.name))
        for linked in getattr(library, "_linking_libraries", ()):
            walk(linked)

    for result in dispatcher.overloads.values():
        walk(result.library)
    ordered = sorted(rows)
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as out:
        for (address, name), (following, _) in zip(ordered, ordered[1:] + [(ordered[-1][0] + 4096, "")],
                                                    strict=True):
            out.write(f"{address:x} {following - address:x} {name}\n")
    return len(ordered)


def child(batch: int, threads: int, seconds: float, delta: bool, steps_file: Path) -> None:
    """Compile in this process, write the perf map, train for ``seconds`` (delta-coded if
    ``delta``) and write the sequence-steps trained, and the training's start and end on
    CLOCK_MONOTONIC, to ``steps_file``."""
    import numpy as np

    from compiler.pipeline import compile_artifact
    from hwsim import kernels
    from hwsim.counters import FIELDS
    from hwsim.engine import Engine
    from hwsim.runner import train_batch
    from neuropc.spec import load_spec
    from neuropc.tasks import task_from_spec

    spec = load_spec(ROOT / "examples" / "copy.yaml")
    engine = Engine(compile_artifact(spec), batch, threads=threads, threshold=DELTA if delta else None)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(0)
    data = [task.sample(rng, batch) for _ in range(4)]
    train_batch(engine, data[0])
    print(f"perf map: {_write_perf_map(kernels.execute)} functions", file=sys.stderr)
    start = time.clock_gettime(time.CLOCK_MONOTONIC)
    trained = 0
    events = np.zeros(len(EVENT_FIELDS), np.int64)
    columns = [FIELDS.index(field) for field in EVENT_FIELDS]
    while time.clock_gettime(time.CLOCK_MONOTONIC) - start < seconds:
        for one in data:
            _, counts = train_batch(engine, one)
            events += counts[:, columns].sum(axis=0)
            trained += batch * one.length
    end = time.clock_gettime(time.CLOCK_MONOTONIC)
    steps_file.write_text(" ".join([str(trained), f"{start:.6f}", f"{end:.6f}", *map(str, events)]))


def profile(batch: int, threads: int, seconds: float, delta: bool) -> tuple[Counter, int, Counter]:
    """Samples per kernel (and, under ``OUTSIDE``, the rest) of the training of one child under
    ``perf record``, the sequence-steps it trained and its counted events (``EVENT_FIELDS``)."""
    with tempfile.TemporaryDirectory() as folder:
        data, steps = Path(folder) / "perf.data", Path(folder) / "steps"
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(folder) / "numba")}
        subprocess.run(["perf", "record", "-k", "mono", "-e", "cpu-clock", "-F", str(RATE), "-o", str(data),
                        sys.executable,
                        __file__, "--child", "--batch", str(batch), "--threads", str(threads),
                        "--seconds", str(seconds), "--steps-file", str(steps)] + (["--delta"] if delta else []),
                       check=True, env=env, cwd=ROOT)
        trained, start, end, *events = steps.read_text().split()
        report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "symbol",
                                 "--stdio", "--show-total-period", "--time", f"{start},{end}"],
                                check=True, capture_output=True, text=True).stdout
        return samples(report), int(trained), Counter(dict(zip(EVENT_FIELDS, map(int, events), strict=True)))


def samples(report: str) -> Counter:
    """Samples per kernel from ``perf report --sort symbol --show-total-period`` text (each
    line: percent, period, [.], symbol; with cpu-clock the period is in nanoseconds)."""
    out: Counter = Counter()
    for line in report.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].endswith("%") or not parts[1].isdigit():
            continue
        name = kernel_name(parts[3])
        out[OUTSIDE if name is None else name] += int(parts[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0, help="of training per setting")
    parser.add_argument("--rounds", type=int, default=2, help="alternating profiles of each setting")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--delta", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.batch, args.threads, args.seconds, args.delta, args.steps_file)
        return
    dense, delta, dense_events, delta_events = Counter(), Counter(), Counter(), Counter()
    dense_steps = delta_steps = 0
    for _ in range(args.rounds):  # alternating, so that a slow spell of the machine hits both
        found, steps, events = profile(args.batch, args.threads, args.seconds / args.rounds, delta=False)
        dense, dense_steps, dense_events = dense + found, dense_steps + steps, dense_events + events
        found, steps, events = profile(args.batch, args.threads, args.seconds / args.rounds, delta=True)
        delta, delta_steps, delta_events = delta + found, delta_steps + steps, delta_events + events
    if not sum(dense.values()) - dense[OUTSIDE] or not sum(delta.values()) - delta[OUTSIDE]:
        sys.exit("no samples in the kernels: is /tmp writable and perf able to read the perf map?")
    ratios = {field: (delta_events[field] / delta_steps) / (dense_events[field] / dense_steps)
              for field in EVENT_FIELDS}
    text = render(args, dense, dense_steps, delta, delta_steps) + delta_bound(dense, dense_steps, ratios)
    print(text)
    if args.out:
        args.out.write_text(text)


def render(args: argparse.Namespace, dense: Counter, dense_steps: int, delta: Counter, delta_steps: int) -> str:
    """The two profiles as one table: share and nanoseconds per sequence-step per kernel."""
    def per_step(found: Counter, steps: int, name: str) -> float:
        return found[name] / steps  # the period is CPU time in ns (cpu-clock)

    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    setting = ", ".join(f"{k} {v:g}" for k, v in DELTA.items())
    outside_dense, outside_delta = dense.pop(OUTSIDE, 0), delta.pop(OUTSIDE, 0)
    total_dense, total_delta = sum(dense.values()), sum(delta.values())
    lines = ["# Where the native engine's time goes", "",
             f"Generated by `{command}` on {platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
             f"Python {platform.python_version()}: the copy network (`examples/copy.yaml`), batch "
             f"{args.batch}, {args.threads} worker thread(s), {args.seconds:g} s of training at threshold 0 "
             f"and {args.seconds:g} s delta-coded ({setting}), in {args.rounds} alternating rounds of a "
             "process each (a kernel doing the same work in both, such as `elementwise.run`, shows how "
             "far the machine's speed moved between them). "
             "Per kernel: its share of the samples that fell in the kernels, and its CPU time per "
             "sequence-step (perf, cpu-clock; see the script's docstring for what is counted and what "
             "LLVM inlined).", "",
             f"Kernels in all: {total_dense / dense_steps:,.0f} ns per sequence-step at threshold 0, "
             f"{total_delta / delta_steps:,.0f} ns delta-coded "
             f"({total_dense / dense_steps / (total_delta / delta_steps):.2f}x). Outside the kernels "
             f"(Python, numpy, the interpreter's garbage collector, between the engine's calls): "
             f"{outside_dense / dense_steps:,.0f} and {outside_delta / delta_steps:,.0f} ns per "
             f"sequence-step ({100 * outside_dense / (outside_dense + total_dense):.1f}% and "
             f"{100 * outside_delta / (outside_delta + total_delta):.1f}% of the training's samples).", "",
             "| kernel | share, T = 0 | ns / seq-step, T = 0 | share, delta | ns / seq-step, delta | T = 0 / delta |",
             "|---|---|---|---|---|---|"]
    for name, value in dense.most_common(args.top):
        a, b = per_step(dense, dense_steps, name), per_step(delta, delta_steps, name)
        ratio = f"{a / b:.2f}x" if b else "-"
        lines.append(f"| `{name}` | {100 * value / total_dense:.1f}% | {a:,.0f} | "
                     f"{100 * delta[name] / total_delta:.1f}% | {b:,.0f} | {ratio} |")
    return "\n".join(lines) + "\n"


def delta_bound(dense: Counter, steps: int, ratios: dict[str, float]) -> str:
    """How much faster than threshold 0 delta-coded training could be if the event kernels
    (``EVENT_KERNELS``) took time in proportion to their events and nothing else changed: the
    threshold-0 profile (``dense``, kernels only) with each event kernel's time times its
    events' ratio (``ratios``: delta-coded over threshold-0 events per sequence-step)."""
    total = sum(count for name, count in dense.items() if name != OUTSIDE)
    driven = Counter()
    for name, count in dense.items():
        module = name.split(".")[0]
        if module in EVENT_KERNELS:
            driven[EVENT_KERNELS[module]] += count
    rest = total - sum(driven.values())
    scaled = rest + sum(driven[field] * ratios[field] for field in driven)
    shares = "; ".join(f"`{module}.*` {100 * driven[field] / total:.1f}% of the kernels' time at threshold 0, "
                       f"its events ({field.replace('_', ' ')}) {1 / ratios[field]:.2f}x fewer per sequence-step "
                       "delta-coded" for module, field in EVENT_KERNELS.items())
    return ("\n## What delta coding can gain at most\n\n"
            f"The kernels whose work is events: {shares}. Everything else (the neurons' updates, "
            "the activation functions, the LRU's traces and credits, the learning's outer products, "
            "the optimizer) is not driven by the events: its time is taken as measured at threshold 0. "
            "If the event kernels took exactly their threshold-0 time per event and the rest stayed "
            f"as it is, delta-coded training would take {scaled / steps:,.0f} ns per sequence-step in "
            f"the kernels against {total / steps:,.0f}: at most **{total / scaled:.2f}x** faster than threshold "
            f"0; with event kernels that took no time at all, {total / rest:.2f}x.\n")


if __name__ == "__main__":
    main()
