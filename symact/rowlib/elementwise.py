"""The runtime of the elementwise modules: inputs broadcast and flattened, the loop (or its parallel twin) run
into ``out``, the options their loops compile with.

Real code: :func:`symact.rowlib.source` copies it into each generated elementwise module."""

import numba
import numpy as np
from numba import types
from numba.extending import overload

from .checks import _floats
from .fast import _address, _call_flagged, _call_loop  # noqa: F401 (the parallel twins call them)


def _at(v, i):
    """Element i of a flat input, or the input itself where it is a scalar (in Numba: chosen by type)."""
    return v if np.ndim(v) == 0 else v[i]


@overload(_at, inline="always")
def _at_numba(v, i):
    if isinstance(v, types.Array):
        return lambda v, i: v[i]
    return lambda v, i: v


def _part(v, lo, hi):
    """Elements lo..hi of a flat input, or the input itself where it is a scalar."""
    return v if np.ndim(v) == 0 else v[lo:hi]


@overload(_part, inline="always")
def _part_numba(v, lo, hi):
    if isinstance(v, types.Array):
        return lambda v, lo, hi: v[lo:hi]
    return lambda v, lo, hi: v


_FAST = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}
_EXACT = {"cache": True, "error_model": "numpy"}
#: the options of a module's scalar functions, by its loops' options: each compiled once (per argument types)
#: and inlined into the loops by LLVM (alwaysinline), with the loops' error model and contraction, so that the
#: inlined code is what the loop would have computed; not cached (the loops are, with them inside)
_INLINE_FAST = {"forceinline": True, "error_model": "numpy", "fastmath": {"contract"}}
_INLINE_EXACT = {"forceinline": True, "error_model": "numpy"}

#: from this many elements a kernel runs its parallel twin on Numba's threads (numba.set_num_threads
#: sets how many; 1 keeps every call on the calling thread); below it the serial loop runs.  On 2 free
#: cores the twin pays from 2**16 for relu (1.17x; 0.90x at 2**15), 2**14 for sigmoid, 2**12 for silu and
#: tanh; where another process holds the second core each parallel call can wait for a time slice
#: (about 8 ms): raise this module attribute, or set_num_threads(1), there
PARALLEL_MIN = 1 << 16

#: the parallel twin of a loop runs the serial loop on this many slices of the arrays
_SLICES = 16


#: the dtypes a kernel takes as they are (NumPy's dtype objects of the native float types are singletons)
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)


def _input(value, name):
    """An input: a Python int or float stays a Python float, which NumPy 2 promotes to the other inputs'
    dtype; anything else becomes a float32 or float64 array (:func:`_floats`)."""
    if type(value) is np.ndarray and (value.dtype is _F64 or value.dtype is _F32):
        return value
    return float(value) if type(value) in (int, float) else _floats(value, name)


def _flat(array, shape):
    """A flat C-contiguous array of ``shape``'s elements, or a scalar where ``array`` has one element."""
    if array.size == 1 and array.shape != shape:
        return array.reshape(-1)[0]
    if array.shape != shape:
        array = np.broadcast_to(array, shape)
    return np.ascontiguousarray(array).reshape(-1)


def _go(serial, parallel, args):
    """``serial(*args)``, or for a large array (the last argument is an output) its parallel twin, which runs the
    serial loop's compiled code on slices (:func:`_address`); the loop's result (a flag, or None)."""
    if args[-1].size >= PARALLEL_MIN and numba.get_num_threads() > 1:
        return parallel(*args, _address(serial, args))
    return serial(*args)


def _run(serial, parallel, arrays, params, out, outputs=1, redo=None):
    """Broadcast the inputs, flatten them and run the loop (its parallel twin for large inputs) into
    out: a new array, or the given one (its shape must be the broadcast shape); with ``outputs`` > 1,
    out is None or a sequence of that many arrays, and a tuple of results is returned.  ``redo`` is a
    (serial, parallel) pair run over the same arguments where the loop returns True."""
    first = arrays[0]
    if outputs == 1 and type(first) is np.ndarray and first.flags.c_contiguous:  # the common case, fast:
        dtype, shape = first.dtype, first.shape  # contiguous arrays of one shape and dtype, float parameters
        plain = out is None or (
            type(out) is np.ndarray and out.dtype == dtype and out.shape == shape and out.flags.c_contiguous
        )
        for a in arrays[1:]:
            plain = plain and type(a) is np.ndarray and a.dtype == dtype and a.shape == shape and a.flags.c_contiguous
        for p in params:
            plain = plain and type(p) is float
        if plain:
            result = np.empty(shape, dtype) if out is None else out
            if first.ndim == 1:
                args = (*arrays, *params, result)
            else:
                args = (*[a.reshape(-1) for a in arrays], *params, result.reshape(-1))
            if _go(serial, parallel, args) is True:
                _go(*redo, args)
            return result if out is not None or result.ndim else result[()]
    if outputs == 1:
        outs = (out,)
    elif out is None:
        outs = (None,) * outputs
    elif isinstance(out, (tuple, list)) and len(out) == outputs:
        outs = tuple(out)
    else:
        raise TypeError(f"out must be a sequence of {outputs} numpy arrays")
    if (  # contiguous inputs of one shape and dtype, scalar parameters (several outputs)
        all(type(a) is np.ndarray for a in arrays)
        and first.flags.c_contiguous
        and all(a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays[1:])
        and all(type(p) is float for p in params)
        and all(
            o is None
            or (type(o) is np.ndarray and o.shape == first.shape and o.dtype == first.dtype and o.flags.c_contiguous)
            for o in outs
        )
    ):
        results = [np.empty(first.shape, first.dtype) if o is None else o for o in outs]
        args = [*[a.reshape(-1) for a in arrays], *params, *[r.reshape(-1) for r in results]]
        if _go(serial, parallel, args) is True:
            _go(*redo, args)
    else:
        dtype = np.result_type(*arrays)  # a Python number is weak (NumPy 2): float32 x and g = 2.0 give float32
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays), *(np.shape(p) for p in params))
        args = [_flat(np.asarray(a, dtype=dtype), shape) for a in arrays]
        args += [p if np.ndim(p) == 0 else _flat(p, shape) for p in params]
        results = []
        for o in outs:
            if o is None:
                results.append(np.empty(shape, dtype))
            elif not isinstance(o, np.ndarray):
                raise TypeError("out must be a numpy array")
            elif o.shape != shape:
                raise ValueError(f"out has shape {o.shape}, the result has shape {shape}")
            elif o.dtype.kind != "f":
                raise TypeError(f"out must be a float32 or float64 array, not dtype {o.dtype}")
            else:
                results.append(o)
        direct = [r.dtype == dtype and r.flags.c_contiguous for r in results]
        targets = [r.reshape(-1) if d else np.empty(r.size, dtype) for r, d in zip(results, direct)]
        args = (*args, *targets)
        if _go(serial, parallel, args) is True:
            _go(*redo, args)
        for r, t, d in zip(results, targets, direct):
            if not d:
                np.copyto(r, t.reshape(shape), casting="same_kind")
    results = [r if o is not None or r.ndim else r[()] for r, o in zip(results, outs)]
    return results[0] if outputs == 1 else tuple(results)
