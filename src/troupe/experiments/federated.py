"""Federated simulation: one round loop for every strategy, client workers on the pool.

Each round the driver selects a cohort (uniform, seeded by (seed, round), or from the
eligible pool of a client curriculum), sorts it by client id and cuts it into fixed
chunks (``fl.chunk_size`` clients, or up to eight near-equal chunks). Each chunk is one pool call: a
:class:`~troupe.actors.federated.ClientWorker` trains the chunk's clients in order
from the global parameters (put in the object store once per round) and returns one
partial sum. The driver adds the chunk sums in chunk order, so the floats do not
depend on how many workers there are or which worker ran which chunk, and the
strategy turns the sum into the next global model. Client state (SCAFFOLD's c_i,
previous local models) lives here, on the driver, and travels with the calls.

``simulate`` is the loop itself (used by ``run``, by the ``fl_curriculum`` grid and
by the benchmark); ``run`` adds the run directory: metrics, progress bar,
checkpoints and resume.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from troupe.actors import Call, WorkerPool, start_pool
from troupe.actors.federated import ClientWorker
from troupe.algorithms.federated import (
    Strategy,
    StrategyState,
    eligible_clients,
    evaluate,
    example_losses,
    local_sgd,
    make_strategy,
    model_params,
    order_examples,
    sample_cohort,
    sum_all,
)
from troupe.algorithms.models import build_model
from troupe.config import TroupeConfig
from troupe.data import DataError, Dataset
from troupe.data.partition import partition
from troupe.experiments import runner

CHECKPOINT = "checkpoints/state.pt"
ROBUST = {"fedmedian", "trimmed_mean", "krum"}


@dataclass
class Federation:
    """The clients of one simulation: their example indices and the arrays workers read."""

    key: str
    parts: list[np.ndarray]

    @property
    def sizes(self) -> np.ndarray:
        return np.array([len(p) for p in self.parts], dtype=np.int64)

    def arrays(self, data: Dataset) -> dict[str, np.ndarray]:
        """What a ClientWorker holds: training arrays and the partition as index + offsets."""
        offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        return {"x": data.x_train, "y": data.y_train, "index": np.concatenate(self.parts), "offsets": offsets}


def federate(cfg: TroupeConfig, data: Dataset, key: str = "main") -> Federation:
    """Partition the training set over ``fl.clients`` clients; DataError if it cannot be done."""
    fl = cfg.fl
    if fl.partition == "natural" and data.client_train is None:
        raise DataError(f"{data.name}: fl.partition=natural needs client ids (a 'client' column or array)")
    try:
        parts = partition(data.y_train, scheme=fl.partition, clients=fl.clients, seed=cfg.seed, alpha=fl.alpha,
                          classes_per_client=fl.classes_per_client, client_ids=data.client_train,
                          min_size=fl.min_client_size)
    except ValueError as exc:
        raise DataError(f"{data.name}: fl.partition={fl.partition}: {exc}") from None
    return Federation(key, parts)


def check(cfg: TroupeConfig, data: Dataset) -> None:
    """Fail before the run directory exists when the partition is impossible."""
    federate(cfg, data)


def model_spec(cfg: TroupeConfig, data: Dataset) -> dict:
    """The global model's ``build_model`` arguments (the spec every workload uses, for ``data``)."""
    return runner.model_spec(cfg, data.in_shape, data.classes)


