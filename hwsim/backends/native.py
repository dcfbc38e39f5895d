"""The native backend: the Numba engine (``hwsim.engine``) behind the Backend protocol.

Fast and event-driven: a value travels only when it moved more than its population's
threshold, a core works only on the events it receives, and every operation is counted.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compiler.artifact import Artifact
from compiler.program import restored_blocks
from hwsim.backends.protocol import BlockOutput, ExecutionOptions
from hwsim.engine import Engine
from hwsim.number_format import FixedFormat


class NativeBackend:
    """``Backend`` over one ``Engine``; ``engine`` stays reachable for native-only tools
    (fixed-point calibration, inspection of the encoded tables)."""

    name = "native"
    counts = True

    def __init__(self, artifact: Artifact, lanes: int, options: ExecutionOptions) -> None:
        self.artifact = artifact
        self.options = options
        self.engine = Engine(artifact, lanes, number_format=options.number_format,
                             threshold=options.resolved_thresholds(artifact.program),
                             dense=options.dense,
                             formats=dict(options.formats) if options.formats else None,
                             threads=options.threads)
        self.lanes = self.engine.lanes

    @property
    def optimizer_steps(self) -> int:
        return self.engine.count

    def run(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, *, train: bool,
            reset: bool = False, apply_end: bool = False, scale: float = 1.0) -> BlockOutput:
        out = self.engine.run(inputs, targets, mask, train=train, reset=reset,
                              apply_end=apply_end, scale=scale)
        return BlockOutput(out.loss, out.logits, out.step_counts)

    def reset(self) -> None:
        self.engine.reset()

    def apply(self, scale: float) -> None:
        self.engine.apply(scale)

    def read(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
             layer: int | None = None, copy: bool = False) -> np.ndarray:
        return self.engine.gather(space, name, shape, part, layer, copy)

    def parameters(self) -> dict[str, np.ndarray]:
        return self.engine.parameters()

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        return self.engine.optimizer_state()

    def restore(self, params: Mapping[str, np.ndarray],
                optimizer_state: Mapping[str, Mapping[str, np.ndarray]], optimizer_steps: int,
                copies: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> None:
        """Parameters through ``Engine.load_params`` (which rounds them to the number format),
        then the feedback copies as they were, optimizer moments into the buffers bound to
        them, and Adam's step count."""
        engine = self.engine
        engine.load_params(dict(params))
        for core, buf, block in restored_blocks(self.artifact.program, optimizer_state, copies):
            engine.buffer(core, buf.name)[...] = block
        engine.count = int(optimizer_steps)
        engine.refresh()

    def load_shared(self, other: NativeBackend) -> None:
        self.engine.load_shared(other.engine)

    def take_counts(self) -> np.ndarray:
        return self.engine.take_counts()

    def take_work_counts(self) -> np.ndarray:
        return self.engine.take_op_counts()

    def core_totals(self) -> np.ndarray:
        return self.engine.core_totals.copy()

    # -- native only ------------------------------------------------------------------
    def calibration_maxima(self) -> dict[tuple[str, str, str], float]:
        return self.engine.calibration_maxima()

    def track_ranges(self, on: bool) -> None:
        """Record the largest magnitude of every buffer group (fixed-point calibration)."""
        self.engine.track = on

    @property
    def formats(self) -> dict[tuple[str, str, str], FixedFormat]:
        return self.engine.formats
