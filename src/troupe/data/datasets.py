"""Datasets: scikit-learn's bundled sets, seeded synthetic generators and user files.

Nothing is downloaded. A user file is a ``.npz`` with arrays ``x`` and ``y`` or a
Parquet file with feature columns, a ``label`` column and optionally a ``client``
column (natural federated partition). Bad files raise :class:`DataError`: one line
naming the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from troupe.config import DataConfig


class DataError(ValueError):
    """A data problem: one line naming the file (or dataset) and what is wrong."""


@dataclass
class Dataset:
    """Train/test arrays; ``x`` keeps its natural shape (digits: N x 1 x 8 x 8)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    client_train: np.ndarray | None = None  # natural client ids of training examples

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def subset(self, classes: list[int]) -> Dataset:
        """Only these labels, remapped to 0..k-1 in the order given."""
        return Dataset(self.name, *_keep(self.x_train, self.y_train, classes),
                       *_keep(self.x_test, self.y_test, classes), len(classes))


def _keep(x, y, classes):
    mask = np.isin(y, classes)
    remap = {c: i for i, c in enumerate(classes)}
    return x[mask], np.array([remap[v] for v in y[mask]], dtype=np.int64)


def _bundled(name: str):
    from sklearn import datasets as skd

    loader = {"digits": skd.load_digits, "breast_cancer": skd.load_breast_cancer,
              "wine": skd.load_wine, "iris": skd.load_iris}[name]
    bunch = loader()
    x = bunch.data.astype(np.float32)
    if name == "digits":
        x = (x / 16.0).reshape(-1, 1, 8, 8)
    return x, bunch.target.astype(np.int64), None


def _synthetic(cfg: DataConfig, seed: int, clients: int):
    from sklearn import datasets as skd

    if cfg.name == "blobs":
        x, y = skd.make_blobs(n_samples=cfg.n_samples, n_features=cfg.n_features, centers=cfg.n_classes,
                              cluster_std=3.0, random_state=seed)
        return x.astype(np.float32), y.astype(np.int64), None
    if cfg.name == "classification":
        x, y = skd.make_classification(n_samples=cfg.n_samples, n_features=cfg.n_features,
                                       n_informative=max(2, cfg.n_features // 2), n_classes=cfg.n_classes,
                                       random_state=seed)
        return x.astype(np.float32), y.astype(np.int64), None
    from troupe.data.synthetic_fedprox import synthetic_fedprox

    x, y, clients = synthetic_fedprox(alpha=cfg.synthetic_alpha, beta=cfg.synthetic_beta, clients=clients,
                                      seed=seed, dim=cfg.n_features, classes=cfg.n_classes)
    return x.astype(np.float32), y.astype(np.int64), clients.astype(np.int64)


def read_file(path: str):
    """Read ``x``, ``y`` (and ``client`` ids if present) from a .npz or Parquet file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{path}: file not found")
    client = None
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                missing = {"x", "y"} - set(z.files)
                if missing:
                    raise DataError(f"{path}: missing array(s) {', '.join(sorted(missing))} (need x and y)")
                x, y = z["x"], z["y"]
                client = z["client"] if "client" in z.files else None
        elif p.suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(p)
            if "label" not in table.column_names:
                raise DataError(f"{path}: no 'label' column")
            df = table.to_pandas()
            y = df.pop("label").to_numpy()
            if "client" in df:
                client = df.pop("client").to_numpy()
            if df.shape[1] == 0:
                raise DataError(f"{path}: no feature columns besides 'label'")
            non_numeric = [c for c in df.columns if not np.issubdtype(df[c].dtype, np.number)]
            if non_numeric:
                raise DataError(f"{path}: non-numeric feature column(s) {', '.join(map(str, non_numeric))}")
            x = df.to_numpy()
        else:
            raise DataError(f"{path}: unsupported file type {p.suffix!r} (use .npz or .parquet)")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means a corrupt file
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'corrupt'})") from None
    return _check(path, x, y, client)


def _check(path: str, x, y, client):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2:
        raise DataError(f"{path}: x must have shape (examples, features...), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: y must have shape ({len(x)},) to match x, got {y.shape}")
    if len(x) < 4:
        raise DataError(f"{path}: only {len(x)} examples")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: x is not numeric ({x.dtype})")
    if not np.all(np.isfinite(x)):
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
        raise DataError(f"{path}: x contains NaN or infinite values in {bad} example(s)")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{path}: labels y must be integers")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: labels y must be integers, got {y.dtype}")
    if y.min() < 0:
        raise DataError(f"{path}: labels must be >= 0, found {int(y.min())}")
    if client is not None and len(client) != len(x):
        raise DataError(f"{path}: client ids have {len(client)} entries for {len(x)} examples")
    return x.astype(np.float32), y.astype(np.int64), None if client is None else np.asarray(client).astype(np.int64)


def load(cfg: DataConfig, *, seed: int, clients: int | None = None) -> Dataset:
    """Load, split (seeded, stratified where possible) and scale a dataset."""
    from sklearn.model_selection import train_test_split

    if cfg.path or cfg.name == "file":
        if not cfg.path:
            raise DataError("data.path: set it to a .npz or .parquet file for data=file")
        x, y, client = read_file(cfg.path)
    elif cfg.name in ("digits", "breast_cancer", "wine", "iris"):
        x, y, client = _bundled(cfg.name)
    else:
        x, y, client = _synthetic(cfg, seed, clients or 100)
    name = cfg.path or cfg.name
    classes = int(y.max()) + 1
    idx = np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    try:
        tr, te = train_test_split(idx, test_size=cfg.test_fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"{name}: cannot split into train/test ({exc})") from None
    tr, te = np.sort(tr), np.sort(te)
    x_train, x_test = x[tr], x[te]
    if cfg.scale and cfg.name != "digits":
        mean = x_train.mean(axis=0, keepdims=True)
        std = x_train.std(axis=0, keepdims=True)
        std[std == 0] = 1.0
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    data = Dataset(str(name), x_train.astype(np.float32), y[tr], x_test.astype(np.float32), y[te], classes,
                   None if client is None else client[tr])
    if cfg.classes:
        data = data.subset(list(cfg.classes))
    return data
