"""Every shipped config composes and validates; bad keys and values are one clear error."""

from __future__ import annotations

import pytest

from troupe.config import ConfigError, conf_dir, from_yaml, load_config, to_yaml

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
SWEEPS = sorted(p.stem for p in (conf_dir() / "sweep").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("debug", [None, "smoke"])
def test_every_experiment_composes(name, debug):
    cfg = load_config([f"experiment={name}"] + ([f"debug={debug}"] if debug else []))
    assert cfg.experiment == name
    assert from_yaml(to_yaml(cfg)) == cfg


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_files_start_with_their_command(name):
    lines = (conf_dir() / "experiment" / f"{name}.yaml").read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith(f"# troupe run experiment={name}")


@pytest.mark.parametrize("overrides, key, words", [
    (["ensemble.memberz=3"], "ensemble.memberz", "unknown key"),
    (["+nonsense=1"], "nonsense", "unknown key"),
    (["ensemble.members=0"], "ensemble.members", ">= 1"),
    (["ensemble.members=many"], "ensemble.members", "could not be converted"),
    (["device=tpu"], "device", "not one of"),
    (["experiment=does_not_exist"], "experiment", "no such option"),
    (["fl.curriculum.pacing=cubic"], "fl.curriculum.pacing", "not one of"),
    (["fl.clients=5", "fl.clients_per_round=6"], "fl.clients_per_round", "exceeds"),
    (["data.test_fraction=1.5"], "data.test_fraction", "< 1"),
    (["model.name=transformer9000"], "model.name", "not a registered model"),
])
def test_bad_config_is_one_line_naming_the_key(overrides, key, words):
    with pytest.raises(ConfigError) as info:
        load_config(overrides)
    message = str(info.value)
    assert info.value.key == key
    assert words in message
    assert "\n" not in message


def test_group_defaults_and_overrides():
    cfg = load_config(["experiment=ensemble", "model=cnn", "data=wine", "seed=7", "ensemble.members=3"])
    assert (cfg.model.name, cfg.data.name, cfg.seed, cfg.ensemble.members) == ("cnn", "wine", 7, 3)
    assert cfg.workload == "ensemble"


def test_data_path_selects_the_file_loader(tmp_path):
    cfg = load_config([f"data.path={tmp_path / 'x.npz'}"])
    assert cfg.data.name == "file"
