"""The Lava Processes of a compiled program and their ProcessModels.

Two kinds of Process:

- ``Sequencer``: holds the script of one host call (a Var with one row per Lava time step)
  and broadcasts row k on its ``command`` port at Lava step k. It is the stage counter: a
  row names a phase and a stage (or none: a delivery-only step), the host scalars of the
  optimizer, and the event rules to apply before the stage (sequence start, error restart,
  host inputs, weights changed), with the host input values.
- ``CoreProcess``: one per core. A Var per buffer of the core (its memory), a ``ledger`` Var
  (counts so far and the recorded outputs), an InPort ``command``, and one OutPort/InPort per
  pair of cores that a channel connects (``to_<k>`` / ``from_<k>``).

Every Lava step a core model first sends what its previous stage emitted on every out-port
(zeros where nothing was sent), then receives the command and every in-port, writes what
arrived into its inboxes (the end of the previous stage), applies the command's event rules
and runs its ops of the stage. Sending before receiving is what keeps the recurrent core
graph free of deadlock; it also gives exactly the program's "delivery at the end of a stage".

A message on a port is a flat float vector ``(2, lanes, width)``: per channel value a flag
(1: a message was sent) and the value. The receiver counts messages from the flags.

Ports and Vars differ per core, and Lava pairs every Port and Var with a same-named
``LavaPyType`` class attribute of the model, so each core gets its own Process subclass and
ProcessModel subclass, built by ``core_classes`` and handed to Lava's compiler in the run
configuration's ``exception_proc_model_map`` (keyed by Process class).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hwsim.backends.core_rules import CoreRules, Delivery, Destination, EventCounter, EventLayout, Storage
from hwsim.counters import FIELDS, WORK_KINDS

# -- the command row ------------------------------------------------------------------------------
PHASE, STAGE, SCALE, COUNT, FLAGS, RECORD = range(6)
HEADER = 6
NO_STAGE = -1.0
#: event rules applied before the stage, in this order
WEIGHTS_CHANGED, START_SEQUENCE, RESTART_ERRORS, HOST_INPUTS = 1, 2, 4, 8


def var_name(buffer: str) -> str:
    """A buffer's Var name (a Python identifier, no clash with the model's own members)."""
    return "buf_" + re.sub(r"\W", "_", buffer)


@dataclass(frozen=True)
class Segment:
    """One channel's place in a port's message."""

    offset: int
    length: int
    destination: Destination


@dataclass(frozen=True)
class CoreWiring:
    """Everything a core's model needs besides its memory: the program and the event layout,
    the segments of every port, the host streams' columns and what to record."""

    core: int
    lanes: int
    store: Storage  # how each buffer stores a value (the number format)
    dense: bool
    thresholds: dict[str, float]
    out_ports: dict[int, dict[int, Segment]]  # destination core -> channel -> segment
    in_ports: dict[int, list[Segment]]  # source core -> segments
    widths: dict[tuple[int, int], int]  # (src, dst) -> values per lane on the port
    host_columns: dict[str, tuple[int, int]]  # stream -> (start, stop) in a lane's host row
    output: bool  # an output core: records loss and mu after the outputs phase


def ledger_size(lanes: int, cores: int, outputs: int) -> int:
    """Counts (lanes + 1, cores, fields), counts per kind, then per lane loss and outputs."""
    return (lanes + 1) * cores * len(FIELDS) + len(WORK_KINDS) * len(FIELDS) + lanes * (1 + outputs)


class Sequencer(AbstractProcess):
    """Broadcasts one script row per Lava step (see the module docstring)."""

    def __init__(self, rows: int, width: int, **kwargs: object) -> None:
        super().__init__(rows=rows, width=width, **kwargs)
        script = np.zeros((rows, width))
        script[:, STAGE] = NO_STAGE
        self.script = Var(shape=(rows, width), init=script)
        self.command = OutPort(shape=(width,))


