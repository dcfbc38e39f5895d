"""bench/gpu_measure.py: the no-GPU path and the arithmetic, with fake NVML samples."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hwsim.costs import parse_profile
from tests.approx import close

PATH = Path(__file__).resolve().parents[2] / "bench" / "gpu_measure.py"


@pytest.fixture(scope="module")
def gpu_measure():
    spec = importlib.util.spec_from_file_location("gpu_measure", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_measure"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_measure"]


def test_without_a_gpu_it_says_so_exits_0_and_writes_nothing(gpu_measure, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    out = tmp_path / "measured.yaml"
    assert gpu_measure.main(["--out", str(out)]) == 0
    assert capsys.readouterr().out == ("no GPU to measure here: PyTorch is not installed; nothing measured, "
                                       "no profile written\n")
    assert not out.exists()


def test_a_torch_without_cuda_is_reported_as_such(gpu_measure, monkeypatch):
    class FakeCuda:
        @staticmethod
        def is_available() -> bool:
            return False

    fake_torch = type(sys)("torch")
    fake_torch.cuda = FakeCuda
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setitem(sys.modules, "pynvml", type(sys)("pynvml"))
    assert gpu_measure.gpu_available() == "PyTorch sees no CUDA device"


def test_energy_per_sequence_subtracts_idle_power_over_the_window(gpu_measure):
    idle = gpu_measure.idle_watts([60_000, 62_000, 64_000])  # NVML reports milliwatts
    assert idle == close(62.0)
    # 10 s window, counter 1,000,000 -> 2,500,000 mJ: 1500 J, of which 620 J idle, over 640 sequences
    window = gpu_measure.Window(1_000_000, 2_500_000, 10.0, 640)
    assert gpu_measure.joules_per_sequence(window, idle) == close((1500 - 620) / 640)
    mean, std = gpu_measure.summary([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (mean, std) == (close(3.0), close(1.5811388, rel=1e-6))
    with pytest.raises(ValueError):
        gpu_measure.joules_per_sequence(gpu_measure.Window(5, 4, 1.0, 1), idle)


def test_the_measured_profile_loads_and_is_flagged_measured(gpu_measure):
    text = gpu_measure.measured_profile("gpu-h100", "gpu-h100-measured", 61.5, 12.5e-12, 0.5e-12, "test board")
    profile = parse_profile(text)
    assert profile.name == "gpu-h100-measured"
    assert profile.constant("mac").provenance == "measured"
    assert (profile.constant("mac").low, profile.constant("mac").value, profile.constant("mac").high) == (12, 12.5, 13)
    assert profile.watts("idle_power") == close(61.5)
