"""The docstrings of reference.softmax, log_softmax and logsumexp (shared paragraphs once)."""

_CONVENTION = """
    Let ``c = beta * ln(base)`` (``c = beta`` when ``base`` is None), where
    ``beta``, ``base`` and every element of ``x`` are taken as the exact
    binary numbers their floats represent and ``c`` is never rounded.  Then
    for each slice along ``axis``::

        softmax_j     = exp(c x_j) / sum_k exp(c x_k)
        log_softmax_j = c x_j - ln sum_k exp(c x_k)
        logsumexp     = ln sum_k exp(c x_k)          (natural log)

    The exact value is rounded once, to nearest with ties to even, into the
    target format (float32, float16, bfloat16 or float8 results are never
    rounded through a wider format); subnormal results are rounded on the
    subnormal grid and magnitudes past ``max_finite + ulp(max_finite)/2``
    (at it when ties go up) become ``+-inf``, or NaN / ``+-max_finite`` in
    formats without infinities (ml_dtypes' conversion rules).
"""

_SPECIALS = """
    Special values follow ``scipy.special``: a NaN anywhere in a slice gives
    NaN for the whole slice; an all ``-inf`` slice gives NaN (softmax,
    log_softmax) and ``-inf`` (logsumexp); ``-inf`` entries among finite ones
    give exactly 0 (softmax) / ``-inf`` (log_softmax) and are ignored by
    logsumexp; a ``+inf`` entry gives softmax all NaN, log_softmax NaN at each
    ``+inf`` and ``-inf`` elsewhere, logsumexp ``+inf``; an empty slice gives
    an empty softmax/log_softmax and a ``-inf`` logsumexp.
"""

_WHERE = """    where : array_like of bool, optional
        Broadcastable to ``x``; entries where it is False act as ``-inf``
        (softmax 0, log_softmax ``-inf``).
"""

_PARAMS = """
    x : array_like
        Values of a format of :data:`stable_softmax.formats.FORMATS`
        (float64, float32, float16, bfloat16, float8 ...), integers or
        booleans (converted to float64 first).  Complex, object, string and
        long double input raise TypeError.  ``x`` is never modified.
    axis : int, tuple of int or None, optional
        Axes forming one slice (default: the last); None means all axes.
    beta : float, optional
        Inverse temperature, a finite real > 0.
    base : float or None, optional
        Base of the exponential, a finite real > 1; None means e.
    dtype : None, str or dtype, optional
        Target format, any of :data:`stable_softmax.formats.FORMATS` by name
        or dtype (e.g. ``"bfloat16"``, ``ml_dtypes.float8_e4m3fn``); None
        means the input's format (float64 for integers and booleans).
        Overflow follows the format's rule: ``inf``, NaN (float8_e4m3fn) or
        saturation.
    engine : {None, "auto", "mpmath"}, optional
        "auto": a double-double first step with proven error bounds decides
        each row it can (float32 and float64 targets), the rest goes to
        mpmath; "mpmath": mpmath for every row.  Same bits either way.
        None: ``$STABLE_SOFTMAX_REFERENCE_ENGINE``, else "auto".
"""

_COMMON_RETURNS = """
    Returns
    -------
    numpy.ndarray
        Same shape as ``x``, dtype of the target format.
"""

SOFTMAX = f"""Correctly rounded softmax (the reference).
{_CONVENTION}
    Parameters
    ----------{_PARAMS}{_WHERE}{_COMMON_RETURNS}
    Raises
    ------
    TypeError
        Unsupported input dtype or ``dtype``.
    ValueError
        ``beta`` or ``base`` out of range; repeated axis.
    numpy.exceptions.AxisError
        Axis out of range.
    PrecisionLimitError
        The exact value sits on a rounding boundary that
        ``MAX_PRECISION`` bits cannot resolve (never a guess).

    Notes
    -----
    Maxima get ``1 / (k + R)`` with ``k`` ties and
    ``R = sum_(x_j < max) exp(c (x_j - max))``; other entries
    ``exp(c (x_j - max) - ln(k + R))``, the shift being exact.  Entries whose
    value is provably below half the least subnormal are set to 0 without an
    exp.
{_SPECIALS}
    Examples
    --------
    >>> import reference
    >>> reference.softmax([0.0, 0.0, 0.0], dtype="float32")
    array([0.33333334, 0.33333334, 0.33333334], dtype=float32)
"""

LOG_SOFTMAX = f"""Correctly rounded log_softmax (natural log).
{_CONVENTION}
    Parameters
    ----------{_PARAMS}{_WHERE}{_COMMON_RETURNS}
    Notes
    -----
    ``c (x_j - max)`` is exact, so the huge cancellation of
    ``c x_j - logsumexp`` (e.g. ``beta=1e6``, ``x=1e30``) never occurs.  A
    unique maximum gets ``-log1p(R)``, accurate even when ``R`` is tiny.
    Values below ``-max_finite`` round to ``-inf``.  Errors as in
    :func:`softmax`.
{_SPECIALS}"""

LOGSUMEXP = f"""Correctly rounded ``ln sum_k exp(c x_k)`` (natural log).
{_CONVENTION}
    Parameters
    ----------{_PARAMS}    keepdims : bool, optional
        Keep the reduced axes with length 1.
    b : array_like, optional
        Weights broadcastable to ``x``: ``ln |sum_k b_k exp(c x_k)|``, the
        exact weighted sum rounded once (see :mod:`reference._weighted`);
        zero weights drop their terms; a negative total gives NaN unless
        ``return_sign``.
    return_sign : bool, optional
        Also return the sign of the total (1, -1, 0 for an exact 0 whose
        logarithm is ``-inf``, NaN for NaN), as ``scipy.special.logsumexp``.
    where : array_like of bool, optional
        Entries where it is False are dropped (act as ``-inf``).

    Returns
    -------
    numpy.ndarray or numpy scalar
        Reduced shape; a numpy scalar when it is 0-d.

    Notes
    -----
    Evaluated as ``c max + ln(k + R)``; a huge exact value overflows to
    ``inf`` by rounding (e.g. float32 ``[1e38, 1e38]`` with ``beta=10``).
    Errors as in :func:`softmax`.
{_SPECIALS}"""
