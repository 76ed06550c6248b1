"""``troupe report RUN_DIR``: the summary table, and the plots redrawn."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from troupe.results.plots import draw
from troupe.results.rundir import RunDir


def summary_table(summary: dict) -> Table:
    table = Table(title=f"{summary.get('experiment', '?')}  [{summary.get('status', '?')}]")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(summary.get("metrics", {}).items()):
        table.add_row(key, "-" if value is None else f"{value:.4g}")
    for key in ("wall_seconds", "train_seconds", "seed"):
        if summary.get(key) is not None:
            table.add_row(key, f"{summary[key]:.4g}" if isinstance(summary[key], float) else str(summary[key]))
    return table


def report(location: str, console: Console | None = None) -> dict:
    """Print a run's summary and redraw its plots; return the summary."""
    console = console or Console()
    run_dir = RunDir.open(location)
    summary = run_dir.read_json("summary.json") if run_dir.exists("summary.json") else {"status": "incomplete"}
    console.print(summary_table(summary))
    if summary.get("error"):
        console.print(f"error: {summary['error']}")
    for key, value in summary.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            table = Table(title=key)
            for col in value[0]:
                table.add_column(str(col))
            for row in value:
                table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()))
            console.print(table)
    plots = draw(run_dir)
    console.print(f"plots: {', '.join(plots) or 'none'} in {run_dir}/plots")
    return summary
