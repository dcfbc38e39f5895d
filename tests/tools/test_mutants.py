"""tools/mutants.py: a flip the tests catch is killed, one they miss survives, and the module
is left as it was."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from mutants import backup_of, main, mutants, run  # noqa: E402

MODULE = '''"""A docstring's 7 is not a number to flip."""


def add(a, b):
    return a + b


def big(x):
    return x > 10
'''


#: what stands for the tests here: checks add, not big (a fresh interpreter, not pytest: fast)
CHECK_ADD = [sys.executable, "-c", "from calc import add; assert add(2, 3) == 5"]


def project(tmp_path: Path) -> Path:
    (tmp_path / "calc.py").write_text(MODULE)
    (tmp_path / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    return tmp_path / "calc.py"


def test_each_mutant_flips_one_thing():
    found = [(m.kind, m.line) for m in mutants(MODULE)]
    assert found == [("operator", 5), ("comparison", 9), ("number", 9)]
    flipped = [m.source for m in mutants(MODULE)]
    assert "return a - b" in flipped[0] and "return x >= 10" in flipped[1] and "return x > 11" in flipped[2]


def test_what_the_tests_miss_survives_and_the_module_is_restored(tmp_path, monkeypatch, capsys):
    module = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    survivors = run(module, CHECK_ADD)
    assert [(m.kind, m.line) for m in survivors] == [("comparison", 9), ("number", 9)]
    out = capsys.readouterr().out
    assert "   0 killed" in out and "   1 SURVIVED" in out and "   2 SURVIVED" in out
    assert module.read_text() == MODULE and not backup_of(module).exists()
    assert run(module, CHECK_ADD, only={0}) == []


def test_the_command_line_runs_pytest_and_exits_1_when_a_mutant_survives(tmp_path, monkeypatch, capsys):
    module = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main([str(module), "--only", "1", "--", "test_calc.py"]) == 1
    assert capsys.readouterr().out.endswith("1 survived: 1\n")
    assert module.read_text() == MODULE


def test_a_left_over_backup_stops_the_run_before_anything_is_touched(tmp_path, monkeypatch, capsys):
    module = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    backup_of(module).write_text("the user's own copy")
    with pytest.raises(SystemExit) as stop:
        main([str(module)])
    assert stop.value.code == 2
    assert "calc.py.mutants-backup exists" in capsys.readouterr().err
    assert module.read_text() == MODULE and backup_of(module).read_text() == "the user's own copy"


@pytest.mark.parametrize(("only", "message"), [
    ("1,x", "--only '1,x': expected mutant indices separated by commas"),
    ("1,7", "--only: no mutant 7 (this module has 0 to 2)"),
])
def test_a_bad_selection_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys, only, message):
    module = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([str(module), "--only", only])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert module.read_text() == MODULE and not backup_of(module).exists()
