"""Input checks of the generated modules: the arrays and parameters a kernel accepts.

Real Numba code: :func:`symact.rowlib.source` copies what a generated module uses into it."""

import numpy as np


def _floats(value, name):
    """A float32 or float64 array (or scalar) for an input; other real dtypes become float64."""
    array = value if type(value) is np.ndarray else np.asarray(value)
    kind = array.dtype.kind
    if kind == "f" and array.dtype.itemsize <= 8:
        return array if array.dtype.itemsize >= 4 else array.astype(np.float32)
    if kind in "iub":
        return array.astype(np.float64)
    raise TypeError(f"{name} must be a real array (float32 or float64), not dtype {array.dtype}")


def _param(value, name):
    """A parameter: a real number, or an array that broadcasts against the input."""
    if type(value) is float:
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"parameter {name} must be a real number, not {type(value).__name__}")
    return float(array) if array.ndim == 0 else array.astype(np.float64)
