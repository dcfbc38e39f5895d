"""The task registry: one lookup, and the spec's `task:` union follows what is registered.

A second task exists only inside these tests (``echo``: output the symbol just seen), to prove
that the discriminated union, the sizes check, the training loop, the metrics rows and the
console all work with two tasks and take every name from the task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from neuropc.cli import main
from neuropc.errors import NeuropcError
from neuropc.spec import NetworkSpec, dump_spec, parse_spec
from neuropc.tasks import (
    CopyTask,
    CopyTaskSpec,
    Metric,
    SequenceBatch,
    TaskSpecBase,
    register_task,
    task_from_spec,
    task_names,
    unregister_task,
)
from neuropc.training import train
from tests.conftest import small_spec


class EchoTaskSpec(TaskSpecBase):
    """Test-only task: say which of `vocab` symbols came in on this step."""

    name: Literal["echo"] = "echo"
    vocab: int = 3
    steps: int = 4

    @property
    def input_size(self) -> int:
        return self.vocab

    @property
    def output_size(self) -> int:
        return self.vocab

    def resized(self, steps: int) -> EchoTaskSpec:
        return self.model_copy(update={"steps": steps})


class EchoTask:
    carries_state = False

    def __init__(self, spec: EchoTaskSpec) -> None:
        self.spec = spec
        self.sequence_length = spec.steps
        self.metrics = (Metric("hits", "echo hit rate", headline=True, chance=1.0 / spec.vocab),
                        Metric("misses", "echo miss rate", higher_is_better=False))

    def sample(self, rng: np.random.Generator, size: int) -> SequenceBatch:
        symbols = rng.integers(0, self.spec.vocab, size=(self.spec.steps, size))
        return SequenceBatch(np.eye(self.spec.vocab)[symbols], symbols, np.ones(symbols.shape))

    def held_out(self, seed: int, size: int) -> SequenceBatch:
        return self.sample(np.random.default_rng([seed, 99]), size)

    def score(self, outputs: np.ndarray, batch: SequenceBatch) -> dict[str, float]:
        return {"hits": float(((outputs.argmax(axis=-1) == batch.targets) * batch.mask).sum())}

    def finish(self, sums: Mapping[str, float], loss_steps: float) -> dict[str, float]:
        return {"hits": sums["hits"] / loss_steps, "misses": 1.0 - sums["hits"] / loss_steps}

    def describe(self) -> str:
        return f"echo one of {self.spec.vocab} symbols, {self.spec.steps} steps per sequence"

    def provenance(self) -> dict[str, str]:
        return {"data": "generated"}


@contextmanager
def echo_registered() -> Iterator[None]:
    """Register the echo task for the block; the registry and the union are as before after it."""
    register_task(EchoTaskSpec, EchoTask)
    try:
        yield
    finally:
        unregister_task("echo")
    assert task_names() == ("charlm", "copy", "sysid")


def echo_spec_text(copy_spec: NetworkSpec, **run: int) -> str:
    """The small test network with the echo task instead of copy, as a user would write it."""
    spec = small_spec(copy_spec, **{f"run.{key}": value for key, value in run.items()})
    data = spec.model_dump(mode="json", exclude_none=True)
    data["input"]["size"] = 3
    data["task"] = {"name": "echo", "vocab": 3, "steps": 4}
    return yaml.safe_dump(data, sort_keys=False)


def test_copy_is_registered_and_built_from_its_spec():
    assert "copy" in task_names()
    task = task_from_spec(CopyTaskSpec(length=2, delay=3, vocab=4))
    assert isinstance(task, CopyTask) and task.sequence_length == 7


def test_a_name_is_registered_once_and_must_be_one_literal():
    with pytest.raises(ValueError, match="already registered"):
        register_task(CopyTaskSpec, CopyTask)

    class Unnamed(EchoTaskSpec):
        name: str = "free"  # type: ignore[assignment]

    with pytest.raises(TypeError, match="Literal of one string"):
        register_task(Unnamed, EchoTask)
    with pytest.raises(KeyError):
        unregister_task("never-registered")
    assert task_names() == ("charlm", "copy", "sysid")


def test_the_task_union_follows_the_registry(copy_spec: NetworkSpec):
    text = echo_spec_text(copy_spec)
    with pytest.raises(NeuropcError, match="unknown task 'echo'; known: charlm, copy, sysid$"):
        parse_spec(text, "net.yaml")
    with echo_registered():
        spec = parse_spec(text, "net.yaml")
        assert isinstance(spec.task, EchoTaskSpec) and spec.task.vocab == 3
        assert parse_spec(dump_spec(spec)) == spec
        assert isinstance(parse_spec(dump_spec(copy_spec)).task, CopyTaskSpec)  # both members validate
        with pytest.raises(NeuropcError) as info:
            parse_spec(text.replace("name: echo", "name: wordlm"), "net.yaml")
        assert str(info.value).count("\n") == 0
        assert "task.name: unknown task 'wordlm'; known: charlm, copy, sysid, echo" in str(info.value)
        # a field of the echo member: the location is task.steps at its own line, not task.echo.steps
        bad = text.replace("steps: 4", "steps: many")
        with pytest.raises(NeuropcError) as info:
            parse_spec(bad, "net.yaml")
        line = next(i for i, row in enumerate(bad.splitlines(), 1) if "steps: many" in row)
        assert str(info.value).startswith(f"net.yaml:{line}: task.steps: ")
        # the sizes check asks the task, whichever it is
        with pytest.raises(NeuropcError, match="input.size: input.size is 11 but the echo task feeds 3"):
            parse_spec(text.replace("size: 3", "size: 11"), "net.yaml")
    with pytest.raises(NeuropcError, match="unknown task 'echo'"):
        parse_spec(text, "net.yaml")


def test_a_second_task_trains_and_reports_its_own_metrics(copy_spec: NetworkSpec, tmp_path: Path):
    text = echo_spec_text(copy_spec, steps=3, batch=4, eval_every=2, eval_sequences=8)
    with echo_registered():
        spec = parse_spec(text)
        rows = train(spec).metrics
        assert [list(row) for row in rows] == [
            ["step", "train_loss", "eval_loss", "eval_hits", "eval_misses", "elapsed_s"]] * 3
        assert all(row["eval_hits"] + row["eval_misses"] == pytest.approx(1.0) for row in rows)
        path = tmp_path / "net.yaml"
        path.write_text(text)
        checked = CliRunner().invoke(main, ["check", str(path)])
        assert checked.exit_code == 0, checked.output
        assert "task: echo one of 3 symbols, 4 steps per sequence" in checked.output
        trained = CliRunner().invoke(main, ["train", str(path), "--out", str(tmp_path / "run")])
        assert trained.exit_code == 0, trained.output
        done = next(line for line in trained.output.splitlines() if line.startswith("done in"))
        assert ", echo hit rate " in done and ", echo miss rate " in done and "recall" not in done
        final = json.loads((tmp_path / "run" / "summary.json").read_text())
        assert {"eval_hits", "eval_misses"} <= set(final) and "eval_accuracy" not in final