def initial_params(spec: dict, seed: int) -> dict[str, torch.Tensor]:
    """The seeded initial global model (the process's own RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_params(build_model(**spec))


def build_strategy(cfg: TroupeConfig) -> tuple[Strategy, tuple[str, tuple]]:
    """The configured strategy and its (registry name, settings) for the workers."""
    fl = cfg.fl
    settings = {
        "fedavg": {"server_lr": fl.server_lr},
        "fedavgm": {"server_lr": fl.server_lr, "beta": fl.server_momentum},
        "fedprox": {"mu": fl.proximal_mu, "server_lr": fl.server_lr},
        "fedadam": {"eta": fl.server_lr},
        "fedyogi": {"eta": fl.server_lr},
        "fedadagrad": {"eta": fl.server_lr},
        "scaffold": {"num_clients": fl.clients, "server_lr": fl.server_lr},
        "fednova": {"momentum": fl.momentum, "server_lr": fl.server_lr},
        "fedmedian": {"server_lr": fl.server_lr},
        "trimmed_mean": {"beta": fl.trim_fraction, "server_lr": fl.server_lr},
        "krum": {"f": fl.krum_byzantine, "server_lr": fl.server_lr},
    }[fl.strategy]
    name = "median" if fl.strategy == "fedmedian" else fl.strategy
    if fl.strategy == "krum" and fl.clients_per_round < fl.krum_byzantine + 3:
        raise DataError(f"fl.strategy=krum: needs fl.clients_per_round >= fl.krum_byzantine + 3 = {fl.krum_byzantine + 3}")
    return make_strategy(name, **settings), (name, tuple(sorted(settings.items())))


def client_settings(cfg: TroupeConfig, round: int, strategy_key: tuple) -> dict:
    """What a ClientWorker needs to train a client in ``round``."""
    fl, cur = cfg.fl, cfg.fl.curriculum
    return {
        "seed": cfg.seed, "lr": fl.lr * (1.0 + fl.lr_decay * (round - 1)) ** -0.75,
        "momentum": fl.momentum, "weight_decay": fl.weight_decay, "batch_size": fl.batch_size,
        "local_epochs": fl.local_epochs, "proximal_mu": fl.proximal_mu if fl.strategy == "fedprox" else 0.0,
        "order": cur.order, "scorer": cur.scorer, "difficulty": cur.difficulty, "pacing": cur.pacing,
        "a": cur.a, "b": cur.b, "strategy": strategy_key, "robust": fl.strategy in ROBUST,
        "keep_local": cur.order in ("curriculum", "anti") and cur.scorer in ("local", "local_global"),
    }


def start_workers(cfg: TroupeConfig, federations: dict[str, dict[str, np.ndarray]], spec: dict,
                  on_event: Callable[[dict], None] | None = None) -> WorkerPool:
    """A pool of ClientWorkers holding ``federations`` (put in the object store once)."""
    return start_pool(ClientWorker, cfg.cluster, spec, cfg.device, shared=federations, on_event=on_event)


def train_expert(cfg: TroupeConfig, data: Dataset, spec: dict) -> dict[str, torch.Tensor]:
    """The ``expert`` scorer: a model trained centrally on all training data first."""
    fl = cfg.fl
    rng = np.random.default_rng([cfg.seed, 0x5C0])
    n = len(data.y_train)
    batches = [torch.as_tensor(rng.choice(n, size=min(fl.batch_size, n), replace=False))
               for _ in range(fl.curriculum.expert_steps)]
    model = build_model(**spec)
    params, _ = local_sgd(model, initial_params(spec, cfg.seed + 1), torch.as_tensor(data.x_train),
                          torch.as_tensor(data.y_train), batches, lr=fl.lr, momentum=fl.momentum,
                          weight_decay=fl.weight_decay)
    return params


@dataclass
class LoopState:
    """Everything the round loop carries from one round to the next (what a checkpoint holds)."""

    round: int
    params: dict[str, torch.Tensor]
    strategy: StrategyState
    clients: dict[int, dict]
    expert: dict[str, torch.Tensor] | None = None

    def to_bytes(self) -> bytes:
        """torch.save of plain tensors/dicts/lists (loadable with weights_only=True)."""
        blob = {"round": self.round, "params": self.params, "opt": [dict(x) for x in self.strategy.opt],
                "control": self.strategy.control, "clients": self.clients, "expert": self.expert}
        buf = io.BytesIO()
        torch.save(blob, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes, strategy: Strategy) -> LoopState:
        blob = torch.load(io.BytesIO(raw), weights_only=True)
        opt_type = type(strategy.init(blob["params"]).opt)
        opt = opt_type(*blob["opt"])
        return cls(blob["round"], blob["params"], StrategyState(opt, blob["control"]),
                   {int(k): v for k, v in blob["clients"].items()}, blob["expert"])


def select_cohort(cfg: TroupeConfig, round: int, client_scores: Callable[[], np.ndarray]) -> list[int]:
    """This round's cohort, sorted by client id: uniform, or from the client curriculum's pool."""
    fl = cfg.fl
    k = fl.clients_per_round
    if fl.client_curriculum == "none":
        chosen = np.random.default_rng([cfg.seed, round]).choice(fl.clients, size=k, replace=False)
        return sorted(int(c) for c in chosen)
    cur = fl.curriculum
    scores = client_scores()
    # The order is fixed by the seed (for ``random``); the pool grows with the pacing function.
    eligible = eligible_clients(scores, fl.client_curriculum, round=round - 1, total_rounds=fl.rounds,
                                pacing=cur.pacing, a=cur.a, b=cur.b, seed=[cfg.seed, 0xC1])
    if len(eligible) < k:
        eligible = order_examples(scores, fl.client_curriculum, seed=[cfg.seed, 0xC1])[:k]
    return [int(c) for c in sample_cohort(eligible, k, seed=[cfg.seed, round, 0xC2])]


def cohort_chunks(cohort: list[int], chunk_size: int | None) -> list[list[int]]:
    """Cut the (sorted) cohort into reduction chunks; the cut depends on the cohort alone, never on the workers.

    By default: chunks of at least about five clients (a pool call costs about a millisecond,
    tiny clients less) and at most eight of them, near-equal in size.
    """
    if chunk_size:
        return [cohort[i:i + chunk_size] for i in range(0, len(cohort), chunk_size)]
    parts = min(8, max(1, len(cohort) // 5))
    return [list(map(int, c)) for c in np.array_split(np.asarray(cohort, dtype=np.int64), parts)]


def simulate(cfg: TroupeConfig, data: Dataset, federation: Federation, pool: WorkerPool, *,
             state: LoopState | None = None, on_round: Callable[[dict, LoopState], None] | None = None,
             on_clients: Callable[[int, list[dict]], None] | None = None) -> LoopState:
    """Run rounds ``state.round + 1 .. fl.rounds``; return the final loop state.

    Args:
        state: where to continue from (a checkpoint), or None to start at round 1.
        on_round: called after every round with its row (``round``, ``seconds``,
            ``clients_per_s``, ``train_loss`` and, on evaluated rounds,
            ``test_accuracy``/``test_loss``) and the loop state.
        on_clients: called with the round and the per-client metric dicts.
    """
    fl = cfg.fl
    spec = model_spec(cfg, data)
    strategy, strategy_key = build_strategy(cfg)
    if state is None:
        params = initial_params(spec, cfg.seed)
        expert = None
        if fl.curriculum.order in ("curriculum", "anti") and fl.curriculum.scorer == "expert":
            expert = train_expert(cfg, data, spec)
        state = LoopState(0, params, strategy.init(params), {}, expert)
    model = build_model(**spec)
    x_test, y_test = torch.as_tensor(data.x_test), torch.as_tensor(data.y_test)
    x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    owner = np.repeat(np.arange(fl.clients), federation.sizes)
    order = np.concatenate(federation.parts)

    def client_scores() -> np.ndarray:  # mean loss of each client's data under the global model
        losses = example_losses(model, state.params, x_train, y_train, fl.curriculum.difficulty).numpy()
        return np.bincount(owner, weights=losses[order], minlength=fl.clients) / federation.sizes

    for r in range(state.round + 1, fl.rounds + 1):
        t0 = time.perf_counter()
        cohort = select_cohort(cfg, r, client_scores)
        chunks = cohort_chunks(cohort, fl.chunk_size)
        server = pool.put({"params": state.params, "control": state.strategy.control, "expert": state.expert})
        hp = client_settings(cfg, r, strategy_key)
        calls = [Call("train_chunk", (federation.key, chunk, r, server, hp,
                                      {c: state.clients[c] for c in chunk if c in state.clients}),
                      label=f"round {r} clients {chunk}") for chunk in chunks]
        results = pool.map(calls)
        for res, node in zip(results, pool.last_nodes, strict=True):
            for row in res["clients"]:
                row["node"] = node
        if strategy.needs_client_deltas:
            updates = [part for res in results for part in res["sums"]]
        else:
            updates = sum_all([res["sums"] for res in results])  # chunk order: independent of the workers
        params, strategy_state = strategy.aggregate(state.params, updates, state.strategy)
        clients = dict(state.clients)
        for res in results:
            clients.update(res["states"])
        state = LoopState(r, params, strategy_state, clients, state.expert)
        rows = [row for res in results for row in res["clients"]]
        seconds = time.perf_counter() - t0
        n = sum(row["n_examples"] for row in rows)
        summary = {"round": r, "seconds": seconds, "clients_per_s": len(cohort) / seconds,
                   "train_loss": sum(row["loss"] * row["n_examples"] for row in rows) / n}
        if r % fl.eval_every == 0 or r == fl.rounds:
            summary["test_accuracy"], summary["test_loss"] = evaluate(model, params, x_test, y_test)
        if on_clients:
            on_clients(r, rows)
        if on_round:
            on_round(summary, state)
    return state


def final_metrics(cfg: TroupeConfig, data: Dataset, state: LoopState) -> dict[str, float]:
    """Test accuracy and loss of the global model in ``state``."""
    model = build_model(**model_spec(cfg, data))
    acc, loss = evaluate(model, state.params, torch.as_tensor(data.x_test), torch.as_tensor(data.y_test))
    return {"test_accuracy": acc, "test_loss": loss}


class _Progress:
    """A rich progress bar: round, accuracy, clients/s (stderr)."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("round {task.completed}/{task.total}"), BarColumn(),
                            TextColumn("acc {task.fields[acc]}"), TextColumn("{task.fields[cps]} clients/s"),
                            TimeRemainingColumn(), console=Console(file=sys.stderr))
        self.task = self.bar.add_task("fl", total=total, completed=start, acc="-", cps="-")
        self.bar.start()

    def update(self, row: dict) -> None:
        if self.bar is None:
            return
        fields = {"cps": f"{row['clients_per_s']:.0f}"}
        if "test_accuracy" in row:
            fields["acc"] = f"{row['test_accuracy']:.3f}"
        self.bar.update(self.task, completed=row["round"], **fields)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _restore(cfg: TroupeConfig, ctx) -> LoopState | None:
    """The last checkpoint of a resumed run, with its metric rows up to that round."""
    if not cfg.resume or not ctx.run_dir.exists(CHECKPOINT):
        return None
    strategy, _ = build_strategy(cfg)
    state = LoopState.from_bytes(ctx.run_dir.read_bytes(CHECKPOINT), strategy)
    if ctx.run_dir.exists("metrics.parquet"):
        df = ctx.run_dir.read_table("metrics.parquet").to_pandas()
        kept = df[df["round"].notna() & (df["round"] <= state.round)]
        for row in kept.to_dict("records"):
            keys = {k: int(row[k]) for k in ("round", "client") if row.get(k) is not None and row[k] == row[k]}
            if isinstance(row.get("node"), str):
                keys["node"] = row["node"]
            ctx.metrics.add(row["name"], row["value"], int(row["step"]), **keys)
    ctx.log(f"resuming {ctx.run_dir} after round {state.round}")
    return state


