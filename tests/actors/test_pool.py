"""The worker pool on a real local Ray: order, failures, replacement of dead workers."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from troupe.actors import Call, CallError, WorkerPool


class Squarer:
    """A plain worker class for the tests."""

    def __init__(self, offset=0):
        self.offset = offset

    def square(self, x, delay=0.0):
        time.sleep(delay)
        return x * x + self.offset

    def fail(self, x):
        raise ValueError(f"bad input {x}")

    def pid(self):
        return os.getpid()


def test_results_come_back_in_submission_order(ray_session):
    pool = WorkerPool(Squarer, 1, size=2, num_cpus=1)
    try:
        # Uneven delays: completion order differs from submission order.
        calls = [Call("square", (i, 0.05 * (i % 3 == 0))) for i in range(12)]
        assert pool.map(calls) == [i * i + 1 for i in range(12)]
        assert len({info["pid"] for info in pool.info()}) == 2
    finally:
        pool.shutdown()


def test_shared_object_is_passed_to_every_worker(ray_session):
    pool = WorkerPool(Squarer, size=2, num_cpus=1, shared=10)
    try:
        assert pool.map([Call("square", (3,))] * 4) == [19] * 4
    finally:
        pool.shutdown()


def test_inline_pool_runs_in_this_process():
    pool = WorkerPool(Squarer, 2, size=0)
    assert pool.map([Call("square", (i,)) for i in range(3)]) == [2, 3, 6]
    assert pool.map([Call("pid")]) == [os.getpid()]


@pytest.mark.parametrize("size", [0, 2])
def test_a_call_that_raises_names_the_call(size, ray_session):
    pool = WorkerPool(Squarer, size=size, num_cpus=1)
    try:
        with pytest.raises(CallError) as info:
            pool.map([Call("square", (1,)), Call("fail", (7,), label="client 7, round 3")])
        assert "client 7, round 3" in str(info.value)
        assert "bad input 7" in str(info.value)
    finally:
        pool.shutdown()


def test_a_killed_worker_is_replaced_and_its_calls_rerun(ray_session):
    events = []
    pool = WorkerPool(Squarer, size=2, num_cpus=1, on_event=events.append)
    try:
        victim = pool.info()[0]["pid"]
        calls = [Call("square", (i, 0.3), label=f"item {i}") for i in range(8)]
        killer = threading.Timer(0.4, os.kill, (victim, signal.SIGKILL))
        killer.start()
        results = pool.map(calls)
        killer.join()
        assert results == [i * i for i in range(8)]
        assert len(events) == 1 and events == pool.events
        assert events[0]["event"] == "worker_replaced"
        assert all(label.startswith("item ") for label in events[0]["calls"])
        assert victim not in {info["pid"] for info in pool.info()}
    finally:
        pool.shutdown()
