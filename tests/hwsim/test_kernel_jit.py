"""How kernels are compiled (``hwsim.kernels.jit``): numpy's error model, so that a loop with a
division vectorises and a division by zero gives what numpy gives."""

from __future__ import annotations

import math

import numpy as np

from hwsim.kernels import jit


def _divide(a: float, b: float) -> float:
    return a / b


def test_a_division_by_zero_gives_numpys_answer_not_an_exception() -> None:
    for decorator in (jit.entry, jit.record_entry):
        divide = decorator(_divide)
        assert divide(1.0, 0.0) == math.inf
        assert divide(-1.0, 0.0) == -math.inf
        assert math.isnan(divide(0.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.float64(1.0) / np.float64(0.0) == math.inf


def test_the_kernels_level_holds_inside_and_the_one_found_is_restored_after(monkeypatch) -> None:
    from numba.core import config

    monkeypatch.delenv("NUMBA_OPT", raising=False)
    found = config.OPT
    with jit.kernel_optimisation():
        assert int(config.OPT) == jit.OPT_LEVEL
        with jit.kernel_optimisation():  # re-entrant, as the engine nests it
            assert int(config.OPT) == jit.OPT_LEVEL
        assert int(config.OPT) == jit.OPT_LEVEL
    assert config.OPT is found
    monkeypatch.setenv("NUMBA_OPT", "1")  # the user's choice is left alone
    with jit.kernel_optimisation():
        assert config.OPT is found


def test_compile_for_compiles_the_specialisation_a_call_then_uses() -> None:
    """The engine compiles ``execute`` for its arguments before its worker threads call it; a
    call must find that specialisation rather than compile one of its own."""
    divide = jit.entry(_divide)
    jit.compile_for(divide, np.float64(1.0), 2.0)
    assert len(divide.overloads) == 1
    assert divide(np.float64(3.0), 4.0) == 0.75
    assert len(divide.overloads) == 1


def test_an_engine_trains_on_the_one_execute_it_compiled_for_itself() -> None:
    """Two worker threads, two training batches: one specialisation of ``execute`` is all
    there is for this engine's argument types (in a process of its own, where no other test
    compiled one)."""
    import subprocess
    import sys
    from pathlib import Path

    from numba.core import config

    code = ("import numpy as np; from neuropc.spec import load_spec; from compiler.pipeline import "
            "compile_artifact; from hwsim.engine import Engine; from hwsim.runner import train_batch; "
            "from neuropc.tasks import task_from_spec; from hwsim import kernels as K; from numba.core import config; "
            "s = load_spec('examples/copy.yaml').with_overrides({'recurrent.size': 4, 'readout.hidden': [3]}); "
            "e = Engine(compile_artifact(s), 4, threads=2); "
            "b = task_from_spec(s.task).sample(np.random.default_rng(0), 4); "
            "train_batch(e, b); train_batch(e, b); print(len(K.execute.overloads), int(config.OPT))")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", str(int(config.OPT))]  # one specialisation; the level restored


def test_the_engine_compiles_its_kernels_under_the_kernels_level(monkeypatch) -> None:
    """``refresh`` when the engine is built, ``execute`` once, at its first call (before its
    worker threads start), each with the records and arguments it then runs on."""
    from pathlib import Path

    from numba.core import config

    import hwsim.engine
    from compiler.pipeline import compile_artifact
    from hwsim import kernels as K
    from hwsim.runner import train_batch
    from neuropc.spec import load_spec
    from neuropc.tasks import task_from_spec

    monkeypatch.delenv("NUMBA_OPT", raising=False)
    compiled = []

    def recording(dispatcher, *args):
        compiled.append((dispatcher, int(config.OPT), len(args)))
        jit.compile_for(dispatcher, *args)

    monkeypatch.setattr(hwsim.engine, "compile_for", recording)
    root = Path(__file__).resolve().parents[2]
    spec = load_spec(root / "examples" / "copy.yaml").with_overrides({"recurrent.size": 4, "readout.hidden": [3]})
    engine = hwsim.engine.Engine(compile_artifact(spec), 4, threads=2)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(0), 4)
    train_batch(engine, batch)
    train_batch(engine, batch)
    assert compiled == [(K.refresh, jit.OPT_LEVEL, 2), (K.execute, int(config.OPT), 11)]
