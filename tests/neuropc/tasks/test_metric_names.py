"""Metrics rows, the reference evaluation and the learning curve take their names from the task."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from neuropc.reference.forward import evaluate, forward_sequence
from neuropc.reference.network import Architecture, params_from_spec
from neuropc.run_files import RunDirectory
from neuropc.spec import NetworkSpec
from neuropc.tasks import Metric, task_from_spec
from neuropc.training import held_out_batch, train
from tests.conftest import small_spec


def test_copy_rows_keep_their_columns(copy_spec: NetworkSpec):
    spec = small_spec(copy_spec, **{"run.steps": 2, "run.batch": 4, "run.eval_every": 1, "run.eval_sequences": 8})
    rows = train(spec).metrics
    assert [list(row) for row in rows] == [["step", "train_loss", "eval_loss", "eval_accuracy", "elapsed_s"]] * 3


def test_reference_evaluation_scores_through_the_task(copy_spec: NetworkSpec):
    spec = small_spec(copy_spec, **{"run.eval_sequences": 32})
    arch, params, task = Architecture.from_spec(spec), params_from_spec(spec), task_from_spec(spec.task)
    batch = held_out_batch(spec)
    outputs = forward_sequence(arch, params, batch).outputs
    evaluation = evaluate(arch, params, batch, task)
    assert evaluation.metrics == task.finish(task.score(outputs, batch), batch.loss_steps())
    assert evaluate(arch, params, batch).metrics == {}
    assert evaluate(arch, params, batch).loss == evaluation.loss


def _curve_axes(monkeypatch: pytest.MonkeyPatch, rows: list[dict], metrics: tuple[Metric, ...],
                folder: Path) -> dict:
    """Write a curve and return what its metric panel shows (the figure is caught as it closes)."""
    seen: dict = {}
    close = plt.close

    def catch(fig: object = None) -> None:
        axis = fig.axes[1]
        seen.update(ylabel=axis.get_ylabel(), lines=[(line.get_label(), list(line.get_ydata()))
                                                     for line in axis.get_lines()])
        close(fig)

    monkeypatch.setattr(plt, "close", catch)
    RunDirectory(folder).write_curve(rows, metrics)
    assert (folder / "curve.png").read_bytes()[:4] == b"\x89PNG"
    return seen


def test_curve_plots_the_headline_metric_with_its_label_and_chance(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path):
    rows = [{"step": s, "train_loss": None if s == 0 else 1.0, "eval_loss": 1.0, "eval_bpc": 2.0 - s,
             "eval_top1": 0.1 * s} for s in range(3)]
    metrics = (Metric("top1", "top-1 accuracy", chance=0.25),
               Metric("bpc", "bits per character", unit="bits/char", headline=True,
                      higher_is_better=False, chance=4.5))
    seen = _curve_axes(monkeypatch, rows, metrics, tmp_path / "a")
    assert seen["ylabel"] == "bits per character (bits/char)"
    assert seen["lines"][0] == ("held-out", [2.0, 1.0, 0.0])
    assert seen["lines"][1][0] == "chance" and np.allclose(seen["lines"][1][1], 4.5)


def test_copy_curve_says_recall_accuracy(copy_spec: NetworkSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    rows = [{"step": 0, "train_loss": None, "eval_loss": 2.0, "eval_accuracy": 0.3}]
    seen = _curve_axes(monkeypatch, rows, task_from_spec(copy_spec.task).metrics, tmp_path / "b")
    assert seen["ylabel"] == "recall accuracy"
    assert np.allclose(seen["lines"][1][1], 1 / 9)
