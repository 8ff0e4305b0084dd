"""Compare two ``report.json`` files: same cells, same statistics, same derived sections.

    python scripts/compare_reports.py BEFORE/report.json AFTER/report.json

Records are matched by their cell (function, method, dtype, family, n,
scale, beta, base, rows, seed) and compared field by field with ``==`` (the
statistics are exact floats: any difference is reported). The summary,
recommendations, thresholds and course sections are compared the same way;
header fields that describe the run (times, command, versions) are not.
Exit status 0 when everything compared is equal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

CELL = ("function", "method", "dtype", "family", "n", "scale", "beta", "base", "rows", "seed")
SECTIONS = ("summary", "recommendations", "thresholds", "course", "record_fields", "grid")


def compare(before: dict, after: dict) -> list[str]:
    """Differences between two report documents, one line each (empty: equal)."""
    problems = []
    old = {tuple(r[k] for k in CELL): r for r in before["records"]}
    new = {tuple(r[k] for k in CELL): r for r in after["records"]}
    if len(old) != len(before["records"]) or len(new) != len(after["records"]):
        problems.append("a report holds the same cell twice")
    for cell in old.keys() - new.keys():
        problems.append(f"cell only before: {cell}")
    for cell in new.keys() - old.keys():
        problems.append(f"cell only after: {cell}")
    for cell in old.keys() & new.keys():
        for key in sorted(old[cell].keys() | new[cell].keys()):
            a, b = old[cell].get(key, "<absent>"), new[cell].get(key, "<absent>")
            if a != b:
                problems.append(f"{cell} {key}: {a!r} -> {b!r}")
    if [tuple(r[k] for k in CELL) for r in before["records"]] != [
        tuple(r[k] for k in CELL) for r in after["records"]
    ]:
        problems.append("the records are in a different order")
    for section in SECTIONS:
        if before.get(section) != after.get(section):
            problems.append(f"section {section!r} differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args(argv)
    with open(args.before) as fh:
        before = json.load(fh)
    with open(args.after) as fh:
        after = json.load(fh)
    problems = compare(before, after)
    for line in problems[:50]:
        print(line)
    cells = len(after["records"])
    stats = len(after["record_fields"]) - len(CELL)
    if problems:
        print(f"{len(problems)} difference(s)")
        return 1
    print(
        f"equal: {cells} cells in the same order, {stats} statistics each, and the "
        f"{', '.join(SECTIONS)} sections"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
