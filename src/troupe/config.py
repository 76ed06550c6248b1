"""Typed configuration: Hydra composes YAML from ``conf/``, these dataclasses check it.

Every field carries its documentation and its allowed range in ``field`` metadata
(CleanRL style: the config is the documentation). :func:`load_config` composes,
merges into the schema and validates, raising :class:`ConfigError` with a single
line that names the offending key before any work starts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

CONF_DIR = Path(__file__).resolve().parent / "conf"


class ConfigError(ValueError):
    """A configuration problem: one line naming the key and what is wrong."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}" if key else problem)


def opt(default: Any = None, doc: str = "", *, ge=None, gt=None, le=None, lt=None, choices=None):
    """A dataclass field with its documentation and range (checked by :func:`validate`)."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ClusterConfig:
    address: str | None = opt(None, "Join this Ray cluster ('auto', 'ray://host:10001'); null starts an embedded local Ray.")
    num_cpus: int | None = opt(None, "CPUs of the embedded Ray instance (default: the machine's).", ge=1)
    num_gpus: int | None = opt(None, "GPUs of the embedded Ray instance (default: the machine's).", ge=0)
    worker_cpus: float = opt(1.0, "CPUs held by each long-lived worker (one worker per slot).", gt=0)
    worker_gpus: float = opt(0.0, "GPU fraction held by each worker; 0 on CPU-only clusters.", ge=0)
    num_workers: int | None = opt(None, "Workers in the pool (default: one per slot; 0 runs the work inline in this process).", ge=0)
    namespace: str = opt("troupe", "Ray namespace of troupe's actors.")


@dataclass
class DataConfig:
    name: str = opt("digits", "Dataset: digits|breast_cancer|wine|iris|blobs|classification|fedprox_synthetic|file.",
                    choices=["digits", "breast_cancer", "wine", "iris", "blobs", "classification",
                             "fedprox_synthetic", "file"])
    path: str | None = opt(None, "A .npz (arrays x, y) or Parquet file (feature columns + 'label'); implies name=file.")
    test_fraction: float = opt(0.25, "Held-out fraction, split with the run's seed.", gt=0, lt=1)
    scale: bool = opt(True, "Standardize features with train-split statistics (digits: divide by 16).")
    n_samples: int = opt(2000, "Examples drawn by synthetic generators.", ge=10)
    n_features: int = opt(20, "Features of synthetic generators.", ge=2)
    n_classes: int = opt(4, "Classes of synthetic generators.", ge=2)
    synthetic_alpha: float = opt(1.0, "Synthetic(alpha, beta) of FedProx: model heterogeneity.", ge=0)
    synthetic_beta: float = opt(1.0, "Synthetic(alpha, beta) of FedProx: feature heterogeneity.", ge=0)
    classes: list[int] | None = opt(None, "Keep only these labels (remapped to 0..k-1).")


# The models troupe.algorithms.models registers itself (checked without importing torch).
BUILTIN_MODELS = ("mlp", "cnn")


@dataclass
class ModelConfig:
    name: str = opt("mlp", "Model from the registry (troupe.algorithms.models): mlp|cnn|...")
    hidden: list[int] = opt([128], "Hidden widths (MLP layers; the CNN's dense layer).")
    channels: list[int] = opt([16, 32], "Conv channels of the CNN.")


@dataclass
class EnsembleConfig:
    members: int = opt(8, "Members; member i trains with seed seed+i.", ge=1)
    pack_size: int | None = opt(None, "Members vectorized together (default: all members a worker holds).", ge=1)
    steps: int = opt(200, "SGD steps per member.", ge=1)
    batch_size: int = opt(64, "Minibatch size per member.", ge=1)
    lr: float = opt(0.1, "Learning rate.", gt=0)
    momentum: float = opt(0.9, "SGD momentum.", ge=0, lt=1)
    weight_decay: float = opt(0.0, "L2 weight decay.", ge=0)
    eval_sizes: list[int] = opt([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], "Ensemble sizes for the accuracy-vs-size curve (clipped to members).")


@dataclass
class ConcatConfig:
    """Seed-concatenated representations (Zhang & Bottou, 2022)."""

    n: list[int] = opt([1, 2, 4, 8], "Numbers of concatenated networks (CAT_n) and width multipliers of the wide baseline.")
    source_classes: list[int] = opt([0, 1, 2, 3, 4], "Labels of the source task the networks train on.")
    target_classes: list[int] = opt([5, 6, 7, 8, 9], "Labels of the shifted task the linear probe learns.")
    probe_c: float = opt(1.0, "Inverse L2 strength of the logistic-regression probe.", gt=0)


@dataclass
class CurriculumConfig:
    order: str = opt("none", "Data order: none|curriculum (easy first)|anti|random.", choices=["none", "curriculum", "anti", "random"])
    scorer: str = opt("global", "Difficulty scorer: global|expert|local|local_global.", choices=["global", "expert", "local", "local_global"])
    pacing: str = opt("linear", "Pacing function g(t).", choices=["linear", "quad", "sqrt", "exp", "log", "step"])
    a: float = opt(0.8, "Pacing: fraction of training after which all data is used.", gt=0)
    b: float = opt(0.2, "Pacing: initial fraction of data.", ge=0, le=1)
    expert_steps: int = opt(300, "Steps of central training for the expert scorer.", ge=1)
    difficulty: str = opt("loss", "Per-example difficulty under the scorer: loss (cross-entropy)|error (0/1 misclassification).",
                          choices=["loss", "error"])


@dataclass
class FederatedConfig:
    clients: int = opt(100, "Simulated clients.", ge=1)
    clients_per_round: int = opt(10, "Cohort size per round.", ge=1)
    rounds: int = opt(50, "Server rounds.", ge=1)
    local_epochs: int = opt(1, "Local epochs per round.", ge=1)
    batch_size: int = opt(32, "Local minibatch size.", ge=1)
    lr: float = opt(0.05, "Client learning rate.", gt=0)
    lr_decay: float = opt(0.0, "Client lr schedule lr*(1+decay*round)^-0.75 (the curricula paper uses 0.001).", ge=0)
    momentum: float = opt(0.0, "Client SGD momentum.", ge=0, lt=1)
    weight_decay: float = opt(0.0, "Client weight decay.", ge=0)
    strategy: str = opt("fedavg", "Server strategy.", choices=["fedavg", "fedavgm", "fedprox", "fedadam", "fedyogi", "fedadagrad",
                                                                "scaffold", "fednova", "fedmedian", "trimmed_mean", "krum"])
    server_lr: float = opt(1.0, "Server learning rate (eta for the adaptive strategies).", gt=0)
    server_momentum: float = opt(0.9, "FedAvgM server momentum.", ge=0, lt=1)
    proximal_mu: float = opt(0.01, "FedProx proximal term mu.", ge=0)
    trim_fraction: float = opt(0.1, "Trimmed mean: fraction cut at each end.", ge=0, lt=0.5)
    krum_byzantine: int = opt(1, "Krum: assumed Byzantine clients f.", ge=0)
    partition: str = opt("dirichlet", "Non-IID partition.", choices=["iid", "dirichlet", "dirichlet_prior", "pathological", "shards", "natural"])
    alpha: float = opt(0.5, "Dirichlet concentration (beta of the prior-weighted Dirichlet).", gt=0)
    classes_per_client: int = opt(2, "Pathological partition: classes per client.", ge=1)
    min_client_size: int = opt(1, "Guaranteed examples per client.", ge=1)
    eval_every: int = opt(1, "Evaluate the global model every this many rounds.", ge=1)
    checkpoint_every: int = opt(10, "Checkpoint every this many rounds (0: never).", ge=0)
    chunk_size: int | None = opt(None, "Clients per reduction chunk; null splits the cohort into min(8, K // 5) near-equal "
                                 "chunks (at least one). Either way independent of the worker count, which fixes the float "
                                 "summation order.", ge=1)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    client_curriculum: str = opt("none", "Client order: none|curriculum|anti|random.", choices=["none", "curriculum", "anti", "random"])
    grid_alpha: list[float] = opt([0.05, 0.9], "fl_curriculum: Dirichlet-prior betas of the reproduction grid.", gt=0)
    grid_strategy: list[str] = opt(["fedavg", "scaffold"], "fl_curriculum: strategies of the grid.",
                                   choices=["fedavg", "fedavgm", "fedprox", "fedadam", "fedyogi", "fedadagrad",
                                            "scaffold", "fednova", "fedmedian", "trimmed_mean", "krum"])
    grid_order: list[str] = opt(["curriculum", "anti", "random", "none"], "fl_curriculum: data orders of the grid.",
                                choices=["none", "curriculum", "anti", "random"])
    grid_seeds: int = opt(3, "fl_curriculum: seeds per cell (seed, seed+1, ...).", ge=1)


@dataclass
class ActiveConfig:
    """Adversarially trained active-learning policies (Zhang, Jain, Jamieson, 2020)."""

    problem: str = opt("thresholds", "Instance family: thresholds (1-D, X = I, Z = thresholds) | arms (random unit arms, Z = X).",
                       choices=["thresholds", "arms"])
    n_queries: int = opt(8, "Queries n (points on the line, or arms).", ge=2)
    dim: int = opt(4, "Dimension d of the arms problem (thresholds: d = n).", ge=1)
    noise: float = opt(1.0, "Observation noise sigma.", gt=0)
    budget: int = opt(20, "Queries T per episode.", ge=1)
    radii: list[float] = opt([3.0, 9.0, 27.0], "Class radii r_1 < ... < r_K: Theta^(r_k) = {theta : rho*(theta) <= r_k}.", gt=0)
    hidden: int = opt(64, "GRU width of the policy.", ge=1)
    iterations: int = opt(500, "Training steps of each class policy and of the fixed-prior policy.", ge=1)
    robust_iterations: int = opt(600, "Training steps of the robust (MAPO) policy.", ge=1)
    batch_size: int = opt(64, "Instances per training step.", ge=1)
    reps: int = opt(4, "Rollouts per instance and step (leave-one-out REINFORCE baseline).", ge=2)
    lr: float = opt(3e-3, "Adam learning rate of the networks.", gt=0)
    scalar_lr: float = opt(0.1, "Adam learning rate of the policy's three scalars (temperature, spread, focus).", gt=0)
    entropy_bonus: float = opt(0.01, "Entropy bonus of the query choices.", ge=0)
    particles: int = opt(128, "Adversary particles per class.", ge=2)
    class_pool: int = opt(1024, "Class instances drawn once by rejection and mixed into every batch.", ge=1)
    adversarial_fraction: float = opt(0.5, "Share of each batch taken from the adversary's particles.", ge=0, le=1)
    adversary_every: int = opt(25, "Steps between adversary rounds (and robust weight updates).", ge=1)
    final_rounds: int = opt(4, "Adversary rounds against the final policy before its worst-case loss is measured.", ge=0)
    replace_fraction: float = opt(0.25, "Particles replaced per adversary round.", gt=0, le=0.5)
    perturb: float = opt(0.2, "Relative size of the adversary's perturbations.", gt=0)
    score_reps: int = opt(8, "Rollouts per particle when the adversary scores particles.", ge=1)
    weights_lr: float = opt(4.0, "Multiplicative-weights step of the robust policy's class weights.", ge=0)
    prior_scale: list[float] = opt([0.3, 30.0], "The wide prior: log-uniform range of ||theta|| (fixed-prior policy, class sampler).", gt=0)
    eval_instances: int = opt(512, "Held-out instances drawn per class for evaluation.", ge=1)
    eval_hardest: int = opt(128, "Of those, the largest-rho* instances every method is scored on.", ge=1)
    eval_reps: int = opt(16, "Episodes per evaluation instance.", ge=1)

    def check(self) -> None:
        if any(b <= a for a, b in zip(self.radii, self.radii[1:], strict=False)) or not self.radii:
            raise ConfigError("active.radii", f"must be a non-empty increasing list, got {self.radii}")
        if len(self.prior_scale) != 2 or self.prior_scale[0] >= self.prior_scale[1]:
            raise ConfigError("active.prior_scale", f"must be [low, high] with low < high, got {self.prior_scale}")
        if self.eval_hardest > self.eval_instances:
            raise ConfigError("active.eval_hardest", f"{self.eval_hardest} exceeds active.eval_instances={self.eval_instances}")


@dataclass
class ResultsConfig:
    dir: str = opt("runs", "Root of run directories: a local path or a pyarrow filesystem URI (file://, s3://).")
    plots: bool = opt(True, "Draw plots at the end of a run.")


@dataclass
class SweepConfig:
    """A hyperparameter sweep (``conf/sweep/NAME.yaml``); ``troupe sweep`` runs it, ``troupe run`` ignores it."""

    experiment: str | None = opt(None, "The experiment it sweeps (conf/experiment/NAME.yaml), so `troupe sweep sweep=NAME` works alone.")
    params: dict[str, str] = opt({}, "Config key -> distribution: float(low, high, log=true) | int(low, high) | choice([a, b, ...]).")
    metric: Any = opt("test_accuracy", "Metric the workload reports, or a list of them (multi-objective).")
    mode: Any = opt("max", "max|min, or a list matching metric.")
    samples: int = opt(20, "Configurations to try.", ge=1)
    max_concurrent: int = opt(2, "Tune trials running at once.", ge=1)
    searcher: str = opt("tpe", "Optuna sampler (seeded).", choices=["tpe", "random", "cmaes", "nsga2"])
    scheduler: str = opt("none", "Trial scheduler; asha and median stop poor trials early.", choices=["none", "asha", "median"])
    grace_period: int = opt(1, "Reports (rounds/epochs) a trial runs before a scheduler may stop it.", ge=1)
    seed: int | None = opt(None, "Sampler seed (default: the run's seed).", ge=0)
    pack: int = opt(1, "Configurations trained as one vmapped member pack per Tune trial (packable workloads).", ge=1)
    storage: str | None = opt(None, "Optuna storage as an SQLAlchemy URL (default: sqlite file study.db in the sweep's run dir).")
    study_name: str | None = opt(None, "Optuna study name (default: the sweep's name).")
    trial_cpus: float = opt(1.0, "CPUs each Tune trial holds.", gt=0)


@dataclass
class TroupeConfig:
    experiment: str = opt("ensemble", "Name of the experiment (conf/experiment/NAME.yaml).")
    workload: str = opt("ensemble", "Workload module in troupe.experiments that runs it.")
    seed: int = opt(0, "Seed of everything; member/client/round seeds derive from it.", ge=0)
    device: str = opt("auto", "auto|cpu|cuda (auto picks cuda where the worker has a GPU).", choices=["auto", "cpu", "cuda"])
    resume: str | None = opt(None, "A run directory to continue from its last checkpoint.")
    progress: bool = opt(True, "Show a progress bar.")
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    concat: ConcatConfig = field(default_factory=ConcatConfig)
    fl: FederatedConfig = field(default_factory=FederatedConfig)
    active: ActiveConfig = field(default_factory=ActiveConfig)
    results: ResultsConfig = field(default_factory=ResultsConfig)
    sweep: SweepConfig | None = opt(None, "The sweep (conf/sweep/NAME.yaml), chosen with sweep=NAME; null for a single run.")


def validate(obj: Any, prefix: str = "") -> None:
    """Check every field's range and choices; raise ConfigError naming the first bad key."""
    for f in dataclasses.fields(obj):
        value, key, meta = getattr(obj, f.name), f"{prefix}{f.name}", f.metadata
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None or isinstance(v, bool):
                continue
            if meta.get("choices") and v not in meta["choices"]:
                raise ConfigError(key, f"{v!r} is not one of {', '.join(map(str, meta['choices']))}")
            for bound, test, word in (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
                                      ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<")):
                if meta.get(bound) is not None and isinstance(v, (int, float)) and not test(v, meta[bound]):
                    raise ConfigError(key, f"must be {word} {meta[bound]}, got {v}")
    check = getattr(obj, "check", None)
    if callable(check):
        check()


def _cross_checks(cfg: TroupeConfig) -> None:
    if cfg.fl.clients_per_round > cfg.fl.clients:
        raise ConfigError("fl.clients_per_round", f"{cfg.fl.clients_per_round} exceeds fl.clients={cfg.fl.clients}")
    if cfg.data.path is not None and not cfg.data.path.strip():
        raise ConfigError("data.path", "is empty")
    from troupe.experiments.runner import WORKLOADS

    if cfg.workload not in WORKLOADS:
        raise ConfigError("workload", f"{cfg.workload!r} is not one of {', '.join(WORKLOADS)}")
    if cfg.model.name not in BUILTIN_MODELS:  # a registered model: the registry imports torch
        from troupe.algorithms.models import MODELS

        if cfg.model.name not in MODELS:
            raise ConfigError("model.name",
                              f"{cfg.model.name!r} is not a registered model ({', '.join(sorted(MODELS))})")


def _omegaconf_error(exc: OmegaConfBaseException) -> ConfigError:
    key = getattr(exc, "full_key", None) or ""
    msg = str(exc).splitlines()[0]
    if "not in" in msg or "Key '" in msg and "not" in msg:
        return ConfigError(key, "unknown key")
    return ConfigError(key, msg)


def _unknown_keys(raw: Any, schema: type, prefix: str = "") -> None:
    names = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"{prefix}{key}", "unknown key")
        sub = names[key].default_factory if names[key].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub) and isinstance(value, (dict, DictConfig)):
            _unknown_keys(value, sub, f"{prefix}{key}.")


