"""Shared by the sweep tests: a small spec and sweep files around it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.neuropc.cli.bad_input_helpers import small_spec_data, write_yaml


def tiny_spec_data(steps: int = 6) -> dict:
    """The bad-input tests' small spec, training with the numpy reference in well under a second."""
    data = small_spec_data()
    data["run"].update(steps=steps, batch=4, eval_every=3, eval_sequences=8)
    return data


def write_sweep(folder: Path, sweep: dict, base: dict | None = None) -> Path:
    """``folder/net.yaml`` (the base) and ``folder/sweep.yaml`` (``base: net.yaml`` unless given)."""
    write_yaml(folder / "net.yaml", base if base is not None else tiny_spec_data())
    return write_yaml(folder / "sweep.yaml", {"base": "net.yaml", **sweep})


def metric_rows(folder: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock column (the only one that differs between runs)."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in rows]


def spec_of(folder: Path) -> dict:
    return yaml.safe_load((folder / "spec.yaml").read_text())
