"""Low-precision targets of the report: a storage format and how the arithmetic is done.

A **target** is what the low-precision part of ``stable-softmax report``
measures (:mod:`.lowprec_report`):

``float16`` (a format name alone)
    Our default path for that storage format: ``stable_softmax.softmax(x)`` on
    the stored ``x``, which converts it exactly to float32, runs our float32
    kernel and rounds the result once to the format (what hardware libraries
    do). One function, :func:`ours_default`, calls it.
``STORAGE:COMPUTE:ACCUMULATE`` (e.g. ``bfloat16:float32:float32``)
    A simulated pipeline (:func:`stable_softmax.lowprec.pipeline.simulate`):
    the input and the result in ``STORAGE``; subtract, scale, exp, log, log1p
    and divide rounded to ``COMPUTE``; every partial sum rounded to
    ``ACCUMULATE``. ``STORAGE:COMPUTE`` means ``ACCUMULATE = COMPUTE``.

Storage formats are the formats of :data:`stable_softmax.formats.FORMATS`
other than float32 and float64 (those are the main report's dtypes).
Compute and accumulate formats are any format of the table: float32 and
float64 natively, the others simulated with correct rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..formats import FORMATS, Format, format_of
from .grids import DTYPES

__all__ = [
    "LOW_DTYPES",
    "PipelineError",
    "Target",
    "float32_then_round",
    "ours_default",
    "parse_pipeline",
    "parse_targets",
    "split_dtypes",
]

#: Storage formats of the low-precision part: every format of the table but the main dtypes.
LOW_DTYPES: tuple[str, ...] = tuple(name for name in FORMATS if name not in DTYPES)

#: Block size of the online method in simulated pipelines (FlashAttention-like tiles).
ONLINE_BLOCK = 32


class PipelineError(ValueError):
    """A pipeline or low-precision dtype given by name is malformed; the message says how."""


def ours_default(function: str, x: np.ndarray, method: str, beta: float, base) -> np.ndarray:
    """Our default path on storage-format logits ``x``: the public function on ``x`` itself.

    ``stable_softmax.softmax(x_float16)`` (and log_softmax, logsumexp)
    converts ``x`` exactly to float32, runs the float32 kernel of ``method``
    and rounds the result once to ``x``'s format (round to nearest even, the
    format's overflow rule); :func:`float32_then_round` spells that out, and
    ``tests/test_report_lowprec.py`` checks the two agree bit for bit.
    """
    import stable_softmax as ss

    with np.errstate(all="ignore"):
        return np.asarray(getattr(ss, function)(x, method=method, beta=beta, base=base))


def float32_then_round(function: str, x: np.ndarray, method: str, beta: float, base) -> np.ndarray:
    """The default path written out: ``astype(float32)``, float32 kernel, ``astype`` back.

    Exact conversion: every format of the table but float64 has ``p <= 24``
    and float32's exponent range or a narrower one.
    """
    import stable_softmax as ss

    fmt = format_of(x.dtype)
    with np.errstate(all="ignore"):
        out = getattr(ss, function)(x.astype(np.float32), method=method, beta=beta, base=base)
        return np.asarray(out).astype(fmt.dtype)


@dataclass(frozen=True)
class Target:
    """A storage format and its arithmetic: our default path (``compute=None``) or a pipeline."""

    storage: str
    compute: str | None = None
    accumulate: str | None = None

    @property
    def name(self) -> str:
        """``"float16"`` (default path) or ``"float16:float16:float32"``."""
        if self.compute is None:
            return self.storage
        return f"{self.storage}:{self.compute}:{self.accumulate}"

    @property
    def label(self) -> str:
        """How the report names the target in prose."""
        if self.compute is None:
            return f"{self.storage} (ours: float32 kernel, rounded once)"
        return (
            f"{self.storage} storage, {self.compute} compute, {self.accumulate} accumulate "
            "(simulated)"
        )

    @property
    def format(self) -> Format:
        """The storage format."""
        return FORMATS[self.storage]

    @property
    def simulated(self) -> bool:
        """Whether the target is a simulated pipeline."""
        return self.compute is not None

    @property
    def u_compute(self) -> float:
        """Unit roundoff of the compute format (float32's for the default path)."""
        return FORMATS[self.compute or "float32"].unit_roundoff

    @property
    def u_accumulate(self) -> float:
        """Unit roundoff of the accumulate format (float32's for the default path)."""
        return FORMATS[self.accumulate or "float32"].unit_roundoff

    def methods(self, function: str) -> tuple[str, ...]:
        """The methods of ``function`` this target runs."""
        if self.simulated:
            from ..lowprec.pipeline import METHODS

            return METHODS[function]
        import stable_softmax as ss

        return ss.METHODS[function]

    def compute_fn(
        self, function: str, method: str, x: np.ndarray, beta: float, base
    ) -> np.ndarray:
        """``function`` of the rows of ``x`` (storage dtype) by ``method``; storage dtype."""
        if not self.simulated:
            return ours_default(function, x, method, beta, base)
        from ..lowprec.pipeline import Pipeline, simulate

        pipe = Pipeline(self.storage, self.compute, self.accumulate)
        with np.errstate(all="ignore"):
            return simulate(
                function,
                x,
                method=method,
                pipeline=pipe,
                beta=beta,
                base=None if base is None or base == math.e else base,
                block=ONLINE_BLOCK,
            )


def _format(name: str, role: str, text: str, valid: tuple[str, ...]) -> str:
    if name not in valid:
        raise PipelineError(
            f"{role} format {name!r} in {text!r} is unknown; choose from {', '.join(valid)}"
        )
    return name


def parse_pipeline(text: str) -> Target:
    """The pipeline ``STORAGE:COMPUTE[:ACCUMULATE]`` as a :class:`Target`.

    Raises
    ------
    PipelineError
        Wrong number of parts, an unknown format, or a storage format the
        main report already measures (float32/float64).
    """
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise PipelineError(
            f"expected STORAGE:COMPUTE:ACCUMULATE such as bfloat16:float32:float32, got {text!r}"
        )
    storage = _format(parts[0], "storage", text, LOW_DTYPES)
    compute = _format(parts[1], "compute", text, tuple(FORMATS))
    accumulate = _format(parts[-1], "accumulate", text, tuple(FORMATS))
    return Target(storage, compute, accumulate)


def parse_targets(dtypes, pipelines) -> tuple[Target, ...]:
    """The targets of low-precision ``dtypes`` (default paths) and ``pipelines`` (strings).

    Duplicates are given once, in order: dtypes first.
    """
    targets = [Target(_format(d, "storage", d, LOW_DTYPES)) for d in dtypes]
    targets += [parse_pipeline(p) for p in pipelines]
    return tuple(dict.fromkeys(targets))


def split_dtypes(dtypes, low_dtypes=()) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """``(main, low)``: the float32/float64 names of ``dtypes`` and its low-precision ones.

    ``dtypes`` None (the default: every main dtype) stays None; ``low_dtypes``
    (already split) are kept in front.

    Raises
    ------
    PipelineError
        A name that is no format of the table; the message lists them.
    """
    low = tuple(low_dtypes)
    if dtypes is None:
        return None, low
    valid = (*DTYPES, *LOW_DTYPES)
    unknown = [d for d in dtypes if d not in valid]
    if unknown:
        raise PipelineError(
            f"unknown {', '.join(map(repr, unknown))}; choose from {', '.join(valid)}"
        )
    low = tuple(dict.fromkeys((*low, *(d for d in dtypes if d in LOW_DTYPES))))
    return tuple(dict.fromkeys(d for d in dtypes if d in DTYPES)), low
