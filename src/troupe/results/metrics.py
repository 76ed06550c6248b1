"""Long-format metrics: one row per (step, name) with optional key columns.

Columns: ``run_id`` (str), ``step`` (int64), ``name`` (str), ``value`` (float64) and,
where they apply, the nullable int64 keys ``member``, ``round``, ``client``, ``trial``
(plus ``node`` as a string). Names are namespaced (``train/loss``, ``fl/clients_per_s``).
"""

from __future__ import annotations

import math

import pyarrow as pa

KEYS = ("member", "round", "client", "trial")
SCHEMA = pa.schema(
    [("run_id", pa.string()), ("step", pa.int64()), ("name", pa.string()), ("value", pa.float64())]
    + [(k, pa.int64()) for k in KEYS]
    + [("node", pa.string())]
)


class MetricsLog:
    """Collects metric rows in memory; :meth:`table` turns them into the Parquet schema."""

    def __init__(self, run_id: str = ""):
        self.run_id = run_id
        self.rows: list[dict] = []
        self.latest: dict[str, float] = {}

    def add(self, name: str, value: float, step: int = 0, **keys) -> None:
        """Record one value; ``keys`` are any of member/round/client/trial/node."""
        unknown = set(keys) - set(KEYS) - {"node"}
        if unknown:
            raise KeyError(f"unknown metric key column(s): {sorted(unknown)}")
        value = float(value)
        self.rows.append({"step": int(step), "name": name, "value": value, **keys})
        if keys.keys() <= {"round", "trial"}:
            self.latest[name] = value

    def extend(self, rows: list[dict]) -> None:
        for row in rows:
            row = dict(row)
            self.add(row.pop("name"), row.pop("value"), row.pop("step", 0), **row)

    def __len__(self) -> int:
        return len(self.rows)

    def table(self) -> pa.Table:
        cols = {f.name: [] for f in SCHEMA}
        for row in self.rows:
            cols["run_id"].append(self.run_id)
            for f in SCHEMA:
                if f.name != "run_id":
                    cols[f.name].append(row.get(f.name))
        return pa.table(cols, schema=SCHEMA)

    def dataframe(self):
        return self.table().to_pandas()


def finite(value: float) -> float | None:
    """A JSON-safe float (NaN/inf become None)."""
    value = float(value)
    return value if math.isfinite(value) else None
