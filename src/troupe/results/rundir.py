"""The run directory: a self-describing folder every run leaves behind.

``runs/<experiment>/<YYYYmmdd-HHMMSS>-<id>/`` holds ``config.yaml``, ``metrics.parquet``,
``summary.json``, ``plots/*.png`` and ``checkpoints/``. The root is a local path or a
pyarrow filesystem URI (``file:///shared/runs``, ``s3://bucket/runs``), so a job on a
cluster writes where its user can read. Every file is written to a temporary name and
renamed into place, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a filesystem URI."""
    if "://" in location:
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), str(Path(location).expanduser().resolve())


@dataclass
class RunDir:
    """A run directory on any pyarrow filesystem."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @classmethod
    def create(cls, root: str, experiment: str) -> RunDir:
        """Make ``<root>/<experiment>/<timestamp>-<id>/`` (with plots/ and checkpoints/)."""
        fs, base = resolve(root)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        path = f"{base}/{experiment}/{name}"
        for sub in ("", "/plots", "/checkpoints"):
            fs.create_dir(path + sub, recursive=True)
        uri = path if isinstance(fs, pafs.LocalFileSystem) and "://" not in root else f"{root.rstrip('/')}/{experiment}/{name}"
        return cls(fs, path, uri)

    @classmethod
    def open(cls, location: str) -> RunDir:
        """An existing run directory; raise FileNotFoundError if it has no config.yaml."""
        fs, path = resolve(location)
        if fs.get_file_info(f"{path}/config.yaml").type != pafs.FileType.File:
            raise FileNotFoundError(f"{location}: not a troupe run directory (no config.yaml)")
        return cls(fs, path.rstrip("/"), location)

    def __str__(self) -> str:
        return self.uri

    def join(self, relpath: str) -> str:
        return f"{self.path}/{relpath}"

    def exists(self, relpath: str) -> bool:
        return self.fs.get_file_info(self.join(relpath)).type == pafs.FileType.File

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write atomically: a temporary file renamed into place."""
        final = self.join(relpath)
        tmp = f"{final}.tmp-{secrets.token_hex(4)}"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.fs.move(tmp, final)

    def read_bytes(self, relpath: str) -> bytes:
        with self.fs.open_input_stream(self.join(relpath)) as src:
            return src.read()

    def write_text(self, relpath: str, text: str) -> None:
        self.write_bytes(relpath, text.encode())

    def read_text(self, relpath: str) -> str:
        return self.read_bytes(relpath).decode()

    def write_json(self, relpath: str, obj) -> None:
        self.write_text(relpath, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")

    def read_json(self, relpath: str):
        return json.loads(self.read_text(relpath))

    def write_table(self, relpath: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self.write_bytes(relpath, sink.getvalue())

    def read_table(self, relpath: str) -> pa.Table:
        return pq.read_table(self.join(relpath), filesystem=self.fs)

    def write_figure(self, name: str, fig) -> None:
        """Save a matplotlib figure as ``plots/<name>.png``."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        self.write_bytes(f"plots/{name}.png", buf.getvalue())

    def list(self, relpath: str) -> list[str]:
        selector = pafs.FileSelector(self.join(relpath), allow_not_found=True)
        return sorted(info.base_name for info in self.fs.get_file_info(selector))


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
