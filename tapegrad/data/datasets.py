"""Bundled and local datasets; nothing is ever downloaded.

Each loader returns ``(features, labels)``: float32 features scaled to [0, 1] (images) or as read
(CSV), and int64 labels.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np

from ..errors import TapegradError


class DatasetError(TapegradError, ValueError):
    """A dataset file that is missing, truncated or not in the expected format."""


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images as 64 features in [0, 1], labels 0-9.

    Raises:
        DatasetError: if scikit-learn is not installed (``pip install "tapegrad[data]"``).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DatasetError('load_digits needs scikit-learn: pip install "tapegrad[data]"') from None
    bunch = sklearn_digits()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (the MNIST format), raw or gzip-compressed.

    Raises:
        DatasetError: if the file is missing, has a bad magic number or is shorter than its header says.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(f"{path}: header says shape {shape} ({expected} bytes of data) but the file has "
                           f"{len(data) - header} bytes after the header")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise DatasetError(f"MNIST file {stem}[.gz] not found in {folder}")


def load_mnist(folder: str | Path, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST (or Fashion-MNIST) from the standard IDX files in ``folder``; never downloads.

    Reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (or ``t10k-...`` when
    ``train`` is False), raw or ``.gz``. Returns images flattened to 784 features in [0, 1].
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"MNIST folder not found: {folder}")
    prefix = "train" if train else "t10k"
    images = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"MNIST in {folder}: {images.shape} images do not match {labels.shape} labels")
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32), labels.astype(np.int64)


def load_csv(path: str | Path, target: str | int = -1) -> tuple[np.ndarray, np.ndarray]:
    """A CSV file with a header row: the ``target`` column (name or position) as integer class labels
    (text labels are numbered in sorted order), every other column as float32 features.

    Raises:
        DatasetError: for a missing file, an unknown target column, ragged rows or non-numeric features.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"CSV file not found: {path}")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise DatasetError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], [r for r in rows[1:] if r]
    if isinstance(target, str):
        if target not in header:
            raise DatasetError(f"{path}: no column named {target!r}; columns are {header}")
        column = header.index(target)
    else:
        column = target % len(header)
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}, line {number}: {len(row)} fields, the header has {len(header)}")
    raw_labels = [row[column] for row in body]
    try:
        features = np.array([[float(v) for i, v in enumerate(row) if i != column] for row in body], np.float32)
    except ValueError as exc:
        raise DatasetError(f"{path}: a feature is not a number ({exc})") from None
    try:
        labels = np.array([int(v) for v in raw_labels], np.int64)
    except ValueError:
        classes = sorted(set(raw_labels))
        labels = np.array([classes.index(v) for v in raw_labels], np.int64)
    return features, labels
