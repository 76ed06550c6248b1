"""The job client's pieces that need no cluster: token lookup, entrypoint, runtime env, CLI parsing."""

from __future__ import annotations

import pytest

from troupe.cli import build_parser
from troupe.cluster import jobs


def test_token_lookup_order(tmp_path, monkeypatch):
    """As Ray looks it up: RAY_AUTH_TOKEN, then RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_token = tmp_path / "home" / ".ray" / "auth_token"
    home_token.parent.mkdir(parents=True)
    home_token.write_text("from-home\n")
    path_token = tmp_path / "token"
    path_token.write_text("  from-path \n")
    assert jobs.auth_token({}) == jobs.Token("from-home", "~/.ray/auth_token")
    assert jobs.auth_token({"RAY_AUTH_TOKEN_PATH": str(path_token)}).value == "from-path"
    both = {"RAY_AUTH_TOKEN": "from-env", "RAY_AUTH_TOKEN_PATH": str(path_token)}
    assert jobs.auth_token(both) == jobs.Token("from-env", "RAY_AUTH_TOKEN")
    with pytest.raises(jobs.JobError, match="RAY_AUTH_TOKEN_PATH"):
        jobs.auth_token({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")})
    home_token.unlink()
    assert jobs.auth_token({}) is None


def test_entrypoint_quotes_and_drops_leading_troupe():
    assert jobs.entrypoint(["run", "experiment=ensemble", "data.path=/d/my file.npz"]) == \
        "troupe run experiment=ensemble 'data.path=/d/my file.npz'"
    assert jobs.entrypoint(["troupe", "run"]) == "troupe run"
    with pytest.raises(jobs.JobError):
        jobs.entrypoint([])


def test_runtime_env(tmp_path):
    env = jobs.runtime_env(tmp_path, pip=["optuna==5.0"], env_vars={"A": "1"})
    assert env["working_dir"] == str(tmp_path)
    assert {"/runs/", "/.venv/", ".git/", "__pycache__/", "*.egg-info/"} <= set(env["excludes"])
    assert env["env_vars"] == {"A": "1", "PYTHONPATH": "src"}
    assert env["pip"] == ["optuna==5.0"]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("optuna\n")
    assert jobs.runtime_env(None, pip=[str(requirements)]) == {"pip": str(requirements)}
    assert jobs.runtime_env(None) == {}
    assert (jobs.project_root() / "pyproject.toml").is_file()


def test_default_address(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert jobs.default_address() == "http://127.0.0.1:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    assert jobs.default_address() == "http://head:8265"


def test_submit_parses_the_command_after_dashes():
    args = build_parser().parse_args(
        ["submit", "--address", "http://h:8265", "--wait", "--pip", "x==1", "--", "run", "experiment=ensemble",
         "--weird-but-positional"])
    assert args.wait and args.pip == ["x==1"] and args.address == "http://h:8265"
    assert args.command[-3:] == ["run", "experiment=ensemble", "--weird-but-positional"]


def test_submit_checks_the_config_before_submitting(capsys):
    from troupe.cli import main

    # An unreachable address: a bad key must be reported before any connection is tried.
    assert main(["submit", "--address", "http://127.0.0.1:9", "--", "run", "bogus=1"]) == 2
    assert "bogus: unknown key" in capsys.readouterr().err


def test_unreachable_address_is_one_line(capsys):
    from troupe.cli import main

    assert main(["jobs", "list", "--address", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot reach a Ray dashboard at http://127.0.0.1:9" in err
