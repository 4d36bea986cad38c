"""Branch-free double-double forms of elementwise kernels, for the loops of :mod:`symact.emit`.

``VEC_DD_FORMS`` maps an entry name to ``(source, forward_helper, derivative_helper, vecmath_names)``:
``source`` defines ``@numba.njit(inline="always")`` functions (the finite case of the forward value and of
the derivative, formed in double-double and rounded once) that use only arithmetic, :func:`symact.vecmath.select`
and the :mod:`symact.vecmath` functions named in ``vecmath_names`` (pasted into the module before it), so
that the loops around them vectorise.  Special values and root patches stay in the generated scalar
functions.  An entry here takes precedence over :data:`symact.kernel_templates.DD_FORMS`.
"""

from __future__ import annotations

__all__ = ["VEC_DD_FORMS"]

VEC_DD_FORMS: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {}
