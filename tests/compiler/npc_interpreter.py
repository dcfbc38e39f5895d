"""A slow, literal numpy executor of compiled programs, used as a semantic oracle in tests.

It runs each op exactly as docs/compiler.md defines it, core by core and stage by stage,
delivering channel values at the end of each stage. Nothing here knows the network: if it
reproduces ``TemporalLearner.step`` from the programs alone, the op vocabulary and the
schedule are precise enough for an event-driven simulator to do the same.
"""

from __future__ import annotations

import numpy as np

from compiler.artifact import Artifact
from compiler.program import HOST, Program, assemble_bound
from neuropc.reference import activations


class Interpreter:
    def __init__(self, program: Program, params: dict[str, np.ndarray], lanes: int) -> None:
        self.program = program
        self.lanes = lanes
        self.mem: list[dict[str, np.ndarray]] = []
        for core in program.cores:
            mem = {}
            for buf in core.buffers.values():
                shape = ((lanes, *buf.shape) if buf.per_lane else buf.shape)
                value = np.zeros(shape)
                b = buf.binding
                if b is not None and b.space == "param":
                    a = params[b.name]
                    block = a[b.rows[0]:b.rows[1]] if b.cols is None else \
                        a[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
                    value = np.array(block.T if b.transpose else block, dtype=np.float64)
                mem[buf.name] = value
            self.mem.append(mem)
        self.host: dict[str, np.ndarray] = {}
        self.scalars: dict[str, float] = {}

    # -- execution -------------------------------------------------------------------------
    def run_phase(self, name: str) -> None:
        phase = self.program.phase(name)
        if phase is None:
            return
        for _ in range(phase.repeat):
            for stage in range(phase.stages):
                pending = []
                for core in self.program.cores:
                    for op in core.phases.get(name, []):
                        if op.stage == stage:
                            pending += self._execute(core.core, op)
                for dst, buf, start, values in pending:
                    target = self.mem[dst][buf]
                    if target.ndim == 1:  # a per-lane scalar
                        target[:] = values[:, 0]
                    else:
                        target[:, start:start + values.shape[-1]] = values

    def deliver_host(self, u: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        ch = self.program.channels
        streams = {"u": u, "target": target.reshape(self.lanes, -1).astype(np.float64),
                   "mask": mask.reshape(self.lanes, 1)}
        for i in np.flatnonzero(ch.src == HOST):
            src = streams[ch.name(ch.src_buffer[i])]
            a, n = int(ch.src_start[i]), int(ch.length[i])
            dst = self.mem[int(ch.dst[i])][ch.name(ch.dst_buffer[i])]
            if dst.ndim == 1:  # per-lane scalar
                dst[:] = src[:, a]
            else:
                d = int(ch.dst_start[i])
                dst[:, d:d + n] = src[:, a:a + n]

    def step(self, u: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        self.deliver_host(u, target, mask)
        for name in ("predict", "infer", "backprop", "learn", "advance"):
            self.run_phase(name)

    def _execute(self, core: int, op) -> list:
        m = self.mem[core]
        get = m.__getitem__
        k = op.kind
        if k == "send":
            ch = self.program.channels
            out = []
            for i in op.channel_ids():
                src = get(ch.name(ch.src_buffer[i]))
                a, n = int(ch.src_start[i]), int(ch.length[i])
                values = src[:, None] if src.ndim == 1 else src[:, a:a + n]
                out.append((int(ch.dst[i]), ch.name(ch.dst_buffer[i]), int(ch.dst_start[i]),
                            values.copy()))
            return out
        i, o, p = op.inputs, op.outputs, op.params

        def cx(names) -> np.ndarray:
            names = [names] if isinstance(names, str) else list(names)
            return get(names[0]) + 1j * get(names[1]) if len(names) == 2 else get(names[0])

        def put(names, value: np.ndarray) -> None:
            names = [names] if isinstance(names, str) else list(names)
            if len(names) == 2:
                m[names[0]][...] = value.real
                m[names[1]][...] = value.imag
            else:
                m[names[0]][...] = np.real(value)

        def lam() -> np.ndarray:
            if "theta" in i:
                return np.exp(-np.exp(get(i["nu"])) + 1j * np.exp(get(i["theta"])))
            return np.exp(-np.exp(get(i["nu"])))

        if k == "zero":
            m[o["y"]][...] = 0.0
        elif k == "copy":
            m[o["y"]][...] = get(i["x"])
        elif k == "activate":
            m[o["y"]][...] = activations.value(p["fn"], get(i["x"]))
        elif k == "gate":
            m[o["y"]][...] = activations.derivative(p["fn"], get(i["point"])) * get(i["x"])
        elif k == "error":
            m[o["eps"]][...] = get(i["value"]) - get(i["prediction"])
        elif k == "matvec":
            y = get(i["x"]) @ get(i["w"]).T
            if "bias" in i:
                y = y + get(i["bias"])
            m[o["y"]][...] = y
        elif k == "relax":
            v = get(i["value"])
            m[o["value"]][...] = v - p["step"] * (get(i["eps"]) - get(i["drive"]))
        elif k == "lru_predict":
            put(o["mu"], lam() * cx(i["h"]) + np.exp(get(i["gamma_log"])) * cx(i["drive"]))
        elif k == "lru_trace":
            put(o["trace"], lam() * cx(i["trace"]) + cx(i["src"]))
        elif k == "lru_synapse_trace":
            gam = np.exp(get(i["gamma_log"]))
            put(o["trace"], lam()[:, None] * cx(i["trace"])
                + gam[:, None] * get(i["u"])[:, None, :])
        elif k == "lru_lambda_credit":
            credit = (cx(i["eps"]) * np.conj(cx(i["sens"]))).sum(axis=0)
            decay = np.exp(get(i["nu"]))
            lm = lam()
            m[o["acc_nu"]][...] += np.real(credit * np.conj(-decay * lm))
            if "acc_theta" in o:
                rot = np.exp(get(i["theta"]))
                m[o["acc_theta"]][...] += np.real(credit * np.conj(1j * rot * lm))
        elif k == "lru_gamma_credit":
            gam = np.exp(get(i["gamma_log"]))
            m[o["acc"]][...] += gam * np.real((cx(i["eps"]) * np.conj(cx(i["sens"]))).sum(0))
        elif k == "lru_input_credit":
            c = np.einsum("bn,bnm->nm", cx(i["eps"]), np.conj(cx(i["trace"])))
            self._acc_parts(m, o["acc"], c)
        elif k == "lru_input_credit_immediate":
            gam = np.exp(get(i["gamma_log"]))
            c = np.einsum("bn,bm->nm", cx(i["eps"]) * gam, get(i["u"]))
            self._acc_parts(m, o["acc"], c)
        elif k == "outer_accumulate":
            m[o["acc"]][...] += get(i["post"]).T @ get(i["pre"])
        elif k == "accumulate":
            m[o["acc"]][...] += get(i["x"]).sum(axis=0)
        elif k == "max":
            m[o["y"]][...] = np.concatenate([get(n).reshape(self.lanes, -1) for n in i["x"]],
                                            axis=1).max(axis=1)
        elif k == "sum_exp":
            m[o["y"]][...] = np.exp(get(i["x"]) - get(i["shift"])[:, None]).sum(axis=1)
        elif k == "log_sum":
            m[o["y"]][...] = np.log(np.concatenate(
                [get(n).reshape(self.lanes, -1) for n in i["x"]], axis=1).sum(axis=1))
        elif k in ("xent_error", "xent_loss"):
            logits = get(i["logits"])
            logp = (logits - get(i["shift"])[:, None]) - get(i["logz"])[:, None]
            local = get(i["target"]).astype(np.int64) - p["offset"]
            onehot = (np.arange(logits.shape[1])[None, :] == local[:, None]).astype(float)
            mask = get(i["mask"])
            if k == "xent_error":
                m[o["eps"]][...] = (onehot - np.exp(logp)) * mask[:, None]
            else:
                m[o["loss"]][...] = -(onehot * logp).sum(axis=1) * mask
        elif k == "se_error":
            m[o["eps"]][...] = -(get(i["prediction"]) - get(i["target"])) * get(i["mask"])[:, None]
        elif k == "se_loss":
            diff = get(i["prediction"]) - get(i["target"])
            m[o["loss"]][...] = 0.5 * (diff ** 2).sum(axis=1) * get(i["mask"])
        elif k == "apply_sgd":
            d = get(i["acc"]) * self.scalars["scale"]
            m[o["param"]][...] += p["lr"] * d
            m[o["acc"]][...] = 0.0
        elif k == "apply_adam":
            d = get(i["acc"]) * self.scalars["scale"]
            b1, b2, count = p["beta1"], p["beta2"], self.scalars["count"]
            mm, vv = m[o["m"]], m[o["v"]]
            mm *= b1
            mm += (1.0 - b1) * d
            vv *= b2
            vv += (1.0 - b2) * d ** 2
            m[o["param"]][...] += p["lr"] * (mm / (1.0 - b1 ** count)) / (
                np.sqrt(vv / (1.0 - b2 ** count)) + p["epsilon"])
            m[o["acc"]][...] = 0.0
        else:
            raise AssertionError(f"interpreter has no op {k}")
        return []

    @staticmethod
    def _acc_parts(m, names, value: np.ndarray) -> None:
        names = [names] if isinstance(names, str) else list(names)
        m[names[0]][...] += value.real
        if len(names) == 2:
            m[names[1]][...] += value.imag

    # -- reading results back in the reference's layout ----------------------------------
    def gather(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
               layer: int | None = None, copy: bool = False) -> np.ndarray:
        """Assemble a global array from the buffers bound to it (per-lane ones keep lanes)."""
        pieces = ((buf, self.mem[core.core][buf.name]) for core in self.program.cores
                  for buf in core.buffers.values())
        return assemble_bound(pieces, self.lanes, space, name, shape, part, layer, copy)


def interpreter_for(artifact: Artifact, lanes: int) -> Interpreter:
    return Interpreter(artifact.program, artifact.params, lanes)
