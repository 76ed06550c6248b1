"""A real two-node Ray cluster on this machine: `troupe submit --wait` runs a job across both.

The cluster is two `ray start` processes (a head with one CPU, a worker node with one
CPU) with token authentication on, their own temp dirs and ports, so that it never meets
the embedded Ray instance other tests share. It is taken down by killing exactly its own
processes — those in the sessions the two `ray start` calls were started in, or whose
command line names the cluster's temp dir — never with `ray stop`, which would stop
every Ray instance on the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 120


def _free_ports(n: int, taken: frozenset[int] | set[int] = frozenset()) -> list[int]:
    """n distinct ports the OS says are free now (kept bound until all are picked), none of `taken`."""
    sockets, ports = [], []
    while len(ports) < n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        sockets.append(s)
        if port not in ports and port not in taken:
            ports.append(port)
    for s in sockets:
        s.close()
    return ports


def _free_range(width: int, taken: set[int]) -> int:
    """The start of `width` consecutive ports, free now and none of `taken` (for worker processes).

    Drawn below the OS's ephemeral range, where ports picked by `_free_ports` (and any other
    process's outgoing connections) live, so the two kinds never meet.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        start = 10000 + secrets.randbelow(max(1, low - 10000 - width))
        if taken & set(range(start, start + width)):
            continue
        try:
            held = []
            for port in range(start, start + width):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port range")


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class LocalCluster:
    """Two Ray nodes on this machine, each `ray start`ed in a session of its own."""

    def __init__(self, root: Path, token: str):
        self.root = root
        self.token = token
        self.sessions: list[int] = []
        self.head_port, self.dashboard_port, self.client_port = _free_ports(3)
        self.taken = {self.head_port, self.dashboard_port, self.client_port}
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self.gcs = f"127.0.0.1:{self.head_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            "RAY_USAGE_STATS_ENABLED": "0",
            # The job's entrypoint is the `troupe` console script of this venv.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def _node_flags(self, name: str) -> list[str]:
        (node_manager, object_manager, agent_listen, agent_grpc, runtime_env_agent,
         metrics) = ports = _free_ports(6, self.taken)
        self.taken.update(ports)
        first = _free_range(40, self.taken)
        self.taken.update(range(first, first + 40))
        temp = self.root / name
        temp.mkdir()
        return [
            "--num-cpus=1", "--num-gpus=0", f"--temp-dir={temp}",
            f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
            f"--dashboard-agent-listen-port={agent_listen}", f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={runtime_env_agent}", f"--metrics-export-port={metrics}",
            f"--min-worker-port={first}", f"--max-worker-port={first + 39}",
            "--object-store-memory=100000000", "--disable-usage-stats",
        ]

    def _ray_start(self, flags: list[str]) -> None:
        proc = subprocess.Popen([str(BIN / "ray"), "start", *flags], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.sessions.append(proc.pid)  # its own session id: every process it starts inherits it
        try:
            output, _ = proc.communicate(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(flags[:2])} failed:\n{output[-3000:]}")

    def start(self) -> None:
        self._ray_start(["--head", f"--port={self.head_port}", "--dashboard-host=127.0.0.1",
                         f"--dashboard-port={self.dashboard_port}",
                         f"--ray-client-server-port={self.client_port}", *self._node_flags("head")])
        self._ray_start([f"--address={self.gcs}", *self._node_flags("node2")])
        self.wait_for_nodes(2)

    def nodes(self) -> list[dict]:
        """Alive nodes, from the dashboard's state API (authenticated)."""
        r = requests.get(f"{self.address}/api/v0/nodes", timeout=10,
                         headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        rows = r.json()["data"]["result"]["result"]
        return [n for n in rows if n.get("state") == "ALIVE"]

    def wait_for_nodes(self, n: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if len(self.nodes()) >= n:
                    return
            except (requests.RequestException, KeyError) as exc:
                last = exc
            time.sleep(1)
        raise RuntimeError(f"the cluster did not reach {n} alive nodes: {last}")

    def processes(self) -> list[int]:
        """PIDs of this cluster's processes (and none of any other Ray instance)."""
        mine = []
        marker = str(self.root)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            if _session_of(pid) in self.sessions or marker in _cmdline(pid):
                mine.append(pid)
        return mine

    def stop(self) -> list[int]:
        """Kill this cluster's processes (TERM, then KILL); return any that survived."""
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            pids = self.processes()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + grace
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = self.processes()
            if not pids:
                return []
        return self.processes()


@pytest.fixture(scope="module")
def cluster():
    """A two-node cluster, torn down (its own processes only) even when a test fails."""
    root = Path(tempfile.mkdtemp(prefix="trc-", dir="/tmp"))  # short: Ray's socket paths live here
    local = LocalCluster(root, token=secrets.token_hex(32))
    try:
        local.start()
        yield local
    finally:
        survivors = local.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert not survivors, f"cluster processes still alive: {survivors}"


def test_submit_runs_on_both_nodes(cluster, tmp_path):
    assert len(cluster.nodes()) == 2
    results = tmp_path / "results"
    env = {**cluster.env, "RAY_ADDRESS": cluster.address}
    env.pop("RAY_AUTH_MODE")  # the client sends the token whatever this process's mode says
    # A smoke federated job; one client per chunk so the cohort's chunks spread over both nodes.
    command = [str(BIN / "troupe"), "submit", "--wait", "--", "run", "experiment=federated", "debug=smoke",
               "cluster.address=auto", "cluster.num_cpus=null", "fl.chunk_size=1", "fl.clients_per_round=6",
               f"results.dir={results}"]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    report = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    assert "SUCCEEDED" in done.stderr, report
    assert "submitted raysubmit_" in done.stderr, report

    run_dirs = list((results / "federated").iterdir())
    assert len(run_dirs) == 1, run_dirs
    run = run_dirs[0]
    for name in ("config.yaml", "metrics.parquet", "summary.json"):
        assert (run / name).is_file(), f"{name} missing in {run}"
    assert list((run / "plots").glob("*.png")), "no plots"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok", summary

    metrics = pq.read_table(run / "metrics.parquet").to_pandas()
    clients = metrics[metrics["name"] == "client/loss"]
    assert len(clients) == 6 * 2 and clients["node"].notna().all()  # 6 clients x 2 smoke rounds
    alive = {n["node_id"] for n in cluster.nodes()}
    assert set(clients["node"]) == alive, (set(clients["node"]), alive)
    assert sorted(summary["nodes"]) == sorted(alive)


def test_jobs_commands_with_token(cluster, monkeypatch, capsys):
    from troupe.cli import main

    monkeypatch.setenv("RAY_AUTH_TOKEN", cluster.token)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert main(["jobs", "list", "--address", cluster.address]) == 0
    listed = capsys.readouterr().out
    job_id = listed.split()[0]
    assert "SUCCEEDED" in listed and "troupe run experiment=federated" in listed
    assert main(["jobs", "status", job_id, "--address", cluster.address]) == 0
    assert "SUCCEEDED" in capsys.readouterr().out
    assert main(["jobs", "logs", job_id, "--address", cluster.address]) == 0
    assert "results:" in capsys.readouterr().out


def test_wrong_or_missing_token_is_one_line(cluster, monkeypatch, tmp_path, capsys):
    from troupe.cli import main

    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    assert main(["jobs", "list", "--address", cluster.address]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rejected the Ray auth token from RAY_AUTH_TOKEN" in err, err

    token_file = tmp_path / "token"
    token_file.write_text(cluster.token + "\n")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token_file))
    assert main(["jobs", "list", "--address", cluster.address]) == 0
    capsys.readouterr()

    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token there
    assert main(["jobs", "list", "--address", cluster.address]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "requires a Ray auth token and none was found" in err, err
