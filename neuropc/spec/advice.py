"""Valid specs that will not do what their author expects: warnings, not errors.

A spec can be well formed and still train nothing. Predictive-coding inference moves an error
one value layer down per iteration, so with fewer iterations than value layers (the LRU plus
every hidden readout layer) the error never reaches the LRU: its parameters get updates that
are exactly zero, and training looks as if it ran. ``neuropc check``, ``train`` and
``simulate`` print these before they start.
"""

from __future__ import annotations

from neuropc.spec.schema import NetworkSpec


def value_layers(spec: NetworkSpec) -> int:
    """Layers whose values PC inference relaxes: the LRU state and every hidden layer."""
    return 1 + len(spec.readout.hidden)


def spec_warnings(spec: NetworkSpec) -> list[str]:
    """One sentence per problem found (empty when there is none)."""
    rule = spec.rule
    if not rule.uses_inference:
        return []
    layers = value_layers(spec)
    iterations = rule.inference.iterations
    if iterations >= layers:
        return []
    return [f"rule.inference.iterations is {iterations} but errors need {layers} iterations "
            f"to reach the LRU through {layers} value layer(s): the LRU's parameters get zero "
            f"updates and will not learn (set rule.inference.iterations: {layers} or more)"]
