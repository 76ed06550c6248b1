"""The Optuna study in real storage, and the Tune callback that records trials into it.

The study lives in an SQLite file in the sweep's run directory by default, or at any
SQLAlchemy URL (``sweep.storage``, for example PostgreSQL shared by a cluster), so
``optuna.load_study`` and ``optuna-dashboard`` open it. Every finished configuration is
added with its parameters, objective values, per-report values and user attributes:
``tune_trial_id``, ``pack_index``, ``metrics`` (all final metrics), ``seconds``
and ``status``. Records are keyed by Tune trial id and pack index, so a trial that Tune
re-runs after a resume is never recorded twice (a failed record is not final). A record is
written only once Tune has saved an experiment state that holds its trial, so no recorded
trial is unknown to a restored sweep; a restored sweep records any finished trial its study
lacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import optuna
from ray.tune import Callback

from troupe.tune.space import Param

# Bookkeeping Tune adds to every result; not metrics of the configuration.
TUNE_BOOKKEEPING = {"timestamp", "pid", "time_this_iter_s", "iterations_since_restore", "time_since_restore",
                    "training_iteration", "date", "hostname", "node_ip", "trial_id", "experiment_tag",
                    "checkpoint_dir_name", "should_checkpoint", "done"}
OPTUNA_STATES = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
                 "failed": optuna.trial.TrialState.FAIL}


def storage_url(storage: str | None, run_path: str) -> str:
    """``storage`` or the default: ``sqlite:///RUN_DIR/study.db``."""
    return storage or f"sqlite:///{run_path}/study.db"


def open_study(url: str, name: str, modes: list[str]) -> optuna.Study:
    """Create the study or load it (resume, or a shared database)."""
    directions = ["maximize" if m == "max" else "minimize" for m in modes]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=url, study_name=name, directions=directions, load_if_exists=True)


@dataclass
class Configuration:
    """One configuration a Tune trial ran (a plain trial has one; a pack has several)."""

    tune_trial_id: str
    pack_index: int
    params: dict
    metrics: dict[str, float]
    status: str  # running | complete | pruned | failed
    seconds: float | None


def configurations(trial, keys: list[str], status: str) -> Iterator[Configuration]:
    """The configurations of a Tune trial with their latest metrics.

    ``status`` is the trial's (running, complete, pruned or failed); a pack's configuration
    without metrics in a complete trial failed.
    """
    result = trial.last_result or {}
    seconds = result.get("time_total_s")
    if "pack" in trial.config:
        for j, params in enumerate(trial.config["pack"]):
            prefix = f"pack/{j}/"
            metrics = {k[len(prefix):]: float(v) for k, v in result.items() if k.startswith(prefix)}
            own = "failed" if status == "complete" and not metrics else status
            yield Configuration(trial.trial_id, j, dict(params), metrics, own, seconds)
        return
    metrics = {k: float(v) for k, v in result.items()
               if k not in TUNE_BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool)}
    yield Configuration(trial.trial_id, 0, {k: trial.config[k] for k in keys if k in trial.config},
                        metrics, status, seconds)


def stopped_by_scheduler(result: dict) -> bool:
    """A result the scheduler answered with STOP (Tune marks it ``done`` before callbacks see it).

    A trial that returns by itself ends with a duplicate result that callbacks never see.
    """
    return bool(result.get("done"))


