"""What every task provides, so that nothing outside a task's own module knows its formulas.

A task owns its data (training batches and a held-out split), the length of its sequences,
the metrics it is judged by and how they are computed from the network's outputs. The
training loop, the simulators, the run folder and the console only go through ``Task``, so a
new task (a character language model, system identification) is one module registered in
``neuropc.tasks.registry`` and nothing else changes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, Self

import numpy as np
from pydantic import BaseModel, ConfigDict

EVAL_STREAM = 2  # random stream of held-out sequences for tasks that generate their data


@dataclass(frozen=True)
class SequenceBatch:
    """Inputs (T, B, M), targets (T, B) class ids or (T, B, V) reals, loss mask (T, B)."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray

    @property
    def length(self) -> int:
        return self.inputs.shape[0]

    @property
    def size(self) -> int:
        return self.inputs.shape[1]

    def loss_steps(self) -> float:
        """How many (step, sequence) pairs carry loss: the normaliser of the mean loss."""
        return max(float(self.mask.sum()), 1.0)

    def sequences(self, start: int, stop: int) -> SequenceBatch:
        """Sequences [start, stop) of the batch (views, not copies)."""
        return SequenceBatch(self.inputs[:, start:stop], self.targets[:, start:stop], self.mask[:, start:stop])


@dataclass(frozen=True)
class Metric:
    """One number a task is judged by, with what a row, a console line or a plot needs to show it.

    The metrics row stores it as ``eval_<key>``; ``label`` is what people read ("recall
    accuracy"); ``unit`` is "fraction" for values in [0, 1] (plotted on a 0..1 axis) or a unit
    name such as "bits/char"; the ``headline`` metric is the one a learning curve plots;
    ``chance`` is what guessing scores, drawn as a reference line when known.
    """

    key: str
    label: str
    unit: str = "fraction"
    headline: bool = False
    higher_is_better: bool = True
    chance: float | None = None

    @property
    def column(self) -> str:
        """The metrics-row key of this metric's held-out value."""
        return f"eval_{self.key}"


class TaskSpecBase(BaseModel):
    """Base of every task's spec section: strict like the rest of the spec, keyed by ``name``.

    A subclass declares ``name: Literal["its-name"]`` (the discriminator of the spec's task
    union) and the sizes and conventions the network must match, which ``NetworkSpec``
    checks without knowing the task.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_encoding: ClassVar[Literal["onehot", "real"]] = "onehot"
    loss: ClassVar[Literal["cross_entropy", "squared_error"]] = "cross_entropy"

    @property
    @abstractmethod
    def input_size(self) -> int:
        """Inputs per step the task feeds (``input.size`` must equal it)."""

    @property
    @abstractmethod
    def output_size(self) -> int:
        """Outputs per step the task scores (``readout.output`` must equal it)."""

    @abstractmethod
    def resized(self, steps: int) -> Self:
        """The same task with sequences of exactly ``steps`` steps (for reports that sweep the
        sequence length); ValueError if the task cannot make sequences of that length."""


class Task(Protocol):
    """A task as the training loop and the simulators use it (see the module docstring)."""

    @property
    def sequence_length(self) -> int:
        """Steps per sequence (T); for a task that carries state, steps per window."""
        ...

    @property
    def carries_state(self) -> bool:
        """Whether the task is a set of streams cut into windows rather than independent sequences.

        True: consecutive ``sample`` calls of the same size return the next window of the same
        parallel streams, so a trainer must carry the network's state (and tPC-RTRL's
        eligibility traces) from one batch to the next instead of starting from zero, and
        ``held_out`` returns whole streams (several windows long) that evaluation runs through
        in one pass. This is what makes RTRL worth having: credit flows across window borders
        without storing the past. False: every sequence starts from the zero state.
        """
        ...

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """What held-out evaluations report besides the loss; exactly one is ``headline``."""
        ...

    def sample(self, rng: np.random.Generator, size: int) -> SequenceBatch:
        """``size`` training sequences drawn with ``rng``."""
        ...

    def held_out(self, seed: int, size: int) -> SequenceBatch:
        """The evaluation split for run seed ``seed``: never drawn for training."""
        ...

    def score(self, outputs: np.ndarray, batch: SequenceBatch) -> dict[str, float]:
        """Sums over the loss-carrying steps of ``batch`` given the network's ``outputs``
        (T, B, V); sums of chunks of a batch add up to the sums of the whole batch."""
        ...

    def finish(self, sums: Mapping[str, float], loss_steps: float) -> dict[str, float]:
        """Metric values (keyed by ``Metric.key``) from summed scores and the number of
        loss-carrying steps they were summed over."""
        ...

    def describe(self) -> str:
        """One line for ``neuropc check``, e.g. "copy 10 digits (1..9), delay 10, 30 steps per sequence"."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Where the task's data came from, written into summary.json so a run can be traced
        back to its corpus (path, size, sha256) or to the generator that made it."""
        ...


class ScoreTotals:
    """Scores of one evaluation added up chunk by chunk, so chunked evaluation (hwsim runs the
    held-out set in chunks of lanes) gives exactly the numbers of one pass over the batch."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.sums: dict[str, float] = {}

    def add(self, outputs: np.ndarray, batch: SequenceBatch) -> None:
        for key, value in self.task.score(outputs, batch).items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def finish(self, loss_steps: float) -> dict[str, float]:
        return self.task.finish(self.sums, loss_steps)


def test_batch(task: Task, size: int) -> SequenceBatch | None:
    """``size`` streams of the task's test split, scored once with a run's final parameters
    (``neuropc train`` and ``neuropc simulate`` alike); None for a task that keeps no test
    split (generated tasks: their held-out stream is never trained on either). Read before
    training starts, so a split too short fails before any work is done."""
    split = getattr(task, "test_split", None)
    return split(size) if split is not None else None


def headline_metric(metrics: Sequence[Metric]) -> Metric | None:
    """The metric a learning curve plots (None for a task that reports only its loss)."""
    return next((metric for metric in metrics if metric.headline), None)


def metric_text(metrics: Sequence[Metric], row: Mapping[str, object], digits: int = 4) -> str:
    """", recall accuracy 0.9123" for the metrics present in a metrics row (console lines)."""
    parts = [f", {metric.label} {row[metric.column]:.{digits}f}" for metric in metrics
             if row.get(metric.column) is not None]
    return "".join(parts)


def test_text(metrics: Sequence[Metric], test: Mapping[str, float]) -> str:
    """The console line of a test-split score (``test_batch``): "test split: loss 2.7, bits per character 3.9"."""
    return f"test split: loss {test['loss']:.4f}" + metric_text(metrics, {m.column: test.get(m.key) for m in metrics})
