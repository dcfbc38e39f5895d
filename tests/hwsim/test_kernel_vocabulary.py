"""The kernels and the encoder follow compiler.ops: a test fails when they drift from it.

Every op kind is implemented by exactly one kernel family module, which declares its family
and the op kinds it implements; the opcodes the kernels compare against are the kinds' codes;
the driver dispatches by the family of each code; the operand slots the kernels read are
the roles' slots; and the encoder refuses a role the vocabulary does not declare.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.ops import BY_CODE, FAMILIES, OPS
from compiler.program import Op
from hwsim.counters import WORK_KINDS
from hwsim.encode import _operands
from hwsim.kernels import driver
from hwsim.kernels.driver import FAMILY_MODULES
from hwsim.kernels.tables import SLOTS_READ


def test_every_op_kind_is_implemented_by_exactly_one_family_module() -> None:
    owners: dict[str, list[str]] = {}
    for module in FAMILY_MODULES:
        assert module.FAMILY in FAMILIES, module.__name__
        for name in module.IMPLEMENTS:
            owners.setdefault(name, []).append(module.__name__)
            assert OPS[name].family == module.FAMILY, (name, module.__name__)
    assert {name: len(mods) for name, mods in owners.items()} == {name: 1 for name in OPS}
    assert sorted(module.FAMILY for module in FAMILY_MODULES) == sorted(FAMILIES)


def test_opcode_constants_are_the_vocabulary_codes() -> None:
    """Each family module names the code of every kind it implements (``lru_predict`` ->
    ``PREDICT``, ``matvec`` -> ``MATVEC``), and that constant is the kind's code."""
    for module in FAMILY_MODULES:
        for name in module.IMPLEMENTS:
            constant = name.upper().removeprefix("LRU_")
            assert getattr(module, constant) == OPS[name].code, (module.__name__, constant)


def test_dispatch_table_follows_the_families() -> None:
    assert driver.FAMILY_OF.shape == (len(BY_CODE),)
    for code, kind in BY_CODE.items():
        assert FAMILIES[driver.FAMILY_OF[code]] == kind.family
    index = {module.FAMILY: FAMILIES.index(module.FAMILY) for module in FAMILY_MODULES}
    assert (driver.ELEMENTWISE, driver.SYNAPSE, driver.LRU, driver.LEARN, driver.OUTPUT,
            driver.MESSAGE, driver.APPLY) == tuple(index[f] for f in (
                "elementwise", "synapse", "lru", "learn", "output", "message", "apply"))
    assert WORK_KINDS[:len(BY_CODE)] == tuple(BY_CODE[c].name for c in sorted(BY_CODE))


#: roles the kernels read through a cache instead of their slot: lambda's phase (theta) is
#: in the LRU coefficients that hwsim.kernels.resets.refresh derives from nu and theta
READ_THROUGH_CACHE = {("lru_predict", "theta"), ("lru_trace", "theta"), ("lru_synapse_trace", "theta")}


def test_kernels_read_every_slotted_role_from_the_vocabulary() -> None:
    """Every role with a slot of every op kind is read by its module through
    ``tables.slot`` (from compiler.ops), so no operand is silently ignored or misplaced."""
    declared = {(name, role) for name, kind in OPS.items() for role, spec in kind.roles.items()
                if spec.slot is not None}
    assert declared - SLOTS_READ == READ_THROUGH_CACHE
    assert SLOTS_READ <= declared


def _op(kind: str, **roles: str | tuple[str, ...]) -> Op:
    spec = OPS[kind]
    return Op(kind, 0, {r: v for r, v in roles.items() if r in spec.inputs},
              {r: v for r, v in roles.items() if r in spec.outputs and r not in spec.inputs})


def test_encoder_places_operands_by_the_vocabulary() -> None:
    index = {(0, n): k for k, n in enumerate(["h_re", "h_im", "d_re", "d_im", "nu", "gl", "mu_re", "mu_im"])}
    op = _op("lru_predict", h=("h_re", "h_im"), drive=("d_re", "d_im"), nu="nu", gamma_log="gl",
             mu=("mu_re", "mu_im"))
    slots, listed = _operands(0, op, index, [])
    roles = OPS["lru_predict"].roles
    for role, names in (("h", ("h_re", "h_im")), ("drive", ("d_re", "d_im")), ("mu", ("mu_re", "mu_im")),
                        ("nu", ("nu",)), ("gamma_log", ("gl",))):
        for k, name in enumerate(names):
            assert slots[roles[role].slot + k] == index[(0, name)]
    assert slots[roles["theta"].slot] == -1 and listed == (0, 0)
    ids: list[int] = []
    _, listed = _operands(0, _op("max", x=("h_re", "h_im"), y="nu"), index, ids)
    assert ids[listed[0]:listed[1]] == [index[(0, "h_re")], index[(0, "h_im")]]


def test_encoder_refuses_a_role_the_vocabulary_does_not_declare() -> None:
    op = dataclasses.replace(_op("copy", x="a", y="b"), inputs={"x": "a", "bogus": "b"})
    with pytest.raises(ValueError, match=r"core 7: op copy has no role 'bogus'"):
        _operands(7, op, {(7, "a"): 0, (7, "b"): 1}, [])
    two = _op("copy", x=("a", "b"), y="b")
    with pytest.raises(ValueError, match="role 'x' takes 1"):
        _operands(7, two, {(7, "a"): 0, (7, "b"): 1}, [])
    assert np.all(_operands(7, _op("zero", y="a"), {(7, "a"): 0}, [])[0][1:] == -1)
