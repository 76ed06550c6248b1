"""``troupe sweep --resume`` after the driver was killed with SIGKILL: no trial lost, none repeated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pandas as pd
import pytest

from troupe.tune.sweep import resume

SAMPLES = 8


def _recorded(root: Path) -> tuple[Path | None, int]:
    """Trials recorded so far, read without writing: Optuna's own storage would create its schema
    in the database if it is not there yet, racing the driver that is creating it."""
    dbs = list(root.glob("sweeps/ensemble_lr/*/study.db"))
    if not dbs:
        return None, 0
    try:
        with closing(sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True, timeout=1)) as db:
            return dbs[0].parent, db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.Error:  # the schema is not created yet
        return dbs[0].parent, 0


@pytest.mark.slow
def test_resume_after_sigkill_finishes_without_loss_or_repeat(ray_session, tmp_path):
    root = tmp_path / "runs"
    cmd = [sys.executable, "-m", "troupe.cli", "sweep", "sweep=ensemble_lr", f"sweep.samples={SAMPLES}",
           "ensemble.members=1", "ensemble.steps=150", "cluster.num_cpus=2", "progress=false", f"results.dir={root}"]
    driver = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        run_dir, done = None, 0
        while time.monotonic() < deadline and driver.poll() is None:
            run_dir, done = _recorded(root)
            if done >= 2:
                break
            time.sleep(0.2)
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        assert 2 <= done < SAMPLES, f"{done} trials recorded before the kill"
    finally:
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as a lost login shell or OOM killer would
        driver.wait()
        os.killpg(driver.pid, signal.SIGKILL)  # then the embedded Ray instance it left behind
        driver.stderr.close()

    result = resume(str(run_dir), progress=False)

    study = optuna.load_study(study_name="ensemble_lr", storage=f"sqlite:///{run_dir}/study.db")
    trials = study.get_trials()
    assert len(trials) == SAMPLES
    errors = [e.read_text()[-800:] for e in (run_dir / "tune").glob("*/error.txt")]
    assert all(t.state == optuna.trial.TrialState.COMPLETE and t.value is not None for t in trials), (
        [(t.number, t.state.name, t.user_attrs) for t in trials], errors)
    tune_ids = [t.user_attrs["tune_trial_id"] for t in trials]
    assert len(set(tune_ids)) == SAMPLES  # none recorded twice
    assert len({tuple(sorted(t.params.items())) for t in trials}) == SAMPLES  # none run twice under a new id
    table = pd.read_parquet(f"{run_dir}/trials.parquet")
    assert sorted(table.trial_id) == list(range(SAMPLES))
    assert result.summary["status"] == "ok" and result.summary["complete"] == SAMPLES
    # every Tune trial Tune knows of is one of the recorded ones
    tune_dirs = [p.name for p in (run_dir / "tune").iterdir() if p.is_dir() and p.name.startswith("run_trial_")]
    assert {d.split("_")[2] for d in tune_dirs} == set(tune_ids)


def test_resume_records_finished_trials_the_study_lacks(ray_session, tmp_path):
    # The driver died after Tune saved trials as finished but before their records were written
    # (records are written by a thread): the resumed sweep records them and runs nothing again.
    from troupe.tune.sweep import prepare, run_sweep

    plan = prepare(["sweep=ensemble_lr", "sweep.samples=4", "sweep.pack=2", "ensemble.members=1",
                    "ensemble.steps=20", "cluster.num_cpus=2", "progress=false", f"results.dir={tmp_path}"])
    run_dir = Path(run_sweep(plan).run_dir)
    before = optuna.load_study(study_name="ensemble_lr", storage=f"sqlite:///{run_dir}/study.db").get_trials()
    runs = sorted(p.parent.name for p in (run_dir / "trials").glob("*/*/config.yaml"))
    (run_dir / "study.db").unlink()

    result = resume(str(run_dir), progress=False)

    after = optuna.load_study(study_name="ensemble_lr", storage=f"sqlite:///{run_dir}/study.db").get_trials()
    assert sorted(runs) == sorted(p.parent.name for p in (run_dir / "trials").glob("*/*/config.yaml"))
    key = lambda t: (t.user_attrs["tune_trial_id"], t.user_attrs["pack_index"])  # noqa: E731
    assert sorted((key(t), t.value, t.params["ensemble.lr"]) for t in after) == \
        sorted((key(t), t.value, t.params["ensemble.lr"]) for t in before)
    assert result.summary["complete"] == 4 and result.summary["status"] == "ok"
