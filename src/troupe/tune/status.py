"""The live status line of a sweep: configurations done/running/pruned/failed, best so far."""

from __future__ import annotations

import sys
import time

from ray.tune import Callback

from troupe.tune.study import configurations, stopped_by_scheduler


class StatusLine(Callback):
    """Redraws one line on stderr (a line per finished trial when stderr is not a terminal)."""

    def __init__(self, name: str, keys: list[str], metric: str, mode: str, samples: int, enabled: bool = True):
        self.name, self.keys, self.metric, self.mode, self.samples = name, keys, metric, mode, samples
        self.enabled = enabled
        self._last = 0.0
        self._status: dict[str, str] = {}  # trial id -> complete | pruned | failed once it ended
        self._pruned: set[str] = set()

    def counts(self, trials) -> tuple[dict[str, int], float | None]:
        """Configurations per status and the best value of the first metric so far."""
        counts = {"complete": 0, "running": 0, "pruned": 0, "failed": 0}
        best = None
        for trial in trials:
            if trial.status == "PENDING":
                continue
            for c in configurations(trial, self.keys, self._status.get(trial.trial_id, "running")):
                counts[c.status] += 1
                value = c.metrics.get(self.metric)
                if c.status in ("complete", "pruned") and value is not None:
                    better = best is None or (value > best if self.mode == "max" else value < best)
                    best = value if better else best
        return counts, best

    def line(self, trials) -> str:
        counts, best = self.counts(trials)
        shown = "-" if best is None else f"{best:.4f}"
        return (f"sweep {self.name}: {counts['complete'] + counts['pruned']}/{self.samples} done, "
                f"{counts['running']} running, {counts['pruned']} pruned, {counts['failed']} failed, "
                f"best {self.metric}={shown}")

    def _show(self, trials, *, final: bool = False) -> None:
        if not self.enabled:
            return
        tty = sys.stderr.isatty()
        now = time.monotonic()
        if tty and not final and now - self._last < 0.5:
            return
        self._last = now
        text = self.line(trials)
        print(f"\r{text}\033[K" if tty else text, end="" if tty and not final else "\n", file=sys.stderr, flush=True)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if stopped_by_scheduler(result):
            self._pruned.add(trial.trial_id)
        if sys.stderr.isatty():
            self._show(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._status[trial.trial_id] = "pruned" if trial.trial_id in self._pruned else "complete"
        self._show(trials)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._status[trial.trial_id] = "failed"
        self._show(trials)

    def on_experiment_end(self, trials, **info) -> None:
        if sys.stderr.isatty():
            self._show(trials, final=True)
