"""The Lava backend beyond the conformance suite: install story, deploy CLI, failures.

Equality with native and the reference is the conformance suite's job (tests/conformance,
``LAVA_CASES``). Here: the compatibility hook leaves site-packages alone; without lava-nc the
CLI prints one line with the install command and exits 2; ``neuropc deploy`` on lava writes
the same state as on native; a failure inside a ProcessModel names the core, tears the
runtime down and leaves no worker process behind. Everything that starts Lava runs in a
subprocess under an outer timeout, because a hung Lava runtime is not interrupted by a signal
inside the test process (and would leave forked workers behind).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hwsim.backends import available_backends

ROOT = Path(__file__).resolve().parents[3]
HAS_LAVA = "lava" in available_backends()
needs_lava = pytest.mark.skipif(not HAS_LAVA, reason="lava-nc not installed (the lava extra)")


def _python(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repository root, under an outer timeout."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=_env())


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_patch_makes_instance_defaults_factories_and_leaves_other_text() -> None:
    from hwsim.backends.lava.compat import patch_source

    source = (b"@dataclass\nclass A:\n    x: ByteEncoder = ByteEncoder()\n    n: int = 3\n"
              b"    note: str = 'ByteEncoder()'\n")
    patched = patch_source(source)
    assert b"x: ByteEncoder = __import__('dataclasses').field(default_factory=ByteEncoder)" in patched
    assert b"n: int = 3" in patched and b"note: str = 'ByteEncoder()'" in patched
    assert patch_source(patched) == patched  # a fixed module is left alone


@needs_lava
def test_lava_imports_after_the_native_engine_fixed_the_start_method() -> None:
    """numba's threading layer reads (and so fixes) multiprocessing's start method; Lava sets
    it when imported. A process that ran the native engine first must still import Lava."""
    out = _python("""
        import multiprocessing
        multiprocessing.get_start_method()  # what numba's threading layer does on start-up
        import hwsim.backends.lava
        print(multiprocessing.get_start_method())
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fork"]


