"""The Lava backend: a compiled program as a graph of Lava processes under ``Loihi2SimCfg``.

One ``CoreProcess`` per core and one ``Sequencer`` (``hwsim.backends.lava.models.core``
describes both and the order of one Lava step). The host side here turns every protocol
call (a time step of ``run``, ``reset``, ``apply``) into a script of Lava steps, one per stage
the call executes plus a final delivery-only step, writes it into the sequencer's ``script``
Var, runs that many Lava steps (blocking ``RunSteps``) and then reads back with ``Var.get``:
every core's ledger (counts and recorded outputs) after each call, the buffers only when
``read`` asks for them (Lava moves a Var element by element, so reading everything after
every step would dominate the run time).

Lifecycle: the runtime is created (and its worker processes forked) in the constructor;
``close()`` stops it, and a finalizer does so when the backend is garbage collected or the
interpreter exits, because a Lava runtime left running keeps the interpreter from exiting.
After a failure inside a ProcessModel Lava's ``stop()`` would block forever; the backend
instead shuts the runtime's message infrastructure down, reaps the workers and raises
``LavaProcessError`` naming the failing core.
"""

from __future__ import annotations

import multiprocessing
import re
import weakref
from collections.abc import Mapping

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg

from compiler.artifact import Artifact
from compiler.program import HOST, Phase, assemble_bound, bound_buffers, optimizer_moments, restored_blocks
from hwsim.backends.core_rules import (
    EventCounter,
    EventLayout,
    Storage,
    allocate,
    block_results,
    host_block,
    output_cores,
    param_block,
)
from hwsim.backends.lava.models.core import (
    COUNT,
    FLAGS,
    HEADER,
    HOST_INPUTS,
    NO_STAGE,
    PHASE,
    RECORD,
    RESTART_ERRORS,
    SCALE,
    STAGE,
    START_SEQUENCE,
    WEIGHTS_CHANGED,
    CoreProcess,
    CoreWiring,
    Segment,
    Sequencer,
    SequencerModel,
    core_classes,
    var_name,
)
from hwsim.backends.protocol import BlockOutput, ExecutionOptions
from hwsim.counters import FIELDS, WORK_KINDS

#: the run configuration every Lava backend runs under (the name printed by the CLI)
RUN_CONFIG = "Loihi2SimCfg(select_tag='floating_pt')"


class LavaProcessError(RuntimeError):
    """A ProcessModel raised; the Lava runtime has been torn down."""


def _wiring(artifact: Artifact, lanes: int, options: ExecutionOptions, outputs: int) -> list[CoreWiring]:
    """Port segments per pair of connected cores, host stream columns, output cores."""
    program = artifact.program
    ch = program.channels
    widths: dict[tuple[int, int], int] = {}
    out_ports: dict[int, dict[int, dict[int, Segment]]] = {c.core: {} for c in program.cores}
    in_ports: dict[int, dict[int, list[Segment]]] = {c.core: {} for c in program.cores}
    hops = np.asarray(artifact.placement_arrays["hops"])
    layout_dest = {d.channel: d for groups in EventLayout.of(program, hops).groups.values()
                   for g in groups for d in g.destinations}
    for cid in np.flatnonzero(ch.src != HOST):
        cid = int(cid)
        src, dst, length = int(ch.src[cid]), int(ch.dst[cid]), int(ch.length[cid])
        offset = widths.get((src, dst), 0)
        widths[(src, dst)] = offset + length
        segment = Segment(offset, length, layout_dest[cid])
        out_ports[src].setdefault(dst, {})[cid] = segment
        in_ports[dst].setdefault(src, []).append(segment)
    settings = program.settings
    target_width = 1 if settings.loss == "cross_entropy" else settings.outputs
    host_columns = {"u": (0, settings.inputs), "target": (settings.inputs, settings.inputs + target_width),
                    "mask": (settings.inputs + target_width, settings.inputs + target_width + 1)}
    top = {c.core for c in output_cores(program)}
    thresholds = options.resolved_thresholds(program)
    return [CoreWiring(c.core, lanes, Storage.of(program, c.core, options.number_format, options.formats),
                       bool(options.dense), thresholds,
                       out_ports[c.core], in_ports[c.core], widths, host_columns, c.core in top)
            for c in program.cores]


