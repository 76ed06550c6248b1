"""The federated benchmark's workload as a Flower 1.42 app (Message API, Ray simulation backend).

The client update is the benchmark's own plain-torch one (``bench_federated.client_update``)
and the data come from troupe's loader and partitioner, so Flower trains the same clients
with the same step as the bare loop. The ServerApp runs Flower's ``FedAvg`` strategy with
client-side evaluation off; its ``evaluate_fn`` (called by the strategy before round 1 and
after every round) stamps the round's end time and evaluates the global model only after
the last round, as the other two runners do.
"""

from __future__ import annotations

import time

from bench_federated import Workload, client_update, evaluate_state, initial_state, load_workload
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

_cache: dict[str, tuple] = {}  # one Ray actor serves many clients: load the federation once per actor


def _federation(workload: Workload):
    key = workload.key
    if key not in _cache:
        _cache[key] = load_workload(workload)
    return _cache[key]


def client_app() -> ClientApp:
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        config = msg.content["config"]
        workload = Workload.from_json(str(config["workload"]))
        data, parts, model = _federation(workload)
        client = int(context.node_config["partition-id"])
        rnd = int(config["server-round"])
        start = msg.content["arrays"].to_torch_state_dict()
        state, n, loss = client_update(model, start, data, parts[client], workload, rnd, client)
        return Message(RecordDict({"arrays": ArrayRecord(state),
                                   "metrics": MetricRecord({"num-examples": n, "train_loss": loss})}),
                       reply_to=msg)

    return app


def server_app(workload: Workload, record: dict) -> ServerApp:
    """A ServerApp running FedAvg for ``workload.rounds``; timings and accuracy go into ``record``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        data, _, model = load_workload(workload)
        stamps = record.setdefault("stamps", [])

        def on_round(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            stamps.append(time.perf_counter())
            if server_round != workload.rounds:
                return None
            acc, loss = evaluate_state(model, arrays.to_torch_state_dict(), data)
            record["test_accuracy"] = acc
            return MetricRecord({"test_accuracy": acc, "test_loss": loss})

        strategy = FedAvg(fraction_train=workload.cohort / workload.clients, fraction_evaluate=0.0,
                          min_train_nodes=workload.cohort, min_available_nodes=workload.clients)
        strategy.start(grid=grid, initial_arrays=ArrayRecord(initial_state(model, workload.seed)),
                       num_rounds=workload.rounds, train_config=ConfigRecord({"workload": workload.to_json()}),
                       evaluate_fn=on_round)

    return app


def run_flower(workload: Workload) -> dict:
    """Run the workload under ``flwr.simulation.run_simulation``; per-round times and accuracy."""
    record: dict = {}
    t0 = time.perf_counter()
    run_simulation(server_app(workload, record), client_app(), num_supernodes=workload.clients,
                   backend_name="ray", backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}})
    wall = time.perf_counter() - t0
    stamps = record.get("stamps", [])
    if len(stamps) != workload.rounds + 1 or "test_accuracy" not in record:
        raise RuntimeError(f"flower finished {len(stamps) - 1} of {workload.rounds} rounds")
    rounds = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"wall_s": wall, "round_s": rounds, "test_accuracy": record["test_accuracy"]}
