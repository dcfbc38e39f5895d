"""The kernels' records (``tables.Tables``, ``State``, ``Scratch``) passed by reference.

numba passes a named tuple of arrays by value, flattened: every array is seven machine words,
so a kernel that takes the three records takes some 650 arguments. Every call copies them
and every kernel's compiled code unpacks them, a large share of the cold compile. A record
held by reference (``Record``, a numba StructRef with the named tuple's fields) is one
pointer; a kernel reads ``tables.buffers.off`` from it with the same code.

The record's arrays are the named tuple's own (no copy): what a kernel writes into
``state.mem`` the engine sees in its ``mem``.

Reading a field needs no reference counting (``_field``), so the kernels keep running
without numba's runtime (``jit``): with it, every array argument of a small kernel called in
an inner loop (``numeric.axpy``) costs two atomic updates, which made a large network's
training step a third slower. The record, which holds its arrays, outlives every kernel call,
since the engine keeps it.
"""

from __future__ import annotations

from numba import njit, types
from numba.core import cgutils
from numba.core.datamodel import default_manager, models
from numba.core.extending import infer_getattr, lower_getattr_generic, lower_setattr_generic, overload
from numba.core.imputils import impl_ret_borrowed
from numba.core.runtime.nrtdynmod import _meminfo_struct_type as _MEMINFO
from numba.core.typing.templates import AttributeTemplate
from numba.experimental import structref

from hwsim.kernels.tables import Scratch, State, Tables


class RecordType(types.StructRef):
    """A named tuple's fields, held by reference."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class Record(structref.StructRefProxy):
    """What ``by_reference`` returns to Python: opaque, only passed back to the kernels."""


default_manager.register(RecordType, models.StructRefModel)
structref.define_boxing(RecordType, Record)

#: where numba's NRT_MemInfo (its own layout, ``_MEMINFO``) keeps the payload's pointer
_DATA = 3


def _payload(context, builder, record_type, value):
    """The record's fields in place (a struct proxy over its payload)."""
    meminfo = cgutils.create_struct_proxy(record_type)(context, builder, value=value).meminfo
    head = builder.bitcast(meminfo, _MEMINFO.as_pointer())
    data = builder.load(cgutils.gep_inbounds(builder, head, 0, _DATA))
    payload_type = record_type.get_data_type()
    pointer = builder.bitcast(data, context.data_model_manager[payload_type].get_value_type().as_pointer())
    return cgutils.create_struct_proxy(payload_type)(context, builder, ref=pointer)


@infer_getattr
class _RecordAttribute(AttributeTemplate):
    key = RecordType

    def generic_resolve(self, typ, attr):
        return typ.field_dict.get(attr)


@lower_getattr_generic(RecordType)
def _field(context, builder, typ, value, attr):
    """A field of the record. Without the runtime (the kernels) the read is borrowed and takes
    no reference; with it (``jit.record_entry``) it takes one, which numba drops later."""
    field = getattr(_payload(context, builder, typ, value), attr)
    return impl_ret_borrowed(context, builder, typ.field_dict[attr], field)


@lower_setattr_generic(RecordType)
def _set_field(context, builder, sig, args, attr):
    """Only ``_by_reference`` sets fields, with the runtime on: the record takes a reference
    to the new value and drops the old one."""
    record_type, value_type = sig.args
    record, value = args
    payload = _payload(context, builder, record_type, record)
    new = context.cast(builder, value, value_type, record_type.field_dict[attr])
    old = getattr(payload, attr)
    context.nrt.incref(builder, value_type, new)
    context.nrt.decref(builder, value_type, old)
    setattr(payload, attr, new)


def _new_record(value):
    """A new record holding ``value``'s fields. Only compiled code builds records: numba
    compiles the overload below in place of this function, so from Python it refuses."""
    raise TypeError("records are built by compiled code only; from Python, call by_reference")


@overload(_new_record)
def _new_record_impl(value):
    """Copy the named tuple's fields (array references) into a new record of its type."""
    record_type = RecordType(list(zip(value.fields, value.types, strict=True)))
    body = "".join(f"    record.{name} = value.{name}\n" for name in value.fields)
    source = f"def impl(value):\n    record = new(record_type)\n{body}    return record\n"
    scope = {"new": structref.new, "record_type": record_type}
    exec(source, scope)  # noqa: S102 - the field names come from our own named tuples
    return scope["impl"]


# cached on disk: its index names the types it was called with, so only the kernels' own
# records reach it (a type another process cannot import would leave an index it cannot read)
@njit(cache=True)
def _by_reference(tables, state, scratch):
    return _new_record(tables), _new_record(state), _new_record(scratch)


def by_reference(tables: Tables, state: State, scratch: Scratch) -> tuple[Record, Record, Record]:
    """The three records as the kernels take them, by reference (their arrays shared, not
    copied); built in one call, so that one compiled function builds all three."""
    for value, kind in ((tables, Tables), (state, State), (scratch, Scratch)):
        if not isinstance(value, kind):
            raise TypeError(f"expected the kernels' {kind.__name__} record, got {type(value).__name__}")
    return _by_reference(tables, state, scratch)
