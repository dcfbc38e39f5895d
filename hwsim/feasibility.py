"""Can the named chip run the program that was priced? Flags, next to every priced profile.

A cost profile names the compiler target whose programs it prices (``target: loihi``). A row
priced from a compile for another target describes no real chip (a Loihi 2 program uses Adam
and graded spikes, which Loihi 1 cannot run), so reports refuse it. Everything else the
target cannot provide, or that the counts do not reflect, is listed as a flag: the compiler's
own warnings (binary spikes counted as one message per value, assumed on-chip optimizers),
optimizers the target table marks unavailable, and counts from a float run priced as if they
came from the target's fixed-point widths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hwsim.costs import CostProfile
from neuropc.errors import NeuropcError


def target_name(target: Mapping[str, Any] | str) -> str:
    """The target's name from an artifact's target table (or the name itself)."""
    return str(target.get("name", "?")) if isinstance(target, Mapping) else str(target)


def _constant(target: Mapping[str, Any] | str, key: str) -> Any:
    if not isinstance(target, Mapping):
        return None
    value = target.get("constants", {}).get(key)
    return value.get("value") if isinstance(value, Mapping) else value


def check_target(chip: CostProfile, target: Mapping[str, Any] | str) -> None:
    """NeuropcError when ``chip`` prices another target's programs than this compile's."""
    name = target_name(target)
    if chip.target is not None and chip.target != name:
        raise NeuropcError(
            f"cost profile {chip.name!r} prices programs compiled for --target {chip.target}, but this "
            f"program was compiled for {name}; a {chip.target} row must come from a {chip.target} compile "
            f"(neuropc compile SPEC --target {chip.target}), or choose a profile for {name}")


def feasibility_flags(chip: CostProfile, target: Mapping[str, Any] | str, optimizer: str, number_format: str,
                      compiler_warnings: Sequence[str] = ()) -> list[str]:
    """Resources the priced program uses that the target cannot provide, and count caveats."""
    name = target_name(target)
    flags = [f"compiler: {warning}" for warning in compiler_warnings]
    if chip.target is not None and chip.target != name:
        flags.append(f"{chip.name} prices --target {chip.target} programs; this one was compiled for {name}")
    if _constant(target, f"optimizer_{optimizer}") == 0:
        flags.append(f"optimizer {optimizer} is not available on {name} (the target table says 0)")
    if number_format != "fixed":
        widths = ", ".join(f"{key.removesuffix('_bits')} {bits} bits" for key in
                           ("weight_bits", "trace_bits", "accumulator_bits")
                           if (bits := _constant(target, key)) is not None)
        flags.append(f"counts come from a {number_format} run; {name} holds {widths or 'its own widths'}: the "
                     f"accuracy printed is the {number_format} one (--format fixed prices the target's widths)")
    return flags
