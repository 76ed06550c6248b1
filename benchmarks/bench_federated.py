"""Federated simulation: troupe against Flower and a bare single-process loop, side by side.

Setup (from the repository root; Flower's ``[simulation]`` extra pins an older Ray, so
Flower's Ray backend runs on troupe's Ray here):
    python3.11 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0
    .venv-bench/bin/pip install -e . -r benchmarks/requirements-flower.txt
Run:
    .venv-bench/bin/python benchmarks/bench_federated.py [--quick] [--out table.json]

Workload: digits (pixels/16), Dirichlet(alpha=0.5) over labels, MLP 64-128-10, FedAvg,
1 local epoch, batch 32, SGD lr 0.05 (no momentum), a uniform random cohort each round;
Synthetic(1,1) of FedProx with its natural clients for the 10,000-client row. Three ways:
  (a) bare: one process, plain torch (nn.Module + torch.optim.SGD), clients one after another;
  (b) flower: ``flwr.simulation.run_simulation``, FedAvg, Ray backend, 1 CPU per client;
  (c) troupe: ``troupe.run("federated", ...)``; per-round times from metrics.parquet.
Every runner evaluates the global model once, after the last round, so a round's time is
training only. Each run is its own child process (Ray starts and stops cleanly between runs);
"wall" is that run's whole time, Ray start-up included, data loading excluded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
WARMUP_ROUNDS = 3  # rounds left out of the steady per-round median


@dataclass(frozen=True)
class Workload:
    """One row of the table: who trains how many clients for how many rounds, on what."""

    clients: int
    cohort: int
    rounds: int
    data: str = "digits"
    partition: str = "dirichlet"
    alpha: float = 0.5
    lr: float = 0.05
    batch_size: int = 32
    local_epochs: int = 1
    seed: int = 0

    @property
    def key(self) -> str:
        return f"{self.data}-{self.partition}-{self.clients}-{self.seed}"

    @property
    def label(self) -> str:
        return f"C={self.clients}/K={self.cohort}/R={self.rounds} {self.data}"

    def overrides(self) -> list[str]:
        """The troupe config of this workload (also what builds the data for bare and Flower)."""
        return [f"data={self.data}", f"seed={self.seed}", f"fl.clients={self.clients}",
                f"fl.clients_per_round={self.cohort}", f"fl.rounds={self.rounds}", f"fl.partition={self.partition}",
                f"fl.alpha={self.alpha}", f"fl.lr={self.lr}", f"fl.batch_size={self.batch_size}",
                f"fl.local_epochs={self.local_epochs}", "fl.strategy=fedavg", "fl.momentum=0.0", "model=mlp",
                "model.hidden=[128]"]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        return cls(**json.loads(text))


def load_workload(w: Workload):
    """(dataset, per-client example indices, model): troupe's loader, partitioner and model builder."""
    from troupe.algorithms.models import build_model
    from troupe.config import load_config
    from troupe.data import load
    from troupe.experiments.federated import federate, model_spec

    cfg = load_config(["experiment=federated", *w.overrides()])
    data = load(cfg.data, seed=cfg.seed, clients=cfg.fl.clients)
    parts = federate(cfg, data).parts
    data.x_train_t, data.y_train_t = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    return data, parts, build_model(**model_spec(cfg, data))


def initial_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in model.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def client_update(model, start, data, index, w: Workload, rnd: int, client: int):
    """One client's local epochs of plain minibatch SGD from ``start``; (state, n, mean loss)."""
    x, y = data.x_train_t[index], data.y_train_t[index]
    n = len(y)
    model.load_state_dict(start)
    opt = torch.optim.SGD(model.parameters(), lr=w.lr)
    rng = np.random.default_rng([w.seed, rnd, client])
    total = 0.0
    steps = 0
    for _ in range(w.local_epochs):
        perm = torch.as_tensor(rng.permutation(n))
        for i in range(0, n, w.batch_size):
            idx = perm[i:i + w.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, n, total / max(steps, 1)


def evaluate_state(model, state, data) -> tuple[float, float]:
    model.load_state_dict(state)
    with torch.no_grad():
        logits = model(torch.as_tensor(data.x_test))
        y = torch.as_tensor(data.y_test)
        return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


def run_bare(w: Workload) -> dict:
    """The compute floor: FedAvg as a plain loop in this process, the cohort troupe would draw."""
    torch.set_num_threads(1)
    data, parts, model = load_workload(w)
    t0 = time.perf_counter()
    state = initial_state(model, w.seed)
    rounds = []
    for rnd in range(1, w.rounds + 1):
        t = time.perf_counter()
        cohort = sorted(np.random.default_rng([w.seed, rnd]).choice(w.clients, size=w.cohort, replace=False))
        acc, total = None, 0
        for client in cohort:
            local, n, _ = client_update(model, state, data, parts[client], w, rnd, int(client))
            acc = {k: v * n for k, v in local.items()} if acc is None else {k: acc[k] + v * n for k, v in local.items()}
            total += n
        state = {k: v / total for k, v in acc.items()}
        rounds.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "round_s": rounds, "test_accuracy": evaluate_state(model, state, data)[0]}