class LavaBackend:
    """One artifact's program for ``lanes`` sequences in lockstep, as Lava processes."""

    name = "lava"
    counts = True
    run_config = RUN_CONFIG

    def __init__(self, artifact: Artifact, lanes: int, options: ExecutionOptions | None = None) -> None:
        options = options or ExecutionOptions()
        self.artifact = artifact
        self.program = program = artifact.program
        self._bound = bound_buffers(program)
        self.lanes = int(lanes)
        if self.lanes < 1:
            raise ValueError("lanes must be at least 1")
        self.options = options
        self.optimizer_steps = 0
        self.counter = EventCounter(self.lanes, len(program.cores))
        self.outputs_width = max(c.stop for c in output_cores(program))
        settings = program.settings
        host_width = settings.inputs + (1 if settings.loss == "cross_entropy" else settings.outputs) + 1
        self.command_width = HEADER + self.lanes * host_width
        self._pending_flags = 0
        self._seen = [np.zeros(0)] * len(program.cores)  # last ledger counts read, per core
        self._cache: dict[tuple[int, str], np.ndarray] = {}
        self._failed: str | None = None
        self._build(artifact, options)
        self._start()

    # -- the process graph ---------------------------------------------------------------------
    def _build(self, artifact: Artifact, options: ExecutionOptions) -> None:
        program = self.program
        layout = EventLayout.of(program, np.asarray(artifact.placement_arrays["hops"]))
        rows = 1 + sum(p.repeat * p.stages for p in program.phases)
        self.sequencer = Sequencer(rows=rows, width=self.command_width, name="sequencer")
        self.cores: list[CoreProcess] = []
        # keyed by process instance: Lava's compiler then takes these models as they are,
        # without executing the modules beside the Process class to look for others
        models: dict[object, type] = {self.sequencer: SequencerModel}
        for core, wiring in zip(program.cores, _wiring(artifact, self.lanes, options, self.outputs_width),
                                strict=True):
            memory = allocate(core, self.lanes)
            store = Storage.of(program, core.core, options.number_format, options.formats)
            for buf in core.buffers.values():
                block = param_block(artifact.params, buf)
                if block is not None:
                    memory[buf.name][...] = store(buf.name, block)
            process_class, model_class = core_classes(core.core, sorted(wiring.in_ports),
                                                      sorted(wiring.out_ports), list(core.buffers))
            process = process_class(program=program, layout=layout, wiring=wiring, memory=memory,
                                    command_width=self.command_width, outputs=self.outputs_width)
            models[process] = model_class
            self.cores.append(process)
        for process in self.cores:
            self.sequencer.command.connect(process.command)
            src = process.proc_params["wiring"].core
            for dst in process.proc_params["wiring"].out_ports:
                getattr(process, f"to_{dst}").connect(getattr(self.cores[dst], f"from_{src}"))
        self._run_cfg = Loihi2SimCfg(select_tag="floating_pt", exception_proc_model_map=models)

    def _start(self) -> None:
        """Compile the graph, fork the workers and run one delivery-only step (so that every
        later ``Var.set`` finds a started runtime)."""
        before = set(multiprocessing.active_children())
        try:
            self.sequencer.create_runtime(run_cfg=self._run_cfg)
            self._runtime = self.sequencer.runtime
            self.sequencer.run(condition=RunSteps(num_steps=1))
        except Exception:
            self._workers = [p for p in multiprocessing.active_children() if p not in before]
            self._teardown()
            raise
        self._workers = [p for p in multiprocessing.active_children() if p not in before]
        self._finalizer = weakref.finalize(self, _stop, self._runtime)
        self._collect()

    @property
    def processes(self) -> int:
        """Lava processes in the graph (one per core and the sequencer)."""
        return len(self.cores) + 1

    def close(self) -> None:
        """Stop the Lava runtime (idempotent)."""
        if self._failed is None and hasattr(self, "_finalizer"):
            self._finalizer()

    def __enter__(self) -> LavaBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running a script ----------------------------------------------------------------------
    def _script(self, rows: list[np.ndarray]) -> None:
        """Run the rows (the last one delivery-only) and collect counts and outputs."""
        if self._failed is not None:
            raise LavaProcessError(f"the Lava runtime stopped after an earlier failure: {self._failed}")
        script = np.zeros((self.sequencer.script.shape[0], self.command_width))
        script[:, STAGE] = NO_STAGE
        script[:len(rows)] = np.stack(rows)
        self.sequencer.script.set(script)
        self._cache.clear()
        try:
            self.sequencer.run(condition=RunSteps(num_steps=len(rows)))
        except Exception as exc:  # Lava says only "1 Exception(s) occurred"
            raise self._failure(exc) from None
        return self._collect()

    def _row(self, phase: int = -1, stage: float = NO_STAGE, *, scale: float = 0.0, record: bool = False,
             host: np.ndarray | None = None) -> np.ndarray:
        row = np.zeros(self.command_width)
        row[PHASE], row[STAGE], row[SCALE], row[COUNT] = phase, stage, scale, self.optimizer_steps
        row[RECORD] = float(record)
        row[FLAGS] = self._pending_flags
        self._pending_flags = 0
        if host is not None:
            row[HEADER:] = host.ravel()
        return row

    def _phase_rows(self, phase: Phase, scale: float = 0.0, record_outputs: bool = False) -> list[np.ndarray]:
        index = self.program.phases.index(phase)
        rows = []
        for r in range(phase.repeat):
            for stage in range(phase.stages):
                last = r == phase.repeat - 1 and stage == phase.stages - 1
                rows.append(self._row(index, stage, scale=scale, record=record_outputs and last and phase.outputs))
        return rows

    def _optimizer_rows(self, phases: list[Phase], scale: float) -> list[np.ndarray]:
        if not phases:
            return []
        self.optimizer_steps += 1
        rows = [row for phase in phases for row in self._phase_rows(phase, scale)]
        self._pending_flags |= WEIGHTS_CHANGED
        return rows

    def _collect(self) -> tuple[np.ndarray, np.ndarray]:
        """Every core's ledger: new counts into the host counter; the loss and outputs the
        output cores recorded (summed: each holds its slice)."""
        lanes, cores = self.lanes, len(self.program.cores)
        n_rows = (lanes + 1) * cores * len(FIELDS)
        n_kind = len(WORK_KINDS) * len(FIELDS)
        loss = np.zeros(lanes)
        outputs = np.zeros((lanes, self.outputs_width))
        for k, process in enumerate(self.cores):
            ledger = process.ledger.get()
            counts = np.rint(ledger[:n_rows + n_kind]).astype(np.int64)
            seen = self._seen[k] if self._seen[k].size else np.zeros_like(counts)
            new = counts - seen
            self._seen[k] = counts
            self.counter.add(new[:n_rows].reshape(lanes + 1, cores, len(FIELDS)),
                             new[n_rows:].reshape(len(WORK_KINDS), len(FIELDS)))
            if process.proc_params["wiring"].output:
                tail = ledger[n_rows + n_kind:].reshape(lanes, 1 + self.outputs_width)
                loss += tail[:, 0]
                outputs += tail[:, 1:]
        return loss, outputs

    # -- the protocol ----------------------------------------------------------------------------
    def run(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, *, train: bool,
            reset: bool = False, apply_end: bool = False, scale: float = 1.0) -> BlockOutput:
        """See ``hwsim.backends.protocol.Backend.run``: one script per time step."""
        inputs, targets, mask = host_block(inputs, targets, mask, self.lanes)
        steps = inputs.shape[0]
        loss, outputs, step_counts = block_results(steps, self.lanes, self.outputs_width)
        before = self.counter.row_totals()
        if reset:
            self.reset()
        for t in range(steps):
            rows: list[np.ndarray] = []
            if train and not (t == 0 and reset):
                self._pending_flags |= RESTART_ERRORS
            self._pending_flags |= HOST_INPUTS
            host = np.concatenate([inputs[t], targets[t], mask[t][:, None]], axis=1)
            first = True
            for phase in self.program.phases_when("step"):
                if phase.train_only and not train:
                    continue
                for row in self._phase_rows(phase, record_outputs=True):
                    if first:
                        row[HEADER:] = host.ravel()
                        first = False
                    rows.append(row)
            if train and np.any(mask[t] != 0.0):
                rows += self._optimizer_rows(self.program.phases_when("step_with_loss"), scale)
            if t == steps - 1 and apply_end:
                rows += self._optimizer_rows(self.program.phases_when("sequence_end"), scale)
            final = self._row(host=host if first else None)
            rows.append(final)
            loss[t], outputs[t] = self._script(rows)
            after = self.counter.row_totals()
            step_counts[t] = after - before
            before = after
        if steps == 0 and apply_end:
            self.apply(scale)
        return BlockOutput(loss, outputs, step_counts)

    def reset(self) -> None:
        """The ``sequence_start`` phases, then the hardware's reset of every core."""
        rows = [row for phase in self.program.phases_when("sequence_start") for row in self._phase_rows(phase)]
        self._pending_flags |= START_SEQUENCE
        self._script(rows + [self._row()])

    def apply(self, scale: float) -> None:
        """The ``sequence_end`` phases (the optimizer step)."""
        rows = self._optimizer_rows(self.program.phases_when("sequence_end"), scale)
        if rows:
            self._script(rows + [self._row()])

    # -- reading ----------------------------------------------------------------------------------
    def buffer(self, core: int, name: str) -> np.ndarray:
        """A buffer's current value, read from its Var (cached until the next run)."""
        key = (core, name)
        if key not in self._cache:
            if self._failed is not None:
                raise LavaProcessError(f"the Lava runtime stopped after an earlier failure: {self._failed}")
            buf = self.program.cores[core].buffers[name]
            shape = (self.lanes, *buf.shape) if buf.per_lane else buf.shape
            self._cache[key] = getattr(self.cores[core], var_name(name)).get().reshape(shape)
        return self._cache[key]

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
        """Parameters (stored in the number format, as when the graph was built), the feedback
        copies as they were, optimizer moments into the buffers bound to them and the optimizer
        step count, by ``Var.set``; every sigma-delta accumulator recomputes at its next use."""
        for core in self.program.cores:
            store = Storage.of(self.program, core.core, self.options.number_format, self.options.formats)
            for buf in core.buffers.values():
                block = param_block(params, buf)
                if block is not None:
                    self._set(core.core, buf.name, np.asarray(store(buf.name, block), dtype=np.float64))
        for core, buf, block in restored_blocks(self.program, optimizer_state, copies):
            self._set(core, buf.name, block)
        self.optimizer_steps = int(optimizer_steps)

    def load_shared(self, other: LavaBackend) -> None:
        """Take the other backend's shared buffers and optimizer step count (``Var.set`` on
        every shared buffer; every sigma-delta accumulator recomputes at its next use)."""
        if not isinstance(other, LavaBackend) or other.program is not self.program and (
                other.artifact.program.to_dict() != self.program.to_dict()):
            raise ValueError("load_shared needs a Lava backend of the same program")
        if other.options.number_format != self.options.number_format:
            raise ValueError("backends of different number formats")
        for core in self.program.cores:
            for buf in core.buffers.values():
                if not buf.per_lane:
                    self._set(core.core, buf.name, other.buffer(core.core, buf.name))
        self.optimizer_steps = other.optimizer_steps

    def _set(self, core: int, name: str, value: np.ndarray) -> None:
        """One buffer of one core, by ``Var.set``: the weights may have changed, so the cached
        reads go and every sigma-delta accumulator recomputes at its next use."""
        getattr(self.cores[core], var_name(name)).set(value.reshape(value.shape or (1,)))
        self._cache.clear()
        self._pending_flags |= WEIGHTS_CHANGED

    # -- counts -------------------------------------------------------------------------------------
    def take_counts(self) -> np.ndarray:
        return self.counter.take()

    def take_work_counts(self) -> np.ndarray:
        return self.counter.take_by_kind()

    def core_totals(self) -> np.ndarray:
        return self.counter.totals + self.counter.rows.sum(axis=0)

    # -- failures ---------------------------------------------------------------------------------
    def _failure(self, exc: Exception) -> LavaProcessError:
        """What failed, from the workers' tracebacks; then tear the runtime down."""
        cores, others = [], []
        infrastructure = getattr(self._runtime, "_messaging_infrastructure", None)
        for actor in getattr(infrastructure, "actors", []):
            failure = actor.exception
            if failure:
                match = re.search(r"CoreFailure: (.*)", failure[1])
                if match:
                    cores.append(match.group(1))
                else:  # a worker that fell over because a neighbour died
                    others.append(failure[1].strip().splitlines()[-1])
        self._failed = "; ".join(cores or others) or f"{type(exc).__name__}: {exc}"
        self._teardown()
        return LavaProcessError(f"Lava process failed: {self._failed} (runtime torn down)")

    def _teardown(self) -> None:
        """Release the runtime without ``stop()`` (which blocks after a failure): shut its
        message infrastructure and watchdog down and reap every worker it forked."""
        runtime = getattr(self, "_runtime", None)
        if hasattr(self, "_finalizer"):
            self._finalizer.detach()
        if runtime is not None:
            runtime._is_started = False  # its __del__ would call stop()
            for part in (getattr(runtime, "_messaging_infrastructure", None),
                         getattr(runtime, "_watchdog_manager", None)):
                try:
                    if part is not None:
                        part.stop()
                except Exception:  # already down with the failed workers
                    pass
        for worker in getattr(self, "_workers", []):
            try:
                if worker.is_alive():
                    worker.terminate()
                worker.join(timeout=5)
            except ValueError:  # closed: Lava already joined it
                pass


def _stop(runtime: object) -> None:
    """Stop a healthy runtime (finalizer: at close, garbage collection or exit)."""
    if getattr(runtime, "_is_started", False):
        runtime.stop()
