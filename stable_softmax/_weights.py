"""The Python side of ``where=``, masked arrays and logsumexp's ``b=`` / ``return_sign``.

Excluded entries (``where=False``, masked) act as ``-inf``: they get 0 in
softmax, ``-inf`` in log_softmax and drop out of logsumexp, whatever their
value (a NaN that is excluded does not poison its slice). A zero weight drops
its term the same way, as in ``scipy.special.logsumexp``.
"""

from __future__ import annotations

import numpy as np

from ._methods import METHOD_IDS
from ._validate import Rows, check_where
from .kernels.weighted import logsumexp_weighted_rows


def keep_mask(mask_keep: np.ndarray | None, where, shape: tuple[int, ...]) -> np.ndarray | None:
    """The entries that take part: ``where`` and a masked array's ``~mask`` combined, or None."""
    if where is None:
        return mask_keep
    keep = check_where(where, shape)
    return keep if mask_keep is None else keep & mask_keep


def exclude(arr: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """``arr`` with the entries outside ``keep`` set to ``-inf`` (a new array; ``arr`` as is
    when ``keep`` is None).
    """
    if keep is None:
        return arr
    return np.where(keep, arr, arr.dtype.type(-np.inf))


def sign_of(result: np.ndarray) -> np.ndarray:
    """The sign logsumexp returns without weights: 1, 0 for ``-inf`` (an empty sum), NaN for NaN."""
    sign = np.where(result == -np.inf, 0.0, 1.0).astype(result.dtype)
    sign[np.isnan(result)] = np.nan
    return sign


def weighted_logsumexp(
    arr: np.ndarray,
    weights: np.ndarray,
    keep: np.ndarray | None,
    layout: Rows,
    method: str,
    c: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """``(ln |sum_k b_k exp(c x_k)|, sign)`` per row of ``layout`` (flat, ``layout.rows`` long).

    Special values follow ``scipy.special.logsumexp``: a NaN logit or weight
    in a term that is not dropped gives NaN (sign NaN); infinite terms
    (``x = +inf`` with ``b != 0``, or an infinite ``b`` with ``x > -inf``)
    give ``+inf`` with their common sign, NaN when they have both signs; a
    total of exactly 0 gives ``-inf`` with sign 0.
    """
    drop = weights == 0
    if keep is not None:
        drop = drop | ~keep
    ninf = arr.dtype.type(-np.inf)
    xr = layout.rows_of(np.where(drop, ninf, arr))
    br = layout.rows_of(np.where(drop, arr.dtype.type(0.0), weights))
    out = np.empty(layout.rows, dtype=arr.dtype)
    sign = np.empty(layout.rows, dtype=arr.dtype)
    logsumexp_weighted_rows(xr, br, out, sign, c[0], METHOD_IDS[method], c[1])
    with np.errstate(invalid="ignore"):
        infinite = (xr == np.inf) | (np.isinf(br) & (xr > ninf))
        positive = (infinite & (br > 0)).any(axis=1)
        negative = (infinite & (br < 0)).any(axis=1)
    out[positive | negative] = np.inf
    sign[positive] = 1.0
    sign[negative] = -1.0
    nan = (np.isnan(xr) | np.isnan(br)).any(axis=1) | (positive & negative)
    out[nan] = np.nan
    sign[nan] = np.nan
    return out, sign