def to_config(raw: DictConfig | dict) -> TroupeConfig:
    """Merge a composed config into the schema, validate it and return the dataclass."""
    _unknown_keys(raw, TroupeConfig)
    schema = OmegaConf.structured(TroupeConfig)
    try:
        merged = OmegaConf.merge(schema, raw)
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(exc) from None
    validate(cfg)
    _cross_checks(cfg)
    return cfg


def _hydra_error(exc: Exception) -> ConfigError:
    cause = exc
    while cause.__cause__ is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        return _omegaconf_error(cause)
    text = " ".join(str(exc).split())
    for marker in ("Could not override '", "Could not append to config. An item is already at '"):
        if marker in text:
            key = text.split(marker, 1)[1].split("'", 1)[0]
            return ConfigError(key, "unknown key" if "not in struct" in text or "Key '" in text else text)
    if "Could not find '" in text:
        option = text.split("Could not find '", 1)[1].split("'", 1)[0]
        group = option.split("/")[0]
        return ConfigError(group, f"no such option {option!r} (see conf/{group}/)")
    return ConfigError("", text)


def compose(overrides: list[str] | tuple[str, ...] = (), config_name: str = "config") -> DictConfig:
    """Compose ``conf/`` with Hydra overrides (``key=value``, ``group=option``).

    The schema is registered in Hydra's ConfigStore as ``troupe_schema`` and heads the
    defaults list, so Hydra itself rejects unknown keys and wrong types while composing.
    The chosen experiment's name is recorded as ``experiment``.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    ConfigStore.instance().store(name="troupe_schema", node=TroupeConfig)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="troupe"):
            raw = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    except Exception as exc:  # Hydra wraps OmegaConf errors in several exception types.
        raise _hydra_error(exc) from None
    finally:
        GlobalHydra.instance().clear()
    choice = raw.hydra.runtime.choices.get("experiment")
    with open_dict(raw):
        del raw["hydra"]
        if choice:
            raw.experiment = choice
    return raw


def conf_dir() -> Path:
    """Where the YAML lives: ``TROUPE_CONF_DIR`` or the package's own ``conf/``."""
    return Path(os.environ.get("TROUPE_CONF_DIR", CONF_DIR))


