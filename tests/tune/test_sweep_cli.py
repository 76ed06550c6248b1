"""``troupe sweep`` on the command line: bad input is one line and exit code 2, before any trial."""

from __future__ import annotations

import pytest

from troupe.cli import main


@pytest.mark.parametrize("args, message", [
    (["sweep.metric=accuracy"], "sweep.metric: ensemble never reports 'accuracy'"),
    (["sweep.searcher=grid"], "sweep.searcher: 'grid' is not one of"),
    (["sweep.scheduler=hyperband"], "sweep.scheduler"),
    (["sweep.samples=0"], "sweep.samples: must be >= 1"),
    (["sweep.pack=4", "experiment=federated"], "sweep.pack: workload federated cannot pack trials"),
])
def test_bad_sweep_exits_2_and_writes_nothing(args, message, tmp_path, capsys):
    code = main(["sweep", "sweep=ensemble_lr", *args, f"results.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_corrupt_data_file_exits_2_before_any_trial(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz file")
    runs = tmp_path / "runs"
    code = main(["sweep", "sweep=ensemble_lr", f"data.path={bad}", f"results.dir={runs}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert not runs.exists()


def test_no_sweep_chosen_exits_2(capsys):
    assert main(["sweep", "experiment=ensemble"]) == 2
    assert "add sweep=NAME" in capsys.readouterr().err


def test_resume_of_a_missing_directory_exits_2(tmp_path, capsys):
    assert main(["sweep", "--resume", str(tmp_path / "nope")]) == 2
    assert "not a troupe run directory" in capsys.readouterr().err
