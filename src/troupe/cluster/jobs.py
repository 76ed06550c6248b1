"""Ray jobs: submit a troupe command line to a cluster and follow it (Ray Job Submission API).

`troupe submit --address http://HEAD:8265 -- run experiment=federated ...` runs the very
command a laptop would run, as the entrypoint `troupe run experiment=federated ...` of a
Ray job. The project (this source checkout, without `runs/`, `.venv/`, `.git/` and caches)
travels as the job's `working_dir`, with `PYTHONPATH=src` so the cluster imports this copy
of troupe; `--pip` adds requirements for clusters whose image lacks them.

Ray 2.60 turns token authentication on by default, and troupe keeps it on. The token is
looked up as Ray itself does it — `RAY_AUTH_TOKEN`, then the file `RAY_AUTH_TOKEN_PATH`,
then `~/.ray/auth_token` — and sent as a bearer token with every request (the log stream
included), whatever `RAY_AUTH_MODE` says in this process. A cluster that rejects it gives
one :class:`JobError` line that names where the token came from.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
TOKEN_FILE = Path("~/.ray/auth_token")

# gitignore-style patterns, relative to the working dir (Ray's `excludes`).
EXCLUDES = (
    "/runs/",
    "/outputs/",
    "/multirun/",
    "/.venv/",
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".ruff_cache/",
    ".mypy_cache/",
    ".hypothesis/",
    "*.egg-info/",
    "/build/",
    "/dist/",
)

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")

# Ray's INFO lines about packaging the working dir and closing the log stream, not for users.
_CHATTY_LOGGERS = (
    "ray._private.runtime_env.packaging",
    "ray.dashboard.modules.dashboard_sdk",
    "ray.dashboard.modules.job.sdk",
)


class JobError(RuntimeError):
    """A job-API problem (cannot connect, token rejected, no such job): one line."""


@dataclass(frozen=True)
class Token:
    """The Ray auth token this client sends, and where it came from (for error messages)."""

    value: str
    source: str


def auth_token(environ: dict[str, str] | None = None) -> Token | None:
    """The cluster's token: `$RAY_AUTH_TOKEN`, `$RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`.

    Returns None when none is set up (a cluster without authentication needs none).

    Raises:
        JobError: `RAY_AUTH_TOKEN_PATH` names a file that does not exist or is empty.
    """
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return Token(env["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN")
    if env.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(env["RAY_AUTH_TOKEN_PATH"]).expanduser()
        value = path.read_text().strip() if path.is_file() else ""
        if not value:
            raise JobError(f"RAY_AUTH_TOKEN_PATH={path}: no token there (missing or empty file)")
        return Token(value, f"RAY_AUTH_TOKEN_PATH={path}")
    path = TOKEN_FILE.expanduser()
    if path.is_file() and path.read_text().strip():
        return Token(path.read_text().strip(), str(TOKEN_FILE))
    return None


def default_address() -> str:
    """`$RAY_API_SERVER_ADDRESS`, else `$RAY_ADDRESS`, else the local dashboard."""
    return (os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
            or DEFAULT_ADDRESS)


def project_root() -> Path | None:
    """The source checkout troupe runs from (the folder with `pyproject.toml`), if any."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if parent.name == "src" and (parent.parent / "pyproject.toml").is_file():
            return parent.parent
    return None


def entrypoint(argv: list[str]) -> str:
    """The job's shell command: `troupe <argv...>`, each word quoted."""
    words = list(argv)
    if words and words[0] == "troupe":
        words = words[1:]
    if not words:
        raise JobError("nothing to submit: give a troupe command after '--', e.g. -- run experiment=ensemble")
    return shlex.join(["troupe", *words])


def runtime_env(
    working_dir: str | Path | None = None,
    *,
    pip: list[str] | None = None,
    env_vars: dict[str, str] | None = None,
    py_executable: str | None = None,
) -> dict[str, Any]:
    """The job's runtime environment.

    Args:
        working_dir: folder uploaded to the cluster and used as every worker's cwd
            (`EXCLUDES` left out); `PYTHONPATH=src` makes its troupe the one imported.
            None submits nothing: the cluster's own installed troupe runs.
        pip: requirements installed on the cluster for this job (a list of specifiers,
            or one path to a requirements file).
        env_vars: extra environment variables of the driver and every worker.
        py_executable: the Python that runs the job's workers (for example a venv's).
    """
    env: dict[str, Any] = {}
    variables = dict(env_vars or {})
    if working_dir is not None:
        env["working_dir"] = str(working_dir)
        env["excludes"] = list(EXCLUDES)
        variables.setdefault("PYTHONPATH", "src")
    if pip:
        env["pip"] = pip[0] if len(pip) == 1 and pip[0].endswith(".txt") and Path(pip[0]).is_file() else list(pip)
    if py_executable:
        env["py_executable"] = py_executable
    if variables:
        env["env_vars"] = variables
    return env


