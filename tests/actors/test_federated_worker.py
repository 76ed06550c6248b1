"""ClientWorker without Ray: chunk sums, seeding by (seed, round, client), client state, errors."""

import numpy as np
import pytest
import torch

from troupe.actors.federated import ClientError, ClientWorker
from troupe.algorithms.federated import add_sums, make_strategy
from troupe.algorithms.federated.params import tree_zeros_like
from troupe.algorithms.models import build_model
from troupe.data.partition import partition

SPEC = {"name": "mlp", "in_shape": (1, 8, 8), "classes": 10, "hidden": [16], "channels": []}


@pytest.fixture(scope="module")
def worker():
    rng = np.random.default_rng(0)
    x = rng.random((300, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    parts = partition(y, scheme="dirichlet", clients=6, seed=0, alpha=0.5)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    return ClientWorker({"f": {"x": x, "y": y, "index": np.concatenate(parts), "offsets": offsets}}, SPEC, "cpu")


def settings(**overrides):
    hp = {"seed": 3, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 8, "local_epochs": 2,
          "proximal_mu": 0.0, "order": "none", "scorer": "global", "difficulty": "loss", "pacing": "linear",
          "a": 0.8, "b": 0.2, "strategy": ("fedavg", ()), "robust": False, "keep_local": False}
    return {**hp, **overrides}


def server(control=False):
    torch.manual_seed(0)
    params = {k: v.detach().clone() for k, v in build_model(**SPEC).named_parameters()}
    return {"params": params, "control": tree_zeros_like(params) if control else None, "expert": params}


def assert_sums_equal(a, b):
    assert a.count == b.count and a.weight == b.weight and a.steps == b.steps
    for k in a.delta:
        assert torch.equal(a.delta[k], b.delta[k])


def test_chunk_sum_equals_clients_added_in_order(worker):
    s, hp = server(), settings()
    whole = worker.train_chunk("f", [1, 2, 4], 5, s, hp)
    parts = [worker.train_chunk("f", [c], 5, s, hp)["sums"] for c in (1, 2, 4)]
    assert_sums_equal(whole["sums"], add_sums(add_sums(parts[0], parts[1]), parts[2]))
    assert [r["client"] for r in whole["clients"]] == [1, 2, 4]
    assert all(r["round"] == 5 and r["n_examples"] > 0 and r["loss"] > 0 for r in whole["clients"])
    assert whole["states"] == {}


def test_client_result_depends_on_round_not_on_chunk(worker):
    s, hp = server(), settings(order="random")
    a = worker.train_chunk("f", [0, 3], 1, s, hp)["clients"][1]
    b = worker.train_chunk("f", [3], 1, s, hp)["clients"][0]
    c = worker.train_chunk("f", [3], 2, s, hp)["clients"][0]
    assert a == b
    assert a["loss"] != c["loss"]


@pytest.mark.parametrize("order", ["curriculum", "anti", "random"])
@pytest.mark.parametrize("scorer", ["global", "expert", "local", "local_global"])
def test_curricula_keep_state_for_local_scorers(worker, order, scorer):
    keep = order != "random" and scorer in ("local", "local_global")
    hp = settings(order=order, scorer=scorer, keep_local=keep)
    out = worker.train_chunk("f", [0, 5], 1, server(), hp)
    assert out["sums"].count == 2
    assert set(out["states"]) == ({0, 5} if keep else set())
    if keep:  # the previous local model is what the next round scores with
        again = worker.train_chunk("f", [0], 2, server(), hp, states={0: out["states"][0]})
        assert again["sums"].count == 1


def test_scaffold_returns_client_controls_and_robust_returns_parts(worker):
    hp = settings(strategy=("scaffold", (("num_clients", 6),)))
    out = worker.train_chunk("f", [1, 2], 1, server(control=True), hp)
    assert set(out["states"]) == {1, 2} and "control" in out["states"][1]
    assert out["sums"].control is not None
    robust = worker.train_chunk("f", [1, 2], 1, server(), settings(strategy=("median", ()), robust=True))
    assert [p.count for p in robust["sums"]] == [1, 1]
    nova = worker.train_chunk("f", [1], 1, server(), settings(strategy=("fednova", (("momentum", 0.9),))))
    assert nova["sums"].steps != nova["sums"].weight  # n * a_i with a_i from the local step count
    make_strategy("scaffold", num_clients=6)


def test_a_failing_client_is_named_with_its_round(worker):
    with pytest.raises(ClientError, match=r"client 99, round 7"):
        worker.train_chunk("f", [1, 99], 7, server(), settings())
    bad = {2: {"control": {k: torch.zeros(3, 5) for k in server()["params"]}}}  # wrong shapes
    with pytest.raises(ClientError, match=r"client 2, round 4"):
        worker.train_chunk("f", [1, 2], 4, server(control=True),
                           settings(strategy=("scaffold", (("num_clients", 6),))), states=bad)
