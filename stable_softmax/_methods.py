"""The one table of methods: names, numeric ids and which function has which.

Everything that lists methods imports it: input validation (:data:`METHODS`),
the kernels (which dispatch on the ids below), the public functions, the
sweep, the bench and the asv suite. A new method touches two places: a row in
this module (a name, an id, the functions that have it) and, in the kernel
module of each of those functions, its row kernel plus one ``elif`` in that
module's dispatch (``softmax_row``, ``log_softmax_row``, ``logsumexp_row``).

The ids are plain module-level ints: a Numba kernel that imports them sees
compile-time constants, so ``if method == SHIFTED`` costs what ``if method ==
1`` does. They are global (one id per method name, whatever the function),
so an id never means two things. Changing an id needs a fresh Numba cache
(``find . -name '*.nbi' -delete -o -name '*.nbc' -delete``): the cache of the
kernel modules does not notice edits here.
"""

from __future__ import annotations

NAIVE = 0
SHIFTED = 1
LSE = 2
ONLINE = 3
ACCURATE = 4
LOG1P = 5

#: Method name -> numeric id (what the kernels' ``method`` argument takes).
METHOD_IDS: dict[str, int] = {
    "naive": NAIVE,
    "shifted": SHIFTED,
    "lse": LSE,
    "online": ONLINE,
    "accurate": ACCURATE,
    "log1p": LOG1P,
}

#: Methods of each public function, in the order the docs list them.
METHODS: dict[str, tuple[str, ...]] = {
    "softmax": ("naive", "shifted", "lse", "online", "accurate"),
    "log_softmax": ("naive", "shifted", "lse", "online", "log1p", "accurate"),
    "logsumexp": ("naive", "shifted", "log1p", "accurate"),
}

#: The method each public function uses when none is given.
DEFAULT_METHOD: dict[str, str] = {
    "softmax": "shifted",
    "log_softmax": "shifted",
    "logsumexp": "log1p",
}

#: Methods whose kernels split one long row across threads with the serial bits.
SPLIT_METHODS: dict[str, frozenset[str]] = {
    "softmax": frozenset({"shifted"}),
    "log_softmax": frozenset({"shifted", "log1p"}),
    "logsumexp": frozenset({"shifted"}),
}

#: The public functions, in the order the docs list them.
FUNCTIONS: tuple[str, ...] = tuple(METHODS)
