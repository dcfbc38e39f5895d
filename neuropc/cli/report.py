"""``neuropc report scaling``: cost and memory against sequence length, tPC-RTRL vs BPTT."""

from __future__ import annotations

import json
from pathlib import Path

import click

from neuropc.cli.errors import user_errors
from neuropc.cli.simulate import parse_threshold
from neuropc.errors import NeuropcError


def _lengths(text: str) -> list[int]:
    """``--lengths 10,100,1000``: every item a whole number of steps (an empty item, as in
    ``10,,100``, is a typo, not something to skip)."""
    parts = [part.strip() for part in text.split(",")]
    if any(not part for part in parts):
        raise NeuropcError(f"--lengths {text!r}: an empty item; expected comma-separated whole numbers, "
                           "e.g. 10,100,1000")
    try:
        lengths = [int(part) for part in parts]
    except ValueError:
        raise NeuropcError(f"--lengths {text!r}: expected comma-separated whole numbers, e.g. 10,100,1000") from None
    if not lengths or min(lengths) < 1:
        raise NeuropcError(f"--lengths {text!r}: every length must be a positive number of steps")
    if max(lengths) > 1_000_000:
        raise NeuropcError(f"--lengths {text!r}: lengths above 1,000,000 steps are not simulated")
    return lengths


def measured_counts_at(spec_path: Path, threshold: float | dict[str, float] | None):
    """A function T -> hwsim WorkCounts of one training sequence of length T (batch 1).

    The task resizes itself so a sequence has exactly T steps (``TaskSpecBase.resized``; the
    copy task keeps its digits and stretches the delay); the program is compiled once per
    length (the task shapes nothing in it).
    """
    from compiler.pipeline import compile_artifact
    from hwsim.counters import WorkCounts
    from hwsim.runner import simulate
    from neuropc.cli.inputs import load_checked_spec

    spec = load_checked_spec(spec_path, ("compile",))

    def counts_at(length: int) -> WorkCounts:
        sized = spec.with_overrides({"task": spec.task.resized(length).model_dump(),
                                     "run.steps": 1, "run.batch": 1, "run.eval_every": 1,
                                     "run.eval_sequences": 1})
        result = simulate(compile_artifact(sized), threshold=threshold, spec=sized)
        return WorkCounts.total(result.training_counts())

    return spec, counts_at


@click.group()
def report() -> None:
    """Reports built on hwsim counts and the cost profiles."""


@report.command()
@click.argument("spec_path", metavar="NET.YAML", type=click.Path(path_type=Path))
@click.option("--lengths", default="10,100,1000,10000", show_default=True, help="Sequence lengths T.")
@click.option("--profile", "chip_name", help="Neuromorphic cost profile (default: the target's).")
@click.option("--vs", "conventional_name", default="gpu-h100", show_default=True,
              help="Conventional cost profile for BPTT.")
@click.option("--threshold", metavar="T|activity=A,error=E",
              help="Event threshold, one or per population (default: the spec's).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder for scaling.json and scaling.png.")
@click.option("--force", is_flag=True, help="Replace scaling.json and scaling.png an earlier report wrote.")
@user_errors
def scaling(spec_path: Path, lengths: str, chip_name: str | None, conventional_name: str,
            threshold: str | None, out_dir: Path, force: bool) -> None:
    """How energy and memory per training sequence grow with T (BPTT's memory grows, tPC-RTRL's not)."""
    from hwsim import scaling as scaling_view
    from hwsim.costs import load_profile
    from hwsim.energy_report import TARGET_PROFILES
    from neuropc.atomic_files import atomic_write
    from neuropc.cli.inputs import check_output_file, is_neuropc_png, is_scaling_json, named_value
    from neuropc.reference.network import Architecture

    values = _lengths(lengths)
    named_value("--profile", chip_name)
    named_value("--vs", conventional_name)
    if out_dir.exists() and not out_dir.is_dir():
        raise NeuropcError(f"--out {out_dir}: exists and is not a folder")
    threshold_value = parse_threshold(threshold)
    spec, counts_at = measured_counts_at(spec_path, threshold_value)
    for length in values:  # refuse lengths the task cannot make before simulating any
        try:
            spec.task.resized(length)
        except ValueError as err:
            raise NeuropcError(f"--lengths {lengths!r}: {err}") from None
    target = spec.hardware.target if spec.hardware else "loihi2"
    chip = load_profile(chip_name if chip_name is not None else TARGET_PROFILES.get(target, "loihi2-estimate"))
    conventional = load_profile(conventional_name)
    if out_dir.is_dir():  # refuse before measuring: a missing folder is created at the end
        check_output_file(out_dir / "scaling.json", "--out", force=force, ours=is_scaling_json,
                          what="scaling report", inputs=(spec_path,))
        check_output_file(out_dir / "scaling.png", "--out", force=force, ours=is_neuropc_png,
                          what="scaling plot", inputs=(spec_path,))
    from hwsim.runner import overlay_thresholds
    from neuropc.spec.schema import HardwareSpec

    overlay_thresholds((spec.hardware or HardwareSpec()).event_threshold, threshold_value)  # before measuring
    rows = scaling_view.scaling_rows(Architecture.from_spec(spec), values, 1, counts_at, chip, conventional)
    click.echo(scaling_view.render(rows, chip.name, conventional.name))
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"spec": str(spec_path), "chip_profile": chip.name, "conventional_profile": conventional.name,
                "batch": 1, "rows": [row.as_dict() for row in rows]}
    atomic_write(out_dir / "scaling.json", json.dumps(document, indent=2) + "\n")
    scaling_view.plot(rows, chip.name, conventional.name, out_dir / "scaling.png")
    click.echo(f"wrote {out_dir / 'scaling.json'} and {out_dir / 'scaling.png'}")
