"""``troupe sweep``: the CLI over :mod:`troupe.tune.sweep` (registered by ``troupe.cli``)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  troupe sweep sweep=ensemble_lr                        # the sweep names its experiment
  troupe sweep experiment=federated sweep=fl_lr sweep.samples=50 sweep.scheduler=asha
  troupe sweep sweep=ensemble_lr sweep.pack=10          # 10 configurations per vmapped pack
  troupe sweep sweep=fl_lr sweep.storage=postgresql://host/optuna
  troupe sweep --resume runs/sweeps/ensemble_lr/20261204-120000-abc123
  troupe run +best=runs/sweeps/ensemble_lr/20261204-120000-abc123/best.yaml
"""


def cmd_sweep(args: argparse.Namespace) -> int:
    from troupe.config import ConfigError
    from troupe.tune.sweep import describe, prepare, resume, run_sweep

    if args.resume:
        if args.overrides:
            raise ConfigError("--resume", "takes no overrides: a sweep resumes with its own config")
        result = resume(args.resume)
    else:
        result = run_sweep(prepare(args.overrides))
    print(describe(result))
    return 0 if result.summary["status"] == "ok" else 1


def register(subparsers) -> None:
    """Add ``sweep`` to the ``troupe`` command."""
    p = subparsers.add_parser("sweep", help="search hyperparameters: troupe sweep sweep=NAME [overrides]",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides (sweep=NAME, sweep.samples=50, experiment keys)")
    p.add_argument("--resume", metavar="RUN_DIR", help="finish a sweep whose driver stopped")
    p.set_defaults(func=cmd_sweep)
