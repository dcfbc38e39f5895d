"""Checks every command makes before it creates anything: the spec with its hardware table
and memory estimate, option values, and output paths that must not replace a user's file.

The rule these implement (README, "Errors"): bad input gets one message naming the problem
and exit status 2, and nothing the user had is overwritten. So a command validates all of
its inputs first, then refuses any output path that exists unless neuropc wrote it and
``--force`` was given, and only then creates folders or files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from neuropc.errors import FieldProblem, NeuropcError
from neuropc.resources import Purpose, check_memory
from neuropc.spec.schema import NetworkSpec

#: first line of every DOT file ``neuropc inspect --dot`` writes: how it knows its own files
DOT_HEADER = "// written by neuropc inspect --dot"


def check_spec(spec: NetworkSpec, source: Path | None, purposes: Iterable[Purpose], *,
               target: str | None = None, batch: int | None = None,
               where: Callable[[FieldProblem], NeuropcError] | None = None) -> None:
    """Refuse a valid spec the compiler's target table or this machine's memory cannot take,
    with the spec's ``file:line`` when the spec came from ``source`` (``where``: the error for
    a spec that did not come from one file, such as a sweep's trial)."""
    from compiler.pipeline import resolve_target
    from neuropc.spec.loading import locate_problem

    try:
        resolve_target(spec, target)
        for purpose in purposes:
            check_memory(spec, purpose, batch=batch)
    except FieldProblem as problem:
        if where is not None:
            raise where(problem) from None
        if source is None or problem.field.startswith("--"):
            raise NeuropcError(str(problem)) from None
        raise locate_problem(problem, source) from None


def load_checked_spec(path: Path, purposes: Iterable[Purpose], *, target: str | None = None) -> NetworkSpec:
    """``load_spec`` plus ``check_spec``: a spec every later step can run."""
    from neuropc.spec import load_spec

    spec = load_spec(path)
    check_spec(spec, path, purposes, target=target)
    return spec


def named_value(option: str, value: str | None) -> str | None:
    """An option that names something (a profile, a file) may be left out, not given empty:
    ``--profile ''`` would otherwise silently mean the default."""
    if value is not None and not value.strip():
        raise NeuropcError(f"{option} is empty; give a name or a file, or leave the option out")
    return value


def is_dot_file(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == DOT_HEADER
    except (OSError, UnicodeDecodeError):
        return False


def is_scaling_json(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and {"spec", "chip_profile", "rows"} <= set(data)


def is_neuropc_png(path: Path) -> bool:
    """A PNG whose metadata says neuropc wrote it (plots are saved with Software: neuropc)."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and b"Software\x00neuropc" in head


def check_output_file(path: Path, option: str, *, force: bool, ours: Callable[[Path], bool],
                      what: str, inputs: Iterable[Path] = ()) -> None:
    """Refuse to write ``path`` when that would replace anything but a ``what`` neuropc wrote,
    or replace one without ``--force``; ``inputs`` are files the command reads (never
    replaced, not even with ``--force``)."""
    if not str(path).strip():
        raise NeuropcError(f"{option} is empty; give a file name")
    for source in inputs:
        if path.exists() and source.exists() and path.resolve() == source.resolve():
            raise NeuropcError(f"{option} {path}: is the input file itself; choose another file")
    if path.is_dir():
        raise NeuropcError(f"{option} {path}: is a folder, expected a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NeuropcError(f"{option} {path}: folder {folder} does not exist")
    if not path.exists() and not path.is_symlink():
        return
    if not ours(path):
        raise NeuropcError(f"{option} {path}: exists and is not a {what} written by neuropc; "
                           "refusing to replace it (choose another file)")
    if not force:
        raise NeuropcError(f"{option} {path}: exists; pass --force to replace it")
