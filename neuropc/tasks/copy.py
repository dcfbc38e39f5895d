"""The copy task: remember a string of digits across a delay, then recall it.

Layout of one sequence (docs/algorithm.md, 'The copy task'), for length L, delay D and vocabulary V:
L digits from 1..V, then D-1 blanks and a go marker, then L blank steps during which the
network must output the digits in order. Loss and accuracy count only those recall steps.
Input symbols: 0 blank, 1..V digits, V+1 marker (one-hot over V+2); classes: digit-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from neuropc.tasks.base import EVAL_STREAM, Metric, SequenceBatch, TaskSpecBase
from neuropc.tasks.registry import register_task


class CopyTaskSpec(TaskSpecBase):
    """Remember `length` digits, wait `delay` steps, recall them (docs/algorithm.md, 'The copy task')."""

    name: Literal["copy"] = "copy"
    length: Annotated[int, Field(gt=0, le=10_000)] = 10
    delay: Annotated[int, Field(gt=0, le=100_000)] = 10
    vocab: Annotated[int, Field(ge=2, le=1_000)] = 9

    @property
    def input_size(self) -> int:
        return self.vocab + 2  # blank, digits, go marker

    @property
    def output_size(self) -> int:
        return self.vocab

    def resized(self, steps: int) -> CopyTaskSpec:
        """Keep the digits (as many as fit) and stretch or shorten the delay to ``steps`` steps."""
        if steps < 3:
            raise ValueError(f"a copy sequence needs at least 3 steps (a digit, the marker, a recall), got {steps}")
        digits = min(self.length, (steps - 1) // 2)
        return self.model_validate({**self.model_dump(), "length": digits, "delay": steps - 2 * digits})


class CopyTask:
    """Sequences of the copy task and their recall accuracy."""

    carries_state = False  # every sequence is independent and starts from the zero state

    def __init__(self, spec: CopyTaskSpec) -> None:
        self.spec = spec
        self.metrics = (Metric("accuracy", "recall accuracy", headline=True, chance=1.0 / spec.vocab),)

    @property
    def sequence_length(self) -> int:
        return 2 * self.spec.length + self.spec.delay

    def sample(self, rng: np.random.Generator, size: int) -> SequenceBatch:
        length, delay, vocab = self.spec.length, self.spec.delay, self.spec.vocab
        digits = rng.integers(1, vocab + 1, size=(length, size))
        symbols = np.zeros((self.sequence_length, size), dtype=np.int64)
        symbols[:length] = digits
        symbols[length + delay - 1] = vocab + 1
        recall = slice(length + delay, None)
        targets = np.zeros((self.sequence_length, size), dtype=np.int64)
        targets[recall] = digits - 1
        mask = np.zeros((self.sequence_length, size))
        mask[recall] = 1.0
        inputs = np.eye(vocab + 2)[symbols]
        return SequenceBatch(inputs=inputs, targets=targets, mask=mask)

    def held_out(self, seed: int, size: int) -> SequenceBatch:
        """Fresh sequences from their own random stream (EVAL_STREAM), which training never draws."""
        return self.sample(np.random.default_rng([seed, EVAL_STREAM]), size)

    def score(self, outputs: np.ndarray, batch: SequenceBatch) -> dict[str, float]:
        """Recall steps where the largest output is the right digit."""
        hits = outputs.argmax(axis=-1) == batch.targets
        return {"correct": float((hits * batch.mask).sum())}

    def finish(self, sums: Mapping[str, float], loss_steps: float) -> dict[str, float]:
        return {"accuracy": sums["correct"] / loss_steps}

    def describe(self) -> str:
        spec = self.spec
        return (f"copy {spec.length} digits (1..{spec.vocab}), delay {spec.delay}, "
                f"{self.sequence_length} steps per sequence")

    def provenance(self) -> dict[str, Any]:
        return {"data": "generated from the run seed (no file)"}


register_task(CopyTaskSpec, CopyTask)
