"""Federated workload on real Ray: determinism across worker counts, resume, worker death, errors."""

import glob
import io
import os
import signal
import threading

import pytest
import torch

from troupe.actors import CallError
from troupe.cli import main
from troupe.config import load_config
from troupe.data import load
from troupe.experiments import execute
from troupe.experiments import federated as fed
from troupe.results.rundir import RunDir

pytestmark = pytest.mark.usefixtures("ray_session")


def config(runs_dir, *overrides):
    return load_config(["experiment=federated", "debug=smoke", f"results.dir={runs_dir}", "fl.clients=12",
                        "fl.clients_per_round=6", "fl.chunk_size=2", "fl.rounds=3", *overrides])


def final_params(run_dir):
    raw = RunDir.open(run_dir).read_bytes(fed.CHECKPOINT)
    return torch.load(io.BytesIO(raw), weights_only=True)["params"]


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("extra", [["fl.strategy=scaffold"],
                                   ["fl.strategy=fedavg", "fl.curriculum.order=curriculum", "fl.curriculum.scorer=local"]])
def test_same_seed_same_weights_with_one_or_two_workers(runs_dir, extra):
    one = execute(config(runs_dir, "cluster.num_workers=1", *extra))
    two = execute(config(runs_dir, "cluster.num_workers=2", *extra))
    assert_identical(final_params(one.run_dir), final_params(two.run_dir))
    assert one.summary["metrics"] == two.summary["metrics"]
    df = one.metrics
    rounds = df[df["name"] == "fl/test_accuracy"]
    assert sorted(rounds["round"]) == [1, 2, 3] and list(rounds["step"]) == list(rounds["round"])
    assert {"fl/test_loss", "fl/train_loss", "fl/clients_per_s", "client/loss", "client/n_examples"} <= set(df["name"])
    clients = df[df["name"] == "client/n_examples"]
    assert len(clients) == 3 * 6 and clients["client"].notna().all()
    assert set(one.summary["metrics"]) == {"test_accuracy", "test_loss"}


class Stop(Exception):
    pass


@pytest.mark.slow
def test_resume_after_checkpoint_ends_like_an_uninterrupted_run(runs_dir):
    overrides = ["fl.rounds=4", "fl.checkpoint_every=2", "fl.strategy=fedadam", "fl.server_lr=0.05"]
    whole = execute(config(runs_dir + "/whole", *overrides))

    def interrupt(metrics):
        if metrics["round"] == 3:
            raise Stop

    with pytest.raises(Stop):
        execute(config(runs_dir + "/cut", *overrides), report=interrupt)
    [cut] = glob.glob(f"{runs_dir}/cut/federated/*")
    assert RunDir.open(cut).read_json("summary.json")["status"] == "failed"
    resumed = execute(config(runs_dir + "/other", *overrides, f"resume={cut}"))
    assert resumed.run_dir == cut
    assert_identical(final_params(whole.run_dir), final_params(cut))
    assert resumed.summary["metrics"] == whole.summary["metrics"]
    acc = lambda r: list(r.metrics.query("name == 'fl/test_accuracy'")["value"])  # noqa: E731
    assert acc(resumed) == acc(whole)


def _pool(cfg, data, federation):
    return fed.start_workers(cfg, {federation.key: federation.arrays(data)}, fed.model_spec(cfg, data))


@pytest.mark.slow
def test_killed_worker_is_replaced_and_the_result_is_unchanged(runs_dir):
    cfg = config(runs_dir, "cluster.num_workers=2", "fl.rounds=4", "fl.clients_per_round=12", "fl.local_epochs=40",
                 "fl.strategy=scaffold")
    data = load(cfg.data, seed=cfg.seed)
    federation = fed.federate(cfg, data)
    pool = _pool(cfg, data, federation)
    try:
        reference = fed.simulate(cfg, data, federation, pool)
    finally:
        pool.shutdown()
    pool = _pool(cfg, data, federation)
    pid = pool.info()[0]["pid"]

    def kill_soon(row, state):
        if row["round"] == 1:  # SIGKILL worker 0 while round 2 is in flight
            threading.Timer(0.05, os.kill, (pid, signal.SIGKILL)).start()

    try:
        final = fed.simulate(cfg, data, federation, pool, on_round=kill_soon)
        events = pool.events
    finally:
        pool.shutdown()
    assert_identical(reference.params, final.params)
    assert len(events) == 1 and events[0]["event"] == "worker_replaced"
    assert all(label.startswith("round ") and "clients [" in label for label in events[0]["calls"])


