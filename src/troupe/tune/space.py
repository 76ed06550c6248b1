"""Search spaces from ``conf/sweep/*.yaml`` and the checks that run before any trial starts.

A sweep file maps config keys to distributions written as calls:
``float(low, high, log=true)``, ``int(low, high)`` or ``choice([a, b, ...])``. Each becomes
an Optuna distribution. :func:`check_sweep` rejects, with one :class:`ConfigError` line,
a malformed distribution, a key the experiment's config lacks, a value the config's
schema refuses (tried at both ends of every range and for every choice), and a metric
the workload never reports.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import optuna.distributions as od
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from troupe.config import ConfigError, SweepConfig, TroupeConfig, _cross_checks, to_config, validate

# Added by Ray Tune to every result, so a sweep may trade accuracy against time.
TUNE_METRICS = ("time_total_s", "training_iteration")
USAGE = "expected float(low, high, log=true) | int(low, high) | choice([a, b, ...])"
_NAMES = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}


@dataclass(frozen=True)
class Param:
    """One swept key: its Optuna distribution; ``encoded`` choices are JSON strings (lists)."""

    key: str
    distribution: od.BaseDistribution
    encoded: bool = False

    def decode(self, value: Any) -> Any:
        """The config value for an Optuna value (list-valued choices travel as JSON)."""
        return json.loads(value) if self.encoded else value

    def probes(self) -> list[Any]:
        """Values that exercise the whole range: both ends, or every choice."""
        d = self.distribution
        if isinstance(d, od.CategoricalDistribution):
            return [self.decode(c) for c in d.choices]
        return [d.low, d.high]


class _Literals(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in _NAMES:
            raise ValueError(f"unknown name {node.id!r}")
        return ast.copy_location(ast.Constant(_NAMES[node.id]), node)


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(_Literals().visit(node))


def parse_param(key: str, text: Any) -> Param:
    """``float(1e-3, 1, log=true)`` -> a :class:`Param`; ConfigError naming ``sweep.params.KEY``."""
    where = f"sweep.params.{key}"
    try:
        node = ast.parse(str(text).strip(), mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("float", "int", "choice")):
            raise ValueError("not a distribution")
        args = [_literal(a) for a in node.args]
        kwargs = {k.arg: _literal(k.value) for k in node.keywords}
    except (SyntaxError, ValueError) as exc:
        raise ConfigError(where, f"cannot parse {text!r} ({exc}); {USAGE}") from None
    kind = node.func.id
    if kind == "choice":
        if len(args) != 1 or kwargs or not isinstance(args[0], list) or not args[0]:
            raise ConfigError(where, f"choice takes one non-empty list, got {text!r}")
        choices = args[0]
        encoded = any(isinstance(c, (list, dict)) for c in choices)
        if encoded:
            choices = [json.dumps(c) for c in choices]
        return Param(key, od.CategoricalDistribution(choices), encoded)
    if len(args) != 2 or set(kwargs) - {"log", "step"}:
        raise ConfigError(where, f"{kind} takes (low, high) and optionally log=, step=; got {text!r}")
    low, high = args
    log, step = bool(kwargs.get("log", False)), kwargs.get("step")
    numeric = (int,) if kind == "int" else (int, float)
    if not all(isinstance(v, numeric) and not isinstance(v, bool) for v in (low, high)):
        raise ConfigError(where, f"{kind} bounds must be {kind} numbers, got {low!r}, {high!r}")
    if low > high:
        raise ConfigError(where, f"low {low} exceeds high {high}")
    if log and low <= 0:
        raise ConfigError(where, f"log scale needs low > 0, got {low}")
    if log and step is not None and kind == "float":
        raise ConfigError(where, "log=true and step= cannot be combined")
    try:
        if kind == "int":
            return Param(key, od.IntDistribution(low, high, log=log, step=int(step or 1)))
        return Param(key, od.FloatDistribution(float(low), float(high), log=log,
                                               step=None if step is None else float(step)))
    except ValueError as exc:
        raise ConfigError(where, str(exc).splitlines()[0]) from None


def parse_space(params: dict[str, Any]) -> list[Param]:
    """Every entry of ``sweep.params`` as a :class:`Param`, in file order."""
    if not params:
        raise ConfigError("sweep.params", "is empty: name at least one key to sweep")
    return [parse_param(key, text) for key, text in params.items()]


def apply_values(base: TroupeConfig, values: dict[str, Any]) -> TroupeConfig:
    """``base`` with ``key -> value`` set and checked by the schema (ConfigError naming the key)."""
    node = OmegaConf.structured(base)
    missing = object()
    for key, value in values.items():
        if OmegaConf.select(node, key, default=missing) is missing:
            raise ConfigError(key, "unknown key")
        try:
            OmegaConf.update(node, key, value, merge=False)
        except OmegaConfBaseException as exc:
            raise ConfigError(key, f"{value!r} is invalid: {str(exc).splitlines()[0]}") from None
    return to_config(node)


def set_values(base: TroupeConfig, values: dict[str, Any]) -> TroupeConfig:
    """A copy of ``base`` with ``key -> value`` set and range-checked, without OmegaConf.

    The fast path of every trial (a pack builds dozens of configs): types and keys were
    checked once by :func:`check_sweep` through :func:`apply_values`.
    """
    cfg = copy.deepcopy(base)
    for key, value in values.items():
        *path, last = key.split(".")
        node = cfg
        for part in path:
            node = getattr(node, part, None)
        if node is None or not dataclasses.is_dataclass(node) or last not in {f.name for f in dataclasses.fields(node)}:
            raise ConfigError(key, "unknown key")
        setattr(node, last, value)
    validate(cfg)
    _cross_checks(cfg)
    return cfg


def reported_metrics(workload: str) -> tuple[str, ...]:
    """What ``workload`` reports (its entry in the runner's ``WORKLOADS``), plus Tune's own."""
    from troupe.experiments.runner import WORKLOADS

    return WORKLOADS[workload].reports + TUNE_METRICS


def objectives(sweep: SweepConfig) -> tuple[list[str], list[str]]:
    """``metric`` and ``mode`` as equal-length lists."""
    metrics = list(sweep.metric) if isinstance(sweep.metric, (list, tuple)) else [sweep.metric]
    modes = list(sweep.mode) if isinstance(sweep.mode, (list, tuple)) else [sweep.mode] * len(metrics)
    if len(modes) != len(metrics):
        raise ConfigError("sweep.mode", f"has {len(modes)} entries for {len(metrics)} metrics")
    for mode in modes:
        if mode not in ("max", "min"):
            raise ConfigError("sweep.mode", f"{mode!r} is not one of max, min")
    return [str(m) for m in metrics], modes


def check_sweep(sweep: SweepConfig, base: TroupeConfig) -> list[Param]:
    """Validate a sweep against the experiment it sweeps; return its parameters."""
    params = parse_space(sweep.params)
    metrics, _ = objectives(sweep)
    known = reported_metrics(base.workload)
    for metric in metrics:
        if metric not in known:
            raise ConfigError("sweep.metric", f"{base.workload} never reports {metric!r}; it reports "
                                              f"{', '.join(known)}")
    if len(metrics) > 1 and sweep.searcher == "cmaes":
        raise ConfigError("sweep.searcher", "cmaes optimizes a single metric; use nsga2 or tpe")
    if len(metrics) > 1 and sweep.scheduler != "none":
        raise ConfigError("sweep.scheduler", f"{sweep.scheduler} stops trials on a single metric; "
                                             "use none for a multi-objective sweep")
    for param in params:
        for value in param.probes():
            try:
                apply_values(base, {param.key: value})
            except ConfigError as exc:
                if exc.key == param.key and exc.problem == "unknown key":
                    raise ConfigError(f"sweep.params.{param.key}",
                                      f"unknown key: experiment {base.experiment} has no {param.key}") from None
                raise ConfigError(f"sweep.params.{param.key}", f"value {value!r}: {exc}") from None
    if sweep.pack > 1:
        check_packable(base)
    return params


def check_packable(base: TroupeConfig) -> None:
    """``sweep.pack > 1`` needs a workload that can train several configurations as one pack."""
    from troupe.experiments.runner import WORKLOADS

    if not WORKLOADS[base.workload].pack_keys:
        raise ConfigError("sweep.pack", f"workload {base.workload} cannot pack trials; use sweep.pack=1")
