"""The copy task: remember a string of digits across a delay, then recall it.

Layout of one sequence (ALGORITHM.md section 7), for length L, delay D and vocabulary V:
L digits from 1..V, then D-1 blanks and a go marker, then L blank steps during which the
network must output the digits in order. Loss and accuracy count only those recall steps.
Input symbols: 0 blank, 1..V digits, V+1 marker (one-hot over V+2); classes: digit-1.
"""

from __future__ import annotations

import numpy as np

from neuropc.spec.schema import CopyTaskSpec
from neuropc.tasks.base import SequenceBatch


class CopyTask:
    def __init__(self, spec: CopyTaskSpec) -> None:
        self.spec = spec

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

    def describe(self) -> str:
        s = self.spec
        return (f"copy {s.length} digits (1..{s.vocab}), delay {s.delay}, "
                f"{self.sequence_length} steps per sequence")

    def chance_accuracy(self) -> float:
        return 1.0 / self.spec.vocab
