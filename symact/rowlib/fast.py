"""Vectorisable row helpers: the exact maximum, exp(a_k - m) summed exactly in fixed point, the prange switch.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import math

import numba
import numpy as np
from numba import extending, types
from numba.extending import intrinsic

from ..vecmath import (
    _EXP_LO,
    _F32_C3,
    _F32_C4,
    _F32_C5,
    _F32_C6,
    _F32_C7,
    _F32_HALF,
    _F32_ONE,
    _INV_LN2,
    _LN2_HI,
    _LN2_LO,
    _SHIFT,
    _SHIFT_BITS,
    _bits_f64,
    _exp_hilo_f64,
    _f64_bits,
)
from .rows import _neumaier


def _by_dtype(single, double):
    """A function ``f(row, *rest)`` that runs ``single(row, *rest)`` for a float32 ``row`` and ``double(row, *rest)``
    otherwise, chosen by type when Numba compiles the caller: only the one a call needs is compiled (a runtime
    flag would compile both, and the float32 path of a float64 call is most of a row kernel's first call)."""

    def dispatch(row, *rest):
        return (single if row.dtype == np.float32 else double)(row, *rest)

    @extending.overload(dispatch, jit_options={"cache": True})
    def _dispatch(row, *rest):
        chosen = single if row.dtype == types.float32 else double
        return lambda row, *rest: chosen(row, *rest)

    return dispatch


def _is_single(row):
    """Whether ``row`` is float32; in Numba a compile-time constant."""
    return row.dtype == np.float32


@extending.overload(_is_single, jit_options={"cache": True})
def _is_single_numba(row):
    flag = row.dtype == types.float32
    return lambda row: flag


_FAST_MAX_N = 65536  # the block of the fixed-point sums below: a block's low sum fits an int64, then is carried
_CARRY = 47  # 2**47 units of 2**-77 (the low sums) make one of 2**-30 (the high sums)
_ABS_MASK = 0x7FFFFFFFFFFFFFFF
_INF_BITS = 0x7FF0000000000000
_Q_HI = 1073741824.0  # 2**30: exp(a_k - m) = h + l with h a multiple of 2**-30, summed as integers
_Q_LO = 151115727451828646838272.0  # 2**77: l * 2**77 summed as integers (|l| <= 2**-31: 2**16 terms fit)
_ROUND_HI = 6291456.0  # 1.5 * 2**22: (x + it) - it rounds x in [0, 1] to a multiple of 2**-30


@numba.njit(error_model="numpy", inline="always")
def _carry(sh, sl):
    """(sh + c, sl - c 2**47) with c = floor(sl / 2**47): the low sum's high bits moved exactly into the high sum
    (units 2**47 times larger), after each block of _FAST_MAX_N terms, so that 0 <= sl < 2**47 and the next
    block's terms (each below 2**46 in magnitude) keep |sl| below 2**63: exact sums for rows of any length."""
    c = sl >> _CARRY
    return sh + c, sl - (c << _CARRY)


@numba.njit(cache=True, error_model="numpy")
def _max_key(row):
    """The largest entry of a row as an ordered int64 key (every nan above +inf); integer max, vectorised."""
    hi = -_ABS_MASK
    for k in range(row.shape[0]):
        b = _f64_bits(np.float64(row[k]))
        mag = b & _ABS_MASK
        key = b ^ ((b >> 63) & _ABS_MASK)
        key = mag if mag > _INF_BITS else key
        hi = key if key > hi else hi
    return hi


@numba.njit(error_model="numpy", inline="always")
def _key_value(key):
    """The float64 of an ordered key."""
    return _bits_f64(key ^ ((key >> 63) & _ABS_MASK))


@numba.njit(cache=True, error_model="numpy")
def _exps(row, m, e):
    """e[k] = exp(row[k] - m) for a finite max m, the difference taken exactly (as d + lo) and folded into
    the reduced argument; returns sum_k e[k] - 1 (the mass besides one maximum) to n 2**-77 of the
    total (2**-61 for n = 2**16): each e[k] is split into a multiple of 2**-30 and a remainder, both summed
    exactly as integers (no rounding error, any order: the loop vectorises), in blocks of _FAST_MAX_N with
    a carry between them (_carry)."""
    n = row.shape[0]
    sh = 0
    sl = 0
    for start in range(0, n, _FAST_MAX_N):
        rowb = row[start : start + _FAST_MAX_N]  # (views: a loop over range(start, stop) does not vectorise)
        eb = e[start : start + _FAST_MAX_N]
        for k in range(len(rowb)):
            v = np.float64(rowb[k])
            d = v - m
            bb = d - v
            lo = (v - (d - bb)) + (-m - bb)
            keep = d > _EXP_LO
            t = _exp_hilo_f64(d if keep else _EXP_LO, lo if keep else 0.0, 1.0)
            eb[k] = t
            h = (t + _ROUND_HI) - _ROUND_HI
            sh += np.int64(h * _Q_HI)
            sl += np.int64((t - h) * _Q_LO)
        sh, sl = _carry(sh, sl)
    return np.float64(sh - 1073741824) / _Q_HI + np.float64(sl) / _Q_LO


@numba.njit(cache=True, error_model="numpy")
def _exps_single(row, m, e):
    """_exps for a float32 row: a_k - m in float64 (exact to far below a float32 ulp), the reduced argument
    r = a_k - m - k ln 2 in float64, exp(r) by a degree-7 polynomial in float32 (16 lanes, within a float32
    ulp), scaled by 2**k in float64."""
    n = row.shape[0]
    sh = 0
    sl = 0
    for start in range(0, n, _FAST_MAX_N):
        rowb = row[start : start + _FAST_MAX_N]  # (views: a loop over range(start, stop) does not vectorise)
        eb = e[start : start + _FAST_MAX_N]
        for k in range(len(rowb)):
            d = np.float64(rowb[k]) - m
            d = d if d > -200.0 else -200.0
            t = d * _INV_LN2 + _SHIFT
            kk = t - _SHIFT
            r = np.float32((d - kk * _LN2_HI) - kk * _LN2_LO)
            q = _F32_C7
            q = q * r + _F32_C6
            q = q * r + _F32_C5
            q = q * r + _F32_C4
            q = q * r + _F32_C3
            q = q * r + _F32_HALF
            p = _F32_ONE + (r + (r * r) * q)
            x = np.float64(p) * _bits_f64((_f64_bits(t) - _SHIFT_BITS + 1023) << 52)
            eb[k] = x
            h = (x + _ROUND_HI) - _ROUND_HI
            sh += np.int64(h * _Q_HI)
            sl += np.int64((x - h) * _Q_LO)
        sh, sl = _carry(sh, sl)
    return np.float64(sh - 1073741824) / _Q_HI + np.float64(sl) / _Q_LO


@numba.njit(cache=True, error_model="numpy")
def _nonneg_sum(e, below):
    """sum_k e[k] over the entries below ``below`` (nonnegative, finite, any number n of them) to relative
    precision (n 2**-76): the values scaled by a power of two that brings the largest to [0.5, 1), then summed
    in fixed point as in _exps, in blocks with a carry.  With below = 1, the rest of a confident row (all but
    the one maximum), where _exps' absolute error (n 2**-77 of the total) is not enough for log p_k."""
    top = 0
    for k in range(e.shape[0]):
        b = _f64_bits(e[k])
        b = b if e[k] < below or not e[k] < math.inf else 0  # inf and nan: a plain sum below
        top = b if b > top else top
    if top == 0:
        return 0.0
    if top >= 9205357638345293824:  # 2**1021 and above: too large to scale to [0.5, 1) and back
        return _neumaier(e, -1)
    s = 1022 - (top >> 52)
    scale = _bits_f64((s + 1023) << 52)
    n = e.shape[0]
    sh = 0
    sl = 0
    for start in range(0, n, _FAST_MAX_N):
        eb = e[start : start + _FAST_MAX_N]  # (views: a loop over range(start, stop) does not vectorise)
        for k in range(len(eb)):
            t = eb[k] * scale if eb[k] < below else 0.0
            h = (t + _ROUND_HI) - _ROUND_HI
            sh += np.int64(h * _Q_HI)
            sl += np.int64((t - h) * _Q_LO)
        sh, sl = _carry(sh, sl)
    total = np.float64(sh) / _Q_HI + np.float64(sl) / _Q_LO
    return total * _bits_f64((1023 - s) << 52)


_exps_by_dtype = _by_dtype(_exps_single, _exps)


@numba.njit(cache=True, error_model="numpy")
def _log_rest(row, m, e):
    """sum_{k != argmax} exp(row[k] - m) to relative precision (e filled as by _exps)."""
    rest = _exps_by_dtype(row, m, e)
    return rest if rest >= 0.0625 else _nonneg_sum(e, 1.0)


@numba.njit(cache=True, error_model="numpy")
def _row_max(row):
    """(fast, m): the row's maximum, and whether the vectorised path applies (no nan, a finite maximum; any
    length but 0)."""
    n = row.shape[0]
    if n == 0:
        return False, 0.0
    key = _max_key(row)
    m = _key_value(key)
    return key <= _INF_BITS and abs(m) < math.inf, m


@numba.njit(cache=True, error_model="numpy")
def _chunk(c, chunks, rows):
    return c * rows // chunks, (c + 1) * rows // chunks


def _num_threads():
    """``numba.get_num_threads()``, without starting Numba's thread pool where nothing has started it: until then
    the count is ``NUMBA_NUM_THREADS`` (Numba's documented default; ``set_num_threads`` starts the pool), and the
    start cost 4 to 5 ms of a first call that then ran on Python threads (_on_threads) and never used the pool."""
    from numba.np.ufunc import parallel

    if not getattr(parallel, "_is_initialized", True):
        return numba.config.NUMBA_NUM_THREADS
    return numba.get_num_threads()


def _threaded(rows):
    """The number of blocks of rows for :func:`_by_blocks`, or 0 for the serial kernel alone."""
    if rows.size < 262144:  # before _num_threads, which costs a small call 1.4 us
        return 0
    threads = _num_threads()
    return min(rows.shape[0], 4 * threads) if threads > 1 else 0


#: (loop, the argument types' keys) -> the address of the loop's compiled entry point (:func:`_address`)
_ADDRESSES = {}


def _address(loop, args):
    """The address of the C entry point of ``loop`` compiled for the types of ``args`` (Numba's cfunc wrapper:
    the arguments as they are, the result returned), compiled or loaded from the cache on the first call.

    A ``parallel=True`` twin calls this code on its slices (:func:`_call_loop`) instead of calling the loop, which
    would link the loop into the twin, where LLVM optimised and compiled it once more: gelu's forward at 10**6
    elements took 2.5 s to a first call, 1.9 s this way.  The twin must pass values of the types Numba gives
    ``args`` here: an array's type is its dtype, writeability and alignment (the arrays here are C-contiguous, and
    a C-contiguous array's slice along its first axis is one too), a float's float64, an int's int64."""
    key = (loop, *[_kind(a) for a in args])
    address = _ADDRESSES.get(key)
    if address is None:
        signature = tuple(numba.typeof(a) for a in args)
        loop.compile(signature)
        result = loop.overloads[signature]
        address = _ADDRESSES[key] = result.library.get_pointer_to_function(result.fndesc.llvm_cfunc_wrapper_name)
    return address


def _kind(value):
    """The key of an argument's Numba type: an array's dtype, dimensions, writeability and alignment (its layout is
    C), a tuple's the keys of its items, a scalar's Python type."""
    if type(value) is np.ndarray:
        return value.dtype.char, value.ndim, value.flags.writeable, value.flags.aligned
    return tuple(_kind(v) for v in value) if type(value) is tuple else type(value)


def _loop_call(result, drop=False):
    """The code of a call of the compiled loop at an address with a tuple of arguments, returning ``result`` (or,
    with ``drop``, nothing: the loop returns its output array, a new reference, released here)."""

    def codegen(context, builder, signature, llargs):
        from llvmlite import ir

        kinds = signature.args[1].types
        values = [builder.extract_value(llargs[1], k) for k in range(len(kinds))]
        function = ir.FunctionType(context.get_value_type(result), [context.get_value_type(t) for t in kinds])
        value = builder.call(builder.inttoptr(llargs[0], function.as_pointer()), values)
        if drop:
            context.nrt.decref(builder, result, value)
        return context.get_dummy_value() if drop or result == types.none else value

    return codegen


@intrinsic
def _call_loop(typingctx, address, args):
    """Call the compiled loop at ``address`` (:func:`_address`) with the tuple ``args``, for a loop that returns
    nothing.  The types of ``args`` must be those the loop was compiled for: the twin passes the slices of its
    own arguments, of their types."""
    return types.none(address, args), _loop_call(types.none)


@intrinsic
def _call_flagged(typingctx, address, args):
    """:func:`_call_loop` for a loop that returns a flag: the flag."""
    return types.boolean(address, args), _loop_call(types.boolean)


@intrinsic
def _call_loop_out(typingctx, address, args):
    """:func:`_call_loop` for a loop that returns its output array, its last argument: nothing."""
    return types.none(address, args), _loop_call(args.types[-1], drop=True)


#: the worker threads of _by_blocks (the calling thread is one more), made by its first call
_POOL = []


def _by_blocks(kernel, chunks, args, split):
    """``kernel(*args)`` over ``chunks`` blocks of rows, on up to ``numba.get_num_threads()`` threads (the caller
    one of them); the arguments at the positions in ``split`` are cut to a block's rows, the others passed whole.

    ``kernel`` is a serial row kernel compiled with ``nogil=True``, so the blocks run in parallel, each with the
    serial loop's bits.  This is the large-array path of a row entry instead of a ``parallel=True`` twin: the
    twin's parfor lowering, and the optimisation and machine code of the whole row kernel once more inside it,
    were about a quarter of a large array's first call (the softmax vjp at 10**6 elements), and a process that
    met a small array and a large one compiled both."""
    rows = args[0].shape[0]
    cuts = [c * rows // chunks for c in range(chunks + 1)]
    _on_threads(kernel, [[x[a:b] if i in split else x for i, x in enumerate(args)] for a, b in zip(cuts, cuts[1:])])


def _on_threads(kernel, pieces):
    """``kernel(*args)`` for each ``args`` of ``pieces``, on up to ``numba.get_num_threads()`` threads (the caller
    one of them), ``kernel`` a serial kernel compiled with ``nogil=True``: nothing more to compile."""
    from concurrent.futures import ThreadPoolExecutor

    todo = iter(pieces)  # shared by the threads: next() on it is atomic under the GIL

    def work():
        for args in todo:
            kernel(*args)

    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS - 1), "symact-rows"))
    helpers = [_POOL[0].submit(work) for _ in range(min(_num_threads(), len(pieces)) - 1)]
    work()
    for helper in helpers:
        helper.result()
