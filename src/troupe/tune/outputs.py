"""What a finished sweep leaves: trials.parquet, metrics.parquet, best.yaml, plots.

Everything is read back from the study in storage, so the files agree with
``optuna.load_study`` whatever was interrupted and resumed on the way.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import optuna
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from troupe.results.rundir import RunDir
from troupe.tune.space import Param


def trials_table(study: optuna.Study, params: list[Param]) -> pa.Table:
    """One row per configuration: trial_id, each parameter, final metrics, status, seconds."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        row = {"trial_id": t.number, "tune_trial": attrs.get("tune_trial_id"), "pack_index": attrs.get("pack_index"),
               "status": attrs.get("status", t.state.name.lower()), "seconds": attrs.get("seconds")}
        for p in params:
            value = t.params.get(p.key)
            row[p.key] = value
        for name, value in (attrs.get("metrics") or {}).items():
            row[name] = value
        rows.append(row)
    return pa.Table.from_pylist(rows) if rows else pa.table({"trial_id": pa.array([], pa.int64())})


def metrics_table(study: optuna.Study, trials_root: str) -> pa.Table | None:
    """Every trial's per-step metrics with a ``trial`` column (the study's trial number)."""
    parts = []
    numbers = {(t.user_attrs.get("tune_trial_id"), t.user_attrs.get("pack_index", 0)): t.number
               for t in study.get_trials(deepcopy=False)}
    packed = {tid for (tid, j) in numbers if j}
    for tune_id in sorted({tid for tid, _ in numbers}):
        for path in sorted(Path(trials_root, str(tune_id)).glob("*/*/metrics.parquet")):
            table = pq.read_table(path).to_pandas()
            if tune_id in packed or table["trial"].notna().any():
                table = table[table["trial"].notna()].copy()
                table["trial"] = [numbers.get((tune_id, int(j))) for j in table["trial"]]
            else:
                table["trial"] = numbers[(tune_id, 0)]
            parts.append(table)
    if not parts:
        return None
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True)
    frame["trial"] = frame["trial"].astype("Int64")
    return pa.Table.from_pandas(frame, preserve_index=False)


def best_trials(study: optuna.Study, modes: list[str]) -> list[optuna.trial.FrozenTrial]:
    """The best trial (single objective) or the Pareto front, best first objective first."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if not complete:
        return []
    if len(modes) == 1:
        return [study.best_trial]
    sign = 1 if modes[0] == "max" else -1
    return sorted(study.best_trials, key=lambda t: -sign * t.values[0])


def override_value(value) -> str:
    """A Hydra override value: numbers as Python writes them, lists and strings as YAML flow."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value).replace('"', "'")
    return str(value).lower() if isinstance(value, bool) else str(value)


def best_yaml(trial: optuna.trial.FrozenTrial, params: list[Param], *, experiment: str, overrides: list[str],
              metrics: list[str], modes: list[str], path: str) -> str:
    """A ready-to-run override file: ``troupe run +best=PATH`` runs the best configuration."""
    decode = {p.key: p.decode for p in params}
    scored = ", ".join(f"{m}={v:.6g} ({mode})" for m, v, mode in zip(metrics, trial.values, modes, strict=True))
    body = {"experiment": experiment,
            "overrides": [*overrides, *(f"{k}={override_value(decode[k](v))}" for k, v in trial.params.items())]}
    header = (f"# Best configuration of the sweep: trial {trial.number}, {scored}.\n"
              f"# Run it: troupe run +best={path}\n")
    return header + yaml.safe_dump(body, sort_keys=False)


def draw_plots(run_dir: RunDir, study: optuna.Study, metrics: list[str]) -> list[str]:
    """Optimization history, parameter importances and (multi-objective) the Pareto front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    multi = len(metrics) > 1
    target = (lambda t: t.values[0]) if multi else None
    figures = {"optimization_history": lambda: ovm.plot_optimization_history(study, target=target, target_name=metrics[0])}
    if len(complete) >= 2 and len(complete[0].params) >= 1:
        figures["param_importances"] = lambda: ovm.plot_param_importances(study, target=target, target_name=metrics[0])
    if multi and len(metrics) <= 3:
        figures["pareto_front"] = lambda: ovm.plot_pareto_front(study, target_names=metrics)
    drawn = []
    for name, draw in figures.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ax = draw()
            except (ValueError, RuntimeError) as exc:  # too few trials for this analysis
                warnings.warn(f"plot {name} skipped: {exc}", stacklevel=2)
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        run_dir.write_figure(name, fig)
        plt.close(fig)
        drawn.append(name)
    return drawn
