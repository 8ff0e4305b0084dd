"""Peers and users' implementations in the report: resolution, special values, cost, text.

:class:`~stable_softmax.accuracy.report.ReportConfig` names peers
(``peers=("scipy", "torch")`` or ``("all",)``) and users' implementations
(``implementations=("softmax=mypkg.mod:fn",)``); :func:`resolve` merges them
into the configuration's ``functions`` after our methods and returns one
note per peer that is skipped. :func:`extras` measures what the sweep does
not: each implementation's output on the special values
(:mod:`.special_values`) and its cost (:mod:`.cost`). The ``*_lines``
functions render those parts of ``report.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from .. import implementations
from ..implementations import FUNCTIONS, Implementation, peers
from . import cost, special_values

__all__ = [
    "HOW_TO_READ",
    "cost_lines",
    "extras",
    "header_lines",
    "resolve",
    "special_value_lines",
    "versions",
]


class ResolveError(ValueError):
    """A peer or implementation name that cannot be used; ``field`` is the config field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _user_function(spec: str, functions: Sequence[str]) -> tuple[list[str], str]:
    """``(functions it computes, import path)`` of a ``[function=]module:attr`` spec."""
    function, sep, path = spec.partition("=")
    if sep:
        if function not in FUNCTIONS:
            raise ResolveError(
                "implementation",
                f"{spec!r}: unknown function {function!r}; choose from {', '.join(FUNCTIONS)}",
            )
        return [function], path
    path = spec
    if ":" not in path:
        raise ResolveError(
            "implementation",
            f"{spec!r} is not an import path; pass package.module:attribute, "
            "optionally prefixed with the function, e.g. softmax=mypkg.mod:fn",
        )
    module_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ResolveError("implementation", f"{spec!r} does not import: {err}") from None
    if isinstance(obj, Implementation):
        return [obj.function], path
    if len(functions) == 1:
        return list(functions), path
    raise ResolveError(
        "implementation",
        f"{spec!r} is a plain callable; say which function it computes, e.g. "
        f"softmax={path} (or select one function with --functions)",
    )