def run_troupe(w: Workload) -> dict:
    """``troupe.run("federated")``, Ray start-up included; per-round seconds from metrics.parquet."""
    import troupe

    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        result = troupe.run("federated", overrides=[
            *w.overrides(), f"fl.eval_every={w.rounds}", "fl.checkpoint_every=0", "progress=false",
            f"results.dir={root}", "results.plots=false", f"cluster.num_cpus={os.cpu_count()}"])
        wall = time.perf_counter() - t0
        df = result.metrics
    cps = df[df["name"] == "fl/clients_per_s"].sort_values("round")
    return {"wall_s": wall, "train_s": result.summary["train_seconds"],
            "round_s": [w.cohort / v for v in cps["value"]],
            "test_accuracy": result.summary["metrics"]["test_accuracy"]}


def run_flower(w: Workload) -> dict:
    from flower_app import run_flower as flower

    return flower(w)


RUNNERS = {"bare": run_bare, "flower": run_flower, "troupe": run_troupe}


def run_child(runner: str, w: Workload, timeout: float) -> dict:
    """Run one (runner, workload) in a child process; its result dict, or an ``error``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, __file__, "--child", runner, "--workload", w.to_json(), "--out", out.name]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f}s"}
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
        return json.loads(Path(out.name).read_text())


def steady(rounds: list[float]) -> float:
    """Median round time after the warm-up rounds (all rounds when there are too few)."""
    kept = rounds[WARMUP_ROUNDS:] if len(rounds) > 2 * WARMUP_ROUNDS else rounds[1:] or rounds
    return statistics.median(kept)


def workloads(quick: bool) -> list[tuple[Workload, tuple[str, ...]]]:
    every = ("bare", "flower", "troupe")
    if quick:
        return [(Workload(100, 10, 10), every), (Workload(1000, 50, 5), every),
                (Workload(10_000, 100, 5, data="fedprox_synthetic", partition="natural"), ("bare", "troupe"))]
    return [(Workload(100, 10, 50), every), (Workload(100, 10, 200), every), (Workload(1000, 50, 10), every),
            (Workload(10_000, 100, 20, data="fedprox_synthetic", partition="natural"), ("bare", "troupe"))]


def table(rows: list[dict]) -> str:
    head = ("| workload | runner | wall s | steady s/round | final acc | troupe/bare per round "
            "| flower/troupe per round |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for row in rows:
        for name in ("bare", "flower", "troupe"):
            r = row["runs"].get(name)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {row['workload']} | {name} | failed: {r['error'][:120]} | | | | |")
                continue
            ratio_b = row.get("troupe_over_bare") if name == "troupe" else None
            ratio_f = row.get("flower_over_troupe") if name == "flower" else None
            lines.append(f"| {row['workload']} | {name} | {r['wall_s']:.1f} | {r['steady_s']:.4f} "
                         f"| {100 * r['test_accuracy']:.2f} | {'' if ratio_b is None else f'{ratio_b:.2f}x'} "
                         f"| {'' if ratio_f is None else f'{ratio_f:.1f}x'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a check that everything runs")
    parser.add_argument("--out", type=Path, help="write the table as JSON here")
    parser.add_argument("--only", nargs="+", choices=sorted(RUNNERS), help="run only these runners")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--child", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = RUNNERS[args.child](Workload.from_json(args.workload))
        args.out.write_text(json.dumps(result))
        return

    machine = {"cores": os.cpu_count(), "load_before": os.getloadavg(), "python": platform.python_version(),
               "torch": torch.__version__}
    print(f"machine: {machine['cores']} cores, load {machine['load_before'][0]:.2f}, torch {torch.__version__}")
    rows = []
    for w, runners in workloads(args.quick):
        row = {"workload": w.label, "config": dataclasses.asdict(w), "runs": {}}
        for name in runners:
            if args.only and name not in args.only:
                continue
            r = run_child(name, w, args.timeout)
            if "error" not in r:
                r["steady_s"] = steady(r["round_s"])
            row["runs"][name] = r
            status = r.get("error") or (f"wall {r['wall_s']:.1f}s, {r['steady_s']:.4f}s/round, "
                                        f"acc {r['test_accuracy']:.4f}")
            print(f"{w.label:<45} {name:<7} {status}  (load {os.getloadavg()[0]:.2f})", flush=True)
        ok = {k: v for k, v in row["runs"].items() if "error" not in v}
        if "troupe" in ok and "bare" in ok:
            row["troupe_over_bare"] = ok["troupe"]["steady_s"] / ok["bare"]["steady_s"]
            row["accuracy_gap_points"] = 100 * (ok["troupe"]["test_accuracy"] - ok["bare"]["test_accuracy"])
        if "troupe" in ok and "flower" in ok:
            row["flower_over_troupe"] = ok["flower"]["steady_s"] / ok["troupe"]["steady_s"]
        rows.append(row)
    machine["load_after"] = os.getloadavg()
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
