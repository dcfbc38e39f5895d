"""Which one-token changes to a module its tests do not notice.

    python tools/mutants.py hwsim/energy.py [--only 3,17] [-- tests/hwsim -x]

Each mutant flips one thing in the module: an arithmetic operator (+ -, * /, // /, ** *), a
comparison (< <=, > >=, == !=, is / is not, in / not in), ``and`` / ``or``, a number (an int
plus one, a float times 1.5 or 0 to 1) or a ``not`` (doubled, so it cancels). The tests (the
pytest arguments after ``--``, by default the whole suite, in one process) then run against
it; a mutant they pass *survived*: the behaviour it changes is not tested, or the change is
equivalent (a default no caller relies on, a value only random data sees). Docstrings are
left alone.

The module is rewritten in place while its mutants run and restored after, also on Ctrl-C;
a copy is kept beside it (``<module>.mutants-backup``) until then, and a run refuses to
start while one exists (a run that was killed: put the copy back first). Exit status 1 when
any mutant survived.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: each operator and what a mutant turns it into
FLIPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.And: ast.Or, ast.Or: ast.And,
}


@dataclass(frozen=True)
class Mutant:
    index: int
    line: int
    kind: str  # "operator", "comparison", "number" or "not"
    source: str  # the module's text with the change


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    docstrings = _docstrings(tree)
    sites: list[tuple[ast.AST, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in FLIPS:
            sites.append((node, "operator"))
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in FLIPS:
            sites.append((node, "comparison"))
        elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)
              and id(node) not in docstrings):
            sites.append((node, "number"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not"))
    return sites


def _flip(node: ast.AST, kind: str) -> None:
    if kind == "operator":
        node.op = FLIPS[type(node.op)]()
    elif kind == "comparison":
        node.ops[0] = FLIPS[type(node.ops[0])]()
    elif kind == "number":
        value = node.value
        node.value = value + 1 if isinstance(value, int) else (value * 1.5 if value else 1.0)
    else:
        node.operand = ast.UnaryOp(op=ast.Not(), operand=node.operand)


def count(text: str) -> int:
    """How many mutants a module's text has."""
    return len(_sites(ast.parse(text)))


def mutants(text: str, only: set[int] | None = None) -> Iterator[Mutant]:
    """Every mutant of a module's text (or those numbered in ``only``), in a stable order (the
    index names one across runs)."""
    for index in range(count(text)):
        if only is not None and index not in only:
            continue
        tree = ast.parse(text)  # a fresh tree per mutant: each flips one site only
        node, kind = _sites(tree)[index]
        _flip(node, kind)
        yield Mutant(index, node.lineno, kind, ast.unparse(tree))


def backup_of(module: Path) -> Path:
    return module.with_name(module.name + ".mutants-backup")


def pytest_command(pytest_args: list[str]) -> list[str]:
    """The tests, in one process, stopping at the first failure."""
    return [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *pytest_args]


def run(module: Path, command: list[str], only: set[int] | None = None) -> list[Mutant]:
    """Run ``command`` against each mutant of ``module`` (a mutant survives when it exits 0);
    the survivors."""
    backup = backup_of(module)
    if backup.exists():
        raise FileExistsError(f"{backup} exists (a run was killed?): put it back over {module}, then run again")
    text = module.read_text()
    lines = text.splitlines()
    shutil.copy2(module, backup)
    survivors = []
    try:
        for mutant in mutants(text, only):
            module.write_text(mutant.source)
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            status = "killed" if done.returncode != 0 else "SURVIVED"
            print(f"{mutant.index:4d} {status:8s} {time.perf_counter() - started:5.1f}s line {mutant.line} "
                  f"{mutant.kind}: {lines[mutant.line - 1].strip()[:100]}", flush=True)
            if status == "SURVIVED":
                survivors.append(mutant)
    finally:
        shutil.copy2(backup, module)
        backup.unlink()
    return survivors


def _indices(text: str, total: int, parser: argparse.ArgumentParser) -> set[int]:
    try:
        indices = {int(k) for k in text.split(",")}
    except ValueError:
        parser.error(f"--only {text!r}: expected mutant indices separated by commas, such as 3,17")
    wrong = sorted(k for k in indices if not 0 <= k < total)
    if wrong:
        parser.error(f"--only: no mutant {', '.join(map(str, wrong))} (this module has 0 to {total - 1})")
    return indices


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", type=Path)
    parser.add_argument("--only", help="mutant indices to run, comma-separated (from an earlier run)")
    args = parser.parse_args(ours)
    if not args.module.is_file():
        parser.error(f"{args.module}: no such file")
    only = None if args.only is None else _indices(args.only, count(args.module.read_text()), parser)
    try:
        survivors = run(args.module, pytest_command(pytest_args), only)
    except FileExistsError as left_over:
        parser.error(str(left_over))
    print(f"{len(survivors)} survived: {','.join(str(m.index) for m in survivors) or '-'}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