def resolve(
    functions: Mapping[str, Sequence[str]],
    peer_names: str | Sequence[str] = (),
    user_specs: Sequence[str] = (),
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """``functions`` with the installed peers and the users' implementations appended.

    Parameters
    ----------
    functions : mapping of str to sequence of str
        Function -> implementation names already chosen (our methods).
    peer_names : str or sequence of str
        ``"all"``, ``"scipy,torch"`` or names (:func:`.peers.resolve`).
    user_specs : sequence of str
        ``"function=package.module:attribute"``; the ``function=`` may be
        left out when the attribute is an Implementation or only one
        function is selected.

    Returns
    -------
    (dict, list of str)
        The extended mapping and one line per peer that was skipped.

    Raises
    ------
    ResolveError
        With ``field`` "peers" or "implementation".
    """
    out = {f: list(names) for f, names in functions.items()}
    try:
        ok, notes = peers.resolve(peer_names)
    except ValueError as err:
        raise ResolveError("peers", str(err)) from None
    for name in ok:
        for function in out:
            if function in peers.PEERS[name][2]:
                out[function].append(name)
    for spec in user_specs:
        computes, path = _user_function(spec, list(out))
        for function in computes:
            if function not in out:
                continue
            try:
                implementations.get(function, path)
            except (ValueError, TypeError, ImportError, AttributeError) as err:
                raise ResolveError("implementation", f"{spec!r}: {err}") from None
            out[function].append(path)
    return {f: tuple(dict.fromkeys(names)) for f, names in out.items()}, notes


def _implementations(functions: Mapping[str, Sequence[str]]) -> dict[str, list[Implementation]]:
    return {f: [implementations.get(f, n) for n in names] for f, names in functions.items()}


def versions(functions: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """``{name: {"kind": ..., "version": ...}}`` of every implementation, for the header."""
    out: dict[str, dict] = {}
    for impls in _implementations(functions).values():
        for impl in impls:
            out.setdefault(impl.name, {"kind": impl.kind, "version": impl.version})
    return out


def extras(
    functions: Mapping[str, Sequence[str]],
    dtypes: Sequence[str],
    *,
    special: bool = True,
    costs: bool = True,
) -> dict:
    """Special-value rows and costs of every implementation of ``functions``.

    Returns ``{"special_values": [...], "costs": [...]}`` (empty lists for
    what is switched off); see :func:`.special_values.special_values` and
    :func:`.cost.measure_costs`.
    """
    impls = _implementations(functions)
    return {
        "special_values": special_values.special_values(impls, dtypes) if special else [],
        "costs": cost.measure_costs(impls, dtypes) if costs else [],
    }


HOW_TO_READ = [
    "## How to read this report",
    "",
    "- Every output is compared with the **correctly rounded** result (mpmath, rounded once "
    "to the dtype). Error is counted in **ULPs**, the number of floats between the two; "
    "**bits** = log2(1 + ULP): 0 is exact, 1 bit is one ULP, 24 (float32) / 53 (float64) "
    "bits means no correct digit.",
    "- **Failures are counted apart from errors.** *Overflow*: inf or NaN where the exact "
    "value is finite (the textbook softmax's inf/inf = NaN is an overflow); the columns "
    "*inf* and *NaN* split it. *Underflow*: 0 (or a subnormal that lost bits) where the "
    "exact value is not. Worst ULP is over the remaining outputs, so read it together with "
    "the failure columns; in the plots a point with any inf/NaN output sits on the "
    "'inf/NaN' line instead.",
    "- Implementations: our methods (`naive` is the deliberately unguarded control), "
    "peers (other libraries, versions in the header) and yours (`module:function`). Each "
    "has one colour and marker in every plot. Peers and yours have no `beta`/`base`: they "
    "receive `beta * x` rounded to the dtype, as their users write it, so at large beta "
    "their error includes that rounding (our methods apply beta inside the kernel).",
    "- *Recommendations* rank by failures first, then accuracy; *Accuracy against cost* "
    "gives the cheapest implementation within k ULP, with its cost as a multiple of "
    "a plain copy of the same array.",
    "- *Special values* shows what each implementation returns for NaN, infinities, "
    "empty rows and the edges of the format, against SciPy's convention.",
    "",
]


def header_lines(doc: dict) -> list[str]:
    """Peers' and users' versions, and the peers that were skipped."""
    lines = []
    others = {
        name: info
        for name, info in doc.get("implementations", {}).items()
        if info.get("kind") != "method"
    }
    if others:
        lines.append(
            "Peers and users' implementations: "
            + ", ".join(
                f"`{name}` {info['version'] or '(no version)'} ({info['kind']})"
                for name, info in others.items()
            )
            + "."
        )
    lines += [f"- {note}" for note in doc.get("skipped", [])]
    return [*lines, ""] if lines else []


def special_value_lines(doc: dict) -> list[str]:
    """The special-value section of ``report.md`` (empty when it was not computed)."""
    rows = doc.get("special_values") or []
    if not rows:
        return []
    differ = sorted(
        {
            (r["implementation"], r["function"])
            for r in rows
            if r["status"] in ("differs", "raises") and r["implementation"] != "naive"
        }
    )
    lines = [
        "## Special values",
        "",
        "Each implementation's actual output on the README's special-value cases and at "
        "the edges of the format. Expected: the correctly rounded reference, which follows "
        "SciPy's convention for non-finite inputs. `=` bit-identical, `≈ k ULP` the same "
        "classes within k ULP, **≠** a different class (NaN, inf, zero) or more than half "
        "the digits lost, with the actual output.",
        "",
    ]
    if differ:
        lines += [
            "Differences outside `naive`: "
            + ", ".join(f"`{i}` {f}" for i, f in differ)
            + ". Rows and full outputs are in `report.json` (`special_values`).",
            "",
        ]
    return lines + special_values.render_markdown(rows)


def cost_lines(doc: dict) -> list[str]:
    """The accuracy-against-cost section of ``report.md``."""
    costs = doc.get("costs") or []
    if not costs:
        return []
    lines = [
        "## Accuracy against cost",
        "",
        "The cheapest implementation whose outputs are never inf/NaN where the exact value is "
        "finite, anywhere in this sweep, and whose worst error is within k ULP. Underflow "
        "is the largest fraction of underflowed outputs in one cell. Costs are timed in this "
        "run, so they compare implementations with each other on this machine.",
        "",
    ]
    return lines + cost.render_markdown(doc.get("cost_recommendations", []), costs)
