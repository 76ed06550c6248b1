"""Ensembles of seeded members: packs trained with vmap, combination, diversity, CAT_n probes."""

from troupe.algorithms.ensembles.combine import (
    ensemble_accuracy_curve,
    majority_vote,
    mean_probs,
    member_accuracy,
    member_loss,
    nll,
)
from troupe.algorithms.ensembles.concat import concat_features, linear_probe, split_by_classes
from troupe.algorithms.ensembles.diversity import disagreement, mean_pairwise_kl
from troupe.algorithms.ensembles.packs import (
    PackState,
    init_pack,
    member_batches,
    pack_features,
    pack_logits,
    train_pack,
    train_single,
    unstack,
)

__all__ = [
    "PackState",
    "concat_features",
    "disagreement",
    "ensemble_accuracy_curve",
    "init_pack",
    "linear_probe",
    "majority_vote",
    "mean_pairwise_kl",
    "mean_probs",
    "member_accuracy",
    "member_batches",
    "member_loss",
    "nll",
    "pack_features",
    "pack_logits",
    "split_by_classes",
    "train_pack",
    "train_single",
    "unstack",
]
