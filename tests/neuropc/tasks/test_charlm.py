"""The charlm task: file errors, splits, windows, and state carried across windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from neuropc.cli import main
from neuropc.errors import NeuropcError
from neuropc.reference.forward import forward_sequence
from neuropc.reference.network import Architecture, params_from_spec
from neuropc.reference.rules import Carry, sequence_updates
from neuropc.reference.temporal import TemporalLearner
from neuropc.spec import load_spec
from neuropc.tasks import task_from_params
from neuropc.tasks.base import SequenceBatch
from neuropc.tasks.charlm import CharLMTask

ROOT = Path(__file__).resolve().parents[3]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def _task(path: Path, **extra: object) -> CharLMTask:
    return task_from_params({"name": "charlm", "data": str(path), **extra})


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "not-utf8"])
def test_a_bad_file_is_one_clear_error_naming_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "corpus.txt"
    expected = {"missing": "does not exist", "empty": "is empty", "directory": "is a directory",
                "not-utf8": "is not UTF-8 text"}[kind]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes("caf\u00e9 ".encode("latin-1") * 50)
    with pytest.raises(NeuropcError, match=expected) as info:
        _task(path)
    assert str(path) in str(info.value)
    # the command line: the same message, exit status 2, no traceback
    spec = yaml.safe_load((ROOT / "examples" / "charlm.yaml").read_text())
    spec["task"]["data"] = str(path)
    spec_path = tmp_path / "net.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["check", str(spec_path)])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_splits_are_contiguous_disjoint_and_evaluation_reads_only_validation(tmp_path: Path) -> None:
    path = tmp_path / "abc.txt"
    path.write_text("a" * 800 + "b" * 100 + "c" * 100, encoding="utf-8")
    task = _task(path, vocab="chars", window=8, eval_windows=2)
    assert task.bounds == {"train": (0, 800), "valid": (800, 900), "test": (900, 1000)}
    assert task.corpus.alphabet == ("a", "b", "c")
    held = task.held_out(0, 4)
    assert held.length == 16 and held.inputs.shape == (16, 4, 3)
    assert (held.inputs.argmax(-1) == 1).all() and (held.targets == 1).all()  # only 'b'
    assert (task.stream_batch("test", 2).targets == 2).all()  # only 'c'
    batch = task.sample(np.random.default_rng(0), 4)
    assert (batch.targets == 0).all()  # training never leaves 'a'


def test_windows_continue_each_stream(tmp_path: Path) -> None:
    path = tmp_path / "digits.txt"
    path.write_text("".join(str(i % 10) for i in range(2000)), encoding="utf-8")
    task = _task(path, vocab="chars", window=5)
    rng = np.random.default_rng(3)
    first, second = task.sample(rng, 3), task.sample(rng, 3)
    assert first.inputs.shape == (5, 3, 10) and first.targets.shape == (5, 3)
    # the next symbol of the digits; the second window starts where the first ended
    assert (first.targets == (first.inputs.argmax(-1) + 1) % 10).all()
    assert (second.inputs[0].argmax(-1) == first.targets[-1]).all()
    assert len(set(task._offsets.tolist())) == 3  # parallel streams at different offsets


def test_the_input_size_is_checked_against_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_text("hello world, " * 40, encoding="utf-8")
    spec = yaml.safe_load((ROOT / "examples" / "charlm.yaml").read_text())
    spec["task"].update(data=str(path), vocab="chars")
    spec_path = tmp_path / "net.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(NeuropcError, match="input.size is 256 but the charlm task feeds 9 symbols"):
        load_spec(spec_path)


def _concatenate(first: SequenceBatch, second: SequenceBatch) -> SequenceBatch:
    return SequenceBatch(*(np.concatenate([a, b]) for a, b in
                           zip((first.inputs, first.targets, first.mask),
                               (second.inputs, second.targets, second.mask), strict=True)))


@pytest.mark.parametrize("rule", ["tpc-rtrl", "bptt"])
def test_two_windows_carry_state_and_traces_like_one_long_sequence(tmp_path: Path, rule: str) -> None:
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    spec = load_spec(ROOT / "examples" / "charlm.yaml").with_overrides({
        "task.data": str(path), "task.vocab": "chars", "task.window": 6, "input.size": 28,
        "readout.output": 28, "recurrent.size": 5, "readout.hidden": [4], "rule.name": rule})
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec)
    task = task_from_params(spec.task.model_dump())
    rng = np.random.default_rng(1)
    windows = [task.sample(rng, 3), task.sample(rng, 3)]
    whole = _concatenate(*windows)
    carry = Carry(arch, spec.rule, 3)
    for window in windows:
        sequence_updates(arch, spec.rule, params, window, carry)
    if rule == "bptt":
        want = forward_sequence(arch, params, whole).states[-1]
        np.testing.assert_allclose(carry.state, want, rtol=0, atol=1e-12)
        restarted = forward_sequence(arch, params, windows[1]).states[-1]
        assert np.abs(restarted - want).max() > 1e-6  # starting from zero would differ
        return
    learner = TemporalLearner(arch, spec.rule, 3)
    for t in range(whole.length):
        learner.step(params, whole.inputs[t], whole.targets[t], whole.mask[t])
    np.testing.assert_allclose(carry.learner.state, learner.state, rtol=0, atol=1e-12)
    for name in ("lam", "B", "gam"):
        np.testing.assert_allclose(getattr(carry.learner.traces, name), getattr(learner.traces, name),
                                   rtol=0, atol=1e-12)
    fresh = TemporalLearner(arch, spec.rule, 3)
    for t in range(windows[1].length):
        fresh.step(params, windows[1].inputs[t], windows[1].targets[t], windows[1].mask[t])
    assert np.abs(fresh.traces.lam - learner.traces.lam).max() > 1e-6  # a reset would differ


def test_bits_per_character_is_the_loss_in_bits(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("abcabcabd" * 30, encoding="utf-8")
    task = _task(path, vocab="chars", window=4)
    batch = task.held_out(0, 2)
    outputs = np.random.default_rng(0).normal(size=(*batch.targets.shape, 4))
    values = task.finish(task.score(outputs, batch), batch.loss_steps())
    shifted = outputs - outputs.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    nats = -np.take_along_axis(logp, batch.targets[..., None], -1).mean()
    assert values["bits_per_char"] == pytest.approx(nats / np.log(2))
    assert values["perplexity"] == pytest.approx(np.exp(nats))


@pytest.mark.skipif(not SHAKESPEARE.is_file(), reason=f"{SHAKESPEARE} is not present")
def test_tinyshakespeare_loads_with_its_own_vocabulary() -> None:
    task = _task(SHAKESPEARE, vocab="chars")
    assert 30 < task.corpus.vocab_size < 100
    assert sum(stop - start for start, stop in task.bounds.values()) <= len(task.corpus.symbols)


def _tiny_charlm_spec(tmp_path: Path) -> Path:
    path = tmp_path / "abc.txt"
    path.write_text("ab" * 400 + "b" * 100 + "c" * 100, encoding="utf-8")
    spec = yaml.safe_load((ROOT / "examples" / "charlm.yaml").read_text())
    spec["task"].update(data=str(path), vocab="chars", window=8, eval_windows=2)
    spec["input"]["size"] = spec["readout"]["output"] = 3
    spec["recurrent"]["size"] = 4
    spec["readout"]["hidden"] = [4]
    spec["run"].update(steps=3, batch=2, eval_every=3, eval_sequences=2)
    spec_path = tmp_path / "net.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    return spec_path


def test_a_run_ends_with_the_test_split_scored_once(tmp_path: Path) -> None:
    spec_path = _tiny_charlm_spec(tmp_path)
    result = CliRunner().invoke(main, ["train", str(spec_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "test split: loss" in result.output and "bits per character" in result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    test, final = summary["test"], summary["eval_bits_per_char"]
    # the test part is all 'c', never seen in training: scored worse than the validation part
    assert test["bits_per_char"] > final
    assert test["perplexity"] == pytest.approx(2 ** test["bits_per_char"])


def test_hwsim_scores_the_test_split_as_the_reference_does(tmp_path: Path) -> None:
    spec_path = _tiny_charlm_spec(tmp_path)
    summaries = {}
    for command in ("train", "simulate"):
        result = CliRunner().invoke(main, [command, str(spec_path), "--out", str(tmp_path / command)])
        assert result.exit_code == 0, result.output
        assert "test split: loss" in result.output
        summaries[command] = json.loads((tmp_path / command / "summary.json").read_text())
    reference, native = summaries["train"]["test"], summaries["simulate"]["test"]
    assert native.keys() == reference.keys()
    for key, value in reference.items():
        assert native[key] == pytest.approx(value, rel=1e-9), key
    # the test split is scored after training, outside the run's counted held-out evaluations
    assert native["bits_per_char"] != summaries["simulate"]["eval_bits_per_char"]


def test_no_test_part_means_no_test_score(tmp_path: Path) -> None:
    path = tmp_path / "abc.txt"
    path.write_text("abc" * 300, encoding="utf-8")
    task = _task(path, vocab="chars", window=8, splits={"train": 0.8, "valid": 0.2, "test": 0.0})
    assert task.test_split(2) is None
    assert _task(path, vocab="chars", window=8).test_split(2).targets.shape == (40, 2)  # 5 windows of 8 per stream
