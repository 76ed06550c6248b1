"""Trial packing without Ray: per-member hyperparameters in one pack, and ask/tell in packs."""

from __future__ import annotations

from functools import partial

import optuna
import torch

from troupe.algorithms.ensembles import init_pack, train_pack
from troupe.algorithms.models import build_model
from troupe.tune.packing import PackSearch
from troupe.tune.space import parse_param


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)


def test_per_member_hyperparameters_match_separate_packs():
    x, y = _data()
    model_fn = partial(build_model, name="mlp", in_shape=(6,), classes=3, hidden=[8])
    template = model_fn()
    hps = [(0.1, 0.9, 1e-3), (0.5, 0.0, 0.0)]
    packed, _ = train_pack(init_pack(model_fn, [3, 3], device="cpu"), x, y, model=template, steps=5, batch_size=16,
                           lr=[h[0] for h in hps], momentum=[h[1] for h in hps], weight_decay=[h[2] for h in hps])
    for i, (lr, momentum, wd) in enumerate(hps):
        alone, _ = train_pack(init_pack(model_fn, [3], device="cpu"), x, y, model=template, steps=5, batch_size=16,
                              lr=lr, momentum=momentum, weight_decay=wd)
        for name, value in alone.params.items():
            torch.testing.assert_close(packed.params[name][i], value[0], rtol=1e-6, atol=1e-7)


def test_pack_search_asks_packs_and_tells_every_configuration():
    params = [parse_param("ensemble.lr", "float(1e-3, 1, log=true)"), parse_param("model.hidden", "choice([[8], [16]])")]
    search = PackSearch(params, ["test_accuracy"], ["max"], optuna.samplers.RandomSampler(seed=0),
                        pack=4, samples=6, pack_keys=("ensemble.lr",))
    suggested = {}
    while (config := search.suggest(f"t{len(suggested)}")) not in (None, PackSearch.FINISHED):
        assert len({c["model.hidden"] for c in config["pack"]}) == 1  # shapes never mix in a pack
        suggested[f"t{len(suggested)}"] = config
    assert sum(len(c["pack"]) for c in suggested.values()) == 6
    for trial_id, config in suggested.items():
        search.on_trial_complete(trial_id, {f"pack/{j}/test_accuracy": 0.5 + j / 10 for j in range(len(config["pack"]))})
    trials = search._study.get_trials()
    assert len(trials) == 6 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_next_pack_is_asked_in_a_thread_from_every_result_told():
    # after a tell the next pack is asked in a thread; it must see exactly the results a
    # blocking ask would see, so the configurations equal those of a searcher that never asks ahead
    import pickle

    params = [parse_param("ensemble.lr", "float(1e-3, 1, log=true)")]

    def run(ahead: bool) -> list[float]:
        search = PackSearch(params, ["test_accuracy"], ["max"], optuna.samplers.TPESampler(seed=1, n_startup_trials=4),
                            pack=4, samples=16, pack_keys=("ensemble.lr",))
        if not ahead:
            search._ask_ahead = lambda: None  # every pack asked in suggest, blocking
        lrs, n, waits = [], 0, 0
        while (config := search.suggest(f"t{n}")) != PackSearch.FINISHED:
            if config is None:  # being asked: Tune would ask again at its next step
                waits += 1
                search._ahead.result()
                continue
            lrs += [c["ensemble.lr"] for c in config["pack"]]
            search.on_trial_complete(f"t{n}", {f"pack/{j}/test_accuracy": -abs(c["ensemble.lr"] - 0.1)
                                               for j, c in enumerate(config["pack"])})
            n += 1
        assert (waits > 0) == ahead
        search.__dict__.pop("_ask_ahead", None)
        restored = pickle.loads(pickle.dumps(search))  # the state pickles with no thread in it
        assert restored._ahead is None and len(restored._study.trials) == 16
        return lrs

    asked_ahead = run(True)
    assert len(asked_ahead) == 16 and asked_ahead == run(False)
