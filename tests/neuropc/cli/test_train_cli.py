"""`neuropc train` as a user runs it: files written, nothing overwritten silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from neuropc.cli import main
from neuropc.reference.forward import evaluate
from neuropc.reference.network import Architecture
from neuropc.run_files import load_checkpoint
from neuropc.spec import dump_spec
from neuropc.tasks import task_from_spec
from tests.conftest import small_spec


def write_small_spec(copy_spec, folder: Path) -> Path:
    spec = small_spec(copy_spec, **{"run.steps": 4, "run.batch": 8, "run.eval_every": 2,
                                    "run.eval_sequences": 16})
    path = folder / "net.yaml"
    path.write_text(dump_spec(spec))
    return path


def test_train_writes_metrics_curve_checkpoint_and_spec(copy_spec, tmp_path: Path):
    spec_path = write_small_spec(copy_spec, tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec_path), "--rule", "tpc", "--steps", "3",
                                       "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [0, 2, 3]
    assert all(0.0 <= row["eval_accuracy"] <= 1.0 for row in rows)
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    spec, params, step = load_checkpoint(out / "checkpoint.npz")
    assert (spec.rule.name, spec.run.steps, spec.run.seed, step) == ("tpc", 3, 7, 3)
    # the checkpoint reproduces the last evaluation (same held-out stream)
    held_out = task_from_spec(spec.task).sample(np.random.default_rng([7, 2]), spec.run.eval_sequences)
    assert evaluate(Architecture.from_spec(spec), params, held_out).loss == rows[-1]["eval_loss"]
    assert (out / "spec.yaml").read_text() == dump_spec(spec)


def test_train_refuses_a_non_empty_folder(copy_spec, tmp_path: Path):
    spec_path = write_small_spec(copy_spec, tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["train", str(spec_path), "--out", str(out), "--force"])
    assert result.exit_code == 2 and "did not write" in result.output  # never a user's folder
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert CliRunner().invoke(main, ["train", str(spec_path), "--out", str(out), "--steps", "1"]).exit_code == 0
    again = CliRunner().invoke(main, ["train", str(spec_path), "--out", str(out), "--steps", "1"])
    assert again.exit_code == 2 and "not empty" in again.output and "--force" in again.output
    forced = CliRunner().invoke(main, ["train", str(spec_path), "--out", str(out), "--force", "--steps", "1"])
    assert forced.exit_code == 0, forced.output


def test_same_seed_same_run(copy_spec, tmp_path: Path):
    spec_path = write_small_spec(copy_spec, tmp_path)
    runs = []
    for name in ("a", "b"):
        CliRunner().invoke(main, ["train", str(spec_path), "--out", str(tmp_path / name)])
        runs.append([json.loads(x)["eval_loss"] for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()])
    assert runs[0] == runs[1]


def test_divergence_is_a_clear_error(copy_spec, tmp_path: Path):
    spec = small_spec(copy_spec, **{"run.steps": 30, "run.batch": 4, "run.eval_sequences": 4,
                                    "rule.optimizer.name": "sgd", "rule.optimizer.lr": 10.0})
    path = tmp_path / "net.yaml"
    path.write_text(dump_spec(spec))
    with np.errstate(all="ignore"):
        result = CliRunner().invoke(main, ["train", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "training diverged" in result.output and "lr" in result.output
