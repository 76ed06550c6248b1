"""Ensemble training: troupe against a plain loop and a one-process vmap, side by side.

Workload: N MLP members (64-128-10) x 200 SGD steps (batch 64, lr 0.1, momentum 0.9) on
digits, member i seeded with i. Three ways, in one run on this machine:
  (a) sequential: a plain nn.Module + torch.optim.SGD loop, one member after another;
  (b) vmap: every member in one torch.func pack in this process (all cores' threads);
  (c) troupe: ``troupe run experiment=ensemble`` (packs spread over the worker pool),
      ``train_seconds`` from its summary and the whole process timed from outside.
Run: python benchmarks/bench_ensemble.py [--members 32 256] [--big 1024] [--sequential-cap 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from troupe.algorithms.ensembles import init_pack, train_pack, train_single
from troupe.algorithms.models import build_model
from troupe.config import DataConfig
from troupe.data import load

STEPS, BATCH, LR, MOMENTUM = 200, 64, 0.1, 0.9


def digits():
    d = load(DataConfig(name="digits"), seed=0)
    return torch.from_numpy(d.x_train), torch.from_numpy(d.y_train), d.in_shape


def sequential(n: int, cap: int) -> float:
    """Seconds for n members in a plain loop (timed on min(n, cap) members, scaled linearly)."""
    x, y, shape = digits()
    model_fn = partial(build_model, "mlp", in_shape=shape, classes=10, hidden=[128])
    timed = min(n, cap)
    t = time.perf_counter()
    for seed in range(timed):
        train_single(model_fn, seed, x, y, steps=STEPS, batch_size=BATCH, lr=LR, momentum=MOMENTUM, device="cpu")
    return (time.perf_counter() - t) * n / timed


def one_process_vmap(n: int) -> float:
    x, y, shape = digits()
    model_fn = partial(build_model, "mlp", in_shape=shape, classes=10, hidden=[128])
    t = time.perf_counter()
    state = init_pack(model_fn, list(range(n)), device="cpu")
    train_pack(state, x, y, model=model_fn(), steps=STEPS, batch_size=BATCH, lr=LR, momentum=MOMENTUM)
    return time.perf_counter() - t


def troupe_run(n: int, root: str) -> tuple[float, float, float]:
    """(train_seconds, summary wall_seconds, whole process seconds) of ``troupe run``."""
    cmd = [str(Path(sys.executable).with_name("troupe")), "run", "experiment=ensemble", f"ensemble.members={n}",
           f"ensemble.steps={STEPS}", f"ensemble.batch_size={BATCH}", f"ensemble.lr={LR}",
           f"ensemble.momentum={MOMENTUM}", "model.hidden=[128]", "progress=false", f"results.dir={root}",
           "results.plots=false"]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    whole = time.perf_counter() - t
    run_dir = out.stdout.split("results: ")[1].strip()
    summary = json.loads(Path(run_dir, "summary.json").read_text())
    return summary["train_seconds"], summary["wall_seconds"], whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--big", type=int, default=1024, help="members for the completes-at-scale row (0: skip)")
    parser.add_argument("--sequential-cap", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}; {STEPS} steps, batch {BATCH}, MLP 64-128-10")
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for n in args.members:
            seq = sequential(n, args.sequential_cap)
            vm = one_process_vmap(n)
            train, wall, whole = troupe_run(n, root)
            rows.append((n, seq, vm, train, whole))
        big = troupe_run(args.big, root) if args.big else None
    header = (f"{'N':>6} {'sequential s':>13} {'vmap s':>8} {'troupe train s':>15} {'troupe process s':>17} "
              f"{'troupe/vmap':>12} {'seq/troupe':>11}")
    print(header)
    for n, seq, vm, train, whole in rows:
        print(f"{n:>6} {seq:>13.2f} {vm:>8.2f} {train:>15.2f} {whole:>17.2f} {train / vm:>12.2f} {seq / train:>11.1f}")
    if big:
        print(f"N={args.big}: troupe completed, train {big[0]:.2f}s, whole process {big[2]:.2f}s")
    if any(r[0] < 64 for r in rows) or args.sequential_cap < max(args.members):
        print(f"(sequential times above {args.sequential_cap} members are extrapolated from {args.sequential_cap})")


if __name__ == "__main__":
    main()
