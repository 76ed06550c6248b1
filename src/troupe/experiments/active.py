"""Adversarially trained active-learning policies against classic baselines.

"Learning to Actively Learn: A Robust Approach" (Zhang, Jain, Jamieson, 2020), on the
synthetic transductive-bandit tasks of ``troupe.algorithms.active``:

1. the K class policies (one per difficulty class ``rho* <= r_k``, each against its own
   adversary) and the fixed-prior policy train in parallel, one pool call each;
2. the robust MAPO policy trains against all classes, given each class policy's
   worst-case loss;
3. one call per class scores every method (own, robust, fixed-prior, uniform, greedy) on
   that class's held-out hardest instances.

Metrics: ``active/error/<method>`` with step = class index, ``active/worst/{own,robust}``
and ``active/gap`` (adversarial worst-case estimates), ``train/loss`` (robust policy) and
``train/loss/class<k>``, ``train/loss/prior`` by step, ``robust/weight/class<k>`` by
adversary round. ``summary.json`` gets one table row per class.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from troupe.actors import Call, start_pool
from troupe.actors.active import PolicyWorker
from troupe.algorithms.active import TrainSettings, derive_seed
from troupe.config import TroupeConfig

METHODS = ("own", "robust", "prior", "uniform", "greedy")


def settings(cfg: TroupeConfig) -> TrainSettings:
    """The training settings of ``cfg.active`` (the fields the two share)."""
    a = asdict(cfg.active)
    names = {f.name for f in fields(TrainSettings)}
    return TrainSettings(**{k: (tuple(v) if k == "prior_scale" else v) for k, v in a.items() if k in names})


def run(cfg: TroupeConfig, ctx) -> dict[str, float]:
    a, m = cfg.active, ctx.metrics
    radii = [float(r) for r in a.radii]
    problem = {"name": a.problem, "n": a.n_queries, "d": a.dim, "sigma": a.noise, "seed": cfg.seed}
    ctx.log(f"active: {a.problem} n={a.n_queries} T={a.budget}, classes rho* <= {radii}")
    pool = start_pool(PolicyWorker, cfg.cluster, problem, asdict(settings(cfg)),
                      on_event=lambda e: ctx.log(f"worker replaced: {e}"))
    try:
        pool.info()
        ctx.start_training()
        calls = [Call("train_class", (r, derive_seed(cfg.seed, 1, k)), label=f"class {k} policy (r={r:g})")
                 for k, r in enumerate(radii)]
        calls.append(Call("train_prior", (derive_seed(cfg.seed, 2),), label="fixed-prior policy"))
        *own, prior = pool.map(calls)
        own_worst = [o["worst_loss"][0] for o in own]
        ctx.log(f"active: class policies' worst-case error {[round(w, 3) for w in own_worst]}")
        (robust,) = pool.map([Call("train_robust", (radii, own_worst, derive_seed(cfg.seed, 3)),
                                   label="robust policy")])
        ctx.stop_training()
        evals = pool.map([
            Call("evaluate", (r, {"own": own[k]["state"], "robust": robust["state"], "prior": prior["state"]},
                              derive_seed(cfg.seed, 4, k)),
                 {"instances": a.eval_instances, "hardest": a.eval_hardest, "reps": a.eval_reps},
                 label=f"evaluate class {k}")
            for k, r in enumerate(radii)])
    finally:
        pool.shutdown()

    for k, o in enumerate(own):
        for step, value in enumerate(o["curve"]):
            m.add(f"train/loss/class{k}", value, step)
    for step, value in enumerate(prior["curve"]):
        m.add("train/loss/prior", value, step)
    for step, value in enumerate(robust["curve"]):
        m.add("train/loss", value, step)
    for step, w in enumerate(robust["weights"]):
        for k, wk in enumerate(w):
            m.add(f"robust/weight/class{k}", wk, step)

    table = []
    for k, (r, ev) in enumerate(zip(radii, evals, strict=True)):
        errors = ev["errors"]
        for name in METHODS:
            m.add(f"active/error/{name}", errors[name], k)
        worst_gap = robust["worst_loss"][k] - own_worst[k]
        m.add("active/worst/own", own_worst[k], k)
        m.add("active/worst/robust", robust["worst_loss"][k], k)
        m.add("active/gap", worst_gap, k)
        table.append({"class": k, "radius": r, "rho_range": f"{ev['rho_min']:.3g}-{ev['rho_max']:.3g}",
                      **{name: errors[name] for name in METHODS},
                      "robust-own": errors["robust"] - errors["own"], "worst_gap": worst_gap})
    ctx.extra["table"] = table
    final = {f"{name}_error_mean": sum(row[name] for row in table) / len(table) for name in METHODS}
    final["robust_max_gap"] = max(row["worst_gap"] for row in table)
    final["robust_max_gap_heldout"] = max(row["robust-own"] for row in table)
    if ctx.report:
        ctx.report(final)
    return final
