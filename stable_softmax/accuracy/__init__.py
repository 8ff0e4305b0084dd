"""Accuracy of softmax implementations against the correctly rounded reference.

The report as a library (loaded on first use, see :mod:`.report`)::

    from stable_softmax.accuracy import ReportConfig, build_report, write_report

    doc = build_report(ReportConfig(grid="quick"))
    write_report(doc, "softmax-report")
"""

_REPORT_NAMES = ("ConfigError", "ReportConfig", "ReportDocument", "build_report", "write_report")

__all__ = list(_REPORT_NAMES)


def __getattr__(name: str):
    # Lazy: importing stable_softmax.accuracy.metrics must not import the whole report.
    if name in _REPORT_NAMES:
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
