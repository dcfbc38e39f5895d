"""Where the native engine's time goes: a sampling profile of its Numba kernels, by kernel.

    python bench/profile_kernels.py                      # batch 32, one thread, 8 s of training
    python bench/profile_kernels.py --batch 1 --seconds 5 --out /tmp/profile.md

Needs Linux's ``perf`` (Debian's linux-perf) with the software clock event (``cpu-clock``;
hardware counters are not needed). The script runs itself under ``perf record``: the child
compiles the kernels in a fresh numba cache (so that their machine code is in this process,
not loaded from disk), writes ``/tmp/perf-PID.map`` (each compiled function's address, size
and name, which perf reads to name JIT code), then trains the copy network
(``examples/copy.yaml``) on the native engine for ``--seconds``. The parent groups the
samples that fell into the kernels (and the C library's exp/expm1/log they call) by kernel
function and prints their shares of the kernels' time; samples in the compiler and in Python
are left out. LLVM inlines some kernels into their callers, whose share then includes them.
The C library's memset and memmove are counted too: LLVM turns the kernels' zeroing and
copying loops into calls to them, but numpy's array allocations outside the kernels land
there as well, so their share is an upper bound.
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


def child(batch: int, threads: int, seconds: float) -> None:
    """Compile in this process, write the perf map, train for ``seconds``."""
    import numpy as np

    from compiler.pipeline import compile_artifact
    from hwsim import kernels
    from hwsim.engine import Engine
    from hwsim.runner import train_batch
    from neuropc.spec import load_spec
    from neuropc.tasks import task_from_spec

    spec = load_spec(ROOT / "examples" / "copy.yaml")
    engine = Engine(compile_artifact(spec), batch, threads=threads)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(0)
    data = [task.sample(rng, batch) for _ in range(4)]
    train_batch(engine, data[0])
    print(f"perf map: {_write_perf_map(kernels.execute)} functions", file=sys.stderr)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for one in data:
            train_batch(engine, one)


def shares(report: str) -> Counter:
    """Percent of samples per kernel from ``perf report --sort symbol`` text."""
    out: Counter = Counter()
    for line in report.splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].endswith("%"):
            continue
        name = kernel_name(parts[2])
        if name is not None:
            out[name] += float(parts[0][:-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.batch, args.threads, args.seconds)
        return
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "perf.data"
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(folder) / "numba")}
        subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-o", str(data), sys.executable,
                        __file__, "--child", "--batch", str(args.batch), "--threads", str(args.threads),
                        "--seconds", str(args.seconds)], check=True, env=env, cwd=ROOT)
        report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "symbol",
                                 "--stdio"], check=True, capture_output=True, text=True).stdout
    found = shares(report)
    total = sum(found.values())
    if not total:
        sys.exit("no samples in the kernels: is /tmp writable and perf able to read the perf map?")
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = ["# Where the native engine's time goes", "",
             f"Generated by `{command}` on {platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
             f"Python {platform.python_version()}: the copy network (`examples/copy.yaml`), batch "
             f"{args.batch}, {args.threads} worker thread(s), {args.seconds:g} s of training, threshold 0. "
             "Shares of the samples that fell in the kernels (perf, cpu-clock; see the script's docstring "
             "for what is counted and what LLVM inlined):", "",
             "| share | kernel |", "|---|---|"]
    lines += [f"| {100 * value / total:.1f}% | `{name}` |" for name, value in found.most_common(args.top)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
