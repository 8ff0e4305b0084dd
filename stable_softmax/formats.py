"""Binary floating-point formats: one table, every parameter in one place.

A format here is a sign-magnitude binary format with precision ``p``
(significand bits, the implicit bit included), normal exponents
``emin..emax`` and gradual underflow: its finite values are ``+-M * 2**q`` with
integers ``0 <= M < 2**p`` and ``q >= qmin = emin - p + 1``, up to
:attr:`Format.largest`.  Formats differ only in what happens past the largest
finite value and in their special encodings, which :class:`Format` records
from three facts:

==================  =========================================================
``has_inf``         the format has infinities; overflow rounds to ``+-inf``
                    (IEEE 754).
``nan``             where NaN is encoded: ``"ieee"`` (exponent all ones),
                    ``"top"`` (only the all-ones significand of the top
                    binade, so that binade loses its last value: ``fn``
                    formats such as float8_e4m3fn), ``"negzero"`` (the ``-0``
                    pattern: ``fnuz`` formats, which have no ``-0``) or
                    ``None`` (no NaN).
overflow            derived: ``inf`` if ``has_inf``, else NaN if the format
                    has a NaN, else saturation to ``+-largest``.
==================  =========================================================

These are the conversion rules of ``ml_dtypes`` (checked bit for bit in
``tests/test_formats.py``): round to nearest even on the unbounded grid of
precision ``p``, then map a magnitude above ``largest`` to the overflow
value.  So float8_e4m3fn (largest 448, the next grid point 480 being NaN)
rounds ``464`` (the midpoint, tie to the even 448) to 448 and anything above
464 to NaN; ``+-inf`` converts to NaN.  float8_e4m3fnuz rounds ``-0`` and
tiny negatives to ``+0``.  Saturating formats (float6, float4) map ``+-inf``
to ``+-largest``; ml_dtypes converts NaN to ``-0`` there, a value the formulas
of this package never produce from finite inputs.

Adding a format is one line in :data:`FORMATS` (name, p, emin, emax,
has_inf, nan, module); its NumPy dtype is looked up by name in ``module``
when first needed (importing ``ml_dtypes`` costs about half a second).

==================  ==  ====  ====  =======  =========  ==================
format              p   emin  emax  largest  unit r.    overflow
==================  ==  ====  ====  =======  =========  ==================
float64             53  -1022 1023  1.8e308  2**-53     inf
float32             24  -126  127   3.4e38   2**-24     inf
float16             11  -14   15    65504    2**-11     inf
bfloat16            8   -126  127   3.39e38  2**-8      inf
float8_e5m2         3   -14   15    57344    2**-3      inf
float8_e4m3fn       4   -6    8     448      2**-4      NaN
float8_e4m3fnuz     4   -7    7     240      2**-4      NaN (no -0)
float6_e2m3fn       4   0     2     7.5      2**-4      saturate
float6_e3m2fn       3   -2    4     28       2**-3      saturate
float4_e2m1fn       2   0     2     6        2**-2      saturate
==================  ==  ====  ====  =======  =========  ==================
"""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["FORMATS", "Format", "format_of", "names"]

_NAN_RULES = ("ieee", "top", "negzero", None)