def expand_best(overrides: list[str] | tuple[str, ...]) -> list[str]:
    """Replace ``+best=FILE`` (a sweep's ``best.yaml``) by the overrides the file lists.

    The file holds ``experiment`` and ``overrides``; overrides given after ``+best=`` win.
    """
    import yaml

    out: list[str] = []
    for item in overrides:
        if not item.startswith(("+best=", "best=")):
            out.append(item)
            continue
        path = Path(item.split("=", 1)[1]).expanduser()
        if not path.is_file():
            raise ConfigError("best", f"{path}: no such file")
        best = yaml.safe_load(path.read_text()) or {}
        if not isinstance(best, dict) or not isinstance(best.get("overrides", []), list):
            raise ConfigError("best", f"{path}: expected 'experiment' and an 'overrides' list")
        out += ([f"experiment={best['experiment']}"] if best.get("experiment") else []) + list(best.get("overrides", []))
    return out


def load_config(overrides: list[str] | tuple[str, ...] = ()) -> TroupeConfig:
    """Compose, merge into the schema and validate; raise ConfigError on the first problem.

    ``+best=RUN_DIR/best.yaml`` stands for the overrides of a sweep's best configuration.
    """
    raw = compose(expand_best(overrides))
    if raw.get("data", {}).get("path"):
        raw.data.name = "file"
    return to_config(raw)


def to_yaml(cfg: TroupeConfig) -> str:
    """The resolved config as YAML (what ``config.yaml`` of a run holds)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def from_yaml(text: str) -> TroupeConfig:
    """Read a config written by :func:`to_yaml` back (and validate it)."""
    return to_config(OmegaConf.create(text))
