"""Special values side by side: every implementation's actual output on the edge cases.

The cases are the special-value table of the README (a NaN, only ``-inf``,
``-inf`` among finite values, a ``+inf``, an empty slice) plus the edges of
the format: the largest float, a logit just past the overflow of ``exp``,
subnormal tails and a tail below the range of ``exp``. Each case is one row;
every implementation (ours, installed peers, users') computes it and its
output is compared with the **expected** output, the correctly rounded
reference (:mod:`reference`), which follows the SciPy convention of the
README's table for non-finite inputs. :func:`documented` states that table
independently of the reference (the tests check that the two agree).

An output **matches** when it has NaN, infinities and zeros exactly where the
expected output has them, and its finite values lose less than half their
significant bits (ULP distance below ``2**(p/2)``, ``p`` the precision: 2**12
ULP in float32, 2**26 in float64). Rounding differences are not what this
table is about (the sweep measures them); a wrong class or a lost tail is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

import reference

from ..floatbits import ulp_distance
from ..implementations import FUNCTIONS, Implementation, builtin

__all__ = ["CASES", "Case", "cases", "documented", "evaluate", "render_markdown", "special_values"]


@dataclass(frozen=True)
class Case:
    """One special-value input row: a name, a note and its values per dtype."""

    name: str
    note: str
    float32: tuple[float, ...]
    float64: tuple[float, ...]

    def row(self, dtype: str) -> np.ndarray:
        """The ``(1, n)`` input array in ``dtype``."""
        values = getattr(self, np.dtype(dtype).name)
        return np.array([values], dtype=dtype).reshape(1, len(values))


_INF, _NAN = float("inf"), float("nan")
_F32_MAX, _F64_MAX = float(np.finfo(np.float32).max), float(np.finfo(np.float64).max)

#: The cases, in table order. The "README" ones have a documented outcome
#: (:func:`documented`); the edge ones are checked against the reference only.
CASES: tuple[Case, ...] = (
    Case("NaN", "README: a NaN anywhere", (1.0, _NAN, 2.0), (1.0, _NAN, 2.0)),
    Case("all -inf", "README: only -inf", (-_INF, -_INF, -_INF), (-_INF, -_INF, -_INF)),
    Case("-inf among finite", "README", (-_INF, 0.0, 1.0), (-_INF, 0.0, 1.0)),
    Case("+inf", "README: a +inf, no NaN", (_INF, 0.0, 1.0), (_INF, 0.0, 1.0)),
    Case("+inf and -inf", "README: a +inf, no NaN", (_INF, -_INF, 0.0), (_INF, -_INF, 0.0)),
    Case("empty", "README: nothing", (), ()),
    # exp(x) overflows above 88.72 (float32) and 709.78 (float64): the next
    # integers overflow an unshifted exp while every exact output is finite.
    Case("exp overflows", "[89, 0] / [710, 0]", (89.0, 0.0), (710.0, 0.0)),
    Case("largest float", "[max, 0]", (_F32_MAX, 0.0), (_F64_MAX, 0.0)),
    # max + ln 2 rounds back to max: logsumexp is finite, exp(x - logsumexp) is 1
    Case("two largest", "[max, max]", (_F32_MAX, _F32_MAX), (_F64_MAX, _F64_MAX)),
    # exp rounds to 0 below -103.97 / -745.13 and is subnormal below -87.34 /
    # -708.40: an unshifted exp loses these rows; the exact softmax is
    # [1/(1+e^-1), e^-1/(1+e^-1)] = [0.731, 0.269].
    Case("subnormal tail", "[-104, -105] / [-745, -746]", (-104.0, -105.0), (-745.0, -746.0)),
    # e^-100 / e^-740 is subnormal in the result: the exact output has bits there.
    Case("subnormal output", "[0, -100] / [0, -740]", (0.0, -100.0), (0.0, -740.0)),
    Case(
        "dominant logit",
        "[0, -30] / [0, -60]: log_softmax at 0 is tiny",
        (0.0, -30.0),
        (0.0, -60.0),
    ),
)


def cases(names: Iterable[str] | None = None) -> tuple[Case, ...]:
    """The cases named (all by default)."""
    if names is None:
        return CASES
    wanted = set(names)
    return tuple(c for c in CASES if c.name in wanted)


def documented(function: str, x: np.ndarray) -> np.ndarray | None:
    """The README's special-value table applied to the row ``x``; None when it is silent.

    Silent means: the row is all finite and non-empty (only the reference
    knows the values then), or it has ``-inf`` among finite values, where
    the table states a relation (0 / ``-inf`` there, the terms drop out)
    rather than values.
    """
    row = np.asarray(x).reshape(-1)
    dt = row.dtype.type
    nan, inf = dt(np.nan), dt(np.inf)
    shape = () if function == "logsumexp" else row.shape
    if row.size == 0:
        return np.full(shape, -inf if function == "logsumexp" else nan, dtype=row.dtype)
    if np.isnan(row).any():
        return np.full(shape, nan, dtype=row.dtype)
    if np.isposinf(row).any():
        if function == "logsumexp":
            return np.array(inf, dtype=row.dtype)
        if function == "softmax":
            return np.full(shape, nan, dtype=row.dtype)
        return np.where(np.isposinf(row), nan, -inf).astype(row.dtype)
    if np.isneginf(row).all():
        return np.array(-inf, dtype=row.dtype) if function == "logsumexp" else row * nan
    return None


def _expected(function: str, x: np.ndarray) -> np.ndarray:
    if x.shape[1] == 0:
        # the reference and several libraries disagree on empty shapes; the
        # README's table is the convention
        return documented(function, x[0]).reshape((1,) if function == "logsumexp" else (1, 0))
    return np.asarray(getattr(reference, function)(x))


def _text(values: np.ndarray) -> list[str]:
    # shortest repr that round-trips in the value's own dtype ("nan", "-inf" included)
    return [str(v) for v in np.asarray(values).reshape(-1)]


def compare(result: np.ndarray, expected: np.ndarray) -> tuple[str, float | None]:
    """``("same" | "close" | "differs", max ULP distance or None)``; see the module docstring."""
    r, e = np.asarray(result), np.asarray(expected)
    if r.shape != e.shape:
        return "differs", None
    if r.dtype != e.dtype:
        return "differs", None
    if r.size == 0:
        return "same", None
    with np.errstate(invalid="ignore"):
        same_class = (
            np.array_equal(np.isnan(r), np.isnan(e))
            and np.array_equal(np.where(np.isinf(r), r, 0), np.where(np.isinf(e), e, 0))
            and np.array_equal(r == 0, e == 0)
        )
    finite = np.isfinite(r) & np.isfinite(e)
    ulps = float(ulp_distance(r[finite], e[finite]).max()) if finite.any() else 0.0
    if not same_class:
        return "differs", ulps if finite.any() else None
    if ulps == 0.0:
        return "same", 0.0
    precision = np.finfo(r.dtype).nmant + 1
    return ("close" if ulps < 2.0 ** (precision / 2) else "differs"), ulps


def evaluate(impl: Implementation, x: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """``(output, None)``, or ``(None, "ExceptionType: message")`` when ``impl`` raises."""
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(impl.compute(x, beta=1.0, base=None))
    except Exception as exc:  # a peer raising on an edge case is a result, not a crash
        return None, f"{type(exc).__name__}: {exc}"
    if out.dtype != x.dtype and out.dtype.kind == "f":
        out = out.astype(x.dtype)
    return out, None


def special_values(
    implementations: dict[str, list[Implementation]] | None = None,
    dtypes: Iterable[str] = ("float32", "float64"),
    selected: Iterable[Case] = CASES,
) -> list[dict]:
    """Every implementation's output on every case, with the expected output.

    Parameters
    ----------
    implementations : dict of str to list of Implementation, optional
        Per function, what to evaluate. Default: our methods
        (:func:`stable_softmax.implementations.builtin`).
    dtypes : iterable of str
        float32 and/or float64; an implementation that does not list a dtype
        is left out for it.
    selected : iterable of Case
        The cases (default :data:`CASES`).

    Returns
    -------
    list of dict
        One row per function x dtype x case x implementation, JSON-ready:
        ``function, dtype, case, note, input, implementation, kind, output,
        expected, status, max_ulp, error``. Values are strings (``"nan"``,
        ``"-inf"``, shortest round-trip decimals). ``status`` is
        ``"same"``/``"close"``/``"differs"`` (:func:`compare`) or
        ``"raises"`` with ``error`` set.
    """
    if implementations is None:
        implementations = {f: list(builtin(f)) for f in FUNCTIONS}
    rows = []
    for function, impls in implementations.items():
        for dtype in dtypes:
            for case in selected:
                x = case.row(dtype)
                expected = _expected(function, x)
                for impl in impls:
                    if dtype not in impl.dtypes:
                        continue
                    out, error = evaluate(impl, x)
                    if error is None:
                        status, ulps = compare(out, expected)
                    else:
                        status, ulps = "raises", None
                    rows.append(
                        {
                            "function": function,
                            "dtype": dtype,
                            "case": case.name,
                            "note": case.note,
                            "input": _text(x),
                            "implementation": impl.name,
                            "kind": impl.kind,
                            "output": None if out is None else _text(out),
                            "expected": _text(expected),
                            "status": status,
                            "max_ulp": ulps,
                            "error": error,
                        }
                    )
    return rows


def _short(values: list[str] | None, limit: int = 4) -> str:
    if values is None:
        return "-"
    shown = [v if len(v) <= 10 else f"{float(v):.4g}" for v in values[:limit]]
    return "[" + ", ".join(shown) + (", ..." if len(values) > limit else "") + "]"


def render_markdown(rows: list[dict]) -> list[str]:
    """Markdown lines: one table per function x dtype, cases down, implementations across.

    A cell is ``=`` when the output equals the expected one bit for bit,
    ``≈ k`` when it matches within ``k`` ULP, and the actual output in bold
    with a ``≠`` when it differs (``raises`` with the exception type when it raised).
    """
    lines: list[str] = []
    keys = list(dict.fromkeys((r["function"], r["dtype"]) for r in rows))
    for function, dtype in keys:
        sel = [r for r in rows if r["function"] == function and r["dtype"] == dtype]
        impls = list(dict.fromkeys(r["implementation"] for r in sel))
        lines += [
            f"#### {function}, {dtype}",
            "",
            "| case | input | expected | " + " | ".join(impls) + " |",
            "| --- | --- | --- | " + " | ".join("---" for _ in impls) + " |",
        ]
        for case in dict.fromkeys(r["case"] for r in sel):
            by_impl = {r["implementation"]: r for r in sel if r["case"] == case}
            first = next(iter(by_impl.values()))
            cells = []
            for name in impls:
                r = by_impl.get(name)
                if r is None:
                    cells.append("")
                elif r["status"] == "same":
                    cells.append("=")
                elif r["status"] == "close":
                    cells.append(f"≈ {r['max_ulp']:g} ULP")
                elif r["status"] == "raises":
                    cells.append(f"**≠ raises {r['error'].split(':')[0]}**")
                else:
                    cells.append(f"**≠ {_short(r['output'])}**")
            lines.append(
                f"| {case} | {_short(first['input'])} | {_short(first['expected'])} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    return lines