@needs_lava
def test_lava_imports_on_this_python_and_site_packages_keeps_its_text() -> None:
    out = _python("""
        import importlib.util, pathlib
        origin = pathlib.Path(importlib.util.find_spec("lava").submodule_search_locations[0])
        text = (origin / "magma" / "compiler" / "var_model.py").read_bytes()
        import hwsim.backends.lava
        from lava.magma.compiler.var_model import LoihiVarModel
        after = (origin / "magma" / "compiler" / "var_model.py").read_bytes()
        print(text == after, b"ByteEncoder = ByteEncoder()" in after)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_without_lava_the_cli_says_how_to_install_it(tmp_path: Path) -> None:
    """``lava`` hidden from the import system: one error line with the install command, exit 2."""
    out = _python(f"""
        import sys
        sys.modules["lava"] = None  # as if lava-nc were not installed
        from neuropc.cli import main
        main(["deploy", {str(ROOT / "examples" / "copy.yaml")!r}, "--backend", "lava",
              "--out", {str(tmp_path)!r}])
    """)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: backend 'lava' needs lava")
    assert "pip install --no-deps --ignore-requires-python lava-nc==0.10.0" in lines[0]


def _tiny_artifact(tmp_path: Path) -> Path:
    """A conformance case (a layer split over two cores) as a spec file the CLI compiles."""
    from neuropc.spec.loading import dump_spec
    from tests.conformance.cases import CASES

    path = tmp_path / "tiny.yaml"
    path.write_text(dump_spec(CASES["rtrl-split-cores-moving"]), encoding="utf-8")
    return path


@needs_lava
def test_deploy_on_lava_writes_the_state_native_reaches(tmp_path: Path) -> None:
    source = _tiny_artifact(tmp_path)
    for backend in ("lava", "native"):
        out = _python(f"""
            from neuropc.cli import main
            main(["deploy", {str(source)!r}, "--backend", {backend!r}, "--run-steps", "5",
                  "--out", {str(tmp_path / backend)!r}])
        """)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"backend {backend}:" in out.stdout
        if backend == "lava":
            assert "Loihi2SimCfg" in out.stdout
    lava, native = np.load(tmp_path / "lava" / "state.npz"), np.load(tmp_path / "native" / "state.npz")
    assert set(lava) == set(native) and len(lava) > 10
    for key in native:
        assert np.array_equal(lava[key], native[key], equal_nan=True), key


@needs_lava
def test_simulate_on_lava_trains_and_evaluates_as_native_does(tmp_path: Path) -> None:
    """The whole runner on lava (training, evaluation, run folder): the metrics and every
    counter equal native's, and every output names the backend."""
    import json

    from neuropc.spec.loading import dump_spec
    from tests.conformance.cases import tiny

    spec = tiny(**{"run.steps": 2, "run.eval_every": 1, "run.eval_sequences": 4})
    path = tmp_path / "tiny.yaml"
    path.write_text(dump_spec(spec), encoding="utf-8")
    runs = {}
    for backend in ("lava", "native"):
        out = _python(f"""
            from neuropc.cli import main
            main(["simulate", {str(path)!r}, "--backend", {backend!r}, "--out", {str(tmp_path / backend)!r}])
        """)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"on the {backend} backend" in out.stdout
        assert ("Loihi2SimCfg" in out.stdout) == (backend == "lava")
        folder = tmp_path / backend
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        counters = json.loads((folder / "counters.json").read_text())
        assert counters["backend"] == backend
        runs[backend] = ([{k: v for k, v in row.items() if k != "elapsed_s"} for row in rows],
                         counters["training"], counters["inference"])
    assert runs["lava"] == runs["native"]


@needs_lava
def test_a_failing_process_model_names_its_core_and_leaves_no_workers(tmp_path: Path) -> None:
    """An op that raises inside core 0's ProcessModel: LavaProcessError naming core 0 and the
    phase, the runtime torn down (no stop() hang), no worker process left, and the
    interpreter exits (all under the outer timeout)."""
    source = _tiny_artifact(tmp_path)
    out = _python(f"""
        import multiprocessing, os
        import numpy as np
        import compiler.op_semantics as semantics
        from neuropc.api import load_source
        from hwsim.backends import open_backend
        from hwsim.backends.lava import LavaProcessError

        def broken(operands, params, host):
            raise FloatingPointError("injected")

        semantics.SEMANTICS["lru_predict"] = broken  # inherited by the forked workers
        compiled = load_source({str(source)!r})
        backend = open_backend("lava", compiled, 1)
        pids = [p.pid for p in multiprocessing.active_children()]
        s = compiled.program.settings
        try:
            backend.run(np.zeros((1, 1, s.inputs)), np.zeros((1, 1)), np.ones((1, 1)), train=True)
        except LavaProcessError as exc:
            print("ERROR", exc)
        print("CHILDREN", len(multiprocessing.active_children()))
        print("PIDS", *pids)
    """, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert "core 0 failed in phase" in lines["ERROR"] and "FloatingPointError: injected" in lines["ERROR"]
    assert lines["CHILDREN"] == "0"
    for pid in map(int, lines["PIDS"].split()):
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(), pid


@needs_lava
def test_deploy_reports_a_failing_core_in_one_line(tmp_path: Path) -> None:
    source = _tiny_artifact(tmp_path)
    out = _python(f"""
        import compiler.op_semantics as semantics
        from neuropc.cli import main

        def broken(operands, params, host):
            raise FloatingPointError("injected")

        semantics.SEMANTICS["lru_predict"] = broken
        main(["deploy", {str(source)!r}, "--run-steps", "2", "--out", {str(tmp_path / "out")!r}])
    """, timeout=180)
    assert out.returncode == 1, (out.stdout, out.stderr[-2000:])
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "core 0 failed" in errors[0], out.stderr[-2000:]
