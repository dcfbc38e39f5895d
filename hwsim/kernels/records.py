"""The kernels' records (``tables.Tables``, ``State``, ``Scratch``) passed by reference.

numba passes a named tuple of arrays by value, flattened: every array is seven machine words,
so a kernel that takes the three records takes some 650 arguments. Every call copies them
and every kernel's compiled code unpacks them, which was a large share of both the cold
compile and the time between two instructions at batch 1. A record held by reference
(``Record``, a numba StructRef with the named tuple's fields) is one pointer; a kernel
reads ``tables.buffers.off`` from it with the same code.

The record's arrays are the named tuple's own (no copy): what a kernel writes into
``state.mem`` the engine sees in its ``mem``.
"""

from __future__ import annotations

from numba import njit, types
from numba.core.extending import overload
from numba.experimental import structref

from hwsim.kernels.tables import Scratch, State, Tables

#: the records passed by reference. ``_by_reference`` is cached on disk, and its cache index
#: names the type of every record it was called with, so another record type (say, one a
#: test defines) would leave an index that processes unable to import it cannot read
RECORDS = (Tables, State, Scratch)


@structref.register
class RecordType(types.StructRef):
    """A named tuple's fields, held by reference."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class Record(structref.StructRefProxy):
    """What ``by_reference`` returns to Python: opaque, only passed back to the kernels."""


structref.define_boxing(RecordType, Record)


def _new_record(value):  # pragma: no cover - replaced by its numba overload
    raise NotImplementedError


@overload(_new_record)
def _new_record_impl(value):
    """Copy the named tuple's fields (array references) into a new record of its type."""
    record_type = RecordType(list(zip(value.fields, value.types, strict=True)))
    names = value.fields
    body = "".join(f"    record.{name} = value.{name}\n" for name in names)
    source = f"def impl(value):\n    record = new(record_type)\n{body}    return record\n"
    scope = {"new": structref.new, "record_type": record_type}
    exec(source, scope)  # noqa: S102 - the field names come from our own named tuples
    return scope["impl"]


@njit(cache=True)
def _by_reference(value):
    return _new_record(value)


def by_reference(value: Tables | State | Scratch) -> Record:
    """``value`` as a record the kernels take by reference (its arrays shared, not copied)."""
    if not isinstance(value, RECORDS):
        raise TypeError(f"only the kernels' records are passed by reference, not {type(value).__name__}")
    return _by_reference(value)
