r"""Input families for the accuracy sweep: seeded, reproducible rows of logits.

Every family turns ``(rows, n, scale, dtype, c)`` into a ``(rows, n)`` array of
logits in ``dtype``; ``c = beta * ln(base)`` is the scale the kernels apply.
The random generator of a grid cell is seeded from a SHA-256 hash of the cell's
input key (:func:`input_rng`), so any process can regenerate the exact inputs
of any cell from its parameters alone.

Families (``scale`` is the logit magnitude unless said otherwise):

``gaussian``
    ``scale * N(0, 1)``.
``uniform``
    ``U(-scale, scale)``.
``spike``
    Background ``U(-1, 1)`` with one element per row at ``+scale``: a confident
    prediction, the other outputs underflow as ``scale`` grows.
``ties``
    ``k = min(4, n)`` elements share the exact maximum ``scale``; the others are
    ``U(-scale, scale)`` and strictly below it. The exact softmax of each tied
    element tends to ``1/k`` as ``beta`` grows.
``spread``
    Bimodal ``+-scale * (1 + N(0, 0.01))`` with random signs: the largest
    ``max - min``, the term that drives the Blanchard-Higham-Higham bound.
``edges``
    Values at the thresholds of ``exp`` in the target format, divided by ``c``:
    row ``r`` sits at ``ln(max_float)``, ``ln(min_normal)`` or
    ``ln(min_subnormal)`` (cycling with ``r``), each element jittered by
    ``U(-scale, scale)`` *in units of c x*: half the overflow-edge elements
    overflow a naive ``exp``. These inputs depend on ``c`` and the dtype.
``llm``
    LLM-like rows (use large ``n``): Gaussian bulk ``N(0, (scale/4)^2)`` plus
    ``max(1, n // 1000)`` plausible tokens at ``scale * U(0.5, 1)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["FAMILIES", "Family", "edges", "input_rng", "make_inputs"]


def edges(dtype) -> dict[str, float]:
    """The natural logs of the largest, smallest normal and smallest subnormal float.

    Keys: ``"overflow"`` (ln max, 88.72 / 709.78), ``"normal"`` (ln tiny,
    -87.34 / -708.40), ``"subnormal"`` (ln smallest subnormal, -103.28 / -744.44).
    """
    info = np.finfo(dtype)
    return {
        "overflow": math.log(float(info.max)),
        "normal": math.log(float(info.smallest_normal)),
        "subnormal": math.log(float(info.smallest_subnormal)),
    }


def input_rng(seed: int, *key) -> np.random.Generator:
    """A generator seeded by a hash of ``(seed, *key)``: same key, same stream, any process."""
    text = json.dumps([int(seed), *[_plain(k) for k in key]], separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _plain(value):
    if isinstance(value, (np.floating, float)):
        return repr(float(value))
    if isinstance(value, (np.integer, int)):
        return int(value)
    return str(value)


def _gaussian(rng, rows, n, scale, dtype, c):
    return scale * rng.standard_normal((rows, n))


def _uniform(rng, rows, n, scale, dtype, c):
    return rng.uniform(-scale, scale, (rows, n))


def _spike(rng, rows, n, scale, dtype, c):
    x = rng.uniform(-1.0, 1.0, (rows, n))
    x[np.arange(rows), rng.integers(0, n, rows)] = scale
    return x


def _ties(rng, rows, n, scale, dtype, c):
    x = rng.uniform(-scale, scale, (rows, n)).astype(dtype)
    top = dtype.type(scale)
    below = np.nextafter(top, dtype.type(-np.inf))
    x = np.minimum(x, below)  # strictly below the tied maximum
    k = min(4, n)
    for r in range(rows):
        x[r, rng.choice(n, size=k, replace=False)] = top
    return x


def _spread(rng, rows, n, scale, dtype, c):
    signs = rng.choice(np.array([-1.0, 1.0]), size=(rows, n))
    return signs * scale * (1.0 + 0.01 * rng.standard_normal((rows, n)))


def _edges(rng, rows, n, scale, dtype, c):
    points = np.array(list(edges(dtype).values()))
    centre = points[np.arange(rows) % len(points)][:, None]
    return (centre + rng.uniform(-scale, scale, (rows, n))) / float(c)


def _llm(rng, rows, n, scale, dtype, c):
    x = (scale / 4.0) * rng.standard_normal((rows, n))
    k = max(1, n // 1000)
    for r in range(rows):
        x[r, rng.choice(n, size=k, replace=False)] = scale * rng.uniform(0.5, 1.0, k)
    return x


@dataclass(frozen=True)
class Family:
    """A named input generator; ``depends_on_c`` marks inputs that move with ``beta * ln(base)``."""

    name: str
    description: str
    generate: Callable
    depends_on_c: bool = False


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("gaussian", "scale * N(0, 1)", _gaussian),
        Family("uniform", "U(-scale, scale)", _uniform),
        Family("spike", "U(-1, 1) with one element at +scale", _spike),
        Family("ties", "min(4, n) exact maxima at scale, the rest U(-scale, scale) below", _ties),
        Family("spread", "+-scale (1 + N(0, 0.01)), random signs", _spread),
        Family(
            "edges",
            "ln max / ln min-normal / ln min-subnormal (by row) + U(-scale, scale), divided by c",
            _edges,
            depends_on_c=True,
        ),
        Family("llm", "N(0, (scale/4)^2) bulk + n/1000 tokens at scale U(0.5, 1)", _llm),
    )
}


def make_inputs(
    family: str, n: int, scale: float, rows: int, dtype, seed: int, c: float = 1.0
) -> np.ndarray:
    """The ``(rows, n)`` logits of a grid cell, regenerated deterministically.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    n, rows : int
        Row length and number of rows.
    scale : float
        Logit magnitude (jitter width in units of ``c x`` for ``edges``).
    dtype : float32 or float64
        Format of the result; values are drawn in float64 and rounded once.
    seed : int
        The sweep's seed; the generator is seeded from ``(seed, family, n,
        scale, rows, dtype)`` (and ``c`` for families that depend on it).
    c : float
        ``beta * ln(base)``; only used by families with ``depends_on_c``.
    """
    try:
        fam = FAMILIES[family]
    except KeyError:
        raise ValueError(
            f"unknown family {family!r}; valid families are {', '.join(FAMILIES)}"
        ) from None
    dtype = np.dtype(dtype)
    key = [family, int(n), float(scale), int(rows), dtype.name] + (
        [float(c)] if fam.depends_on_c else []
    )
    rng = input_rng(seed, *key)
    with np.errstate(over="ignore"):
        x = np.asarray(fam.generate(rng, int(rows), int(n), float(scale), dtype, c)).astype(dtype)
    return np.ascontiguousarray(x)
