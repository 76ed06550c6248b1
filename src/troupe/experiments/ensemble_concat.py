"""Seed-concatenated representations against one wider network.

"Learning useful representations for shifting tasks and distributions" (Zhang & Bottou,
2022): train n networks with different seeds on a source task, concatenate their
penultimate features (CAT_n) and fit a linear probe on a shifted task; compare with one
network n times as wide. Small reproduction: digits 0-4 as the source task, a linear
probe on digits 5-9 (probe trained on the target's train split, scored on its test split).
"""

from __future__ import annotations

import numpy as np
import torch

from troupe.algorithms.ensembles import concat_features, linear_probe
from troupe.config import TroupeConfig
from troupe.experiments.ensemble import train_members
from troupe.experiments.runner import model_spec


def run(cfg: TroupeConfig, ctx) -> dict[str, float]:
    c = cfg.concat
    source = ctx.data.subset(list(c.source_classes))
    target = ctx.data.subset(list(c.target_classes))
    n_max = max(c.n)
    seeds = [cfg.seed + i for i in range(n_max)]
    probe_x = np.concatenate([target.x_train, target.x_test])
    arrays = {"x_train": source.x_train, "y_train": source.y_train, "x_eval": source.x_test, "x_probe": probe_x}
    ctx.log(f"ensemble_concat: {n_max} seeded networks + widths {list(c.n)} on classes {list(c.source_classes)}, "
            f"probing classes {list(c.target_classes)}")
    widths = sorted(set(c.n))
    results = train_members(cfg, ctx, arrays, model_spec(cfg, source.in_shape, source.classes), seeds,
                            outputs=("logits", "features"), wide=widths)
    packs, wide = results[: len(results) - len(widths)], results[len(results) - len(widths):]
    features = torch.from_numpy(np.concatenate([r["features"] for r in packs]))  # a fresh, writable array  # (n_max, N, F)
    source_acc = np.concatenate([(r["logits"].argmax(-1) == source.y_test).mean(-1) for r in packs])
    n_train = len(target.y_train)

    def probe(f: torch.Tensor) -> float:
        f = f.numpy()
        return linear_probe(f[:n_train], target.y_train, f[n_train:], target.y_test, seed=cfg.seed, C=c.probe_c)

    table = []
    for k, result in zip(widths, wide, strict=True):
        cat = probe(concat_features(features, k))
        wide_acc = probe(torch.tensor(result["features"][0]))
        wide_source = float((result["logits"][0].argmax(-1) == source.y_test).mean())
        table.append({"n": k, "cat_probe_accuracy": cat, "wide_probe_accuracy": wide_acc,
                      "cat_feature_dim": int(features.shape[-1] * k), "wide_feature_dim": int(result["features"].shape[-1]),
                      "wide_source_accuracy": wide_source})
        ctx.metrics.add("concat/cat_probe_accuracy", cat, k)
        ctx.metrics.add("concat/wide_probe_accuracy", wide_acc, k)
        ctx.log(f"  n={k}: CAT_n probe {cat:.4f}  vs  {k}x-wide probe {wide_acc:.4f}")
    for i, acc in enumerate(source_acc):
        ctx.metrics.add("member/source_accuracy", acc, cfg.ensemble.steps, member=i)
    ctx.extra["table"] = table
    last = table[-1]
    final = {"cat_probe_accuracy": last["cat_probe_accuracy"], "wide_probe_accuracy": last["wide_probe_accuracy"],
             "source_accuracy_mean": float(source_acc.mean()),
             "cat_minus_wide": last["cat_probe_accuracy"] - last["wide_probe_accuracy"]}
    if ctx.report:
        ctx.report(final)
    return final
