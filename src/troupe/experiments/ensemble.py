"""Ensembles of seeded members trained side by side in member packs.

Member i trains with seed ``seed + i``. Members are cut into packs (``pack_size``,
default: all the members a worker holds), packs run on the long-lived workers of the
pool, and the driver combines the members' test outputs: each member's accuracy and
loss, the ensemble's (mean of probabilities, majority vote), disagreement, and
accuracy against ensemble size.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from troupe.actors import Call, start_pool
from troupe.actors.ensemble import EnsembleWorker
from troupe.algorithms.ensembles import (
    disagreement,
    ensemble_accuracy_curve,
    majority_vote,
    mean_probs,
    member_accuracy,
    member_loss,
    nll,
)
from troupe.config import TroupeConfig
from troupe.experiments.runner import WORKLOADS, model_spec

# Final metrics ``run`` returns and reports, and the keys that may differ inside one member pack.
REPORTS, PACK_KEYS = WORKLOADS["ensemble"].reports, WORKLOADS["ensemble"].pack_keys


def hyperparameters(cfg: TroupeConfig) -> dict:
    e = cfg.ensemble
    return {"steps": e.steps, "batch_size": e.batch_size, "lr": e.lr, "momentum": e.momentum,
            "weight_decay": e.weight_decay}


def packs(seeds: list[int], workers: int, pack_size: int | None) -> list[list[int]]:
    """Cut the members into packs: ``pack_size`` each, or one pack per worker by default."""
    size = pack_size or math.ceil(len(seeds) / workers)
    return [seeds[i:i + size] for i in range(0, len(seeds), size)]


def train_members(cfg: TroupeConfig, ctx, arrays: dict, spec: dict, seeds: list[int],
                  outputs: tuple[str, ...] = ("logits",), wide: list[int] = (),
                  hp: dict | None = None) -> list[dict]:
    """Train a member per seed on the pool; return the packs' outputs in seed order.

    ``wide`` adds, after the packs, one single-member call per width multiplier (seed ``seeds[0]``).
    Each output gets ``node``, the Ray node id that trained it; the run's summary gets ``nodes``.
    ``hp`` with per-member lists (lr, momentum, weight_decay) trains all seeds as one pack.
    """
    pool = start_pool(EnsembleWorker, cfg.cluster, spec, cfg.device, shared=arrays,
                      on_event=lambda e: ctx.log(f"worker replaced: {e}"))
    try:
        pool.info()  # workers are up: what follows is the workload itself
        ctx.start_training()
        groups = [seeds] if hp is not None else packs(seeds, pool.size, cfg.ensemble.pack_size)
        hp = hp or hyperparameters(cfg)
        calls = [Call("train", (pack, hp, outputs), label=f"members {pack[0]}..{pack[-1]}")
                 for pack in groups]
        calls += [Call("train", ([seeds[0]], hp, outputs, k), label=f"width x{k}") for k in wide]
        results = pool.map(calls)
        ctx.stop_training()
        for result, node in zip(results, pool.last_nodes, strict=True):
            result["node"] = node
        ctx.extra["nodes"] = sorted(set(pool.last_nodes))
        return results
    finally:
        pool.shutdown()


def run(cfg: TroupeConfig, ctx) -> dict[str, float]:
    data, e = ctx.data, cfg.ensemble
    seeds = [cfg.seed + i for i in range(e.members)]
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_eval": data.x_test}
    ctx.log(f"ensemble: {e.members} members x {e.steps} steps on {data.name} ({len(data.y_train)} train examples)")
    results = train_members(cfg, ctx, arrays, model_spec(cfg, data.in_shape, data.classes), seeds)

    logits = torch.from_numpy(np.concatenate([r["logits"] for r in results]))
    losses = np.concatenate([r["losses"] for r in results], axis=1)  # (steps, members)
    y = torch.from_numpy(data.y_test)
    m = ctx.metrics
    for step, value in enumerate(losses.mean(axis=1)):
        m.add("train/loss", value, step)
    accs, member_losses = member_accuracy(logits, y), member_loss(logits, y)
    nodes = [r["node"] for r in results for _ in r["seeds"]]
    for i in range(len(seeds)):
        m.add("member/test_accuracy", accs[i], e.steps, member=i, node=nodes[i])
        m.add("member/test_loss", member_losses[i], e.steps, member=i, node=nodes[i])
    sizes = sorted({s for s in e.eval_sizes if s <= e.members} | {e.members})
    for size, acc in zip(sizes, ensemble_accuracy_curve(logits, y, sizes), strict=True):
        m.add("ensemble_size/accuracy", acc, size)
    final = summarize(logits, y)
    for name, value in final.items():
        m.add(f"ensemble/{name}", value, e.steps)
    if ctx.report:
        ctx.report(final)
    return final


def summarize(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The ensemble's final metrics (:data:`REPORTS`) from its members' test logits ``(M, N, C)``."""
    probs, accs = mean_probs(logits), member_accuracy(logits, y)
    return {
        "test_accuracy": float((probs.argmax(1) == y).float().mean()),
        "test_loss": float(nll(probs, y)),
        "vote_accuracy": float((majority_vote(logits) == y).float().mean()),
        "member_accuracy_mean": float(accs.mean()),
        "member_accuracy_std": float(accs.std()) if len(accs) > 1 else 0.0,
        "disagreement": float(disagreement(logits)) if len(logits) > 1 else 0.0,
    }


def pack_shape(cfg: TroupeConfig) -> tuple:
    """What configurations of one pack must share (everything but :data:`PACK_KEYS`)."""
    e = cfg.ensemble
    return (cfg.model.name, tuple(cfg.model.hidden), tuple(cfg.model.channels), e.members, e.steps,
            e.batch_size, cfg.data.name, cfg.data.path, cfg.device)


def run_pack(cfgs: list[TroupeConfig], ctx) -> list[dict[str, float]]:
    """Train several configurations as one vmapped member pack; one final-metrics dict each.

    Configuration ``j`` contributes ``members`` members with seeds ``seed_j + i`` and its own
    lr, momentum and weight decay; its metrics are logged with ``trial=j``. Sweeps use it to
    pack small trials (``sweep.pack``).
    """
    first = cfgs[0]
    if any(pack_shape(c) != pack_shape(first) for c in cfgs):
        raise ValueError("configurations of one pack must share everything but " + ", ".join(PACK_KEYS))
    data, e = ctx.data, first.ensemble
    seeds = [c.seed + i for c in cfgs for i in range(e.members)]
    hp = {"steps": e.steps, "batch_size": e.batch_size,
          **{k: [getattr(c.ensemble, k) for c in cfgs for _ in range(e.members)]
             for k in ("lr", "momentum", "weight_decay")}}
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_eval": data.x_test}
    (result,) = train_members(first, ctx, arrays, model_spec(first, data.in_shape, data.classes), seeds, hp=hp)
    logits, losses = torch.from_numpy(result["logits"]), result["losses"]
    y = torch.from_numpy(data.y_test)
    finals = []
    for j in range(len(cfgs)):
        part = slice(j * e.members, (j + 1) * e.members)
        for step, value in enumerate(losses[:, part].mean(axis=1)):
            ctx.metrics.add("train/loss", value, step, trial=j)
        final = summarize(logits[part], y)
        for name, value in final.items():
            ctx.metrics.add(f"ensemble/{name}", value, e.steps, trial=j)
        finals.append(final)
    return finals
