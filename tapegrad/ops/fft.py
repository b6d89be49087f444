"""The discrete Fourier transform (``numpy.fft``, issue 18): three primitives closed under differentiation,
and NumPy's functions composed from them against ``xp``.

Primitives:

* ``fft_c2c(x, axes, inverse, norm, sizes)``: the complex transform over ``axes`` (``fftn`` or ``ifftn``) of
  ``x`` cropped or zero-padded to ``sizes`` there (NumPy's ``s``; None: as it is), which NumPy does as it
  transforms, without a padded copy;
* ``fft_r2c(x, axes, norm, doubled, sizes)``: the real-input transform (``rfftn``): the full transform over
  ``axes[:-1]`` and the half spectrum, ``n // 2 + 1`` entries, along ``axes[-1]``;
* ``fft_c2r(x, axes, n, norm, halved)``: its inverse (``irfftn``), a real result of length ``n`` along
  ``axes[-1]`` from exactly ``n // 2 + 1`` entries (the functions below crop or pad the input first), which it
  reads as the half of a Hermitian spectrum.

Every one is linear, so its VJP is its adjoint (for the real inner product on complex numbers: PyTorch's
conjugate Wirtinger gradient) and its JVP itself. The adjoint of a transform in one direction with scale
``c`` (1, ``1/sqrt(N)`` or ``1/N``, as ``norm`` says) is the transform in the other direction with the same
scale: ``norm`` "backward" and "forward" trade places, "ortho" stays. The half spectrum needs care:
``irfft`` counts an interior entry (not 0, not ``n/2``) twice, once for its conjugate twin, and ignores the
imaginary parts of the two others, so

* the VJP of ``rfft`` is ``irfft`` of the gradient with its interior *halved*, and
* the VJP of ``irfft`` is ``rfft`` of the gradient with its interior *doubled*.

Both factors are a flag of the primitive (``doubled``, ``halved``), applied in place to the transform's own
result (for ``halved`` along one axis, as ``0.5 irfft(x)`` plus half the zero and Nyquist frequencies' terms;
over several axes on a copy of the input), so the four variants are each other's VJPs and no rule multiplies
by a weight array or allocates beyond the transform: every order of derivative is one transform (a large
array's allocation costs as much as a pass over it: its pages are faulted in afresh). A cropping or padding
``sizes`` is undone in the VJP by cropping (a view) or zero-padding the gradient.

A real input of ``fft_c2c`` (or ``fft_c2r``) takes the real part of its complex gradient. ``float32`` and
``complex64`` stay single precision (NumPy 2's pocketfft computes in them).
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from . import batching as B
from .registry import Primitive
from .shape import MAX_SIZE, axes_arg, axis_arg, int_arg, shown

NORMS = ("backward", "ortho", "forward")
#: The norm of the adjoint transform (the other direction, the same scale).
DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _interior(n: int) -> slice:
    """The entries of a half spectrum of a length-``n`` signal that stand for two (their conjugate twins):
    all but entry 0 and, for even ``n``, entry ``n // 2``."""
    return slice(1, (n + 1) // 2)


def _along(axis: int, ndim: int, part: slice) -> tuple:
    return (slice(None),) * axis + (part,) + (slice(None),) * (ndim - axis - 1)


def _real_if(xp, g, x):
    """The gradient ``g`` of a real input ``x`` (its real part), or ``g`` as it is for a complex one."""
    return xp.real(g) if x.dtype.kind != "c" else g


_SINGLE = (np.dtype(np.float32), np.dtype(np.complex64))


def _unscaled(x, norm: str, inverse: bool, points) -> tuple[str, float | None]:
    """The norm to ask NumPy for, and a factor to multiply its result by, for a transform that ``norm`` does
    not scale (forward "backward", inverse "forward"). NumPy 2.4 passes that scale as the integer 1, which
    sends single-precision input through its double-precision loop (2x-2.5x slower for 2^21 points):
    there, "ortho" and a factor ``sqrt(points)`` in place instead."""
    if np.asarray(x).dtype in _SINGLE and norm == ("forward" if inverse else "backward"):
        return "ortho", float(np.sqrt(points))
    return norm, None


def _c2c(x, axes, inverse=False, norm="backward", sizes=None):
    points = np.prod([np.shape(x)[a] for a in axes] if sizes is None else sizes)
    asked, factor = _unscaled(x, norm, inverse, points)
    out = (np.fft.ifftn if inverse else np.fft.fftn)(x, s=sizes, axes=axes, norm=asked)
    if factor is not None:
        out *= factor
    return out


def _r2c(x, axes, norm="backward", doubled=False, sizes=None):
    if np.iscomplexobj(x):
        raise DTypeError(f"rfft: got a complex input ({np.asarray(x).dtype}); expected real numbers (fft takes "
                         "complex ones)")
    lengths = [np.shape(x)[a] for a in axes] if sizes is None else list(sizes)
    asked, factor = _unscaled(x, norm, False, np.prod(lengths))
    out = np.fft.rfftn(x, s=sizes, axes=axes, norm=asked)
    if factor is not None:
        out *= factor
    if doubled:
        out[_along(axes[-1] % out.ndim, out.ndim, _interior(lengths[-1]))] *= 2
    return out


def _scale(norm: str, n: int) -> float:
    """The factor of an inverse transform of ``n`` points under ``norm``."""
    return {"backward": 1.0 / n, "ortho": 1.0 / np.sqrt(n), "forward": 1.0}[norm]


def _c2r(x, axes, n, norm="backward", halved=False):
    x = np.asarray(x)
    last = axes[-1] % x.ndim
    if x.shape[last] != n // 2 + 1:
        raise ShapeError(f"irfft: {x.shape[last]} entries along axis {last} of shape {x.shape} for a result of "
                         f"length {n}; expected n // 2 + 1 = {n // 2 + 1}")
    if halved and len(axes) > 1:  # over several axes: the interior halved on a copy of the input
        x = np.array(x, dtype=np.result_type(x, 1j))
        x[_along(last, x.ndim, _interior(n))] *= 0.5
    sizes = [x.shape[a] for a in axes[:-1]] + [n]
    asked, factor = _unscaled(x, norm, True, np.prod(sizes))
    out = np.fft.irfftn(x, s=sizes, axes=axes, norm=asked)
    if halved and len(axes) == 1:
        # irfft of the halved interior = (irfft(x) + the zero and Nyquist frequencies' terms) / 2: in place
        half = 0.5 * _scale(norm, n)
        out *= 0.5 if factor is None else 0.5 * factor
        zero = np.real(x[_along(last, x.ndim, slice(0, 1))]) * half
        if n % 2 == 0:  # the Nyquist frequency's term alternates in sign: even and odd entries take one each
            nyquist = np.real(x[_along(last, x.ndim, slice(n // 2, n // 2 + 1))]) * half
            out[_along(last, out.ndim, slice(0, None, 2))] += zero + nyquist
            out[_along(last, out.ndim, slice(1, None, 2))] += zero - nyquist
        else:
            out += zero
    elif factor is not None:
        out *= factor
    return out


def _restored(xp, g, x, axes):
    """The gradient ``g`` of a transform of ``x`` cropped or zero-padded along ``axes``, as ``x``'s: cropped (a
    view) where ``x`` was padded, zero-padded where it was cropped."""
    for axis in axes:
        g = _resized(xp, g, axis % x.ndim, x.shape[axis])
    return g


def _c2c_vjp(xp, g, ans, x, axes, inverse=False, norm="backward", sizes=None):
    back = _real_if(xp, xp.fft_c2c(g, axes=axes, inverse=not inverse, norm=DUAL[norm]), x)
    return back if sizes is None else _restored(xp, back, x, axes)


def _r2c_vjp(xp, g, ans, x, axes, norm="backward", doubled=False, sizes=None):
    n = x.shape[axes[-1]] if sizes is None else sizes[-1]
    back = xp.fft_c2r(g, axes=axes, n=n, norm=DUAL[norm], halved=not doubled)
    return back if sizes is None else _restored(xp, back, x, axes)


def _c2r_vjp(xp, g, ans, x, axes, n, norm="backward", halved=False):
    return _real_if(xp, xp.fft_r2c(g, axes=axes, norm=DUAL[norm], doubled=not halved), x)


fft_c2c = Primitive(
    "fft_c2c", _c2c, vjps=(_c2c_vjp,), batch=B.over_axes("axes"),
    jvps=(lambda xp, t, ans, x, axes, inverse=False, norm="backward", sizes=None: xp.fft_c2c(
        t, axes=axes, inverse=inverse, norm=norm, sizes=sizes),),
    saves_inputs=False, complex="written", derivatives=("the transform in the other direction",),
    expects="a non-empty input along the transformed axes",
    doc="The complex DFT over ``axes`` (``inverse``: the inverse DFT) of the input cropped or zero-padded to "
        "``sizes`` there (None: as it is), scaled as ``norm`` says.",
)

fft_r2c = Primitive(
    "fft_r2c", _r2c, vjps=(_r2c_vjp,), batch=B.over_axes("axes"),
    jvps=(lambda xp, t, ans, x, axes, norm="backward", doubled=False, sizes=None: xp.fft_r2c(
        t, axes=axes, norm=norm, doubled=doubled, sizes=sizes),),
    saves_inputs=False, complex="written", derivatives=("irfft of the half spectrum, its interior halved",),
    expects="a real input, non-empty along the transformed axes",
    doc="``rfftn`` (of the input cropped or zero-padded to ``sizes``): the half spectrum along ``axes[-1]``; "
        "``doubled``: its interior entries times 2.",
)

fft_c2r = Primitive(
    "fft_c2r", _c2r, vjps=(_c2r_vjp,), batch=B.over_axes("axes"),
    jvps=(lambda xp, t, ans, x, axes, n, norm="backward", halved=False: xp.fft_c2r(t, axes=axes, n=n, norm=norm,
                                                                                   halved=halved),),
    saves_inputs=False, complex="written", derivatives=("rfft, its interior doubled",),
    expects="n // 2 + 1 entries along the last transformed axis for a result of length n >= 1",
    doc="``irfftn`` with a result of length ``n`` along ``axes[-1]``; ``halved``: the input's interior entries "
        "times 1/2 first.",
)

PRIMITIVES = (fft_c2c, fft_r2c, fft_c2r)


# -- numpy.fft's functions, against xp -----------------------------------------------------------------


def norm_arg(norm, op: str) -> str:
    """``norm`` checked: None (NumPy's default, "backward") or one of :data:`NORMS`.

    Raises:
        ArgumentError: for anything else.
    """
    if norm is None:
        return "backward"
    if not isinstance(norm, str) or norm not in NORMS:
        raise ArgumentError(f"{op}: norm={shown(norm)}; expected None, 'backward', 'ortho' or 'forward'")
    return norm


def _length(n, op: str, arg: str = "n") -> int:
    n = int_arg(n, op, arg)
    if n < 1:
        raise ArgumentError(f"{op}: {arg}={n}; expected a number of points >= 1")
    if n > MAX_SIZE // 16:  # no complex array of that length fits in memory
        raise ArgumentError(f"{op}: {arg}={n}; expected a number of points an array can hold (below 2**59)")
    return n


def _resized(xp, x, axis: int, n: int):
    """``x`` cropped or zero-padded at the end along ``axis`` to length ``n`` (NumPy's ``n`` and ``s``)."""
    have = x.shape[axis]
    if have == n:
        return x
    if have > n:
        return xp.getitem(x, index=_along(axis, x.ndim, slice(0, n)))
    widths = tuple((0, n - have) if a == axis else (0, 0) for a in range(x.ndim))
    return xp.pad(x, pad_width=widths)


def _sizes(a, sizes, axes) -> tuple[int, ...] | None:
    """The primitives' ``sizes``: None where every transformed length is the input's (or not given)."""
    sizes = tuple(a.shape[axis] if size is None else size for size, axis in zip(sizes, axes))
    return None if sizes == tuple(a.shape[axis] for axis in axes) else sizes


def _nonempty(x, axes, op: str) -> None:
    for a in axes:
        if x.shape[a] == 0:
            raise ShapeError(f"{op}: axis {a} of shape {tuple(x.shape)} is empty; expected at least one entry "
                             "along each transformed axis (or n/s to zero-pad)")


def _axis_args(x, n, axis, op: str) -> tuple[int, int | None]:
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d input has no axis to transform; expected at least 1 dimension")
    axis = axis_arg(axis, x.ndim, op)
    return axis, None if n is None else _length(n, op)


def _nd_args(x, s, axes, op: str, real_inverse: bool = False) -> tuple[list[int], list[int]]:
    """``s`` and ``axes`` as NumPy reads them (``_cook_nd_args``): all axes, or the last ``len(s)``, when
    ``axes`` is None; ``s[i] == -1`` (or None) for the input's length (for ``irfftn``'s last axis ``2 (m - 1)``).

    Raises:
        ShapeError: for a 0-d input, an axis out of range or named twice, ``s`` and ``axes`` of different
            lengths. ArgumentError: for a length that is not an integer >= 1.
    """
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d input has no axis to transform; expected at least 1 dimension")
    if s is not None and not isinstance(s, (list, tuple, np.ndarray)):
        raise ArgumentError(f"{op}: s={shown(s)}; expected a sequence of lengths, one per transformed axis")
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
        if s is not None and len(s) > x.ndim:
            raise ShapeError(f"{op}: s={shown(s)} has more entries than the input of shape {tuple(x.shape)} has "
                             "axes")
    else:
        axes = list(axes_arg(tuple(axes) if isinstance(axes, (list, tuple)) else axes, x.ndim, op, "axes"))
    if s is None:
        sizes = [None] * len(axes)
    else:
        sizes = list(s)
        if len(sizes) != len(axes):
            raise ShapeError(f"{op}: s={shown(s)} and axes={axes} have different lengths; expected one length per "
                             "transformed axis")
    out = []
    for i, (size, axis) in enumerate(zip(sizes, axes)):
        if size is None or (not isinstance(size, bool) and isinstance(size, (int, np.integer)) and size == -1):
            have = x.shape[axis]
            size = 2 * (have - 1) if real_inverse and i == len(axes) - 1 else have
            if size < 1:
                raise ShapeError(f"{op}: axis {axis} of shape {tuple(x.shape)} gives a transform of {size} points; "
                                 "expected at least one (give s)")
        out.append(_length(size, op, "s"))
    return out, [a % x.ndim for a in axes]


def fft(xp, a, n=None, axis=-1, norm=None, *, inverse=False, op="fft"):
    """``numpy.fft.fft`` (``ifft`` with ``inverse``): the 1-D complex transform along ``axis``."""
    axis, n = _axis_args(a, n, axis, op)
    norm = norm_arg(norm, op)
    if n is None:
        _nonempty(a, (axis,), op)
    return xp.fft_c2c(a, axes=(axis,), inverse=inverse, norm=norm, sizes=_sizes(a, (n,), (axis,)))


def ifft(xp, a, n=None, axis=-1, norm=None):
    """``numpy.fft.ifft``."""
    return fft(xp, a, n, axis, norm, inverse=True, op="ifft")


def fftn(xp, a, s=None, axes=None, norm=None, *, inverse=False, op="fftn"):
    """``numpy.fft.fftn`` (``ifftn`` with ``inverse``): the N-d complex transform over ``axes``."""
    sizes, axes = _nd_args(a, s, axes, op)
    norm = norm_arg(norm, op)
    if not axes:
        return a
    return xp.fft_c2c(a, axes=tuple(axes), inverse=inverse, norm=norm, sizes=_sizes(a, sizes, axes))


def ifftn(xp, a, s=None, axes=None, norm=None):
    """``numpy.fft.ifftn``."""
    return fftn(xp, a, s, axes, norm, inverse=True, op="ifftn")


def fft2(xp, a, s=None, axes=(-2, -1), norm=None):
    """``numpy.fft.fft2``: ``fftn`` over the last two axes."""
    return fftn(xp, a, s, axes, norm, op="fft2")


def ifft2(xp, a, s=None, axes=(-2, -1), norm=None):
    """``numpy.fft.ifft2``."""
    return fftn(xp, a, s, axes, norm, inverse=True, op="ifft2")


def _real_input(a, op: str) -> None:
    if a.dtype.kind == "c":
        raise DTypeError(f"{op}: got a complex input ({a.dtype}); expected real numbers (fft takes complex ones)")


def rfft(xp, a, n=None, axis=-1, norm=None):
    """``numpy.fft.rfft``: the half spectrum (``n // 2 + 1`` entries) of a real input along ``axis``."""
    _real_input(a, "rfft")
    axis, n = _axis_args(a, n, axis, "rfft")
    norm = norm_arg(norm, "rfft")
    if n is None:
        _nonempty(a, (axis,), "rfft")
    return xp.fft_r2c(a, axes=(axis,), norm=norm, sizes=_sizes(a, (n,), (axis,)))


def irfft(xp, a, n=None, axis=-1, norm=None):
    """``numpy.fft.irfft``: the real signal of length ``n`` (default ``2 (m - 1)``) whose half spectrum is ``a``."""
    axis, n = _axis_args(a, n, axis, "irfft")
    norm = norm_arg(norm, "irfft")
    if n is None:
        n = 2 * (a.shape[axis] - 1)
        if n < 1:
            raise ShapeError(f"irfft: axis {axis} of shape {tuple(a.shape)} gives a signal of {n} points; expected "
                             "at least 2 entries (or n)")
    x = _resized(xp, a, axis, n // 2 + 1)
    return xp.fft_c2r(x, axes=(axis,), n=n, norm=norm)


def rfftn(xp, a, s=None, axes=None, norm=None, op="rfftn"):
    """``numpy.fft.rfftn``: the full transform over ``axes[:-1]``, the half spectrum along ``axes[-1]``."""
    _real_input(a, op)
    sizes, axes = _nd_args(a, s, axes, op)
    norm = norm_arg(norm, op)
    if not axes:
        raise ShapeError(f"{op}: no axes to transform; expected at least one")
    return xp.fft_r2c(a, axes=tuple(axes), norm=norm, sizes=_sizes(a, sizes, axes))


def irfftn(xp, a, s=None, axes=None, norm=None, op="irfftn"):
    """``numpy.fft.irfftn``: the real result of shape ``s`` over ``axes`` (the last one's default ``2 (m - 1)``)."""
    sizes, axes = _nd_args(a, s, axes, op, real_inverse=True)
    norm = norm_arg(norm, op)
    if not axes:
        raise ShapeError(f"{op}: no axes to transform; expected at least one")
    x = a
    for size, axis in zip(sizes[:-1], axes[:-1]):
        x = _resized(xp, x, axis, size)
    x = _resized(xp, x, axes[-1], sizes[-1] // 2 + 1)
    _nonempty(x, axes, op)
    return xp.fft_c2r(x, axes=tuple(axes), n=sizes[-1], norm=norm)


def rfft2(xp, a, s=None, axes=(-2, -1), norm=None):
    """``numpy.fft.rfft2``: ``rfftn`` over the last two axes."""
    return rfftn(xp, a, s, axes, norm, op="rfft2")


def irfft2(xp, a, s=None, axes=(-2, -1), norm=None):
    """``numpy.fft.irfft2``."""
    return irfftn(xp, a, s, axes, norm, op="irfft2")


def fftshift(xp, x, axes=None, *, inverse=False, op="fftshift"):
    """``numpy.fft.fftshift`` (``ifftshift`` with ``inverse``): the zero frequency moved to the centre, a
    roll by ``n // 2`` (back: ``-(n // 2)``) along each of ``axes`` (all by default)."""
    if axes is None:
        axes = tuple(range(x.ndim))
    axes = axes_arg(axes, x.ndim, op, "axes")
    for axis in axes:
        n = x.shape[axis]
        shift = (-(n // 2) if inverse else n // 2) % n if n else 0
        if shift:
            lead = (slice(None),) * axis
            x = xp.concatenate(xp.getitem(x, index=lead + (slice(n - shift, n),)),
                               xp.getitem(x, index=lead + (slice(0, n - shift),)), axis=axis)
    return x


def ifftshift(xp, x, axes=None):
    """``numpy.fft.ifftshift``."""
    return fftshift(xp, x, axes, inverse=True, op="ifftshift")


def frequencies(n, d, op: str, half: bool = False) -> np.ndarray:
    """The integer frequencies ``k`` of ``numpy.fft.fftfreq`` (``rfftfreq`` with ``half``), to be divided by
    ``n * d``: ``0, 1, ..., -1`` (``0, 1, ..., n // 2``).

    Raises:
        ArgumentError: if ``n`` is not an integer >= 1.
    """
    n = _length(n, op)
    if half:
        return np.arange(n // 2 + 1)
    return np.concatenate([np.arange((n - 1) // 2 + 1), np.arange(-(n // 2), 0)])

