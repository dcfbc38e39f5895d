"""The op vocabulary: every kind of op a core program may hold, declared once.

Each ``OpKind`` says which roles it reads and writes, which buffer kinds may fill them and
with which shapes (the verifier proves locality and well-formedness from this), how it
affects each written buffer (``set`` overwrites, ``increment`` adds to, ``update`` reads and
rewrites in place, as nengo's operators declare them), its formula (docs/compiler.md), its
parameters, the host scalars it needs, its stable numeric ``code`` and the operand ``slot``
of every role in an encoded instruction. Executors derive their tables from here: the
numpy interpreter runs ``semantics`` (``compiler.op_semantics``), the Numba engine's
encoder takes codes and slots from ``OPS`` and a test fails if a kernel family drifts.

Shape patterns: "rc" is a matrix whose dims bind r and c; "" a per-lane scalar; "*" any;
one capital letter binds a whole shape ("S" = the same shape as the other "S" roles).
Role modes: ``one`` (a single buffer), ``parts`` (one buffer, or two for the re/im
compartments of a complex unit, used consistently within the op; it takes two slots),
``concat`` (a list of buffers read as one flat vector; it takes no slot, executors read
the list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from compiler.program import (
    ACCUMULATOR,
    COMPARTMENT,
    INBOX,
    OPTIMIZER,
    PARAM,
    REGISTER,
    STORED_KINDS,
    TRACE,
    VALUE_KINDS,
    WEIGHT,
)

Effect = Literal["set", "increment", "update"]
RoleMode = Literal["one", "parts", "concat"]
#: families group op kinds that one executor module implements (hwsim.kernels.<family>)
FAMILIES = ("elementwise", "synapse", "lru", "learn", "output", "message", "apply")
#: operand slots of an encoded instruction (a parts role takes slot and slot + 1)
SLOTS = 10


@dataclass(frozen=True)
class Role:
    """One operand of an op: the buffer kinds that may fill it, its shape pattern, its mode,
    and (for encoders) its slot."""

    kinds: tuple[str, ...]
    shape: str
    mode: RoleMode = "one"
    optional: bool = False
    slot: int | None = None  # None only for concat roles

    @property
    def width(self) -> int:
        """Slots it occupies in an encoded instruction."""
        return 0 if self.mode == "concat" else 2 if self.mode == "parts" else 1


@dataclass(frozen=True)
class OpKind:
    """Everything about one op kind that is not how a particular executor runs it fast."""

    name: str
    code: int
    family: str
    inputs: dict[str, Role]
    outputs: dict[str, Role]
    effects: dict[str, Effect]
    formula: str
    params: tuple[str, ...] = ()
    host_scalars: tuple[str, ...] = ()
    roles: dict[str, Role] = field(init=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"op {self.name}: unknown family {self.family!r}")
        if set(self.effects) != set(self.outputs):
            raise ValueError(f"op {self.name}: effects must name exactly its outputs")
        roles: dict[str, Role] = {}
        for role, spec in {**self.inputs, **self.outputs}.items():
            if role in roles and roles[role] != spec:
                raise ValueError(f"op {self.name}: role {role} declared twice differently")
            if (spec.slot is None) != (spec.mode == "concat"):
                raise ValueError(f"op {self.name}: role {role} needs a slot iff not concat")
            roles[role] = spec
        used: set[int] = set()
        for role, spec in roles.items():
            if spec.slot is None:
                continue
            cells = set(range(spec.slot, spec.slot + spec.width))
            if cells & used or max(cells) >= SLOTS:
                raise ValueError(f"op {self.name}: slot of {role} overlaps or exceeds {SLOTS}")
            used |= cells
        for role, effect in self.effects.items():
            if effect in ("increment", "update") and role not in self.inputs:
                raise ValueError(f"op {self.name}: {effect} of {role} reads it: list it as input")
        object.__setattr__(self, "roles", roles)

    @property
    def sets(self) -> tuple[str, ...]:
        return tuple(r for r, e in self.effects.items() if e == "set")

    @property
    def increments(self) -> tuple[str, ...]:
        return tuple(r for r, e in self.effects.items() if e == "increment")

    @property
    def updates(self) -> tuple[str, ...]:
        return tuple(r for r, e in self.effects.items() if e == "update")

    @property
    def reads(self) -> tuple[str, ...]:
        """Roles read and not written (written roles that are read are updates/increments)."""
        return tuple(r for r in self.inputs if r not in self.outputs)


_V = VALUE_KINDS
_OUT = (COMPARTMENT, REGISTER)


def _r(kinds: tuple[str, ...], shape: str, slot: int | None, mode: RoleMode = "one",
       optional: bool = False) -> Role:
    return Role(kinds, shape, mode, optional, slot)


def _p(kinds: tuple[str, ...], shape: str, slot: int, optional: bool = False) -> Role:
    return Role(kinds, shape, "parts", optional, slot)


_KINDS: list[OpKind] = [
    OpKind("zero", 0, "elementwise", {}, {"y": _r((COMPARTMENT, REGISTER, TRACE), "S", 0)},
           {"y": "set"}, "y = 0"),
    OpKind("copy", 1, "elementwise", {"x": _r(_V, "n", 0)}, {"y": _r(_OUT, "n", 1)},
           {"y": "set"}, "y = x"),
    OpKind("activate", 2, "elementwise", {"x": _r(_V, "n", 0)}, {"y": _r(_OUT, "n", 1)},
           {"y": "set"}, "y = f(x)", params=("fn",)),
    OpKind("gate", 3, "elementwise", {"x": _r(_V, "n", 0), "point": _r(_V, "n", 1)},
           {"y": _r(_OUT, "n", 2)}, {"y": "set"}, "y = f'(point) * x", params=("fn",)),
    OpKind("error", 4, "elementwise", {"value": _r(_V, "n", 0), "prediction": _r(_V, "n", 1)},
           {"eps": _r(_OUT, "n", 2)}, {"eps": "set"}, "eps = value - prediction"),
    OpKind("matvec", 5, "synapse",
           {"w": _r((WEIGHT,), "rc", 0), "x": _r(_V, "c", 1),
            "bias": _r((PARAM,), "r", 2, optional=True)},
           {"y": _r(_OUT, "r", 3)}, {"y": "set"}, "y = w @ x (+ bias)"),
    OpKind("relax", 6, "elementwise",
           {"value": _r((COMPARTMENT,), "n", 0), "eps": _r(_V, "n", 1), "drive": _r(_V, "n", 2)},
           {"value": _r((COMPARTMENT,), "n", 0)}, {"value": "update"},
           "value = value - step * (eps - drive)", params=("step",)),
    OpKind("lru_predict", 7, "lru",
           {"h": _p(_V, "n", 0), "drive": _p(_V, "n", 2), "nu": _r((PARAM,), "n", 4),
            "theta": _r((PARAM,), "n", 5, optional=True), "gamma_log": _r((PARAM,), "n", 6)},
           {"mu": _p(_OUT, "n", 7)}, {"mu": "set"}, "mu = lam * h + gam * drive"),
    OpKind("lru_trace", 8, "lru",
           {"trace": _p((TRACE,), "n", 0), "src": _p(_V, "n", 2), "nu": _r((PARAM,), "n", 4),
            "theta": _r((PARAM,), "n", 5, optional=True)},
           {"trace": _p((TRACE,), "n", 0)}, {"trace": "update"}, "trace = lam * trace + src"),
    OpKind("lru_synapse_trace", 9, "lru",
           {"trace": _p((TRACE,), "nm", 0), "u": _r(_V, "m", 2), "nu": _r((PARAM,), "n", 4),
            "theta": _r((PARAM,), "n", 5, optional=True), "gamma_log": _r((PARAM,), "n", 6)},
           {"trace": _p((TRACE,), "nm", 0)}, {"trace": "update"},
           "trace[i,j] = lam_i * trace[i,j] + gam_i * u_j"),
    OpKind("lru_lambda_credit", 10, "lru",
           {"eps": _p(_V, "n", 0), "sens": _p((TRACE, *_V), "n", 2), "nu": _r((PARAM,), "n", 4),
            "theta": _r((PARAM,), "n", 5, optional=True),
            "acc_nu": _r((ACCUMULATOR,), "n", 6),
            "acc_theta": _r((ACCUMULATOR,), "n", 7, optional=True)},
           {"acc_nu": _r((ACCUMULATOR,), "n", 6),
            "acc_theta": _r((ACCUMULATOR,), "n", 7, optional=True)},
           {"acc_nu": "increment", "acc_theta": "increment"},
           "c = eps * conj(sens); acc_nu += Re(c * conj(dlam/dnu)); "
           "acc_theta += Re(c * conj(dlam/dtheta))"),
    OpKind("lru_gamma_credit", 11, "lru",
           {"eps": _p(_V, "n", 0), "sens": _p((TRACE, *_V), "n", 2),
            "gamma_log": _r((PARAM,), "n", 6), "acc": _r((ACCUMULATOR,), "n", 7)},
           {"acc": _r((ACCUMULATOR,), "n", 7)}, {"acc": "increment"},
           "acc += gam * Re(eps * conj(sens))"),
    OpKind("lru_input_credit", 12, "lru",
           {"eps": _p(_V, "n", 0), "trace": _p((TRACE,), "nm", 2),
            "acc": _p((ACCUMULATOR,), "nm", 7)},
           {"acc": _p((ACCUMULATOR,), "nm", 7)}, {"acc": "increment"},
           "acc += eps_i * conj(trace_ij)"),
    OpKind("lru_input_credit_immediate", 13, "lru",
           {"eps": _p(_V, "n", 0), "u": _r(_V, "m", 2), "gamma_log": _r((PARAM,), "n", 6),
            "acc": _p((ACCUMULATOR,), "nm", 7)},
           {"acc": _p((ACCUMULATOR,), "nm", 7)}, {"acc": "increment"},
           "acc += eps_i * gam_i * u_j"),
    OpKind("outer_accumulate", 14, "learn",
           {"post": _r(_V, "r", 0), "pre": _r(_V, "c", 1), "acc": _r((ACCUMULATOR,), "rc", 2)},
           {"acc": _r((ACCUMULATOR,), "rc", 2)}, {"acc": "increment"}, "acc += outer(post, pre)"),
    OpKind("accumulate", 15, "learn",
           {"x": _r(_V, "n", 0), "acc": _r((ACCUMULATOR,), "n", 1)},
           {"acc": _r((ACCUMULATOR,), "n", 1)}, {"acc": "increment"}, "acc += x"),
    OpKind("max", 16, "output", {"x": _r(_V, "*", None, "concat")},
           {"y": _r((REGISTER,), "", 2)}, {"y": "set"}, "y = max(x)"),
    OpKind("sum_exp", 17, "output", {"x": _r(_V, "n", 0), "shift": _r(_V, "", 1)},
           {"y": _r((REGISTER,), "", 2)}, {"y": "set"}, "y = sum(exp(x - shift))"),
    OpKind("log_sum", 18, "output", {"x": _r(_V, "*", None, "concat")},
           {"y": _r((REGISTER,), "", 2)}, {"y": "set"}, "y = log(sum(x))"),
    OpKind("xent_error", 19, "output",
           {"logits": _r(_V, "n", 0), "shift": _r(_V, "", 1), "logz": _r(_V, "", 2),
            "target": _r((INBOX,), "", 3), "mask": _r((INBOX,), "", 4)},
           {"eps": _r(_OUT, "n", 5)}, {"eps": "set"},
           "eps_j = (onehot(target - offset)_j - exp((logits_j - shift) - logz)) * mask",
           params=("offset",)),
    OpKind("xent_loss", 20, "output",
           {"logits": _r(_V, "n", 0), "shift": _r(_V, "", 1), "logz": _r(_V, "", 2),
            "target": _r((INBOX,), "", 3), "mask": _r((INBOX,), "", 4)},
           {"loss": _r((REGISTER,), "", 5)}, {"loss": "set"},
           "loss = -((logits[target - offset] - shift) - logz) * mask if offset <= target < "
           "offset + n else 0", params=("offset",)),
    OpKind("se_error", 21, "output",
           {"prediction": _r(_V, "n", 0), "target": _r((INBOX,), "n", 1),
            "mask": _r((INBOX,), "", 2)},
           {"eps": _r(_OUT, "n", 5)}, {"eps": "set"}, "eps = -(prediction - target) * mask"),
    OpKind("se_loss", 22, "output",
           {"prediction": _r(_V, "n", 0), "target": _r((INBOX,), "n", 1),
            "mask": _r((INBOX,), "", 2)},
           {"loss": _r((REGISTER,), "", 5)}, {"loss": "set"},
           "loss = 0.5 * sum((prediction - target)^2) * mask"),
    OpKind("send", 23, "message", {}, {}, {},
           "deliver every listed channel at the end of the stage"),
    OpKind("apply_sgd", 24, "apply",
           {"param": _r(STORED_KINDS, "S", 0), "acc": _r((ACCUMULATOR,), "S", 1)},
           {"param": _r(STORED_KINDS, "S", 0), "acc": _r((ACCUMULATOR,), "S", 1)},
           {"param": "update", "acc": "update"},
           "d = acc * scale; param += lr * d; acc = 0", params=("lr",), host_scalars=("scale",)),
    OpKind("apply_adam", 25, "apply",
           {"param": _r(STORED_KINDS, "S", 0), "acc": _r((ACCUMULATOR,), "S", 1),
            "m": _r((OPTIMIZER,), "S", 2), "v": _r((OPTIMIZER,), "S", 3)},
           {"param": _r(STORED_KINDS, "S", 0), "acc": _r((ACCUMULATOR,), "S", 1),
            "m": _r((OPTIMIZER,), "S", 2), "v": _r((OPTIMIZER,), "S", 3)},
           {"param": "update", "acc": "update", "m": "update", "v": "update"},
           "d = acc * scale; m = b1*m + (1-b1)*d; v = b2*v + (1-b2)*d^2; "
           "param += lr * (m / (1 - b1^count)) / (sqrt(v / (1 - b2^count)) + epsilon); acc = 0",
           params=("lr", "beta1", "beta2", "epsilon"), host_scalars=("scale", "count")),
]

#: every op kind by name
OPS: dict[str, OpKind] = {k.name: k for k in _KINDS}
#: op kind by numeric code
BY_CODE: dict[int, OpKind] = {k.code: k for k in _KINDS}
if len(BY_CODE) != len(OPS):
    raise ValueError("two op kinds share a code")


def op_kind(name: str) -> OpKind:
    """The declaration of op kind ``name``; a KeyError names the known kinds."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op kind {name!r}; known: {', '.join(OPS)}") from None
