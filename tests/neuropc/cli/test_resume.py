"""Runs that stop and go on: an interrupted run resumed with ``--resume`` finishes bit for
bit as the uninterrupted one (metrics but for elapsed_s, parameters, optimizer state, random
stream, counters), SIGINT/SIGTERM write a checkpoint and say how to resume, and a diverging
run stops at the step it diverged, keeps its last good checkpoint and prints no numpy noise."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

import neuropc.progress
import neuropc.training
from tests.neuropc.cli.bad_input_helpers import assert_refused, run, small_spec_data, snapshot, write_yaml


def _spec(folder: Path, **run_settings: object) -> Path:
    data = small_spec_data()
    data["run"].update({"steps": 40, "batch": 3, "eval_every": 10, "eval_sequences": 6,
                        "checkpoint_every": 10, **run_settings})
    return write_yaml(folder / "net.yaml", data)


def _rows(folder: Path) -> list[dict]:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("elapsed_s")
    return rows


def _checkpoint(folder: Path) -> dict[str, object]:
    """Every array of checkpoint.npz, the loop state without its wall-clock time."""
    with np.load(folder / "checkpoint.npz") as data:
        arrays: dict[str, object] = {key: data[key] for key in data.files}
    loop = json.loads(str(arrays.pop("loop_json")))
    loop.pop("elapsed")
    arrays["loop_json"] = loop
    return arrays


def _assert_same_checkpoint(a: Path, b: Path) -> None:
    first, second = _checkpoint(a), _checkpoint(b)
    assert sorted(first) == sorted(second)
    for key, value in first.items():
        if isinstance(value, np.ndarray):
            floats = value.dtype.kind == "f"
            assert value.dtype == second[key].dtype and np.array_equal(value, second[key], equal_nan=floats), key
        else:
            assert value == second[key], key


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int, signum: int = signal.SIGINT) -> None:
    """Send ``signum`` to this process once the progress bar shows ``step``."""
    original = neuropc.progress.TrainingProgress.update
    sent: list[int] = []

    def update(self, at: int, loss: float, evaluation: dict | None) -> None:
        original(self, at, loss, evaluation)
        if at == step and not sent:
            sent.append(at)
            signal.raise_signal(signum)

    monkeypatch.setattr(neuropc.progress.TrainingProgress, "update", update)


def _interrupted_then_resumed(command: str, source: Path, folder: Path, monkeypatch: pytest.MonkeyPatch,
                              signum: int = signal.SIGINT) -> None:
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 20, signum)
        stopped = run([command, source, "--out", folder])
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted at step 20 of 40" in stopped.output
    assert f"neuropc {command} --resume {folder}" in stopped.output
    assert [row["step"] for row in _rows(folder)] == [0, 10, 20]
    resumed = run([command, "--resume", folder])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output and "at step 20" in resumed.output


def test_train_interrupted_and_resumed_equals_one_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    assert run(["train", spec, "--out", tmp_path / "whole"]).exit_code == 0
    _interrupted_then_resumed("train", spec, tmp_path / "parts", monkeypatch)
    assert _rows(tmp_path / "whole") == _rows(tmp_path / "parts")
    assert [row["step"] for row in _rows(tmp_path / "parts")] == [0, 10, 20, 30, 40]
    _assert_same_checkpoint(tmp_path / "whole", tmp_path / "parts")


def test_sigterm_writes_a_checkpoint_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path, checkpoint_every=0)  # only the checkpoint the signal writes
    assert run(["train", spec, "--out", tmp_path / "whole"]).exit_code == 0
    _interrupted_then_resumed("train", spec, tmp_path / "parts", monkeypatch, signal.SIGTERM)
    _assert_same_checkpoint(tmp_path / "whole", tmp_path / "parts")


def test_a_crash_resumes_from_the_last_periodic_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed between checkpoints (no final one) loses the steps after the last
    checkpoint; the rows it wrote for them are dropped and redone identically."""
    spec = _spec(tmp_path, eval_every=5)
    assert run(["train", spec, "--out", tmp_path / "whole"]).exit_code == 0
    original = neuropc.progress.TrainingProgress.update

    def crash(self, at: int, loss: float, evaluation: dict | None) -> None:
        original(self, at, loss, evaluation)
        if at == 27:
            raise MemoryError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(neuropc.progress.TrainingProgress, "update", crash)
        assert run(["train", spec, "--out", tmp_path / "parts"]).exit_code == 1
    assert [row["step"] for row in _rows(tmp_path / "parts")][-1] == 25  # beyond the checkpoint at 20
    resumed = run(["train", "--resume", tmp_path / "parts"])
    assert resumed.exit_code == 0 and "at step 20" in resumed.output, resumed.output
    assert _rows(tmp_path / "whole") == _rows(tmp_path / "parts")
    _assert_same_checkpoint(tmp_path / "whole", tmp_path / "parts")


