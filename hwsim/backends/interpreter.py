"""The interpreter backend: runs a compiled program op by op in numpy, with the hardware's
event semantics and counts, as docs/hwsim.md states them.

It is the readable twin of the Numba engine (``hwsim.engine``): what every op computes comes
from ``compiler.op_semantics`` (written once); what moves between cores and what is counted
are the documented event rules, one method each in ``hwsim.backends.core_rules`` (shared with
the Lava backend: delta-coded sends, delivery at the end of a stage, host inputs written where
they changed, sigma-delta synaptic accumulation, the sequence-start reset and the per-step
restart of the error channels, the counting rule of every op family). The phases run as
``program.phases`` and their ``when`` say. The conformance tests hold it to the engine: equal
values and identical counts.

Number formats: float64, float32 and fixed point, as ``core_rules.Storage`` stores a value
(the engine's rounding, at the same moments), so every format equals the engine bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compiler.artifact import Artifact
from compiler.program import Phase, assemble_bound, bound_buffers, optimizer_moments, restored_blocks
from hwsim.backends.core_rules import (
    CoreRules,
    Delivery,
    EventCounter,
    EventLayout,
    Storage,
    block_results,
    host_block,
    output_cores,
    shared_layout,
)
from hwsim.backends.protocol import BlockOutput, ExecutionOptions


class InterpreterBackend:
    """One artifact's program for ``lanes`` sequences in lockstep, op by op in numpy: one
    ``CoreRules`` per core, delivery between them at the end of every stage."""

    name = "interpreter"
    counts = True

    def __init__(self, artifact: Artifact, lanes: int, options: ExecutionOptions | None = None) -> None:
        options = options or ExecutionOptions()
        self.artifact = artifact
        self.program = artifact.program
        self._bound = bound_buffers(self.program)
        self.lanes = int(lanes)
        if self.lanes < 1:
            raise ValueError("lanes must be at least 1")
        self.options = options
        self.optimizer_steps = 0
        self.counter = EventCounter(self.lanes, len(self.program.cores))
        layout = EventLayout.of(self.program, np.asarray(artifact.placement_arrays["hops"]))
        thresholds = options.resolved_thresholds(self.program)
        self.cores = [CoreRules(self.program, core.core, layout, self.lanes,
                                store=Storage.of(self.program, core.core, options.number_format, options.formats),
                                dense=bool(options.dense), thresholds=thresholds, counter=self.counter)
                      for core in self.program.cores]
        self.mem = [rules.mem for rules in self.cores]
        self.load_params(artifact.params)

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Set every buffer bound to a parameter (stored in the number format); the weights
        changed, so every sigma-delta accumulator recomputes at its next use."""
        for rules in self.cores:
            rules.load_params(params)

    def _weights_changed(self) -> None:
        for rules in self.cores:
            rules.weights_changed()

    # -- the step loop ---------------------------------------------------------------------------
    def run(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, *, train: bool,
            reset: bool = False, apply_end: bool = False, scale: float = 1.0) -> BlockOutput:
        """See ``hwsim.backends.protocol.Backend.run``."""
        inputs, targets, mask = host_block(inputs, targets, mask, self.lanes)
        steps = inputs.shape[0]
        outputs_width = max(c.stop for c in output_cores(self.program))
        loss, outputs, step_counts = block_results(steps, self.lanes, outputs_width)
        before = self.counter.row_totals()
        if reset:
            self.reset()
        for t in range(steps):
            if train and not (t == 0 and reset):
                for rules in self.cores:
                    rules.restart_errors()
            streams = {"u": inputs[t], "target": targets[t], "mask": mask[t][:, None]}
            for rules in self.cores:
                rules.deliver_host(streams)
            for phase in self.program.phases_when("step"):
                if phase.train_only and not train:
                    continue
                self._run_phase(phase)
                if phase.outputs:
                    loss[t], outputs[t] = self._read_outputs(outputs_width)
            if train and np.any(mask[t] != 0.0):
                self._optimizer_step(self.program.phases_when("step_with_loss"), scale)
            if t == steps - 1 and apply_end:
                self.apply(scale)
            after = self.counter.row_totals()
            step_counts[t] = after - before
            before = after
        if steps == 0 and apply_end:
            self.apply(scale)
        return BlockOutput(loss, outputs, step_counts)

    def reset(self) -> None:
        """Start a sequence in every lane: the program's ``sequence_start`` phases, then the
        hardware's own reset (``CoreRules.start_sequence``)."""
        for phase in self.program.phases_when("sequence_start"):
            self._run_phase(phase)
        for rules in self.cores:
            rules.start_sequence()

    def apply(self, scale: float) -> None:
        """The ``sequence_end`` phases (the optimizer step), whatever ``train_only`` says: the
        caller asked for them."""
        self._optimizer_step(self.program.phases_when("sequence_end"), scale)

    def _optimizer_step(self, phases: list[Phase], scale: float) -> None:
        if not phases:
            return
        self.optimizer_steps += 1
        host = {"scale": float(scale), "count": float(self.optimizer_steps)}
        for phase in phases:
            self._run_phase(phase, host)
        self._weights_changed()

    def _run_phase(self, phase: Phase, host: dict[str, float] | None = None) -> None:
        """Every stage of the phase, ``repeat`` times: each core runs its ops of the stage in
        order, then everything sent in the stage is delivered."""
        for _ in range(phase.repeat):
            for stage in range(phase.stages):
                pending: list[Delivery] = []
                for rules in self.cores:
                    pending.extend(rules.run_stage(phase.name, stage, host or {}))
                self._deliver(pending)

    def _deliver(self, pending: list[Delivery]) -> None:
        """End of a stage: every sent value lands in the inbox of every destination."""
        for delivery in pending:
            for d in delivery.group.destinations:
                self.cores[d.core].receive(delivery.group.core, d, delivery.fired, delivery.values)

    # -- reading ------------------------------------------------------------------------------------
    def _read_outputs(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The masked loss (sum of the output cores' loss registers) and the output layer's
        prediction, per lane."""
        loss = np.zeros(self.lanes)
        prediction = np.zeros((self.lanes, width))
        for core in output_cores(self.program):
            mem = self.mem[core.core]
            loss += mem["loss"]
            prediction[:, core.start:core.stop] = mem["mu"]
        return loss, prediction

    def buffer(self, core: int, name: str) -> np.ndarray:
        return self.mem[core][name]

    def read(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
             layer: int | None = None, copy: bool = False) -> np.ndarray:
        key = (space, name, part, layer, copy)
        return assemble_bound(self._bound.get(key, ()), self.buffer, self.lanes, key, shape)

    def parameters(self) -> dict[str, np.ndarray]:
        return {name: self.read("param", name, value.shape) for name, value in self.artifact.params.items()}

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        return optimizer_moments(self._bound, self.read, self.artifact.params)

    def restore(self, params: Mapping[str, np.ndarray],
                optimizer_state: Mapping[str, Mapping[str, np.ndarray]], optimizer_steps: int,
                copies: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> None:
        """Parameters (stored in the number format), optimizer moments into the buffers bound
        to them, and the optimizer step count; the accumulators recompute."""
        self.load_params(dict(params))
        for core, buf, block in restored_blocks(self.program, optimizer_state, copies):
            self.mem[core][buf.name][...] = block
        self.optimizer_steps = int(optimizer_steps)
        self._weights_changed()

    def load_shared(self, other: InterpreterBackend) -> None:
        """Take the other backend's shared buffers (weights, parameters, accumulators,
        optimizer moments) and optimizer step count; the accumulators recompute."""
        if (shared_layout(other.program) != shared_layout(self.program)
                or other.options.number_format != self.options.number_format):
            raise ValueError("backends of different programs or number formats")
        for core in self.program.cores:
            for buf in core.buffers.values():
                if not buf.per_lane:
                    self.mem[core.core][buf.name][...] = other.mem[core.core][buf.name]
        self.optimizer_steps = other.optimizer_steps
        self._weights_changed()

    # -- counts -------------------------------------------------------------------------------------
    def take_counts(self) -> np.ndarray:
        return self.counter.take()

    def take_work_counts(self) -> np.ndarray:
        return self.counter.take_by_kind()

    def core_totals(self) -> np.ndarray:
        return self.counter.totals + self.counter.rows.sum(axis=0)
