"""The command line: help, list, report, and the bad-input contract (one line, exit 2, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from troupe.cli import main

TROUPE = [sys.executable, "-m", "troupe.cli"]


def _cli(*args, cwd=None):
    return subprocess.run([*TROUPE, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_help_and_list():
    out = _cli("--help")
    assert out.returncode == 0 and "troupe run" in out.stdout
    listing = _cli("list").stdout
    assert "ensemble " in listing and "ensemble_concat" in listing


@pytest.mark.parametrize("args, words", [
    (["ensemble.memberz=3"], "ensemble.memberz: unknown key"),
    (["ensemble.members=-2"], "ensemble.members: must be >= 1"),
    (["experiment=nope"], "no such option 'experiment/nope'"),
    (["data.path=/nonexistent/data.npz"], "/nonexistent/data.npz: file not found"),
])
def test_bad_input_is_one_line_exit_2_and_no_run_dir(tmp_path, args, words):
    out = _cli("run", *args, f"results.dir={tmp_path / 'runs'}")
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


def test_corrupt_data_file_through_the_cli(tmp_path, capsys):
    bad = tmp_path / "data.npz"
    np.savez(bad, x=np.full((10, 2), np.nan), y=np.zeros(10, int))
    code = main(["run", "experiment=ensemble", f"data.path={bad}", f"results.dir={tmp_path / 'runs'}"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "NaN" in err
    assert not (tmp_path / "runs").exists()


def test_run_and_report_through_the_cli(tmp_path, capsys, ray_session):
    code = main(["run", "experiment=ensemble", "debug=smoke", f"results.dir={tmp_path}"])
    assert code == 0
    out = capsys.readouterr().out
    run_dir = out.split("results: ")[1].strip()
    assert Path(run_dir, "summary.json").is_file()
    (Path(run_dir) / "plots" / "train.png").unlink()
    assert main(["report", run_dir]) == 0
    report = capsys.readouterr().out
    assert "test_accuracy" in report and (Path(run_dir) / "plots" / "train.png").is_file()
    assert main(["report", str(tmp_path)]) == 2