def client(address: str | None = None):
    """A `JobSubmissionClient` for `address` that authenticates with the cluster's token."""
    from ray.job_submission import JobSubmissionClient

    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    address = address or default_address()
    token = auth_token()
    headers = {"Authorization": f"Bearer {token.value}"} if token else {}
    with _explained(address, token):
        return JobSubmissionClient(address, headers=headers)


class _explained:
    """Turn Ray's multi-paragraph connection/auth errors into one JobError line."""

    def __init__(self, address: str, token: Token | None):
        self.address, self.token = address, token

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, JobError):
            return False
        from ray.exceptions import AuthenticationError

        if isinstance(exc, AuthenticationError):
            if self.token is None:
                raise JobError(
                    f"{self.address} requires a Ray auth token and none was found: set RAY_AUTH_TOKEN, "
                    f"RAY_AUTH_TOKEN_PATH or write it to {TOKEN_FILE}") from None
            raise JobError(f"{self.address} rejected the Ray auth token from {self.token.source} "
                           "(not this cluster's token?)") from None
        if isinstance(exc, ConnectionError):
            raise JobError(f"cannot reach a Ray dashboard at {self.address} (is the cluster up? "
                           "the address is the dashboard's, port 8265 by default)") from None
        text = " ".join(str(exc).split())
        if "404" in text or "does not exist" in text:
            raise JobError(f"{self.address}: {text[:200]}") from None
        return False


def submit(
    address: str | None,
    argv: list[str],
    *,
    working_dir: str | Path | None = "project",
    pip: list[str] | None = None,
    env_vars: dict[str, str] | None = None,
    py_executable: str | None = None,
    submission_id: str | None = None,
    wait: bool = False,
    out: IO[str] | None = None,
) -> str:
    """Submit `troupe <argv...>` as a Ray job; return its id.

    Args:
        address: the cluster's dashboard, `http://HOST:8265` (default: `default_address()`).
        argv: the troupe command line without `troupe`, e.g. `["run", "experiment=ensemble"]`.
        working_dir: folder to upload; `"project"` (default) is this source checkout, or
            nothing outside one; None uploads nothing.
        pip, env_vars, py_executable: see :func:`runtime_env`.
        submission_id: a job id of your choosing (default: Ray makes one).
        wait: stream the job's logs to `out` until it ends (then see :func:`status`).
    """
    address = address or default_address()
    if working_dir == "project":
        working_dir = project_root()
    env = runtime_env(working_dir, pip=pip, env_vars=env_vars, py_executable=py_executable)
    jobs = client(address)
    with _explained(address, auth_token()):
        job_id = jobs.submit_job(entrypoint=entrypoint(argv), runtime_env=env,
                                 submission_id=submission_id,
                                 metadata={"troupe": " ".join(argv)[:200]})
    if wait:
        follow(address, job_id, out=out)
    return job_id


def follow(address: str | None, job_id: str, *, out: IO[str] | None = None,
           poll_s: float = 1.0) -> str:
    """Stream a job's logs to `out` until it ends; return its final status (`SUCCEEDED`, ...)."""
    address = address or default_address()
    out = out or sys.stdout
    jobs = client(address)
    written = 0

    async def tail() -> None:
        nonlocal written
        async for chunk in jobs.tail_job_logs(job_id):
            out.write(chunk)
            out.flush()
            written += len(chunk)

    with _explained(address, auth_token()):
        try:
            asyncio.run(tail())
        except RuntimeError:
            pass  # the stream broke off: fall back to polling, then print what was missed
        state = str(jobs.get_job_status(job_id))
        while state not in TERMINAL:
            time.sleep(poll_s)
            state = str(jobs.get_job_status(job_id))
        rest = jobs.get_job_logs(job_id)[written:]
    if rest:
        out.write(rest)
        out.flush()
    return state


def list_jobs(address: str | None = None) -> list:
    """Every job the cluster knows, oldest first (Ray's `JobDetails`)."""
    address = address or default_address()
    jobs = client(address)
    with _explained(address, auth_token()):
        found = jobs.list_jobs()
    return sorted(found, key=lambda j: j.start_time or 0)


def info(address: str | None, job_id: str):
    """A job's `JobDetails`: status, message, entrypoint, times."""
    address = address or default_address()
    jobs = client(address)
    with _explained(address, auth_token()):
        return jobs.get_job_info(job_id)


def status(address: str | None, job_id: str) -> str:
    """A job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    return str(info(address, job_id).status)


def logs(address: str | None, job_id: str) -> str:
    """A job's output so far."""
    address = address or default_address()
    jobs = client(address)
    with _explained(address, auth_token()):
        return jobs.get_job_logs(job_id)


def stop(address: str | None, job_id: str) -> bool:
    """Ask a job to stop; True if it was still running."""
    address = address or default_address()
    jobs = client(address)
    with _explained(address, auth_token()):
        return bool(jobs.stop_job(job_id))
