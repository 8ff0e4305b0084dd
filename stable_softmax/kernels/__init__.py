"""Numba kernels, one module per family; no Python-side logic here.

:data:`KERNELS` maps ``(function, method)`` to the 2-D driver that the public
API calls with a C-contiguous ``(rows, n)`` array.
"""

from .log_softmax import log_softmax_lse, log_softmax_naive, log_softmax_shifted
from .logsumexp import logsumexp_log1p, logsumexp_naive, logsumexp_shifted
from .softmax import softmax_lse, softmax_naive, softmax_shifted

KERNELS = {
    ("softmax", "naive"): softmax_naive,
    ("softmax", "shifted"): softmax_shifted,
    ("softmax", "lse"): softmax_lse,
    ("log_softmax", "naive"): log_softmax_naive,
    ("log_softmax", "shifted"): log_softmax_shifted,
    ("log_softmax", "lse"): log_softmax_lse,
    ("logsumexp", "naive"): logsumexp_naive,
    ("logsumexp", "shifted"): logsumexp_shifted,
    ("logsumexp", "log1p"): logsumexp_log1p,
}
