"""Numba kernels, one module per family; no Python-side logic here.

For each public function, :data:`DRIVERS` holds what the Python layer calls
on a ``(rows, n)`` array:

* ``methods``: the method names, whose positions are the ids the drivers take;
* ``rows``: ``(x, out, c, method_id)``, every row on the calling thread;
* ``rows_parallel``: the same, the rows spread over threads;
* ``split``: ``{method: kernel}`` for the methods whose single long row can be
  split across threads with the same bits as the serial kernel.
"""

from .log_softmax import (
    LOG_SOFTMAX_METHODS,
    log_softmax_rows,
    log_softmax_rows_parallel,
    log_softmax_shifted_split,
)
from .logsumexp import (
    LOGSUMEXP_METHODS,
    logsumexp_rows,
    logsumexp_rows_parallel,
    logsumexp_shifted_split,
)
from .softmax import SOFTMAX_METHODS, softmax_rows, softmax_rows_parallel, softmax_shifted_split

DRIVERS = {
    "softmax": {
        "methods": SOFTMAX_METHODS,
        "rows": softmax_rows,
        "rows_parallel": softmax_rows_parallel,
        "split": {"shifted": softmax_shifted_split},
    },
    "log_softmax": {
        "methods": LOG_SOFTMAX_METHODS,
        "rows": log_softmax_rows,
        "rows_parallel": log_softmax_rows_parallel,
        "split": {"shifted": log_softmax_shifted_split},
    },
    "logsumexp": {
        "methods": LOGSUMEXP_METHODS,
        "rows": logsumexp_rows,
        "rows_parallel": logsumexp_rows_parallel,
        "split": {"shifted": logsumexp_shifted_split},
    },
}
