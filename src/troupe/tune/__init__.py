"""Sweeps: Ray Tune with Optuna over any experiment, with trial packing for member packs.

Search spaces come from ``conf/sweep/*.yaml`` (:mod:`~troupe.tune.space`); the driver
(:mod:`~troupe.tune.sweep`) runs a Tune ``Tuner`` with ``OptunaSearch`` or, for packed
sweeps, :class:`~troupe.tune.packing.PackSearch`; trials run the experiment inline
(:mod:`~troupe.tune.trainable`); the study lives in real storage (:mod:`~troupe.tune.study`).
Names are imported lazily, so ``troupe --help`` does not load Ray Tune.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Param": "space", "parse_param": "space", "check_sweep": "space",
    "make_sampler": "search", "make_scheduler": "search",
    "PackSearch": "packing", "pack_groups": "packing",
    "SweepPlan": "sweep", "SweepResult": "sweep", "prepare": "sweep", "run_sweep": "sweep", "resume": "sweep",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"troupe.tune.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
