"""The locality verifier accepts compiled programs and rejects every kind of non-local one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from npc_specs import COPY_YAML, tiny_spec

from compiler import pipeline
from compiler.pipeline import compile_spec
from compiler.program import Op, Program
from compiler.verify import LocalityError, verify
from neuropc.cli import main


def _compiled(**overrides: object):
    # several cores per layer, so that foreign buffers and channels exist
    spec = tiny_spec(**{"hardware": {"target": "loihi2",
                                     "overrides": {"compartments_per_core": 8}}, **overrides})
    return compile_spec(spec)


def _core(program: Program, layer: str, index: int = 0):
    return [c for c in program.cores if c.layer == layer][index]


def _replace_op(core, phase: str, kind: str, **changes) -> Op:
    ops = core.phases[phase]
    k = next(i for i, op in enumerate(ops) if op.kind == kind)
    ops[k] = dataclasses.replace(ops[k], **changes)
    return ops[k]


def _verify(compiled) -> None:
    shapes = {k: v.shape for k, v in compiled.params.items()}
    verify(compiled.program, compiled.table, shapes)


def test_compiled_programs_verify() -> None:
    compiled = _compiled()
    _verify(compiled)  # no exception: the shipped schedule is local
    assert len(compiled.program.cores) > 3


def test_reading_another_cores_buffer_is_rejected() -> None:
    compiled = _compiled()
    hidden = _core(compiled.program, "hidden1")
    assert "in.u" not in hidden.buffers  # the input lives on the LRU cores only
    op = _replace_op(hidden, "predict", "matvec", inputs={"w": "W", "x": "in.u", "bias": "b"})
    assert op.inputs["x"] == "in.u"
    with pytest.raises(LocalityError, match="not in core .* memory: not local"):
        _verify(compiled)


def test_sending_on_another_cores_channel_is_rejected() -> None:
    compiled = _compiled()
    lru0, lru1 = _core(compiled.program, "lru", 0), _core(compiled.program, "lru", 1)
    theirs = next(op for op in lru1.phases["predict"] if op.kind == "send").channels
    _replace_op(lru0, "predict", "send", channels=theirs)
    with pytest.raises(LocalityError, match="whose source is core .*: not local"):
        _verify(compiled)


def test_a_channel_may_only_write_an_inbox() -> None:
    compiled = _compiled()
    ch = compiled.program.channels
    weight = ch.names.index("W") if "W" in ch.names else len(ch.names)
    if weight == len(ch.names):
        ch.names.append("W")
    first_error = int(np.flatnonzero(np.array(ch.names)[ch.kind] == "error")[0])
    ch.dst_buffer[first_error] = weight  # an error message overwriting weights
    with pytest.raises(LocalityError, match="which is not an inbox"):
        _verify(compiled)


def test_reading_an_inbox_before_delivery_is_rejected() -> None:
    # with K = 0 the final errors reach the feedback copies only in learn stage 0;
    # sending them in stage 1 instead means the updates read them before they arrive
    compiled = _compiled(**{"rule.inference.iterations": 0})
    out = _core(compiled.program, "output")
    _replace_op(out, "learn", "send", stage=1)
    with pytest.raises(LocalityError, match="reads inbox 'in.err' before every channel"):
        _verify(compiled)


def test_reading_a_register_before_it_is_written_is_rejected() -> None:
    compiled = _compiled()
    hidden = _core(compiled.program, "hidden1")
    ops = hidden.phases["predict"]
    k = next(i for i, op in enumerate(ops) if op.kind == "activate")
    ops.insert(0, dataclasses.replace(ops[k], inputs={"x": "fb"}, outputs={"y": "g"}))
    with pytest.raises(LocalityError, match="reads register 'fb' before"):
        _verify(compiled)


def test_a_missing_channel_leaves_an_inbox_unfilled() -> None:
    compiled = _compiled()
    ch = compiled.program.channels
    keep = np.ones(len(ch), dtype=bool)
    keep[-1] = False
    for col in ("src", "dst", "src_buffer", "src_start", "dst_buffer", "dst_start", "length",
                "kind"):
        setattr(ch, col, getattr(ch, col)[keep])
    with pytest.raises(LocalityError, match="not filled exactly"):
        _verify(compiled)


def test_wrong_operand_kind_and_shape_are_rejected() -> None:
    compiled = _compiled()
    hidden = _core(compiled.program, "hidden1")
    _replace_op(hidden, "predict", "matvec", inputs={"w": "WT", "x": "in.act", "bias": "b"})
    with pytest.raises(LocalityError, match="dimension"):
        _verify(compiled)
    compiled = _compiled()
    hidden = _core(compiled.program, "hidden1")
    _replace_op(hidden, "predict", "matvec", inputs={"w": "mu", "x": "in.act", "bias": "b"})
    with pytest.raises(LocalityError, match="is a compartment"):
        _verify(compiled)


def test_the_compiler_refuses_a_non_local_program(monkeypatch, tmp_path) -> None:
    real = pipeline.schedule

    def sabotaged(*args, **kwargs):
        program = real(*args, **kwargs)
        core = [c for c in program.cores if c.layer == "output"][0]
        core.phases["learn"].append(Op("outer_accumulate", 1,
                                       {"post": "eps", "pre": "in.u", "acc": "acc.W"},
                                       {"acc": "acc.W"}))
        return program

    monkeypatch.setattr(pipeline, "schedule", sabotaged)
    out = tmp_path / "net.npc"
    result = CliRunner().invoke(main, ["compile", str(COPY_YAML), "-o", str(out)])
    assert result.exit_code == 2
    assert "fails verification" in result.output and "not local" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
