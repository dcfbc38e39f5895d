"""The op vocabulary, its semantics and its documentation name the same op kinds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.op_semantics import SEMANTICS, execute
from compiler.ops import OPS
from compiler.ops_table import table

DOC = Path(__file__).resolve().parents[2] / "docs" / "compiler.md"


def test_every_op_kind_has_semantics_and_no_semantics_lacks_a_kind() -> None:
    assert set(SEMANTICS) == set(OPS)


def test_semantics_write_only_declared_outputs() -> None:
    ones = np.ones((2, 3))
    results = execute("error", {"value": ones, "prediction": 0.5 * ones, "eps": 0 * ones})
    assert set(results) <= set(OPS["error"].outputs)
    assert np.array_equal(results["eps"], 0.5 * ones)


def test_the_doc_holds_the_op_table_generated_from_ops() -> None:
    text = DOC.read_text()
    assert table() in text, "docs/compiler.md: regenerate the op table with python -m compiler.ops_table"
    for kind in OPS.values():
        assert f"| {kind.name} |" in text and f"`{kind.formula}`" in text, kind.name
