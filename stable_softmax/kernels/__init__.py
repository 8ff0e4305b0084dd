"""Numba kernels, one module per family; no Python-side logic here.

For each public function, :data:`DRIVERS` holds the three 2-D drivers the
Python layer calls on a ``(rows, n)`` array, all with one signature,
``(x, out, c, method, c_lo, threads)`` (``out`` has shape ``(rows,)`` for logsumexp),
``method`` an id of :mod:`stable_softmax._methods`, ``c_lo`` the low part of
the scale (``accurate`` only) and ``threads`` the thread count (``rows_parallel``
splits ``accurate`` softmax rows into that many chunks, one scratch each):

* ``rows``: every row on the calling thread;
* ``rows_parallel``: the rows spread over threads;
* ``rows_split``: each long row's blocks spread over threads, for the methods
  in :data:`stable_softmax._methods.SPLIT_METHODS` (same bits as ``rows``).
"""

from typing import NamedTuple

from .log_softmax import log_softmax_rows, log_softmax_rows_parallel, log_softmax_rows_split
from .logsumexp import logsumexp_rows, logsumexp_rows_parallel, logsumexp_rows_split
from .softmax import softmax_rows, softmax_rows_parallel, softmax_rows_split


class Drivers(NamedTuple):
    """The 2-D drivers of one function, each ``(x, out, c, method, c_lo, threads)``."""

    rows: object
    rows_parallel: object
    rows_split: object


DRIVERS: dict[str, Drivers] = {
    "softmax": Drivers(softmax_rows, softmax_rows_parallel, softmax_rows_split),
    "log_softmax": Drivers(log_softmax_rows, log_softmax_rows_parallel, log_softmax_rows_split),
    "logsumexp": Drivers(logsumexp_rows, logsumexp_rows_parallel, logsumexp_rows_split),
}
