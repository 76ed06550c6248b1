"""Design rules that can silently erode: pure algorithms, one ray.remote site."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import troupe
import troupe.algorithms

SRC = Path(troupe.__file__).parent


def test_algorithms_do_not_import_ray():
    modules = [m.name for m in pkgutil.walk_packages(troupe.algorithms.__path__, "troupe.algorithms.")]
    assert len(modules) > 5
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + \
        "print(sorted(n for n in sys.modules if n == 'ray' or n.startswith('ray.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"troupe.algorithms imports ray: {out}"


def test_algorithms_do_no_io_or_printing():
    for path in (SRC / "algorithms").rglob("*.py"):
        text = path.read_text()
        for banned in ("print(", "open(", "import logging", "import ray"):
            assert banned not in text, f"{path.relative_to(SRC)} uses {banned!r}"


def test_ray_remote_is_applied_in_one_place():
    sites = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if "ray.remote(" in p.read_text()]
    assert sites == ["actors/pool.py"]
