"""Write a report document to disk: ``report.json``, ``report.csv``, ``report.md``, the plots
and, when the report has a low-precision section, ``lowprec.csv``.

The plots come from :func:`stable_softmax.accuracy.plots.make_plots`
(matplotlib, imported only when plots are asked for).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .markdown import render_markdown
from .measure import RECORD_FIELDS

if TYPE_CHECKING:
    from .report import ReportDocument

__all__ = ["jsonable", "write_csv", "write_report"]


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats spelled for strict JSON (NaN: None, inf: ``"inf"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _csv_value(value):
    if value is None:
        return ""
    # repr keeps every digit of a float (str may too, but repr is the promise)
    return repr(value) if isinstance(value, float) else value


def write_csv(path: Path, records: list[dict], fields=RECORD_FIELDS) -> None:
    """The records, one row each, columns ``fields`` (:data:`RECORD_FIELDS`); None is empty."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _csv_value(record[k]) for k in fields})


def write_report(doc: ReportDocument, out_dir: str | Path, *, plots: bool = True) -> list[Path]:
    """Write the files of ``doc`` into ``out_dir`` (created if needed); return their paths.

    Plots are made first (``plots=True`` and at least one cell measured) so
    that ``report.md`` and ``report.json`` list them; ``doc.plots`` is set to
    their file names.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    measured = [r for r in doc.records if not r["error"]]
    doc.plots = []
    if plots and measured:
        from .plots import make_plots

        functions = {f: tuple(ms) for f, ms in doc.header["functions"].items()}
        doc.plots = make_plots(
            measured, doc.grid, out, doc.recommendations, functions, costs=doc.costs
        )
    if plots and doc.lowprec:
        from .lowprec_plots import make_lowprec_plot

        doc.plots += make_lowprec_plot(doc.lowprec, out)
    data = jsonable(doc.as_dict())
    (out / "report.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    write_csv(out / "report.csv", doc.records)
    names = ["report.md", "report.json", "report.csv"]
    if doc.lowprec:
        from .lowprec_report import LOW_FIELDS

        write_csv(out / "lowprec.csv", doc.lowprec["records"], LOW_FIELDS)
        names.append("lowprec.csv")
    (out / "report.md").write_text(render_markdown(data))
    return [out / name for name in (*names, *doc.plots)]
