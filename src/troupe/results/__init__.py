"""Run directories, long-format metrics, plots and reports."""

from troupe.results.metrics import MetricsLog
from troupe.results.rundir import RunDir

__all__ = ["MetricsLog", "RunDir"]
