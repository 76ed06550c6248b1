"""The worker pool: long-lived workers, one per resource slot; the one ``ray.remote`` site.

A pool hosts instances of a plain Python class (``actors/ensemble.py``,
``actors/federated.py``, ...) inside Ray actors and runs batches of method calls on
them, returning results in submission order. Each worker keeps at most ``depth`` calls
in flight, so faster workers take more calls. A worker process that dies is replaced
by a fresh one (same constructor arguments) and the calls it held are re-run there;
every such event is recorded in :attr:`WorkerPool.events` with the calls' labels. A
call that raises ends the batch with :class:`CallError` naming the call. After each
batch :attr:`WorkerPool.last_nodes` says which Ray node ran each call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError


class CallError(RuntimeError):
    """A pooled call raised; ``label`` says which (for example ``client 17, round 3``)."""

    def __init__(self, label: str, cause: BaseException):
        self.label, self.cause = label, cause
        first = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
        super().__init__(f"{label} failed: {first}")


@dataclass
class Call:
    """One method call: ``method(*args, **kwargs)`` with a label for logs and errors."""

    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""


class _Host:
    """What runs inside each Ray actor: builds the plain worker object and dispatches to it."""

    def __init__(self, cls: type, threads: int, args: tuple, kwargs: dict):
        import torch

        torch.set_num_threads(max(1, threads))
        args = tuple(ray.get(a) if isinstance(a, ray.ObjectRef) else a for a in args)
        self.obj = cls(*args, **kwargs)

    def call(self, method: str, *args, **kwargs):
        return getattr(self.obj, method)(*args, **kwargs)

    def info(self) -> dict:
        ctx = ray.get_runtime_context()
        return {"pid": os.getpid(), "node": ctx.get_node_id(), "gpus": ray.get_gpu_ids()}


_DEAD = (ActorDiedError, ActorUnavailableError, RayActorError)


def _raise_if_startup_failed(exc: BaseException) -> None:
    """A worker whose constructor raised is a bug or bad input, not a crash: don't retry it."""
    text = str(exc)
    if "creation task" in text:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= {"^"}]
        raise CallError("starting a worker", RuntimeError(lines[-1] if lines else text)) from None


