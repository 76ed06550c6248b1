"""Reproduce "When Do Curricula Work in Federated Learning?" (Vahidian et al., ICCV 2023) on digits.

A grid of federated runs: Dirichlet-prior heterogeneity beta (``fl.grid_alpha``) x
strategy (``fl.grid_strategy``) x data order (``fl.grid_order``) x seeds
(``fl.grid_seeds``), every cell the same round loop as ``experiment=federated``
(:func:`troupe.experiments.federated.simulate`), all on one worker pool. The pool's
shared object holds every (seed, beta) federation at once, put in the object store
once. The table (mean and std of the final test accuracy over seeds per cell) goes
to ``summary.json`` under ``table``; ``plots/curricula.png`` draws it.

Assumed where the paper is not specific for this small reproduction: digits
instead of FMNIST/CIFAR, an MLP, and a round budget sized for a laptop.
"""

from __future__ import annotations

import dataclasses
import statistics

from troupe.config import TroupeConfig
from troupe.data import load
from troupe.experiments.federated import (
    check,
    federate,
    final_metrics,
    model_spec,
    simulate,
    start_workers,
    with_settings,
)

__all__ = ["check", "run"]


def cells(cfg: TroupeConfig) -> list[dict]:
    """The grid, seeds innermost: one dict of settings per run."""
    fl = cfg.fl
    return [{"alpha": alpha, "strategy": strategy, "order": order, "seed": cfg.seed + s}
            for alpha in fl.grid_alpha for strategy in fl.grid_strategy for order in fl.grid_order
            for s in range(fl.grid_seeds)]


def table(results: list[dict]) -> list[dict]:
    """Mean/std test accuracy (in %) over seeds for every (beta, strategy, order)."""
    groups: dict[tuple, list[float]] = {}
    for r in results:
        groups.setdefault((r["alpha"], r["strategy"], r["order"]), []).append(100 * r["test_accuracy"])
    return [{"beta": a, "strategy": s, "order": o, "accuracy": statistics.fmean(v),
             "std": statistics.stdev(v) if len(v) > 1 else 0.0, "seeds": len(v)}
            for (a, s, o), v in groups.items()]


def _plot(ctx, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["strategy"], r["beta"]) for r in rows})
    orders = list(dict.fromkeys(r["order"] for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), sharey=True, squeeze=False)
    for ax, (strategy, beta) in zip(axes[0], panels, strict=True):
        sel = {r["order"]: r for r in rows if r["strategy"] == strategy and r["beta"] == beta}
        ax.bar(orders, [sel[o]["accuracy"] for o in orders], yerr=[sel[o]["std"] for o in orders],
               color=["tab:green", "tab:red", "tab:gray", "tab:blue"][: len(orders)])
        ax.set_title(f"{strategy}, beta={beta}")
        ax.tick_params(axis="x", rotation=30)
    axes[0][0].set_ylabel("test accuracy (%)")
    lows = [r["accuracy"] - r["std"] for r in rows]
    axes[0][0].set_ylim(max(0.0, min(lows) - 5), 100)
    fig.suptitle("data curricula on digits (Vahidian et al., ICCV 2023)")
    ctx.run_dir.write_figure("curricula", fig)
    plt.close(fig)


def run(cfg: TroupeConfig, ctx) -> dict[str, float]:
    grid = cells(cfg)
    seeds = sorted({c["seed"] for c in grid})
    datasets = {s: ctx.data if s == cfg.seed else load(cfg.data, seed=s, clients=cfg.fl.clients) for s in seeds}
    federations = {}
    for c in grid:
        key = f"seed{c['seed']}-beta{c['alpha']}"
        if key not in federations:
            cell = with_settings(cfg, seed=c["seed"], alpha=c["alpha"], partition="dirichlet_prior")
            federations[key] = dataclasses.replace(federate(cell, datasets[c["seed"]]), key=key)
    ctx.log(f"fl_curriculum: {len(grid)} runs of {cfg.fl.rounds} rounds "
            f"({len(cfg.fl.grid_alpha)} betas x {len(cfg.fl.grid_strategy)} strategies x "
            f"{len(cfg.fl.grid_order)} orders x {cfg.fl.grid_seeds} seeds)")
    pool = start_workers(cfg, {k: f.arrays(datasets[int(k[4:].split('-')[0])]) for k, f in federations.items()},
                         model_spec(cfg, ctx.data), on_event=lambda e: ctx.log(f"worker replaced: {e}"))
    results = []
    try:
        pool.info()
        ctx.start_training()
        for i, c in enumerate(grid):
            cell = with_settings(cfg, seed=c["seed"], alpha=c["alpha"], partition="dirichlet_prior",
                                 strategy=c["strategy"], order=c["order"])
            data = datasets[c["seed"]]
            state = simulate(cell, data, federations[f"seed{c['seed']}-beta{c['alpha']}"], pool)
            final = final_metrics(cell, data, state)
            results.append({**c, **final})
            ctx.metrics.add("grid/test_accuracy", final["test_accuracy"], cfg.fl.rounds, trial=i)
            ctx.log(f"[{i + 1}/{len(grid)}] beta={c['alpha']} {c['strategy']} {c['order']} seed={c['seed']}: "
                    f"accuracy {final['test_accuracy']:.4f}")
        ctx.stop_training()
    finally:
        pool.shutdown()
    rows = table(results)
    ctx.extra["table"] = rows
    ctx.extra["runs"] = results
    _plot(ctx, rows)
    return {f"{r['strategy']}_beta{r['beta']}_{r['order']}/test_accuracy": r["accuracy"] / 100 for r in rows}
