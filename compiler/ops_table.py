"""The op reference table of docs/compiler.md, generated from ``compiler.ops.OPS``.

    python -m compiler.ops_table          # print the table (paste it into docs/compiler.md)

A test checks that the table in the doc is exactly this one, so the doc cannot drift from
the vocabulary the executors run.
"""

from __future__ import annotations

from compiler.ops import OPS, OpKind, Role


def _role(name: str, role: Role) -> str:
    """A role as the table shows it: ``*`` marks parts (re/im), ``[]`` concat, ``?`` optional."""
    mark = {"parts": "*", "concat": "[]", "one": ""}[role.mode]
    return f"{name}{mark}{'?' if role.optional else ''}"


def _roles(roles: dict[str, Role]) -> str:
    return ", ".join(_role(name, role) for name, role in roles.items()) or "-"


def _effects(kind: OpKind) -> str:
    return ", ".join(f"{role}: {effect}" for role, effect in kind.effects.items()) or "-"


def table() -> str:
    """The markdown table of every op kind: code, family, reads, writes, effects, formula."""
    lines = ["| kind | code | family | reads | writes (effect) | formula |",
             "|---|---|---|---|---|---|"]
    for kind in OPS.values():
        lines.append(f"| {kind.name} | {kind.code} | {kind.family} | {_roles(kind.inputs)} | "
                     f"{_effects(kind)} | `{kind.formula}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
