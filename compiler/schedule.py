"""Scheduling: the ops every core runs in every phase, and the channels between cores.

The schedule is a transcription of ``neuropc.reference.temporal.TemporalLearner.step`` into
per-core ops that touch only the core's own slice (docs/compiler.md gives the line-by-line
correspondence). It does not depend on where cores are placed, which is why placement can
weigh routes by the traffic measured here.

Stage layout (L = index of the output layer, value layers 0..L-1):

* predict: layer l computes its prediction at stage l and sends its activity up; the output
  layer computes logits at stage L, then the softmax normaliser in stages L..L+4 (partials to
  the root slice, global max back, partial sums to the root, log-normaliser back, errors).
* infer (repeated K times): stage 0 errors go down the feedback copies; stage 1 value nodes
  relax; with fixed predictions the errors are recomputed locally at once, otherwise the
  new activity goes up and predictions, the softmax and errors are recomputed from stage 2.
* backprop (spatial-bp): the output sends its error at stage 0, value layer l turns what it
  receives into its error at stage L - l and sends it on.
* learn: stage 0 the final errors go down once more (the feedback copies learn from them),
  stage 1 traces advance and every core accumulates its weight updates.
* advance: the LRU carries its state. reset and apply run at sequence boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.graph import Layer, NetworkGraph
from compiler.layout import ROOT, RuleFacts, slice_buffers
from compiler.partition import LayerPlan
from compiler.program import (
    ACCUMULATOR,
    HOST,
    Buffer,
    Channels,
    CoreProgram,
    LayerFacts,
    Op,
    OptimizerSettings,
    Phase,
    Program,
    ProgramSettings,
    RunDefaults,
    TaskContract,
)
from compiler.targets import ResourceTable

#: the delta-coding population of every channel kind: activities, and the errors with the
#: softmax normaliser scalars that scale the output error (host streams are not thresholded)
THRESHOLD_GROUPS = {"activity": "activity", "error": "error", "reduce": "error",
                    "broadcast": "error", "input": "host", "target": "host", "mask": "host"}


@dataclass(frozen=True)
class RunContext:
    """What the program carries about the run besides the network: the task, the run's
    defaults, the delta-coding thresholds and the number format."""

    task: TaskContract
    run: RunDefaults
    thresholds: dict[str, float]
    number_format: str = "float64"


#: Adam constants: the defaults of neuropc.reference.optim.Optimizer (a test keeps them equal).
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


class ChannelBuilder:
    """Collects channels as numpy blocks; ids are assigned in creation order."""

    def __init__(self) -> None:
        self.columns: dict[str, list[np.ndarray]] = {
            c: [] for c in ("src", "dst", "src_buffer", "src_start", "dst_buffer", "dst_start",
                            "length", "kind")}
        self.names: dict[str, int] = {}
        self.count = 0

    def _name(self, name: str) -> int:
        return self.names.setdefault(name, len(self.names))

    def add(self, src: int, dst: np.ndarray, src_buffer: str, src_start: int,
            dst_buffer: str, dst_start: np.ndarray | int, length: int,
            kind: str) -> tuple[int, int]:
        """Channels from one source range to many destinations; returns their id range."""
        dst = np.asarray(dst, dtype=np.int64)
        k = dst.shape[0]
        col = self.columns
        col["src"].append(np.full(k, src, dtype=np.int64))
        col["dst"].append(dst)
        col["src_buffer"].append(np.full(k, self._name(src_buffer), dtype=np.int64))
        col["src_start"].append(np.full(k, src_start, dtype=np.int64))
        col["dst_buffer"].append(np.full(k, self._name(dst_buffer), dtype=np.int64))
        col["dst_start"].append(np.broadcast_to(np.asarray(dst_start, dtype=np.int64),
                                                (k,)).copy())
        col["length"].append(np.full(k, length, dtype=np.int64))
        col["kind"].append(np.full(k, self._name(kind), dtype=np.int64))
        first = self.count
        self.count += k
        return first, self.count

    def build(self) -> Channels:
        # int32 halves the table of a network with millions of channels
        arrays = {c: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)).astype(np.int32)
                  for c, v in self.columns.items()}
        names = sorted(self.names, key=self.names.__getitem__)
        return Channels(**arrays, names=names)


class _Core:
    """A core under construction: buffers plus ops appended per phase."""

    def __init__(self, core: int, layer: Layer, start: int, stop: int, slice_index: int,
                 buffers: dict[str, Buffer]) -> None:
        self.core, self.layer, self.start, self.stop = core, layer, start, stop
        self.slice_index = slice_index
        self.buffers = buffers
        self.phases: dict[str, list[Op]] = {}

    def op(self, phase: str, kind: str, stage: int, inputs: dict[str, Any],
           outputs: dict[str, Any], params: dict[str, Any] | None = None,
           channels: tuple[tuple[int, int], ...] = ()) -> None:
        self.phases.setdefault(phase, []).append(
            Op(kind, stage, _operands(inputs), _operands(outputs), params or {}, channels))

    def program(self) -> CoreProgram:
        phases = {p: sorted(ops, key=lambda o: o.stage) for p, ops in self.phases.items()}
        return CoreProgram(self.core, self.layer.name, self.layer.index, self.start, self.stop,
                           self.slice_index, self.buffers, phases)


def _operands(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, str) else tuple(v)) for k, v in d.items() if v is not None}


class Scheduler:
    """Builds every core's program for one partition."""

    def __init__(self, net: NetworkGraph, facts: RuleFacts, table: ResourceTable,
                 plans: list[LayerPlan], context: RunContext) -> None:
        self.net, self.facts, self.table, self.plans = net, facts, table, plans
        self.context = context
        self.L = net.output.index
        self.channels = ChannelBuilder()
        self.cores: list[list[_Core]] = []
        core_id = 0
        for plan in plans:
            row = []
            for k, (a, b) in enumerate(plan.slices):
                buffers = slice_buffers(net, facts, table, plan.layer, a, b, k, plan.cores)
                row.append(_Core(core_id, plan.layer, a, b, k, buffers))
                core_id += 1
            self.cores.append(row)
        # channel id ranges per (core, purpose), filled by _wire
        self.sends: dict[tuple[int, str], tuple[tuple[int, int], ...]] = {}

    # -- channels ------------------------------------------------------------------------
    def _ids(self, layer_index: int) -> np.ndarray:
        return np.array([c.core for c in self.cores[layer_index]], dtype=np.int64)

    def _wire(self) -> None:
        ch = self.channels
        facts = self.facts
        m = self.net.arch.inputs
        lru_ids = self._ids(0)
        ch.add(HOST, lru_ids, "u", 0, "in.u", 0, m, "input")
        for i, row in enumerate(self.cores):
            layer = row[0].layer
            for c in row:
                n = c.stop - c.start
                ranges = []
                if layer.kind != "output":  # activity up into in.act of every core above
                    dst = self._ids(i + 1)
                    for k, s in enumerate(facts.parts(layer)):
                        ranges.append(ch.add(c.core, dst, f"act{s}", 0, "in.act",
                                             c.start + k * layer.size, n, "activity"))
                    self.sends[(c.core, "up")] = tuple(ranges)
                if layer.kind != "lru":  # errors down into in.err of every core below
                    dst = self._ids(i - 1)
                    self.sends[(c.core, "down")] = (ch.add(c.core, dst, "eps", 0, "in.err",
                                                           c.start, n, "error"),)
        out = self.cores[self.L]
        out_ids = self._ids(self.L)
        if facts.loss == "cross_entropy":
            ch.add(HOST, out_ids, "target", 0, "in.target", 0, 1, "target")
        else:
            for c in out:
                ch.add(HOST, np.array([c.core]), "target", c.start, "in.target", 0,
                       c.stop - c.start, "target")
        ch.add(HOST, out_ids, "mask", 0, "in.mask", 0, 1, "mask")
        if facts.loss == "cross_entropy" and len(out) > 1:
            root = out[ROOT]
            others = out_ids[1:]
            for c in out[1:]:
                slot = c.slice_index - 1
                self.sends[(c.core, "lmax")] = (ch.add(c.core, np.array([root.core]), "lmax",
                                                       0, "in.lmax", slot, 1, "reduce"),)
                self.sends[(c.core, "lsum")] = (ch.add(c.core, np.array([root.core]), "lsum",
                                                       0, "in.lsum", slot, 1, "reduce"),)
            self.sends[(root.core, "gmax")] = (ch.add(root.core, others, "gmax", 0, "gmax", 0,
                                                      1, "broadcast"),)
            self.sends[(root.core, "logz")] = (ch.add(root.core, others, "logz", 0, "logz", 0,
                                                      1, "broadcast"),)

    def _send(self, c: _Core, phase: str, stage: int, purpose: str) -> None:
        ranges = self.sends.get((c.core, purpose))
        if ranges:
            c.op(phase, "send", stage, {}, {}, channels=ranges)

    # -- programs ------------------------------------------------------------------------
    def build(self) -> Program:
        self._wire()
        for row in self.cores:
            for c in row:
                kind = c.layer.kind
                if kind == "lru":
                    self._lru(c)
                elif kind == "hidden":
                    self._hidden(c)
                else:
                    self._output(c)
                self._apply(c)
        phases = self._phases()
        return Program(phases, [c.program() for row in self.cores for c in row],
                       self.channels.build(), self.facts.lanes, self._host_inputs(),
                       self._settings(phases))

    def _phases(self) -> list[Phase]:
        f = self.facts
        softmax = 5 if f.loss == "cross_entropy" else 1
        phases = [Phase("reset", 1, "sequence_start", 1),
                  Phase("predict", 1, "step", self.L + softmax, outputs=True)]
        if f.pc:
            # errors are exactly 0 after predict at a step without loss: inference is idle
            phases.append(Phase("infer", f.iterations, "step",
                                2 if f.fixed_prediction else 2 + softmax, train_only=True,
                                idle_without_loss=True))
        else:
            phases.append(Phase("backprop", 1, "step", self.L + 1, train_only=True))
        phases += [Phase("learn", 1, "step", 2, train_only=True), Phase("advance", 1, "step", 1),
                   Phase("apply", 1, "sequence_end" if f.update == "sequence"
                         else "step_with_loss", 1, train_only=True)]
        return phases

    def _host_inputs(self) -> dict[str, int]:
        target = 1 if self.facts.loss == "cross_entropy" else self.net.arch.outputs
        return {"u": self.net.arch.inputs, "target": target, "mask": 1}

    def _settings(self, phases: list[Phase]) -> ProgramSettings:
        f, arch, ctx = self.facts, self.net.arch, self.context
        return ProgramSettings(
            rule=f.rule, loss=f.loss, activation=f.activation, iterations=f.iterations,
            step=f.step, fixed_prediction=f.fixed_prediction, carry=f.carry, update=f.update,
            optimizer=OptimizerSettings(f.optimizer, f.lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON),
            complex=f.complex, learn_gamma=f.learn_gamma, inputs=arch.inputs,
            outputs=arch.outputs,
            layers=tuple(LayerFacts(p.layer.name, p.layer.index, p.layer.kind, p.layer.size,
                                    p.layer.parts, p.cores, self.cores[p.layer.index][0].core)
                         for p in self.plans),
            threshold_groups=dict(THRESHOLD_GROUPS), thresholds=dict(ctx.thresholds),
            number_format=ctx.number_format, task=ctx.task, run=ctx.run,
            stages_per_step=sum(p.stages * p.repeat for p in phases if p.when == "step"),
        )

    def _lru(self, c: _Core) -> None:
        f = self.facts
        S = f.parts(c.layer)
        theta = "theta" if f.complex else None
        h = [f"h{s}" for s in S]
        mu = [f"mu{s}" for s in S]
        x = [f"x{s}" for s in S]
        eps = [f"eps{s}" for s in S]
        drive = [f"drive{s}" for s in S]
        lam_args = {"nu": "nu", "theta": theta}
        for s in S:
            c.op("reset", "zero", 0, {}, {"y": f"h{s}"})
            if f.rtrl:
                c.op("reset", "zero", 0, {}, {"y": f"elam{s}"})
                c.op("reset", "zero", 0, {}, {"y": f"eB{s}"})
                if f.learn_gamma:
                    c.op("reset", "zero", 0, {}, {"y": f"egam{s}"})
        # predict
        for s in S:
            c.op("predict", "matvec", 0, {"w": f"B{s}", "x": "in.u"}, {"y": f"drive{s}"})
        c.op("predict", "lru_predict", 0,
             {"h": h, "drive": drive, **lam_args, "gamma_log": "gamma_log"}, {"mu": mu})
        for s in S:
            if f.pc:
                c.op("predict", "copy", 0, {"x": f"mu{s}"}, {"y": f"x{s}"})
                c.op("predict", "error", 0, {"value": f"x{s}", "prediction": f"mu{s}"},
                     {"eps": f"eps{s}"})
            c.op("predict", "copy", 0, {"x": f"mu{s}"}, {"y": f"act{s}"})
        self._send(c, "predict", 0, "up")
        # infer / backprop
        if f.pc:
            for s in S:
                c.op("infer", "matvec", 1, {"w": f"WT{s}", "x": "in.err"}, {"y": f"fb{s}"})
                c.op("infer", "relax", 1, {"value": f"x{s}", "eps": f"eps{s}",
                                           "drive": f"fb{s}"}, {"value": f"x{s}"},
                     {"step": f.step})
                c.op("infer", "error", 1, {"value": f"x{s}", "prediction": f"mu{s}"},
                     {"eps": f"eps{s}"})
                if f.moving_point:
                    c.op("infer", "copy", 1, {"x": f"x{s}"}, {"y": f"act{s}"})
            if f.moving_point:
                self._send(c, "infer", 1, "up")
        else:
            for s in S:
                c.op("backprop", "matvec", self.L, {"w": f"WT{s}", "x": "in.err"},
                     {"y": f"eps{s}"})
        # learn (stage 1: the final errors of the layer above arrived at stage 0)
        if f.rtrl:
            c.op("learn", "lru_trace", 1, {"trace": [f"elam{s}" for s in S], "src": h,
                                           **lam_args}, {"trace": [f"elam{s}" for s in S]})
            if f.learn_gamma:
                c.op("learn", "lru_trace", 1, {"trace": [f"egam{s}" for s in S],
                                               "src": drive, **lam_args},
                     {"trace": [f"egam{s}" for s in S]})
            c.op("learn", "lru_synapse_trace", 1,
                 {"trace": [f"eB{s}" for s in S], "u": "in.u", **lam_args,
                  "gamma_log": "gamma_log"}, {"trace": [f"eB{s}" for s in S]})
        sens_lam = [f"elam{s}" for s in S] if f.rtrl else h
        c.op("learn", "lru_lambda_credit", 1,
             {"eps": eps, "sens": sens_lam, **lam_args, "acc_nu": "acc.nu",
              "acc_theta": "acc.theta" if f.complex else None},
             {"acc_nu": "acc.nu", "acc_theta": "acc.theta" if f.complex else None})
        if f.learn_gamma:
            sens_gam = [f"egam{s}" for s in S] if f.rtrl else drive
            c.op("learn", "lru_gamma_credit", 1,
                 {"eps": eps, "sens": sens_gam, "gamma_log": "gamma_log",
                  "acc": "acc.gamma_log"}, {"acc": "acc.gamma_log"})
        acc_b = [f"acc.B{s}" for s in S]
        if f.rtrl:
            c.op("learn", "lru_input_credit", 1,
                 {"eps": eps, "trace": [f"eB{s}" for s in S], "acc": acc_b}, {"acc": acc_b})
        else:
            c.op("learn", "lru_input_credit_immediate", 1,
                 {"eps": eps, "u": "in.u", "gamma_log": "gamma_log", "acc": acc_b},
                 {"acc": acc_b})
        for s in S:
            c.op("learn", "outer_accumulate", 1,
                 {"post": f"act{s}", "pre": "in.err", "acc": f"acc.WT{s}"},
                 {"acc": f"acc.WT{s}"})
        # advance
        carried = x if f.carry == "inferred" else mu
        for src, dst in zip(carried, h, strict=True):
            c.op("advance", "copy", 0, {"x": src}, {"y": dst})

    def _hidden(self, c: _Core) -> None:
        f, i = self.facts, c.layer.index
        fn = {"fn": f.activation}
        c.op("predict", "matvec", i, {"w": "W", "x": "in.act", "bias": "b"}, {"y": "mu"})
        if f.pc:
            c.op("predict", "copy", i, {"x": "mu"}, {"y": "x"})
            c.op("predict", "error", i, {"value": "x", "prediction": "mu"}, {"eps": "eps"})
        c.op("predict", "activate", i, {"x": "mu"}, {"y": "act"}, fn)
        self._send(c, "predict", i, "up")
        if f.pc:
            self._send(c, "infer", 0, "down")
            point = "x" if f.moving_point else "mu"
            c.op("infer", "matvec", 1, {"w": "WT", "x": "in.err"}, {"y": "fb"})
            c.op("infer", "gate", 1, {"x": "fb", "point": point}, {"y": "g"}, fn)
            c.op("infer", "relax", 1, {"value": "x", "eps": "eps", "drive": "g"},
                 {"value": "x"}, {"step": f.step})
            if f.moving_point:
                c.op("infer", "activate", 1, {"x": "x"}, {"y": "act"}, fn)
                self._send(c, "infer", 1, "up")
                c.op("infer", "matvec", 2, {"w": "W", "x": "in.act", "bias": "b"}, {"y": "mu"})
            c.op("infer", "error", 2 if f.moving_point else 1,
                 {"value": "x", "prediction": "mu"}, {"eps": "eps"})
            self._send(c, "learn", 0, "down")
        else:
            stage = self.L - i
            c.op("backprop", "matvec", stage, {"w": "WT", "x": "in.err"}, {"y": "fb"})
            c.op("backprop", "gate", stage, {"x": "fb", "point": "mu"}, {"y": "eps"}, fn)
            self._send(c, "backprop", stage, "down")
        self._readout_learn(c)
        c.op("learn", "outer_accumulate", 1, {"post": "act", "pre": "in.err", "acc": "acc.WT"},
             {"acc": "acc.WT"})

    def _readout_learn(self, c: _Core) -> None:
        c.op("learn", "outer_accumulate", 1, {"post": "eps", "pre": "in.act", "acc": "acc.W"},
             {"acc": "acc.W"})
        c.op("learn", "accumulate", 1, {"x": "eps", "acc": "acc.b"}, {"acc": "acc.b"})

    def _output(self, c: _Core) -> None:
        f, L = self.facts, self.L
        c.op("predict", "matvec", L, {"w": "W", "x": "in.act", "bias": "b"}, {"y": "mu"})
        self._output_error(c, "predict", L, loss=True)
        if f.pc:
            self._send(c, "infer", 0, "down")
            if f.moving_point:
                c.op("infer", "matvec", 2, {"w": "W", "x": "in.act", "bias": "b"}, {"y": "mu"})
                self._output_error(c, "infer", 2, loss=False)
            self._send(c, "learn", 0, "down")
        else:
            self._send(c, "backprop", 0, "down")
        self._readout_learn(c)

    def _output_error(self, c: _Core, phase: str, s: int, loss: bool) -> None:
        """Output error from the logits in ``mu``; softmax normaliser via the root slice."""
        if self.facts.loss == "squared_error":
            args = {"prediction": "mu", "target": "in.target", "mask": "in.mask"}
            c.op(phase, "se_error", s, args, {"eps": "eps"})
            if loss:
                c.op(phase, "se_loss", s, args, {"loss": "loss"})
            return
        root = c.slice_index == ROOT
        many = len(self.cores[self.L]) > 1
        c.op(phase, "max", s, {"x": ["mu"]}, {"y": "lmax"})
        if not root:
            self._send(c, phase, s, "lmax")
        if root:
            c.op(phase, "max", s + 1, {"x": ["lmax", "in.lmax"] if many else ["lmax"]},
                 {"y": "gmax"})
            self._send(c, phase, s + 1, "gmax")
        c.op(phase, "sum_exp", s + 2, {"x": "mu", "shift": "gmax"}, {"y": "lsum"})
        if not root:
            self._send(c, phase, s + 2, "lsum")
        if root:
            c.op(phase, "log_sum", s + 3, {"x": ["lsum", "in.lsum"] if many else ["lsum"]},
                 {"y": "logz"})
            self._send(c, phase, s + 3, "logz")
        args = {"logits": "mu", "shift": "gmax", "logz": "logz", "target": "in.target",
                "mask": "in.mask"}
        c.op(phase, "xent_error", s + 4, args, {"eps": "eps"}, {"offset": c.start})
        if loss:
            c.op(phase, "xent_loss", s + 4, args, {"loss": "loss"}, {"offset": c.start})

    def _apply(self, c: _Core) -> None:
        f = self.facts
        for buf in list(c.buffers.values()):
            if buf.kind != ACCUMULATOR:
                continue
            name = buf.name[len("acc."):]
            if f.optimizer == "adam":
                args = {"param": name, "acc": buf.name, "m": f"m.{name}", "v": f"v.{name}"}
                c.op("apply", "apply_adam", 0, args, dict(args),
                     {"lr": f.lr, "beta1": ADAM_BETA1, "beta2": ADAM_BETA2,
                      "epsilon": ADAM_EPSILON})
            else:
                args = {"param": name, "acc": buf.name}
                c.op("apply", "apply_sgd", 0, args, dict(args), {"lr": f.lr})


def schedule(net: NetworkGraph, facts: RuleFacts, table: ResourceTable,
             plans: list[LayerPlan], context: RunContext) -> Program:
    """Per-core programs and channels for a partitioned network."""
    return Scheduler(net, facts, table, plans, context).build()
