"""``neuropc compile`` and ``neuropc inspect``: the compiler's command line.

Registered on the ``neuropc`` group by ``neuropc/cli/__init__.py``. Every user error is a
NeuropcError, printed as one message with a non-zero exit status by ``user_errors``.
"""

from __future__ import annotations

from pathlib import Path

import click

from neuropc.cli.errors import user_errors
from neuropc.errors import NeuropcError


@click.command("compile")
@click.argument("spec_path", metavar="NET.yaml", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="artifact to write (default: the spec's name with .npc)")
@click.option("--target", help="hardware table to compile for (overrides hardware.target)")
@click.option("--force", is_flag=True, help="replace an existing artifact (never any other file)")
@user_errors
def compile_command(spec_path: Path, output: Path | None, target: str | None,
                    force: bool) -> None:
    """Lower NET.yaml into placed, verified per-core programs and write an .npc artifact."""
    from compiler.artifact import build_members, is_artifact, write_artifact
    from compiler.pipeline import artifact_contents, compile_spec
    from compiler.report import render_report
    from neuropc.cli.inputs import check_output_file, load_checked_spec, named_value
    from neuropc.errors import FieldProblem
    from neuropc.spec.loading import locate_problem

    named_value("--target", target)
    spec = load_checked_spec(spec_path, ("compile",), target=target)
    output = output or spec_path.with_suffix(".npc")
    if output.exists() and output.resolve() == spec_path.resolve():
        raise NeuropcError(f"{output}: the artifact would overwrite the spec; choose another -o")
    check_output_file(output, "-o", force=force, ours=is_artifact, what="neuropc artifact",
                      inputs=(spec_path,))
    try:
        compiled = compile_spec(spec, target)
    except FieldProblem as problem:
        raise locate_problem(problem, spec_path) from None
    members = build_members(**artifact_contents(compiled, spec_path.read_text(encoding="utf-8")))
    size = write_artifact(output, members, force=True)  # checked above
    click.echo(render_report(compiled.report))
    total = sum(compiled.timings.values())
    click.echo(f"wrote {output} ({size / 1e6:.1f} MB); passes took {total:.2f} s")


@click.command("inspect")
@click.argument("artifact_path", metavar="NET.npc", type=click.Path(path_type=Path))
@click.option("--core", "core", type=int, help="show this core's memory and program")
@click.option("--dot", "dot", type=click.Path(path_type=Path),
              help="write the graph in Graphviz DOT format to this file")
@click.option("--level", type=click.Choice(["network", "cores"]), default="network",
              show_default=True, help="graph for --dot: populations, or placed cores")
@click.option("--force", is_flag=True, help="replace a DOT file an earlier --dot wrote (never any other file)")
@user_errors
def inspect_command(artifact_path: Path, core: int | None, dot: Path | None,
                    level: str, force: bool) -> None:
    """Show a compiled artifact: its resource report, one core's program, or its graph."""
    from compiler.artifact import load_artifact, rendered
    from compiler.dot import cores_dot, network_dot
    from compiler.report import render_core, render_report
    from neuropc.atomic_files import atomic_write
    from neuropc.cli.inputs import DOT_HEADER, check_output_file, is_dot_file

    artifact = load_artifact(artifact_path)
    if dot is not None:
        check_output_file(dot, "--dot", force=force, ours=is_dot_file, what="DOT graph",
                          inputs=(artifact_path,))
    n = len(artifact.program.cores)
    if core is not None:
        if not 0 <= core < n:
            raise NeuropcError(f"--core {core}: the artifact has cores 0..{n - 1}")
        click.echo(rendered(artifact_path, "program.json", lambda: render_core(artifact, core)))
    if dot is not None:
        text = rendered(artifact_path, "graph.json" if level == "network" else "program.json",
                        lambda: network_dot(artifact.graph) if level == "network" else cores_dot(artifact))
        try:
            atomic_write(dot, f"{DOT_HEADER}\n{text}")
        except OSError as exc:
            raise NeuropcError(f"{dot}: cannot write: {exc.strerror}") from None
        click.echo(f"wrote {level} graph to {dot}")
    if core is None and dot is None:
        m = artifact.manifest
        report = rendered(artifact_path, "report.json", lambda: render_report(artifact.report))
        click.echo(f"{artifact_path}: neuropc artifact format {artifact.format_version}, spec "
                   f"'{m['spec_name']}', compiled {m['created']} by neuropc "
                   f"{m['neuropc_version']}")
        click.echo(report)
