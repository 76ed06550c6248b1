"""A sweep loads its dataset once (a prefetch task); trials read it unless their data differs."""

from __future__ import annotations

import ray

from troupe.actors import prefetch
from troupe.config import load_config
from troupe.tune import trainable
from troupe.tune.trainable import data_key, dataset, load_data


def test_trials_read_the_prefetched_dataset_and_load_their_own_when_it_differs(ray_session):
    cfg = load_config(["experiment=ensemble"])
    trainable._DATA.clear()
    ref = prefetch(load_data, cfg)
    shared = (data_key(cfg), ref)
    loaded = dataset(cfg, shared)
    assert (loaded.x_train == ray.get(ref).x_train).all() and loaded.classes == 10

    # a sentinel in the store proves which path a trial takes
    sentinel = (data_key(cfg), ray.put("from the driver"))
    trainable._DATA.clear()
    assert dataset(cfg, sentinel) == "from the driver"
    other = load_config(["experiment=ensemble", "seed=7"])
    own = dataset(other, sentinel)
    assert own != "from the driver" and own.classes == 10
    trainable._DATA.clear()