def test_a_client_that_raises_is_reported_with_id_and_round(runs_dir):
    cfg = config(runs_dir, "cluster.num_workers=2", "fl.strategy=scaffold", "fl.clients_per_round=12")
    data = load(cfg.data, seed=cfg.seed)
    federation = fed.federate(cfg, data)
    strategy, _ = fed.build_strategy(cfg)
    params = fed.initial_params(fed.model_spec(cfg, data), cfg.seed)
    broken = {7: {"control": {k: torch.zeros(3, 5) for k in params}}}  # a corrupt SCAFFOLD state
    pool = _pool(cfg, data, federation)
    try:
        with pytest.raises(CallError, match=r"client 7, round 1") as info:
            fed.simulate(cfg, data, federation, pool, state=fed.LoopState(0, params, strategy.init(params), broken))
    finally:
        pool.shutdown()
    assert info.value.label == "round 1 clients [6, 7]"


SMOKE = (
    [[f"fl.partition={p}"] for p in ("iid", "dirichlet", "dirichlet_prior", "pathological", "shards")]
    + [[f"fl.strategy={s}"] for s in ("fedavg", "fedavgm", "fedprox", "fedadam", "fedyogi", "fedadagrad",
                                      "scaffold", "fednova", "fedmedian", "trimmed_mean", "krum")]
    + [["fl.curriculum.order=curriculum", f"fl.curriculum.scorer={s}"] for s in ("global", "expert", "local", "local_global")]
    + [["fl.curriculum.order=anti"], ["fl.curriculum.order=random"], ["fl.curriculum.order=curriculum", "fl.curriculum.difficulty=error"]]
    + [["fl.curriculum.order=curriculum", f"fl.curriculum.pacing={p}"] for p in ("linear", "quad", "sqrt", "exp", "log", "step")]
    + [[f"fl.client_curriculum={c}"] for c in ("curriculum", "anti", "random")]
)


def test_every_partition_strategy_and_curriculum_smoke_runs(runs_dir):
    base = config(runs_dir, "cluster.num_workers=2", "fl.rounds=2")
    data = load(base.data, seed=base.seed)
    cfgs = [config(runs_dir, "cluster.num_workers=2", "fl.rounds=2", "fl.momentum=0.5", *o) for o in SMOKE]
    federations = {}
    for cfg in cfgs:
        federations.setdefault(cfg.fl.partition, fed.federate(cfg, data, key=cfg.fl.partition))
    pool = fed.start_workers(base, {k: f.arrays(data) for k, f in federations.items()}, fed.model_spec(base, data))
    try:
        for cfg, o in zip(cfgs, SMOKE, strict=True):
            state = fed.simulate(cfg, data, federations[cfg.fl.partition], pool)
            acc = fed.final_metrics(cfg, data, state)["test_accuracy"]
            assert state.round == 2 and 0 <= acc <= 1, o
    finally:
        pool.shutdown()


def test_natural_partition_of_synthetic_clients(runs_dir):
    result = execute(config(runs_dir, "data=fedprox_synthetic", "fl.partition=natural", "fl.rounds=2"))
    assert result.summary["status"] == "ok"


def test_impossible_partition_is_one_line_exit_2_and_nothing_written(runs_dir, capsys):
    code = main(["run", "experiment=federated", "debug=smoke", "fl.clients=10000", f"results.dir={runs_dir}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "10000 clients" in err
    assert not os.path.exists(runs_dir)


def test_fl_curriculum_grid_writes_its_table(runs_dir):
    result = execute(load_config(["experiment=fl_curriculum_digits", "debug=smoke", f"results.dir={runs_dir}",
                                  "fl.grid_alpha=[0.9]", "fl.grid_order=[curriculum,none]", "fl.local_epochs=1"]))
    table = result.summary["table"]
    assert [(r["strategy"], r["order"]) for r in table] == [("fedavg", "curriculum"), ("fedavg", "none"),
                                                             ("scaffold", "curriculum"), ("scaffold", "none")]
    assert RunDir.open(result.run_dir).exists("plots/curricula.png")