@dataclass(frozen=True)
class Format:
    """A binary floating-point format (see the module docstring).

    Attributes
    ----------
    name : str
        The dtype's name in NumPy or ml_dtypes, e.g. ``"bfloat16"``.
    precision : int
        ``p``, significand bits including the implicit one.
    emin, emax : int
        Exponents of the smallest normal binade (``2**emin``) and of the
        largest binade (``largest < 2**(emax + 1)``).
    has_inf : bool
        Whether the format has infinities.
    nan : {"ieee", "top", "negzero", None}
        How NaN is encoded (decides ``largest`` and the overflow value).
    module : {"numpy", "ml_dtypes"}
        Where the dtype of that name lives.
    """

    name: str
    precision: int
    emin: int
    emax: int
    has_inf: bool
    nan: str | None
    module: str

    def __post_init__(self):
        if self.nan not in _NAN_RULES:
            raise ValueError(f"nan must be one of {_NAN_RULES}; got {self.nan!r}")
        if self.has_inf and self.nan != "ieee":
            raise ValueError("a format with infinities encodes NaN the IEEE way")
        if self.precision < 1 or self.emin > self.emax:
            raise ValueError(f"bad format parameters for {self.name}")

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (ml_dtypes imported on first use)."""
        return _dtype(self.module, self.name)

    @property
    def qmin(self) -> int:
        """Exponent of the smallest subnormal, ``emin - p + 1``."""
        return self.emin - self.precision + 1

    @property
    def largest_significand(self) -> int:
        """``M`` with ``largest = M * 2**(emax - p + 1)``."""
        return 2**self.precision - (2 if self.nan == "top" else 1)

    @property
    def largest(self) -> float:
        """Largest finite value (exact as a Python float)."""
        return math.ldexp(self.largest_significand, self.emax - self.precision + 1)

    @property
    def smallest_normal(self) -> float:
        """``2**emin``."""
        return math.ldexp(1.0, self.emin)

    @property
    def smallest_subnormal(self) -> float:
        """``2**qmin``."""
        return math.ldexp(1.0, self.qmin)

    @property
    def unit_roundoff(self) -> float:
        """``u = 2**-p``: relative error bound of round-to-nearest in the normal range."""
        return math.ldexp(1.0, -self.precision)

    @property
    def eps(self) -> float:
        """Machine epsilon ``2**(1-p)``, the spacing of the floats just above 1."""
        return math.ldexp(1.0, 1 - self.precision)

    @property
    def overflow(self) -> str:
        """What a magnitude rounding above ``largest`` becomes: "inf", "nan" or "saturate"."""
        if self.has_inf:
            return "inf"
        return "nan" if self.nan is not None else "saturate"

    @property
    def signed_zero(self) -> bool:
        """False for ``fnuz`` formats, where the ``-0`` pattern is NaN."""
        return self.nan != "negzero"

    @property
    def overflow_threshold(self) -> Fraction:
        """The midpoint ``largest + ulp/2`` between ``largest`` and the next grid point.

        Magnitudes above it round past ``largest`` (to the overflow value); the
        midpoint itself does so only when ``largest``'s significand is odd
        (IEEE formats: the tie goes to the even ``2**(emax+1)``), while ``fn``
        formats round it down to ``largest`` (float8_e4m3fn: 464 -> 448).
        A Fraction, since float64's threshold is no float64.
        """
        return Fraction(2 * self.largest_significand + 1) * Fraction(2) ** (
            self.emax - self.precision
        )

    @property
    def ln_overflow_bound(self) -> int:
        """An integer ``T`` such that ``exp(x)`` overflows for every ``x >= T``.

        ``ceil((emax + 1) ln 2)``: ``e**T >= 2**(emax+1)`` exceeds the overflow
        threshold (89 for float32, 710 for float64, 12 for float16).
        """
        return math.ceil((self.emax + 1) * math.log(2.0))

    @property
    def ln_underflow_bound(self) -> int:
        """An integer ``T`` such that ``exp(x)`` rounds to +0 for every ``x < -T``.

        ``floor((1 - qmin) ln 2) + 2``: ``e**-T`` is below half the smallest
        subnormal, ``2**(qmin - 1)`` (105 for float32, 747 for float64, 19 for
        float16); the margin of 1 covers the float evaluation of the log.
        """
        return math.floor((1 - self.qmin) * math.log(2.0)) + 2

    @property
    def cache_tag(self) -> str:
        """A string naming the format in cache keys.

        ``dtype.str`` for float32 and float64 (the keys used before this table
        existed, so stored results stay valid); the name otherwise, since
        ml_dtypes formats share ``dtype.str`` values such as ``'<V1'``.
        """
        if self.name in ("float32", "float64"):
            return self.dtype.str
        return self.name


@functools.cache
def _dtype(module: str, name: str) -> np.dtype:
    return np.dtype(getattr(importlib.import_module(module), name))


# name, p, emin, emax, has_inf, nan, module: one line per format.
_TABLE = [
    ("float64", 53, -1022, 1023, True, "ieee", "numpy"),
    ("float32", 24, -126, 127, True, "ieee", "numpy"),
    ("float16", 11, -14, 15, True, "ieee", "numpy"),
    ("bfloat16", 8, -126, 127, True, "ieee", "ml_dtypes"),
    ("float8_e5m2", 3, -14, 15, True, "ieee", "ml_dtypes"),
    ("float8_e4m3fn", 4, -6, 8, False, "top", "ml_dtypes"),
    ("float8_e4m3fnuz", 4, -7, 7, False, "negzero", "ml_dtypes"),
    ("float6_e2m3fn", 4, 0, 2, False, None, "ml_dtypes"),
    ("float6_e3m2fn", 3, -2, 4, False, None, "ml_dtypes"),
    ("float4_e2m1fn", 2, 0, 2, False, None, "ml_dtypes"),
]

#: Every known format by name, in the order of the table above.
FORMATS: dict[str, Format] = {row[0]: Format(*row) for row in _TABLE}


def names() -> tuple[str, ...]:
    """Names of the formats of :data:`FORMATS`."""
    return tuple(FORMATS)


#: ``dtype.name`` of each dtype :func:`format_of` has seen.
_DTYPE_NAMES: dict[np.dtype, str] = {}


def format_of(spec: Any) -> Format:
    """The :class:`Format` of a name, a dtype, a scalar type or a Format.

    Parameters
    ----------
    spec : str, numpy.dtype, type or Format
        E.g. ``"bfloat16"``, ``np.float16``, ``ml_dtypes.float8_e4m3fn``.

    Returns
    -------
    Format

    Raises
    ------
    TypeError
        If ``spec`` names no format of the table; the message lists them.
    """
    if isinstance(spec, Format):
        return spec
    if isinstance(spec, str):
        name = spec
    else:
        # dtype.name is computed anew at each access (microseconds): remember it per dtype.
        try:
            dtype = np.dtype(spec)
        except TypeError:
            dtype = None
        name = None if dtype is None else _DTYPE_NAMES.get(dtype)
        if dtype is not None and name is None:
            name = _DTYPE_NAMES.setdefault(dtype, dtype.name)
    if name in FORMATS:
        return FORMATS[name]
    raise TypeError(
        f"no binary floating-point format for {spec!r}; pass one of {', '.join(FORMATS)} "
        "(a name, a NumPy/ml_dtypes dtype or scalar type)"
    )
