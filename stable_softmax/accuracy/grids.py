"""The input grids of the accuracy checks: one definition for the report, the scripts and asv.

A :class:`Grid` is a union of :class:`Block` s, each the cross product of
input families, row lengths ``n``, logit scales, ``beta`` and bases. An
**input point** (:class:`Point`) is one element of that product together with
its number of rows; its logits come from
:func:`stable_softmax.accuracy.families.make_inputs` in any dtype.

Named grids (:data:`GRIDS`):

``quick``
    The default report grid (``stable-softmax report``).
``full``
    ``stable-softmax report --full``: rows to 262,144, beta to 1e6, all bases.
``accurate``
    The hard cases of ``scripts/check_accurate.py`` (``method="accurate"``
    within 1 ULP); ``points(grid, max_n=4096)`` is its ``--quick``.
``asv``
    Three small cells tracked by ``asv_benchmarks/benchmarks/bench_accuracy.py``.

The base e is written ``math.e`` and passed to the API as ``base=None``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

__all__ = ["BASES", "DTYPES", "GRIDS", "Block", "Grid", "Point", "points", "reference_elements"]

DTYPES = ("float32", "float64")
BASES = (2.0, math.e, 3.0, 4.0, 10.0)


@dataclass(frozen=True)
class Block:
    """A cross product of input parameters; a grid is a union of blocks.

    ``elements`` is the target ``rows * n`` of a cell: ``rows = max(1,
    elements // n)``.
    """

    name: str
    families: tuple[str, ...]
    ns: tuple[int, ...]
    scales: tuple[float, ...]
    betas: tuple[float, ...] = (1.0,)
    bases: tuple[float, ...] = (math.e,)
    elements: int = 1024


@dataclass(frozen=True)
class Grid:
    """The blocks of a sweep plus the betas of its threshold table."""

    name: str
    blocks: tuple[Block, ...]
    threshold_betas: tuple[float, ...] = (1.0, 1e3, 1e6)

    def as_dict(self) -> dict:
        """Plain dict of the grid, for the report header."""
        return asdict(self)


@dataclass(frozen=True)
class Point:
    """One input of a grid: ``(rows, n)`` logits of ``family`` at ``scale``; ``beta``, ``base``."""

    family: str
    n: int
    scale: float
    beta: float
    base: float
    rows: int

    @property
    def c(self) -> float:
        """``beta * ln(base)`` in float64 (``beta`` itself for base e)."""
        return self.beta if self.base == math.e else self.beta * math.log(self.base)

    @property
    def base_arg(self) -> float | None:
        """``base`` as the API takes it: None for e."""
        return None if self.base == math.e else self.base


def points(
    grid: Grid, families: Iterable[str] | None = None, max_n: int | None = None
) -> Iterator[Point]:
    """Every input point of ``grid`` once, in block order then product order.

    ``families`` (None: all) and ``max_n`` (None: no limit) narrow the grid;
    points that overlapping blocks share are given once.
    """
    keep = None if families is None else set(families)
    seen: set[Point] = set()
    for block in grid.blocks:
        product = itertools.product(
            block.families, block.ns, block.scales, block.betas, block.bases
        )
        for family, n, scale, beta, base in product:
            if (keep is not None and family not in keep) or (max_n is not None and n > max_n):
                continue
            point = Point(
                family,
                int(n),
                float(scale),
                float(beta),
                float(base),
                max(1, block.elements // n),
            )
            if point not in seen:
                seen.add(point)
                yield point


def reference_elements(grid: Grid, dtypes: int = len(DTYPES), functions: int = 3) -> int:
    """Reference elements of ``grid``: each point's ``rows * n`` per dtype and function."""
    return sum(p.rows * p.n for p in points(grid)) * dtypes * functions


_SHAPES = ("gaussian", "uniform", "spike", "ties", "spread")
_BETAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)

#: The named grids. ``quick`` runs in about a minute on 2 cores with a cold
#: reference cache; ``full`` has about 40 times the reference work.
GRIDS: dict[str, Grid] = {
    "quick": Grid(
        "quick",
        (
            Block("scale-n", _SHAPES, (2, 16, 256, 4096), (1.0, 10.0, 100.0, 1e3, 1e4)),
            Block("beta", ("gaussian", "spike", "ties"), (64,), (1.0, 10.0), betas=_BETAS),
            Block("base", ("gaussian", "spike"), (64,), (10.0,), betas=(1.0, 100.0), bases=BASES),
            Block("edges", ("edges",), (64,), (2.0,), betas=(1.0, 1e3), elements=1536),
            Block("llm", ("llm",), (32768,), (10.0, 30.0), elements=32768),
        ),
    ),
    "full": Grid(
        "full",
        (
            Block(
                "scale-n",
                _SHAPES,
                (2, 16, 256, 4096, 65536, 262144),
                (1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5),
                elements=16384,
            ),
            Block(
                "beta", _SHAPES, (64, 4096), (1.0, 10.0), betas=_BETAS, bases=BASES, elements=4096
            ),
            Block(
                "edges",
                ("edges",),
                (64, 4096),
                (0.5, 2.0, 8.0),
                betas=_BETAS,
                bases=BASES,
                elements=6144,
            ),
            Block(
                "llm",
                ("llm",),
                (32768, 131072, 262144),
                (10.0, 30.0, 100.0),
                betas=(1.0, 10.0),
                elements=262144,
            ),
        ),
        threshold_betas=(1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6),
    ),
    "accurate": Grid(
        "accurate",
        (
            Block("hard", _SHAPES, (16, 256, 4096), (1.0, 10.0, 100.0, 1e3, 1e4), elements=4096),
            Block("long", ("gaussian", "spread"), (65536, 262144), (3.0, 30.0), elements=262144),
            Block(
                "beta-base",
                ("gaussian", "spike", "ties", "spread"),
                (64,),
                (1.0, 10.0),
                betas=(1.0, 10.0, 1e3, 1e4, 1e6),
                bases=BASES,
            ),
            Block(
                "edges",
                ("edges",),
                (64,),
                (0.5, 2.0, 8.0),
                betas=(1.0, 1e3, 1e6),
                bases=BASES,
                elements=1536,
            ),
            Block(
                "llm",
                ("llm",),
                (32768, 262144),
                (10.0, 30.0),
                betas=(1.0, 10.0),
                elements=262144,
            ),
        ),
    ),
    "asv": Grid(
        "asv",
        (
            Block("asv-gaussian", ("gaussian",), (1000,), (4.0,), elements=8000),
            Block("asv-spread", ("spread",), (1000,), (1e3,), elements=8000),
            Block("asv-spike", ("spike",), (1000,), (30.0,), elements=8000),
        ),
        threshold_betas=(),
    ),
}
