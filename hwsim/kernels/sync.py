"""A barrier for the engine's worker threads, in machine code (numba has no atomics).

The workers of a multi-threaded ``driver.execute`` meet at the end of every stage: what one
wrote (its cores' buffers, its queued events) must be visible to the other before it reads
them. Each worker publishes how many barriers it has reached in its own cache line
(``flags[tid * LINE]``, an atomic store with release order) and waits until every other
worker has reached as many (atomic loads with acquire order): everything written before the
store happens before everything read after the loads. A worker that waits long gives its
core away (``sched_yield``), so a machine with more workers than free cores slows down
instead of stalling.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

from hwsim.kernels.jit import kernel

#: int64 slots per worker's flag: one 64-byte cache line each, so that a worker's store does
#: not evict the line the other worker spins on
LINE = 8
#: loads before a waiting worker yields its core
SPINS = 256


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index] of an int64 array, an atomic load with acquire order."""
    sig = types.int64(array, index)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        return builder.load_atomic(pointer, "acquire", 8)

    return sig, codegen


@intrinsic
def _store_release(typingctx, array, index, value):
    """array[index] = value for an int64 array, an atomic store with release order."""
    sig = types.void(array, index, value)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        builder.store_atomic(args[2], pointer, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _yield_core(typingctx):
    """The C library's ``sched_yield``: let another runnable thread have this core."""
    sig = types.int32()

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])

    return sig, codegen


#: the spin-wait hint of this machine's instruction set: it tells the core that this is a
#: wait loop (less power; a hyper-threaded sibling gets the execution units)
#: (x86's ``pause``, as LLVM's intrinsic; nothing elsewhere)
_SPIN_HINT = "llvm.x86.sse2.pause" if platform.machine() in ("x86_64", "AMD64") else ""


@intrinsic
def _spin_hint(typingctx):
    """One spin-wait hint instruction (nothing where none is known)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _SPIN_HINT:
            hint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), _SPIN_HINT)
            builder.call(hint, [])
        return context.get_dummy_value()

    return sig, codegen


@kernel
def barrier(flags, tid, threads, epoch):
    """Worker ``tid`` of ``threads`` reached its barrier number ``epoch`` (1, 2, ... in every
    worker alike); returns once all have. One worker: nothing to wait for."""
    if threads == 1:
        return
    _store_release(flags, tid * LINE, epoch)
    for other in range(threads):
        if other == tid:
            continue
        spins = 0
        while _load_acquire(flags, other * LINE) < epoch:
            _spin_hint()
            spins += 1
            if spins >= SPINS:
                _yield_core()
                spins = 0