class StudyRecorder(Callback):
    """Adds each finished configuration to the study in storage (once), from a writer thread.

    Tune's controller only queues a record (its configurations, taken from the trial at that
    moment) and goes on starting trials; one writer thread opens the study and writes records
    in order, so a pack's hundred SQLite inserts overlap the next pack's training.

    Records follow Tune's experiment saves: a trial's record is handed to the writer only
    once a save (:meth:`get_state` is Tune's hook into each one) holds that trial. Were it
    written earlier, a driver killed before the next save would leave a record that the
    restored Tune and its searcher know nothing of, and the sweep would run one
    configuration more than asked. At the end of the experiment every finished trial Tune
    knows is recorded if it is not yet: after a driver killed between Tune saving a trial as
    finished and its record being written, the resumed sweep adds that record.
    """

    def __init__(self, url: str, study_name: str, params: list[Param], metrics: list[str], modes: list[str],
                 max_reports: int = 1):
        self.url, self.study_name = url, study_name
        self.params, self.metrics, self.modes = params, metrics, modes
        self.max_reports = max_reports
        self._study: optuna.Study | None = None
        self._recorded: set[tuple[str, int]] = set()  # final records (not failed): never written again
        self._in_study: set[tuple[str, int]] = set()  # every record, failed ones too
        self._steps: dict[str, dict[int, float]] = {}
        self._pruned: set[str] = set()
        self._queued: set[str] = set()  # Tune trials whose record was queued in this session
        self._trials: list = []  # Tune's live list of trials
        self._saved: set[str] = set()  # trials in Tune's last saved experiment state
        self._waiting: list[tuple[str, tuple]] = []  # records of trials no save holds yet
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_study": None, "_recorded": set(), "_in_study": set(), "_steps": {},
                "_pruned": set(), "_queued": set(), "_trials": [], "_saved": set(), "_waiting": [],
                "_writer": None, "_pending": []}

    @property
    def study(self) -> optuna.Study:
        """The study (opened in the calling thread on first use; the writer's after that)."""
        if self._study is None:
            study = open_study(self.url, self.study_name, self.modes)
            keys = {(t.user_attrs.get("tune_trial_id"), t.user_attrs.get("pack_index", 0)): t.state
                    for t in study.get_trials(deepcopy=False)}
            # A failed record is not final: a trial that Tune runs again records its result.
            self._recorded = {k for k, state in keys.items() if state != optuna.trial.TrialState.FAIL}
            self._in_study = set(keys)
            self._study = study
        return self._study

    def _submit(self, fn, *args) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="troupe-study")
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._pending.append(self._writer.submit(fn, *args))

    def on_step_begin(self, iteration, trials, **info) -> None:
        self._trials = trials

    def get_state(self) -> None:
        """Tune saves its experiment state: release the records of the trials it now holds."""
        self._saved = {t.trial_id for t in self._trials}
        waiting, self._waiting = self._waiting, []
        for trial_id, args in waiting:
            if trial_id in self._saved:
                self._submit(self._write, *args)
            else:
                self._waiting.append((trial_id, args))
        return None

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        # Open (or create) the study while the first trial runs (the driver only waits then).
        if self._study is None and not self._pending:
            self._submit(lambda: self.study)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if stopped_by_scheduler(result):
            self._pruned.add(trial.trial_id)
        value = result.get(self.metrics[0])
        if len(self.metrics) == 1 and isinstance(value, (int, float)):
            self._steps.setdefault(trial.trial_id, {})[int(result.get("training_iteration", 0))] = float(value)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.record(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.record(trial, error=True)

    def on_experiment_end(self, trials, **info) -> None:
        # Tune saved its final state just before: whatever still waits is in it
        for _, args in self._waiting:
            self._submit(self._write, *args)
        self._waiting = []
        for trial in trials:
            if trial.status in ("TERMINATED", "ERROR") and trial.trial_id not in self._queued:
                self.record(trial, error=trial.status == "ERROR", missing_only=True)
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.shutdown()
                self._writer = None

    def record(self, trial, *, error: bool = False, missing_only: bool = False) -> None:
        """Queue the trial's configurations that the study does not hold yet."""
        if error:
            status = "failed"
        elif trial.trial_id in self._pruned:
            status = "pruned"
        elif missing_only:  # restored: pruned when the scheduler stopped it before its last report
            last = trial.last_result or {}
            early = stopped_by_scheduler(last) and int(last.get("training_iteration", 0)) < self.max_reports
            status = "pruned" if early else "complete"
        else:
            status = "complete"
        self._queued.add(trial.trial_id)
        found = list(configurations(trial, [p.key for p in self.params], status))
        steps = self._steps.pop(trial.trial_id, None) if len(self.metrics) == 1 else None
        if missing_only or trial.trial_id in self._saved:
            self._submit(self._write, found, steps, missing_only)
        else:
            self._waiting.append((trial.trial_id, (found, steps, missing_only)))

    def flush(self) -> None:
        """Wait until every queued record is written; raise the first write that failed."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _write(self, found: list[Configuration], steps: dict[int, float] | None, missing_only: bool) -> None:
        study = self.study
        distributions = {p.key: p.distribution for p in self.params}
        for c in found:
            key = (c.tune_trial_id, c.pack_index)
            if key in self._recorded or (missing_only and key in self._in_study):
                continue
            values = [c.metrics.get(m) for m in self.metrics]
            status = c.status if c.status != "complete" or None not in values else "failed"
            study.add_trial(optuna.trial.create_trial(
                state=OPTUNA_STATES[status],
                values=[float(v) for v in values] if status == "complete" else None,
                params=c.params, distributions=distributions, intermediate_values=steps,
                user_attrs={"tune_trial_id": c.tune_trial_id, "pack_index": c.pack_index,
                            "metrics": c.metrics, "seconds": c.seconds, "status": status}))
            self._in_study.add(key)
            if status != "failed":
                self._recorded.add(key)
