"""Graphviz DOT export of a compiled network: its population graph or its placed cores."""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.artifact import Artifact
from compiler.program import HOST


def _q(text: str) -> str:
    """A DOT string literal; ``\\n`` in ``text`` stays DOT's line break."""
    return '"' + text.replace('"', '\\"') + '"'


def network_dot(graph: dict[str, Any]) -> str:
    """Populations clustered by layer (with the cores each layer occupies) and synapse groups
    labelled with their shapes."""
    lines = ["digraph network {", "  rankdir=BT;", "  node [shape=box, fontsize=10];"]
    layers = {layer["name"]: layer for layer in graph["layers"]}
    by_layer: dict[str, list[dict]] = {}
    for node in graph["nodes"]:
        by_layer.setdefault(node["layer"], []).append(node)
    for k, (layer, nodes) in enumerate(by_layer.items()):
        info = layers.get(layer)
        label = layer if info is None else f"{layer}: {info['size']} x {info['parts']}, " \
                                            f"{info['cores']} core(s)"
        lines.append(f"  subgraph cluster_{k} {{ label={_q(label)};")
        for node in nodes:
            size = f"{node['size']}" + (f" x {node['parts']}" if node["parts"] > 1 else "")
            label = _q(node["name"] + "\\n" + size)
            lines.append(f"    {_q(node['name'])} [label={label}];")
        lines.append("  }")
    for edge in graph["edges"]:
        shape = "x".join(map(str, edge["shape"]))
        label = edge["name"] + (f" {shape}" if shape else "")
        style = ", style=dashed" if edge["kind"] == "feedback" else ""
        lines.append(f"  {_q(edge['pre'])} -> {_q(edge['post'])} [label={_q(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def cores_dot(artifact: Artifact) -> str:
    """Cores clustered by chip; an edge per communicating pair, labelled messages per step."""
    program = artifact.program
    ch = program.channels
    from compiler.placement import sends_per_step  # inspect may use the compiler's passes

    arrays = artifact.placement_arrays
    messages = sends_per_step(program) * ch.length.astype(np.int64)
    inner = ch.src != HOST
    n = len(program.cores)
    key = ch.src[inner].astype(np.int64) * n + ch.dst[inner]
    uniq, inv = np.unique(key, return_inverse=True)
    weight = np.bincount(inv, weights=messages[inner])
    lines = ["digraph cores {", "  node [shape=box, fontsize=9];"]
    chips = arrays["chip"]
    for chip in np.unique(chips):
        lines.append(f"  subgraph cluster_chip{int(chip)} {{ label={_q(f'chip {int(chip)}')};")
        for core in program.cores:
            if chips[core.core] != chip:
                continue
            label = f"{core.core}: {core.layer}[{core.start}:{core.stop}]"
            lines.append(f"    c{core.core} [label={_q(label)}];")
        lines.append("  }")
    for k, w in zip(uniq, weight, strict=True):
        a, b = divmod(int(k), n)
        lines.append(f"  c{a} -> c{b} [label={_q(str(int(w)))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
