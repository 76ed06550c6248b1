"""Trial packing: Optuna's ask/tell feeding member packs, one Tune trial per pack.

Each Tune trial asks the study for up to ``pack`` configurations, trains them side by side
as one vmapped member pack (``experiments.<workload>.run_pack``) and tells every
configuration's result back. Configurations that differ in a key outside the workload's
``PACK_KEYS`` (width, steps, batch size: anything that changes tensor shapes) go to
separate packs. The searcher's state (the in-memory study, queued and running packs) is
saved with Tune's experiment state, so a restored sweep continues where it stopped.

Asking a pack of TPE configurations costs time in proportion to the results so far (about
0.45 s for 50 after 250 results). Once a pack's results are told, the next pack is asked in
a thread, so Tune's controller starts the waiting pack at once instead of blocking on the
asks; a pack asked this way sees exactly the results a blocking ask would have seen (asks and
tells never overlap).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import optuna
from ray.tune.search import Searcher

from troupe.tune.space import Param


def pack_groups(configs: list[dict[str, Any]], pack_keys: tuple[str, ...]) -> list[list[int]]:
    """Indices of ``configs`` grouped so that each group differs only in ``pack_keys``."""
    groups: dict[tuple, list[int]] = {}
    for i, values in enumerate(configs):
        shape = tuple(sorted((k, repr(v)) for k, v in values.items() if k not in pack_keys))
        groups.setdefault(shape, []).append(i)
    return list(groups.values())


class PackSearch(Searcher):
    """A Tune searcher whose every suggestion is a pack of Optuna configurations.

    Args:
        params: the search space.
        metrics, modes: the objectives (one or several).
        sampler: the seeded Optuna sampler.
        pack: configurations asked per pack.
        samples: configurations in the whole sweep.
        pack_keys: keys that may differ inside one pack.
    """

    def __init__(self, params: list[Param], metrics: list[str], modes: list[str],
                 sampler: optuna.samplers.BaseSampler, *, pack: int, samples: int,
                 pack_keys: tuple[str, ...]):
        super().__init__(metric=None, mode=None)
        self._space = {p.key: p.distribution for p in params}
        self._objectives = list(metrics)
        directions = ["maximize" if m == "max" else "minimize" for m in modes]
        self._study = optuna.create_study(directions=directions, sampler=sampler)
        self._pack, self._samples, self._pack_keys = pack, samples, tuple(pack_keys)
        self._asked = 0
        self._queue: list[list[int]] = []  # packs asked but not yet handed to Tune (trial numbers)
        self._running: dict[str, list[int]] = {}  # Tune trial id -> its configurations' numbers
        self._ahead: Future | None = None  # the next packs, being asked in a thread
        self._thread: ThreadPoolExecutor | None = None

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def _ask(self, n: int) -> list[list[int]]:
        trials = [self._study.ask(self._space) for _ in range(n)]
        return [[trials[i].number for i in group] for group in pack_groups([t.params for t in trials], self._pack_keys)]

    def _next_size(self) -> int:
        return min(self._pack, self._samples - self._asked)

    def _ask_ahead(self) -> None:
        """Ask the next pack in a thread (after a tell, when no pack waits)."""
        if self._queue or self._ahead is not None or self._next_size() <= 0:
            return
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="troupe-ask")
        n = self._next_size()
        self._asked += n
        self._ahead = self._thread.submit(self._ask, n)

    def _join(self) -> None:
        """Wait for the packs being asked; queue them."""
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            self._queue.extend(ahead.result())

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id in self._running:  # a restored trial asks again: same pack
            return self._config(self._running[trial_id])
        if not self._queue:
            if self._ahead is not None and not self._ahead.done():
                return None  # the next pack is being asked; Tune asks again at its next step
            self._join()
        if not self._queue:
            n = self._next_size()
            if n <= 0:
                return Searcher.FINISHED
            self._asked += n
            self._queue.extend(self._ask(n))
        numbers = self._queue.pop(0)
        self._running[trial_id] = numbers
        return self._config(numbers)

    def _config(self, numbers: list[int]) -> dict:
        trials = self._study.get_trials(deepcopy=False)
        return {"pack": [dict(trials[n].params) for n in numbers], "numbers": list(numbers)}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        numbers = self._running.pop(trial_id, None)
        if numbers is None:
            return
        self._join()  # asks and tells in order: what a pack is asked from does not depend on timing
        for j, number in enumerate(numbers):
            values = [(result or {}).get(f"pack/{j}/{m}") for m in self._objectives]
            if error or any(v is None for v in values):
                self._study.tell(number, state=optuna.trial.TrialState.FAIL)
            else:
                self._study.tell(number, values if len(values) > 1 else values[0])
        self._ask_ahead()

    def __getstate__(self) -> dict:
        self._join()  # the packs being asked are part of the state
        return {**self.__dict__, "_ahead": None, "_thread": None}

    def save(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__getstate__(), f)

    def restore(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
