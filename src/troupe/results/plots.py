"""Figures drawn from ``metrics.parquet`` alone, so ``troupe report`` can redraw them.

Every run-level series (rows without member/client keys, with more than one step)
is drawn in one figure per namespace, one panel per metric: ``fl/test_accuracy`` and
``fl/test_loss`` are two panels of ``plots/fl.png``. Namespaces may name their x axis in :data:`X_LABELS`.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from troupe.results.rundir import RunDir  # noqa: E402

X_LABELS = {
    "fl": "round",
    "ensemble_size": "members in the ensemble",
    "train": "step",
    "concat": "n (networks / width multiplier)",
    "sweep": "trial",
}


def draw(run_dir: RunDir | str) -> list[str]:
    """(Re)draw every figure of a run; return the plot file names."""
    run_dir = RunDir.open(run_dir) if isinstance(run_dir, str) else run_dir
    if not run_dir.exists("metrics.parquet"):
        return []
    df = run_dir.read_table("metrics.parquet").to_pandas()
    keyed = df[["member", "client"]].notna().any(axis=1)
    series = df[~keyed]
    drawn = []
    for prefix, group in series.groupby(series["name"].str.split("/").str[0]):
        names = [n for n, g in group.groupby("name") if g["step"].nunique() > 1]
        if not names:
            continue
        fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
        for ax, name in zip(axes[0], names, strict=True):
            g = group[group["name"] == name].groupby("step")["value"].mean()
            ax.plot(g.index, g.values, marker="o" if len(g) < 30 else None)
            ax.set_xlabel(X_LABELS.get(prefix, "step"))
            ax.set_title(name, fontsize=10)
            ax.grid(alpha=0.3)
        fig.suptitle(run_dir.path.rsplit("/", 2)[-2], fontsize=10)
        fig.tight_layout()
        run_dir.write_figure(prefix, fig)
        plt.close(fig)
        drawn.append(f"{prefix}.png")
    member_rows = df[df["member"].notna() & df["name"].str.startswith("member/")]
    if len(member_rows):
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, g in member_rows.groupby("name"):
            ax.hist(g["value"], bins=min(30, max(5, len(g) // 2)), alpha=0.6, label=name)
        ax.set_title("per-member metrics")
        ax.legend(fontsize=8)
        run_dir.write_figure("members", fig)
        plt.close(fig)
        drawn.append("members.png")
    return drawn
