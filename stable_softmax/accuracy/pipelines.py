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
``float16/torch`` (a storage format and a peer, from ``--peers``)
    The peer's own kernel on an array of that dtype (torch and JAX take
    float16 and bfloat16: :mod:`stable_softmax.implementations.peers`).
``STORAGE:COMPUTE[:ACCUMULATE]:stochastic``
    The same with stochastic rounding of every simulated operation (round up
    with probability equal to the fraction of the gap), seeded with
    :data:`STOCHASTIC_SEED` in every cell, so a report is reproducible;
    ``:nearest`` (the default) may be written too.

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

#: Roundings a pipeline may name last (:class:`stable_softmax.lowprec.pipeline.Pipeline`).
ROUNDINGS: tuple[str, ...] = ("nearest", "stochastic")

#: Seed of stochastic rounding in every cell of the report (the same stream each time).
STOCHASTIC_SEED = 0


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
    """A storage format and how it is computed.

    Our default path (``compute=None``), a simulated pipeline, or a peer's own
    kernel (``peer``).
    """

    storage: str
    compute: str | None = None
    accumulate: str | None = None
    rounding: str = "nearest"
    peer: str | None = None

    @property
    def name(self) -> str:
        """``"float16"`` (default path), ``"float16:float16:float32"`` or ``"...:stochastic"``."""
        if self.peer is not None:
            return f"{self.storage}/{self.peer}"
        if self.compute is None:
            return self.storage
        tail = ":stochastic" if self.rounding == "stochastic" else ""
        return f"{self.storage}:{self.compute}:{self.accumulate}{tail}"

    @property
    def label(self) -> str:
        """How the report names the target in prose."""
        if self.peer is not None:
            return f"{self.storage} ({self.peer}'s own kernel on a {self.storage} array)"
        if self.compute is None:
            return f"{self.storage} (ours: float32 kernel, rounded once)"
        how = (
            f"simulated, stochastic rounding, seed {STOCHASTIC_SEED}"
            if self.rounding == "stochastic"
            else "simulated"
        )
        formats = f"{self.storage} storage, {self.compute} compute, {self.accumulate} accumulate"
        return f"{formats} ({how})"

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
        return self._u(self.compute or "float32")

    @property
    def u_accumulate(self) -> float:
        """Unit roundoff of the accumulate format (float32's for the default path)."""
        return self._u(self.accumulate or "float32")

    def _u(self, name: str) -> float:
        # A stochastically rounded result is within one ulp, not half: 2u relative, so the
        # first-order bounds take 2u for the simulated formats (native ones round to nearest).
        stochastic = self.rounding == "stochastic" and _simulated(name)
        return FORMATS[name].unit_roundoff * (2 if stochastic else 1)

    def methods(self, function: str) -> tuple[str, ...]:
        """The methods of ``function`` this target runs (a peer's: its name, if it has it)."""
        if self.peer is not None:
            return (self.peer,) if self.storage in _peer_dtypes(function, self.peer) else ()
        if self.simulated:
            from ..lowprec.pipeline import METHODS

            return METHODS[function]
        import stable_softmax as ss

        return ss.METHODS[function]

    def compute_fn(
        self, function: str, method: str, x: np.ndarray, beta: float, base
    ) -> np.ndarray:
        """``function`` of the rows of ``x`` (storage dtype) by ``method``; storage dtype."""
        if self.peer is not None:
            from .. import implementations

            with np.errstate(all="ignore"):
                out = implementations.get(function, self.peer).compute(x, beta=beta, base=base)
            return np.asarray(out)
        if not self.simulated:
            return ours_default(function, x, method, beta, base)
        from ..lowprec.pipeline import Pipeline, simulate

        stochastic = self.rounding == "stochastic"
        pipe = Pipeline(
            self.storage,
            self.compute,
            self.accumulate,
            rounding=self.rounding,
            seed=STOCHASTIC_SEED if stochastic else None,
        )
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


def _simulated(name: str) -> bool:
    """Whether arithmetic in format ``name`` is simulated (<= 16 bits; float32/64: native)."""
    return FORMATS[name].dtype.itemsize < 4


def _format(name: str, role: str, text: str, valid: tuple[str, ...]) -> str:
    if name not in valid:
        raise PipelineError(
            f"{role} format {name!r} in {text!r} is unknown; choose from {', '.join(valid)}"
        )
    return name


def parse_pipeline(text: str) -> Target:
    """The pipeline ``STORAGE:COMPUTE[:ACCUMULATE][:ROUNDING]`` as a :class:`Target`.

    ``ROUNDING`` is one of :data:`ROUNDINGS` (default ``nearest``).

    Raises
    ------
    PipelineError
        Wrong number of parts, an unknown format or rounding, or a storage
        format the main report already measures (float32/float64).
    """
    parts = [p.strip() for p in text.split(":")]
    rounding = "nearest"
    if len(parts) in (3, 4) and parts[-1] in ROUNDINGS:
        rounding = parts.pop()
    elif len(parts) == 4:
        raise PipelineError(
            f"rounding {parts[-1]!r} in {text!r} is unknown; choose from {', '.join(ROUNDINGS)}"
        )
    if len(parts) not in (2, 3) or not all(parts):
        raise PipelineError(
            "expected STORAGE:COMPUTE:ACCUMULATE[:ROUNDING] such as bfloat16:float32:float32 "
            f"or bfloat16:bfloat16:float32:stochastic, got {text!r}"
        )
    storage = _format(parts[0], "storage", text, LOW_DTYPES)
    compute = _format(parts[1], "compute", text, tuple(FORMATS))
    accumulate = _format(parts[-1], "accumulate", text, tuple(FORMATS))
    if rounding == "stochastic" and not (_simulated(compute) or _simulated(accumulate)):
        raise PipelineError(
            f"stochastic rounding in {text!r} applies to simulated formats only, and "
            f"{compute} and {accumulate} run natively; name a compute or accumulate format "
            "of at most 16 bits (e.g. bfloat16:bfloat16:float32:stochastic)"
        )
    return Target(storage, compute, accumulate, rounding)


def parse_targets(dtypes, pipelines, peers=()) -> tuple[Target, ...]:
    """The targets of low-precision ``dtypes`` (default paths), ``pipelines`` (strings)
    and ``peers`` (names): each peer once per dtype it takes.

    Duplicates are given once, in order: dtypes, then peers, then pipelines.
    """
    from ..implementations import FUNCTIONS

    targets = [Target(_format(d, "storage", d, LOW_DTYPES)) for d in dtypes]
    for peer in peers:
        takes = {d for f in FUNCTIONS for d in _peer_dtypes(f, peer)}
        targets += [Target(d, peer=peer) for d in dtypes if d in takes]
    targets += [parse_pipeline(p) for p in pipelines]
    return tuple(dict.fromkeys(targets))


def _peer_dtypes(function: str, peer: str) -> tuple[str, ...]:
    """The dtypes peer ``peer`` takes for ``function`` (none if it lacks the function)."""
    from .. import implementations

    try:
        return implementations.get(function, peer).dtypes
    except ValueError:
        return ()


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