@implements(proc=Sequencer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class SequencerModel(PyLoihiProcessModel):
    """Row k of the script at step k of a host call; the call's last row (no stage) ends it."""

    script: np.ndarray = LavaPyType(np.ndarray, float)
    command: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.cursor = 0

    def run_spk(self) -> None:
        row = self.script[self.cursor]
        self.command.send(row.copy())
        self.cursor = 0 if row[STAGE] == NO_STAGE else self.cursor + 1


class CoreProcess(AbstractProcess):
    """One core of the program (subclassed per core by ``core_classes``)."""

    def __init__(self, *, program: object, layout: EventLayout, wiring: CoreWiring,
                 memory: dict[str, np.ndarray], command_width: int, outputs: int, **kwargs: object) -> None:
        super().__init__(program=program, layout=layout, wiring=wiring, command_width=command_width,
                         outputs=outputs, name=f"core{wiring.core}", **kwargs)
        for name, value in memory.items():
            value = np.asarray(value, dtype=np.float64)
            setattr(self, var_name(name), Var(shape=value.shape or (1,), init=value.reshape(value.shape or (1,))))
        cores = len(program.cores)  # type: ignore[attr-defined]
        self.ledger = Var(shape=(ledger_size(wiring.lanes, cores, outputs),))
        self.command = InPort(shape=(command_width,))
        for dst in wiring.out_ports:
            setattr(self, f"to_{dst}", OutPort(shape=(2 * wiring.lanes * wiring.widths[(wiring.core, dst)],)))
        for src in wiring.in_ports:
            setattr(self, f"from_{src}", InPort(shape=(2 * wiring.lanes * wiring.widths[(src, wiring.core)],)))


class CoreFailure(RuntimeError):
    """An op or event rule raised inside a core's ProcessModel; the message names the core."""


class CoreModel(PyLoihiProcessModel):
    """Executes one core's ops stage by stage through ``CoreRules`` (see the module
    docstring for the order of one Lava step)."""

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self.program = proc_params["program"]
        self.wiring: CoreWiring = proc_params["wiring"]
        self.layout: EventLayout = proc_params["layout"]
        self.outputs_width = proc_params["outputs"]
        self.rules: CoreRules | None = None
        self.phases = [phase.name for phase in self.program.phases]
        self.where = "before its first step"

    def _setup(self) -> None:
        """Bind ``CoreRules`` to the arrays behind the Vars (writes go straight into them)."""
        w = self.wiring
        spec = self.program.cores[w.core]
        mem = {}
        for buf in spec.buffers.values():
            shape = (w.lanes, *buf.shape) if buf.per_lane else buf.shape
            mem[buf.name] = getattr(self, var_name(buf.name)).reshape(shape)
        self.counter = EventCounter(w.lanes, len(self.program.cores))
        self.rules = CoreRules(self.program, w.core, self.layout, w.lanes, store=w.store,
                               dense=w.dense, thresholds=w.thresholds, counter=self.counter, mem=mem)
        self.outbox = {dst: np.zeros((2, w.lanes, w.widths[(w.core, dst)])) for dst in w.out_ports}

    def run_spk(self) -> None:
        try:
            self._step()
        except Exception as exc:
            raise CoreFailure(f"core {self.wiring.core} failed {self.where}: "
                              f"{type(exc).__name__}: {exc}") from exc

    def _step(self) -> None:
        if self.rules is None:
            self._setup()
        rules, w = self.rules, self.wiring
        self.where = "sending"
        for dst, box in self.outbox.items():
            getattr(self, f"to_{dst}").send(box.ravel().copy())
            box[...] = 0.0
        row = self.command.recv()
        self.where = "receiving"
        for src, segments in w.in_ports.items():
            message = getattr(self, f"from_{src}").recv().reshape(2, w.lanes, -1)
            for s in segments:
                fired = message[0, :, s.offset:s.offset + s.length] > 0.5
                rules.receive(src, s.destination, fired, message[1, :, s.offset:s.offset + s.length])
        flags = int(row[FLAGS])
        if flags & WEIGHTS_CHANGED:
            rules.weights_changed()
        if flags & START_SEQUENCE:
            rules.start_sequence()
        if flags & RESTART_ERRORS:
            rules.restart_errors()
        if flags & HOST_INPUTS:
            host = row[HEADER:].reshape(w.lanes, -1)
            rules.deliver_host({name: host[:, a:b] for name, (a, b) in w.host_columns.items()})
        if row[STAGE] != NO_STAGE:
            phase, stage = self.phases[int(row[PHASE])], int(row[STAGE])
            self.where = f"in phase {phase} stage {stage}"
            emitted = rules.run_stage(phase, stage, {"scale": float(row[SCALE]), "count": float(row[COUNT])})
            for delivery in emitted:
                self._post(delivery)
        self._publish(bool(row[RECORD]) and w.output)
        self.where = "between steps"

    def _post(self, delivery: Delivery) -> None:
        """Put one send group's values and flags into the out-port of every destination."""
        for d in delivery.group.destinations:
            s = self.wiring.out_ports[d.core][d.channel]
            box = self.outbox[d.core]
            box[0, :, s.offset:s.offset + s.length] = delivery.fired
            box[1, :, s.offset:s.offset + s.length] = np.where(delivery.fired, delivery.values, 0.0)

    def _publish(self, record: bool) -> None:
        """Counts so far into the ledger Var; after the outputs phase, loss and outputs too."""
        c = self.counter
        n_rows, n_kind = c.rows.size, c.by_kind.size
        self.ledger[:n_rows] = c.rows.ravel()
        self.ledger[n_rows:n_rows + n_kind] = c.by_kind.ravel()
        if record:
            spec = self.program.cores[self.wiring.core]
            lanes = self.wiring.lanes
            tail = self.ledger[n_rows + n_kind:].reshape(lanes, 1 + self.outputs_width)
            tail[:, 0] = self.rules.mem["loss"].reshape(lanes)
            tail[:, 1:] = 0.0
            tail[:, 1 + spec.start:1 + spec.stop] = self.rules.mem["mu"]


def core_classes(core: int, in_ports: list[int], out_ports: list[int],
                 buffers: list[str]) -> tuple[type[CoreProcess], type[CoreModel]]:
    """A Process subclass for one core and its ProcessModel, with a ``LavaPyType`` for each
    of that core's Vars and ports."""
    process = type(f"Core{core}", (CoreProcess,), {"__module__": __name__})
    members: dict[str, object] = {var_name(b): LavaPyType(np.ndarray, float) for b in buffers}
    members["ledger"] = LavaPyType(np.ndarray, float)
    members["command"] = LavaPyType(PyInPort.VEC_DENSE, float)
    members.update({f"to_{k}": LavaPyType(PyOutPort.VEC_DENSE, float) for k in out_ports})
    members.update({f"from_{k}": LavaPyType(PyInPort.VEC_DENSE, float) for k in in_ports})
    members["__module__"] = __name__
    model = type(f"Core{core}Model", (CoreModel,), members)
    model = implements(proc=process, protocol=LoihiProtocol)(requires(CPU)(tag("floating_pt")(model)))
    return process, model
