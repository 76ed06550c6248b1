"""Built-in datasets and user files; every bad file is one line naming it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from troupe.config import DataConfig
from troupe.data import DataError, load


@pytest.mark.parametrize("name, classes", [("digits", 10), ("breast_cancer", 2), ("wine", 3), ("iris", 3),
                                           ("blobs", 4), ("classification", 4)])
def test_builtin_datasets_split_reproducibly(name, classes):
    a = load(DataConfig(name=name), seed=3)
    b = load(DataConfig(name=name), seed=3)
    c = load(DataConfig(name=name), seed=4)
    assert a.classes == classes
    assert np.array_equal(a.y_train, b.y_train) and np.array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.dtype == np.float32 and len(a.y_test) > 0


def test_digits_are_images_scaled_to_unit_range():
    d = load(DataConfig(name="digits"), seed=0)
    assert d.in_shape == (1, 8, 8)
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0


def test_class_subset_is_remapped():
    d = load(DataConfig(name="digits", classes=[5, 6, 7]), seed=0)
    assert d.classes == 3 and set(d.y_train) == {0, 1, 2}


def test_npz_and_parquet_files(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)).astype(np.float32), rng.integers(0, 3, 60)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]).assign(label=y, client=np.arange(60) % 4)
    df.to_parquet(tmp_path / "d.parquet")
    a = load(DataConfig(name="file", path=str(tmp_path / "d.npz")), seed=0)
    b = load(DataConfig(name="file", path=str(tmp_path / "d.parquet")), seed=0)
    assert a.classes == b.classes == 3
    assert np.allclose(a.x_train, b.x_train)
    assert b.client_train is not None and len(b.client_train) == len(b.y_train)


def _write(tmp_path, kind):
    p = tmp_path / f"bad_{kind}.npz"
    x, y = np.ones((20, 3), np.float32), np.zeros(20, np.int64)
    if kind == "corrupt":
        p.write_bytes(b"PK\x03\x04 this is not a zip file")
    elif kind == "nan":
        x[4, 1] = np.nan
        np.savez(p, x=x, y=y)
    elif kind == "shape":
        np.savez(p, x=x, y=y[:10])
    elif kind == "missing_y":
        np.savez(p, x=x)
    elif kind == "float_labels":
        np.savez(p, x=x, y=y + 0.5)
    elif kind == "parquet_no_label":
        p = tmp_path / "bad.parquet"
        pd.DataFrame(x, columns=["a", "b", "c"]).to_parquet(p)
    elif kind == "parquet_corrupt":
        p = tmp_path / "bad.parquet"
        p.write_bytes(b"PAR1 garbage")
    return p


@pytest.mark.parametrize("kind, words", [
    ("corrupt", "cannot read"), ("nan", "NaN"), ("shape", "must have shape"), ("missing_y", "missing array"),
    ("float_labels", "integers"), ("parquet_no_label", "no 'label' column"), ("parquet_corrupt", "cannot read"),
])
def test_bad_files_are_one_line_naming_the_file(tmp_path, kind, words):
    path = _write(tmp_path, kind)
    with pytest.raises(DataError) as info:
        load(DataConfig(name="file", path=str(path)), seed=0)
    message = str(info.value)
    assert message.startswith(str(path)) and words in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load(DataConfig(name="file", path=str(tmp_path / "nope.npz")), seed=0)
