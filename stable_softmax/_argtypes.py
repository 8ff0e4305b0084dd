"""Argument types of the ``stable-softmax`` command line: each rejects a bad value with one line.

An argparse ``type`` that raises :class:`argparse.ArgumentTypeError` makes
argparse report ``argument --option: message``, so every message here says
what was given and what to pass; :class:`Parser` prints it as one line and
exits with status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["Parser", "integer_at_least", "names", "positive_ints", "seconds", "shapes"]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``prog: error: message (see --help)``."""

    def error(self, message: str):
        """Print ``message`` as one line and exit with status 2."""
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def names(value: str) -> list[str]:
    """A comma-separated list of names (at least one)."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, got {value!r}")
    return names


def integer_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``, described as ``what`` in the error."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
        return number

    return parse


def positive_ints(value: str) -> tuple[int, ...]:
    """Comma-separated positive integers."""
    items = names(value)
    parse = integer_at_least(1, "positive whole numbers such as 1,2")
    try:
        return tuple(parse(item) for item in items)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected positive whole numbers such as 1,2, got {value!r}"
        ) from None


def shapes(value: str) -> tuple[tuple[int, int], ...]:
    """Comma-separated ``ROWSxN`` shapes with positive sizes."""
    shapes = []
    for item in names(value):
        parts = item.lower().split("x")
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            shape = ()
        if len(shape) != 2 or min(shape) < 1:
            raise argparse.ArgumentTypeError(
                f"expected ROWSxN items with positive sizes such as 4096x1024, got {item!r}"
            )
        shapes.append(shape)
    return tuple(shapes)


def seconds(value: str) -> float:
    """A finite, non-negative number of seconds."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise argparse.ArgumentTypeError(
            f"expected a non-negative number of seconds such as 0.3, got {value!r}"
        )
    return number