class WorkerPool:
    """Long-lived workers hosting ``cls(*args, **kwargs)``.

    Args:
        cls: a plain class; its methods are what :meth:`map` calls.
        size: number of workers.
        num_cpus, num_gpus: resources each worker holds (a GPU fraction is fine).
        depth: calls in flight per worker (2 overlaps transfer with compute).
        on_event: called with each failure event (a dict), for logging.
    """

    def __init__(self, cls: type, *args, size: int, num_cpus: float = 1.0, num_gpus: float = 0.0,
                 depth: int = 2, on_event: Callable[[dict], None] | None = None, shared: Any = None,
                 max_replacements: int = 8, **kwargs):
        self.depth = depth
        self.on_event = on_event
        self.events: list[dict] = []
        self.max_replacements = max_replacements
        self.last_nodes: list[str] = []
        self._local = None
        if size == 0:
            # Inline: the worker object lives in this process (inside a Tune trial, a test, a notebook).
            self._local = cls(*((shared,) if shared is not None else ()), *args, **kwargs)
            self.workers = []
            return
        self._remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0)(_Host)
        if shared is not None:
            # Put once per job; every worker (and any replacement) maps the same object zero-copy.
            args = (ray.put(shared), *args)
        self._spec = (cls, max(1, int(num_cpus)), args, kwargs)
        self._infos: list[ray.ObjectRef] = []  # per slot: the worker's info(), asked once at start
        self.workers = [self._start() for _ in range(size)]

    def _start(self, slot: int | None = None):
        worker = self._remote.remote(*self._spec)
        if slot is None:
            self._infos.append(worker.info.remote())
        else:
            self._infos[slot] = worker.info.remote()
        return worker

    @property
    def size(self) -> int:
        """Number of workers (1 for an inline pool)."""
        return 1 if self._local is not None else len(self.workers)

    def info(self) -> list[dict]:
        """pid, node id and GPU ids of every worker (waits until all have started)."""
        if self._local is not None:
            return [{"pid": os.getpid(), "node": "inline", "gpus": []}]
        try:
            return ray.get(self._infos)
        except _DEAD as exc:
            _raise_if_startup_failed(exc)
            raise

    def put(self, obj: Any) -> Any:
        """Put ``obj`` in the object store once; pass the ref to many calls (inline: ``obj`` itself).

        A ref passed as a top-level call argument reaches the worker as the object.
        """
        return obj if self._local is not None else ray.put(obj)

    def map(self, calls: Sequence[Call]) -> list[Any]:
        """Run calls over the pool; results come back in the order of ``calls``."""
        if self._local is not None:
            self.last_nodes = ["inline"] * len(calls)
            return [self._run_inline(c, i) for i, c in enumerate(calls)]
        results: list[Any] = [None] * len(calls)
        ran_on: list[ray.ObjectRef | None] = [None] * len(calls)  # info of the worker that answered
        pending = list(range(len(calls)))[::-1]
        inflight: dict[ray.ObjectRef, tuple[int, int]] = {}
        load = [0] * self.size

        def submit(slot: int, index: int) -> None:
            c = calls[index]
            inflight[self.workers[slot].call.remote(c.method, *c.args, **c.kwargs)] = (slot, index)
            load[slot] += 1

        def fill() -> None:
            for _ in range(self.depth):
                for slot in range(self.size):
                    if pending and load[slot] < self.depth:
                        submit(slot, pending.pop())

        fill()
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            slot, index = inflight.pop(ready[0])
            load[slot] -= 1
            try:
                results[index] = ray.get(ready[0])
                ran_on[index] = self._infos[slot]
            except RayTaskError as exc:
                if isinstance(exc.cause, _DEAD) or isinstance(exc, _DEAD):
                    self._replace(slot, index, inflight, calls, load, exc)
                    continue
                self._cancel(inflight)
                raise CallError(calls[index].label or f"call {index}", exc.cause or exc) from None
            except _DEAD as exc:
                self._replace(slot, index, inflight, calls, load, exc)
                continue
            fill()
        self.last_nodes = [info["node"] for info in ray.get(ran_on)]
        return results

    def _run_inline(self, c: Call, index: int):
        try:
            return getattr(self._local, c.method)(*c.args, **c.kwargs)
        except Exception as exc:
            raise CallError(c.label or f"call {index}", exc) from exc

    def _replace(self, slot, index, inflight, calls, load, exc) -> None:
        """Replace a dead worker and re-run every call it held on the replacement."""
        _raise_if_startup_failed(exc)
        if len(self.events) >= self.max_replacements:
            self._cancel(inflight)
            raise RuntimeError(f"workers died {len(self.events) + 1} times; giving up "
                               f"(last while running {calls[index].label or index})") from exc
        lost = [index] + [i for ref, (s, i) in list(inflight.items()) if s == slot]
        for ref, (s, _) in list(inflight.items()):
            if s == slot:
                del inflight[ref]
        load[slot] = 0
        try:
            ray.kill(self.workers[slot], no_restart=True)
        except Exception:  # noqa: BLE001 - already dead is fine
            pass
        self.workers[slot] = self._start(slot)
        event = {"event": "worker_replaced", "worker": slot, "calls": [calls[i].label or str(i) for i in lost],
                 "error": type(exc).__name__}
        self.events.append(event)
        if self.on_event:
            self.on_event(event)
        for i in lost:
            c = calls[i]
            inflight[self.workers[slot].call.remote(c.method, *c.args, **c.kwargs)] = (slot, i)
            load[slot] += 1

    @staticmethod
    def _cancel(inflight) -> None:
        for ref in inflight:
            ray.cancel(ref, force=False)
        inflight.clear()

    def shutdown(self) -> None:
        for w in self.workers:
            ray.kill(w)
        self.workers = []


def start_pool(cls: type, cluster_cfg, *args, shared: Any = None, **kwargs) -> WorkerPool:
    """A pool sized to the cluster's slots (``cluster.num_workers`` or one per ``worker_cpus``)."""
    from troupe.cluster import pool_size

    return WorkerPool(cls, *args, size=pool_size(cluster_cfg), num_cpus=cluster_cfg.worker_cpus,
                      num_gpus=cluster_cfg.worker_gpus, shared=shared, **kwargs)


def prefetch(fn: Callable, *args, **kwargs) -> ray.ObjectRef:
    """Start ``fn(*args, **kwargs)`` as a Ray task that holds no CPU slot; a ref to its result.

    For work that can run while workers start (a sweep loads its dataset while the first
    trial processes import torch) and whose result several processes then read.
    """
    return ray.remote(num_cpus=0)(fn).remote(*args, **kwargs)


def share(obj: Any) -> ray.ObjectRef:
    """``obj`` in Ray's object store, for several processes to read (zero-copy for arrays)."""
    return ray.put(obj)