def test_simulate_interrupted_and_resumed_equals_one_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    artifact = tmp_path / "net.npc"
    assert run(["compile", spec, "-o", artifact]).exit_code == 0
    assert run(["simulate", artifact, "--out", tmp_path / "whole"]).exit_code == 0
    _interrupted_then_resumed("simulate", artifact, tmp_path / "parts", monkeypatch)
    assert _rows(tmp_path / "whole") == _rows(tmp_path / "parts")
    _assert_same_checkpoint(tmp_path / "whole", tmp_path / "parts")
    counters = [json.loads((tmp_path / name / "counters.json").read_text()) for name in ("whole", "parts")]
    assert counters[0] == counters[1]
    assert counters[0]["training"]["sequences"] == 40 * 3


def test_resume_refuses_a_finished_run_another_command_and_a_changed_source(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path, steps=4, eval_every=2, checkpoint_every=2)
    assert run(["train", spec, "--out", tmp_path / "done"]).exit_code == 0
    before = snapshot(tmp_path)
    assert_refused(run(["train", "--resume", tmp_path / "done"]), ["finished", "nothing to resume"], before, tmp_path)
    artifact = tmp_path / "net.npc"
    assert run(["compile", spec, "-o", artifact]).exit_code == 0
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 2)
        assert run(["simulate", artifact, "--out", tmp_path / "sim"]).exit_code == 130
    before = snapshot(tmp_path)
    assert_refused(run(["train", "--resume", tmp_path / "sim"]), ["neuropc simulate --resume"], before, tmp_path)
    assert_refused(run(["simulate", "--resume", tmp_path / "sim", "--steps", "9"]), ["--resume DIR"],
                   before, tmp_path)
    artifact.write_bytes(artifact.read_bytes() + b"")  # same bytes: still resumable
    assert run(["compile", _spec(tmp_path, steps=5), "-o", artifact, "--force"]).exit_code == 0
    before = snapshot(tmp_path)
    assert_refused(run(["simulate", "--resume", tmp_path / "sim"]), ["has changed"], before, tmp_path)


def test_divergence_stops_at_the_step_keeps_the_last_good_checkpoint_and_is_quiet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trainer whose loss overflows: one message naming the step and the checkpoint kept,
    and none of numpy's overflow warnings (they are computed under np.errstate)."""
    spec = _spec(tmp_path, steps=200, checkpoint_every=10, eval_every=50)
    calls: list[int] = []
    original = neuropc.training.train_on_batch

    def exploding(arch, rule, params, batch, optimizer, carry=None) -> float:
        calls.append(1)
        loss = original(arch, rule, params, batch, optimizer, carry)
        if len(calls) <= 33:
            return loss
        return float(np.exp(np.float64(len(calls))) * np.float64(1e300))  # overflows to inf at once

    monkeypatch.setattr(neuropc.training, "train_on_batch", exploding)
    with _no_warnings():
        result = run(["train", spec, "--out", tmp_path / "run"])
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith(("training", "\r"))]
    assert result.exit_code == 2, result.output
    assert "RuntimeWarning" not in result.output and "overflow" not in result.output.lower()
    message = lines[-1]
    assert "training diverged" in message and "at step 34" in message, message
    assert "checkpoint of step 30 is kept" in message and "lower rule.optimizer.lr" in message, message
    with np.load(tmp_path / "run" / "checkpoint.npz") as data:
        assert int(data["step"]) == 30


class _no_warnings:
    """Fail if any warning is emitted inside (numpy's would reach the user's terminal)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)
        assert not self.caught, [str(w.message) for w in self.caught]


def test_the_guard_tolerates_a_spike_but_not_a_sustained_rise() -> None:
    guard = neuropc.training.DivergenceGuard()
    for step in range(1, 6):
        assert guard.check(step, 1.0) is None
    assert guard.check(6, 500.0) is None  # one spike
    assert guard.check(7, 1.0) is None and not guard.rising
    reasons = [guard.check(step, 1000.0) for step in range(8, 8 + guard.PATIENCE)]
    assert reasons[:-1] == [None] * (guard.PATIENCE - 1)
    assert "100x its starting value 1" in reasons[-1] and f"step {7 + guard.PATIENCE}" in reasons[-1]
    assert "nan at step 3" in neuropc.training.DivergenceGuard().check(3, float("nan"))
    restored = neuropc.training.DivergenceGuard(guard.state())
    assert restored.state() == guard.state()
