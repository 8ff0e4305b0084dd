"""Grid cells: one implementation of one function on one input point of a grid, in one dtype.

A **cell** is ``(function, method, dtype, family, n, scale, beta, base, rows,
seed)``, every field a plain Python value. ``method`` is the name of the
:class:`stable_softmax.implementations.Implementation` measured (our methods
are the built-in implementations and keep their method names; peers and
users' callables plug in under their own names, see
:func:`stable_softmax.implementations.get`). Its inputs are regenerated from
the cell's parameters alone, so any process can compute any cell.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from .. import implementations
from .families import make_inputs
from .grids import DTYPES, Grid, Point, points

__all__ = ["Cell", "build_cells", "cell_inputs", "group_cells", "group_cost"]


@dataclass(frozen=True)
class Cell:
    """One grid cell; every field is a plain Python value."""

    function: str
    method: str  # the implementation's name (implementations.get(function, method))
    dtype: str
    family: str
    n: int
    scale: float
    beta: float
    base: float
    rows: int
    seed: int

    @property
    def point(self) -> Point:
        """The input point of the grid this cell measures."""
        return Point(self.family, self.n, self.scale, self.beta, self.base, self.rows)

    @property
    def c(self) -> float:
        """``beta * ln(base)`` in float64."""
        return self.point.c

    @property
    def base_arg(self) -> float | None:
        """``base`` as the API takes it: None for e."""
        return self.point.base_arg

    @property
    def group_key(self) -> tuple:
        """Everything but the implementation: cells with one key share inputs and reference."""
        return (self.function, self.dtype, *asdict(self.point).values(), self.seed)

    def implementation(self) -> implementations.Implementation:
        """The implementation this cell measures."""
        return implementations.get(self.function, self.method)

    def as_dict(self) -> dict:
        """The cell's fields, in order."""
        return asdict(self)


def _resolve(function: str, item: str | implementations.Implementation):
    """``item`` itself when it is an implementation (registered or not), else its lookup."""
    if isinstance(item, implementations.Implementation):
        return item
    return implementations.get(function, item)


def build_cells(
    grid: Grid,
    functions: dict[str, tuple[str | implementations.Implementation, ...]],
    dtypes: Iterable[str] = DTYPES,
    families: Iterable[str] | None = None,
    seed: int = 0,
) -> list[Cell]:
    """Every cell of ``grid`` for the given functions and implementations, dtypes and families.

    ``functions`` maps a function to the implementations to measure, by name
    (:func:`stable_softmax.implementations.get`) or as
    :class:`~stable_softmax.implementations.Implementation` objects (the
    cells carry their names). An implementation gets cells only in the dtypes it accepts
    (:attr:`~stable_softmax.implementations.Implementation.dtypes`).
    ``families=None`` keeps all. Cells that overlapping blocks share appear
    once; the order is deterministic: grid points, then dtypes, then
    functions and implementations in the order given.
    """
    pairs = [
        (function, impl.name, impl.dtypes)
        for function, names in functions.items()
        for impl in (_resolve(function, name) for name in names)
    ]
    cells: dict[Cell, None] = {}
    for point, dtype, (function, name, accepted) in itertools.product(
        points(grid, families), [str(d) for d in dtypes], pairs
    ):
        if dtype in accepted:
            cell = Cell(function, name, dtype, **asdict(point), seed=int(seed))
            cells[cell] = None
    return list(cells)


def group_cells(cells: Iterable[Cell]) -> list[list[Cell]]:
    """Cells grouped by :attr:`Cell.group_key` (shared inputs and reference), first seen first."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.group_key, []).append(cell)
    return list(groups.values())


def group_cost(group: list[Cell]) -> int:
    """Reference elements of a group: the unit of work the progress bar counts."""
    return group[0].rows * group[0].n


def cell_inputs(cell: Cell) -> np.ndarray:
    """The ``(rows, n)`` logits of ``cell``."""
    return make_inputs(
        cell.family, cell.n, cell.scale, cell.rows, np.dtype(cell.dtype), cell.seed, cell.c
    )
