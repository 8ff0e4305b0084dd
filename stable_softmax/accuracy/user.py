r"""Measure your own softmax: any callable on the report's grid, metrics and edge cases.

>>> import numpy as np
>>> from stable_softmax.accuracy import user
>>> def my_softmax(x):                      # over the last axis of a 2-D array
...     e = np.exp(x - x.max(axis=-1, keepdims=True))
...     return e / e.sum(axis=-1, keepdims=True)
>>> m = user.measure(my_softmax, "softmax", name="mine")    # doctest: +SKIP
>>> print(m.markdown())                                     # doctest: +SKIP

What :func:`measure` does with an implementation is what the report does with
our methods: the grid cells of :data:`stable_softmax.accuracy.sweep.GRIDS`
(same families, logit scales, ``n``, ``beta``, bases, seeds), each output
compared with the correctly rounded reference by
:func:`stable_softmax.accuracy.sweep.measure` (ULP error, overflow /
underflow / NaN fractions, sum and argmax checks); the exact overflow and
underflow thresholds found by bisection on the float grid
(:func:`find_threshold`); the special-value cases of
:mod:`.special_values`. Our own methods run on the same cells for comparison
(``compare``). The records have the format of the report's (the
implementation's name in the ``method`` field), so :mod:`.report` and
:mod:`.cost` take them as they are.

``beta`` and ``base``: a plain callable receives ``scale_logits(x, beta,
base)`` (``c x`` rounded to the dtype), as its users would call it; a callable
that takes ``beta``/``base`` itself is wrapped with ``takes_scale=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .. import floatbits
from ..implementations import Implementation, builtin, register, scale_logits
from . import sweep
from .families import edges
from .special_values import special_values

__all__ = ["Measurement", "find_threshold", "implementation", "measure"]


def implementation(
    fn: Callable[..., object],
    function: str,
    *,
    name: str | None = None,
    dtypes: Iterable[str] = ("float32", "float64"),
    takes_scale: bool = False,
    version: str | None = None,
) -> Implementation:
    """Wrap a callable as an :class:`~stable_softmax.implementations.Implementation`.

    Parameters
    ----------
    fn : callable
        ``fn(x) -> array``: ``function`` over the last axis of a C-contiguous
        ``(rows, n)`` array ``x``; ``fn(x, beta=..., base=...)`` if
        ``takes_scale``. The result is converted with ``np.asarray`` and cast
        to ``x``'s dtype.
    function : {"softmax", "log_softmax", "logsumexp"}
        What ``fn`` computes (logsumexp returns shape ``(rows,)``).
    name : str, optional
        Its name in records and tables (default: ``fn.__qualname__``).
    dtypes : iterable of str
        The dtypes it accepts; cells of other dtypes are not run.
    takes_scale : bool
        True when ``fn`` applies ``beta`` and ``base`` itself.
    version : str, optional
        Shown in the report header.

    Returns
    -------
    Implementation
        With ``kind="user"``; not registered (see :func:`measure`).
    """
    label = name or getattr(fn, "__qualname__", None) or repr(fn)

    def compute(x: np.ndarray, *, beta: float = 1.0, base: float | None = None) -> np.ndarray:
        if takes_scale:
            out = fn(x, beta=beta, base=base)
        else:
            out = fn(scale_logits(x, beta, base))
        return np.asarray(out).astype(x.dtype, copy=False)

    compute.__qualname__ = f"{function}[{label}]"
    return Implementation(
        name=label,
        function=function,
        compute=compute,
        dtypes=tuple(np.dtype(d).name for d in dtypes),
        kind="user",
        version=version,
    )


def _failure(impl: Implementation, row: np.ndarray, *, probe: str) -> bool:
    with np.errstate(all="ignore"):
        try:
            out = np.asarray(impl.compute(row.reshape(1, -1), beta=1.0, base=None))
        except (FloatingPointError, OverflowError, ZeroDivisionError):
            return True
    bad = not bool(np.all(np.isfinite(out)))
    if probe == "underflow" and impl.function == "softmax":
        bad = bad or bool(np.any(out == 0))
    return bad


def find_threshold(impl: Implementation, dtype, beta: float = 1.0) -> dict:
    """Exact overflow and underflow edges of ``impl``, by bisection on the float grid.

    The probes of :mod:`stable_softmax.accuracy.thresholds`, applied to any
    implementation: ``overflow`` is the smallest float ``t > 0`` at which the
    row ``[t, 0]`` gives an inf or NaN output (exact outputs are finite for
    every finite ``c t``), ``underflow`` the largest float ``t < 0`` at which
    ``[t, t]`` does (or softmax gives 0; the exact softmax is ``[1/2, 1/2]``).
    The logits are scaled by ``beta`` first (``scale_logits``), so the edges
    are in units of the unscaled logit. ``None``: no failure up to
    ``max_float / beta``. The search assumes failure is monotone in ``|t|``.

    Returns
    -------
    dict
        ``function, method, dtype, beta, overflow, overflow_last_ok,
        underflow, underflow_last_ok, search_limit, theory_overflow,
        theory_normal, theory_subnormal`` (the keys of
        :class:`stable_softmax.accuracy.thresholds.Threshold`), Python floats.
    """
    dtype = np.dtype(dtype)
    big = np.finfo(dtype).max
    with np.errstate(over="ignore"):
        limit = dtype.type(big / dtype.type(beta)) if beta > 1 else big
    top = int(floatbits.to_ordinal(limit))

    def at(ordinal: int) -> np.floating:
        return floatbits.from_ordinal(ordinal, dtype)[()]

    def scaled(row: np.ndarray) -> np.ndarray:
        return scale_logits(row, beta, None) if beta != 1.0 else row

    def over(o: int) -> bool:
        return _failure(impl, scaled(np.array([at(o), 0], dtype=dtype)), probe="overflow")

    def under(o: int) -> bool:
        t = -at(o)
        return _failure(impl, scaled(np.array([t, t], dtype=dtype)), probe="underflow")

    first_over = floatbits.first_true(over, 0, top)
    first_under = floatbits.first_true(under, 0, top)

    def value(o, sign=1.0):
        return None if o is None else sign * float(at(o))

    theory = {k: v / beta for k, v in edges(dtype).items()}
    return {
        "function": impl.function,
        "method": impl.name,
        "dtype": dtype.name,
        "beta": float(beta),
        "overflow": value(first_over),
        "overflow_last_ok": value(None if first_over is None else first_over - 1),
        "underflow": value(first_under, -1.0),
        "underflow_last_ok": value(None if first_under is None else first_under - 1, -1.0),
        "search_limit": float(limit),
        "theory_overflow": theory["overflow"],
        "theory_normal": theory["normal"],
        "theory_subnormal": theory["subnormal"],
    }


@dataclass
class Measurement:
    """What :func:`measure` returns: records, thresholds, special values, and a summary."""

    records: list[dict]
    thresholds: list[dict]
    special_values: list[dict]
    implementations: list[Implementation] = field(default_factory=list)

    def summary(self) -> list[dict]:
        """One row per function x implementation x dtype (:func:`.report.summarize`)."""
        from .summary import summarize

        return summarize(self.records)

    def markdown(self) -> str:
        """A short report: worst errors and failure rates, thresholds, special values."""
        from . import special_values as sv
        from .thresholds import describe

        lines = [
            "## Accuracy against the correctly rounded reference",
            "",
            "| function | implementation | dtype | cells | worst ULP | worst bits | "
            "inf/NaN | underflow |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in self.summary():
            worst = "-" if s["worst_ulp"] is None else f"{s['worst_ulp']:.4g}"
            bits = "-" if s["worst_bits"] is None else f"{s['worst_bits']:.1f}"
            lines.append(
                f"| {s['function']} | {s['method']} | {s['dtype']} | {s['cells']} | {worst} | "
                f"{bits} | {s['overflow'] + s['nan']:.2%} | {s['underflow']:.2%} |"
            )
        lines += [
            "",
            "## Overflow and underflow thresholds (rows [t, 0] and [t, t])",
            "",
            "| function | implementation | dtype | beta | overflows from t = | "
            "fails below t = | theory: exp overflows above |",
            "| --- | --- | --- | ---: | --- | --- | --- |",
        ]
        for t in self.thresholds:
            lines.append(
                f"| {t['function']} | {t['method']} | {t['dtype']} | {t['beta']:g} | "
                f"{describe(t['overflow'], t['dtype'])} | "
                f"{describe(t['underflow'], t['dtype'])} | {t['theory_overflow']:.6g} |"
            )
        lines += ["", "## Special values (expected: the reference, SciPy's convention)", ""]
        lines += sv.render_markdown(self.special_values)
        return "\n".join(lines)


def measure(
    fn: Callable[..., object] | Implementation,
    function: str | None = None,
    *,
    name: str | None = None,
    dtypes: Iterable[str] = ("float32", "float64"),
    grid: str | sweep.Grid = "quick",
    families: Iterable[str] | None = None,
    seed: int = 0,
    compare: Iterable[str] | None = None,
    thresholds: bool = True,
    threshold_betas: Iterable[float] = (1.0,),
    special: bool = True,
    register_it: bool = True,
) -> Measurement:
    """Measure a softmax, log_softmax or logsumexp implementation like the report measures ours.

    Parameters
    ----------
    fn : callable or Implementation
        ``fn(x)`` over the last axis of a ``(rows, n)`` array (see
        :func:`implementation`), or an ``Implementation``.
    function : {"softmax", "log_softmax", "logsumexp"}
        Required with a callable.
    name, dtypes
        As in :func:`implementation` (ignored for an ``Implementation``).
    grid : str or Grid
        ``"quick"`` (minutes on 2 cores with a cold reference cache) or
        ``"full"``, or a :class:`~stable_softmax.accuracy.sweep.Grid`.
    families : iterable of str, optional
        Keep only these input families (default all).
    seed : int
        Seed of the inputs; the same seed gives the report's inputs.
    compare : iterable of str, optional
        Our methods of ``function`` to run on the same cells (default all:
        the reference is computed once per cell, so they cost little).
        Pass ``()`` for none.
    thresholds : bool
        Also bisect the exact overflow/underflow thresholds (for each beta of
        ``threshold_betas``).
    special : bool
        Also evaluate the special-value cases.
    register_it : bool
        Register the implementation so that ``implementations.get`` resolves
        its name in this process.

    Returns
    -------
    Measurement
        ``records`` (one per cell and implementation, the report's record
        format), ``thresholds``, ``special_values``, and ``markdown()``.

    Raises
    ------
    ValueError
        For an unknown function or comparison method.
    """
    impl = fn if isinstance(fn, Implementation) else None
    if impl is None:
        if function is None:
            raise ValueError(
                "function is required with a callable: pass 'softmax', 'log_softmax' or 'logsumexp'"
            )
        impl = implementation(fn, function, name=name, dtypes=dtypes)
    function = impl.function
    if register_it:
        register(impl, replace=True)
    ours = {i.name: i for i in builtin(function)}
    chosen = list(ours) if compare is None else list(compare)
    unknown = [m for m in chosen if m not in ours]
    if unknown:
        raise ValueError(f"compare: {unknown} not methods of {function}; valid: {list(ours)}")
    impls = [ours[m] for m in chosen if m != impl.name] + [impl]
    grid_obj = sweep.GRIDS[grid] if isinstance(grid, str) else grid
    wanted = [np.dtype(d).name for d in dtypes if np.dtype(d).name in impl.dtypes]
    cells = sweep.build_cells(grid_obj, {function: (impl.name,)}, wanted, families, seed)
    records = []
    for group in sweep.group_cells(cells):  # one cell per group: one name per cell
        records += _run_group(group[0], impls)
    table = []
    if thresholds:
        table = [
            find_threshold(i, dtype, beta)
            for i in impls
            for dtype in wanted
            for beta in threshold_betas
        ]
    specials = special_values({function: impls}, wanted) if special else []
    return Measurement(records, table, specials, impls)


def _run_group(cell: sweep.Cell, impls: list[Implementation]) -> list[dict]:
    """Records of every implementation on the inputs of ``cell`` (reference computed once)."""
    from dataclasses import replace

    x = sweep.cell_inputs(cell)
    ref, valid = sweep.cell_reference(cell, x)
    out = []
    for impl in impls:
        this = replace(cell, method=impl.name)
        try:
            with np.errstate(all="ignore"):
                result = np.asarray(impl.compute(x, beta=cell.beta, base=cell.base_arg))
            out.append(sweep.measure(this, x, result, ref, valid))
        except Exception as exc:  # recorded like the sweep records a failing cell
            out.append(sweep.error_record(this, exc))
    return out
