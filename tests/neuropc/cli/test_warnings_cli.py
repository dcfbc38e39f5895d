"""check, train and simulate say when a valid spec will leave the LRU untrained."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from neuropc.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def too_few_iterations(tmp_path: Path) -> Path:
    doc = yaml.safe_load((ROOT / "examples" / "copy.yaml").read_text())
    doc["readout"]["hidden"] = [8, 8]
    doc["rule"]["inference"]["iterations"] = 2
    doc["run"].update(steps=1, batch=2, eval_sequences=4, eval_every=1)
    path = tmp_path / "few.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("command", ["check", "train", "simulate"])
def test_too_few_iterations_are_warned_about(too_few_iterations: Path, tmp_path: Path,
                                             command: str) -> None:
    args = [command, str(too_few_iterations)]
    if command != "check":
        args += ["--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "warning: rule.inference.iterations is 2 but errors need 3 iterations" in result.output


def test_the_example_gives_no_warning() -> None:
    result = CliRunner().invoke(main, ["check", str(ROOT / "examples" / "copy.yaml")])
    assert result.exit_code == 0 and "warning" not in result.output