def run(cfg: TroupeConfig, ctx) -> dict[str, float]:
    fl, data = cfg.fl, ctx.data
    federation = federate(cfg, data)
    state = _restore(cfg, ctx)
    spec = model_spec(cfg, data)
    ctx.log(f"federated: {fl.clients} clients ({fl.partition}), {fl.clients_per_round}/round, {fl.rounds} rounds, "
            f"{fl.strategy} on {data.name}")
    pool = start_workers(cfg, {federation.key: federation.arrays(data)}, spec,
                         on_event=lambda e: ctx.log(f"worker {e['worker']} died ({e['error']}); re-ran "
                                                    f"{'; '.join(e['calls'])} on a replacement"))
    m = ctx.metrics
    bar = _Progress(fl.rounds, state.round if state else 0, cfg.progress)

    nodes: set[str] = set()

    def on_clients(r: int, rows: list[dict]) -> None:
        for row in rows:
            m.add("client/loss", row["loss"], r, round=r, client=row["client"], node=row["node"])
            m.add("client/n_examples", row["n_examples"], r, round=r, client=row["client"], node=row["node"])
            nodes.add(row["node"])

    def on_round(row: dict, loop: LoopState) -> None:
        r = row["round"]
        for name in ("test_accuracy", "test_loss", "train_loss", "clients_per_s"):
            if name in row:
                m.add(f"fl/{name}", row[name], r, round=r)
        bar.update(row)
        if fl.checkpoint_every and (r % fl.checkpoint_every == 0 or r == fl.rounds):
            ctx.run_dir.write_bytes(CHECKPOINT, loop.to_bytes())
            ctx.flush()
        if ctx.report and "test_accuracy" in row:
            ctx.report({"test_accuracy": row["test_accuracy"], "test_loss": row["test_loss"], "round": r})

    try:
        pool.info()  # the workers are up: what follows is the simulation itself
        ctx.start_training()
        state = simulate(cfg, data, federation, pool, state=state, on_round=on_round, on_clients=on_clients)
        ctx.stop_training()
    finally:
        bar.stop()
        pool.shutdown()
        if pool.events:
            ctx.extra["worker_events"] = pool.events
    final = final_metrics(cfg, data, state)
    ctx.extra.update(rounds=state.round, nodes=sorted(nodes))
    return final


def with_settings(cfg: TroupeConfig, *, seed: int | None = None, **fl) -> TroupeConfig:
    """A copy of ``cfg`` with other ``fl`` settings (``order`` sets fl.curriculum.order)."""
    order = fl.pop("order", None)
    new_fl = dataclasses.replace(cfg.fl, **fl)
    if order is not None:
        new_fl = dataclasses.replace(new_fl, curriculum=dataclasses.replace(cfg.fl.curriculum, order=order))
    return dataclasses.replace(cfg, fl=new_fl, seed=cfg.seed if seed is None else seed)
