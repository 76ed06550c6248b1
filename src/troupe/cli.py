"""The ``troupe`` command: a thin layer over the Python API.

    troupe run experiment=NAME [hydra overrides]
    troupe list
    troupe report RUN_DIR

Bad input (a config key, a value out of range, a data file) prints one line and
exits with code 2; a run that fails after starting exits with code 1 and keeps its
run directory (``summary.json`` says ``failed``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

EPILOG = """examples:
  troupe run experiment=ensemble data=digits ensemble.members=32
  troupe run experiment=federated fl.clients=100 fl.rounds=50 fl.strategy=scaffold
  troupe run experiment=ensemble debug=smoke          # a seconds-long run
  troupe list
  troupe report runs/ensemble/20261204-120000-abc123
"""


def _fail(message: str, code: int) -> int:
    print(f"troupe: error: {message}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    from troupe.config import load_config
    from troupe.experiments.runner import execute

    cfg = load_config(args.overrides)
    result = execute(cfg)
    metrics = result.summary.get("metrics", {})
    shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())
                      if isinstance(v, float) and k.count("/") <= 1 and "accuracy" in k)
    print(f"{cfg.experiment}: {shown or 'done'}  ({result.summary['train_seconds']:.1f}s training, "
          f"{result.summary['wall_seconds']:.1f}s total)")
    print(f"results: {result.run_dir}")
    return EXIT_OK


def experiments() -> list[tuple[str, str]]:
    """(name, one-line description) for every conf/experiment/*.yaml."""
    from troupe.config import conf_dir

    rows = []
    for path in sorted((conf_dir() / "experiment").glob("*.yaml")):
        lines = [ln.lstrip("# ").strip() for ln in path.read_text().splitlines()
                 if ln.startswith("#") and "@package" not in ln]
        described = [ln for ln in lines if not ln.startswith("troupe ")]
        rows.append((path.stem, described[0] if described else (lines[0] if lines else "")))
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    for name, line in experiments():
        print(f"{name:24s} {line}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from troupe.results.report import report

    report(args.run_dir)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="troupe", description="Many learners at once on Ray: ensembles, federated clients, sweeps.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("run", help="run an experiment: troupe run experiment=NAME [overrides]")
    p.add_argument("overrides", nargs="*", help="Hydra overrides (key=value, group=option)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("list", help="list the experiments")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("report", help="print a run's summary and redraw its plots")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_report)
    for module in EXTENSIONS:
        importlib.import_module(module).register(sub)
    return parser


# Modules that add subcommands: each defines ``register(subparsers)`` and sets ``func``.
EXTENSIONS = ("troupe.tune.command", "troupe.cluster.command")


def main(argv: list[str] | None = None) -> int:
    from troupe.config import ConfigError
    from troupe.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except (ConfigError, DataError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except FileNotFoundError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the run dir holds the details
        from troupe.actors.pool import CallError

        if isinstance(exc, CallError):
            return _fail(str(exc), EXIT_FAILED)
        return _fail(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                     EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
