"""Bundled and local datasets; nothing is ever downloaded.

Each loader returns ``(features, labels)``: float32 features scaled to [0, 1] (images) or as read
(CSV), and int64 labels.
"""

from __future__ import annotations

import csv
import gzip
import math
import zlib
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

    The dimensions in the header are checked against the file's size (or, compressed, against what
    decompresses) before the data is read, so a damaged header cannot ask for more memory than the data.

    Raises:
        DatasetError: if the file is missing, has a bad magic number, or its size does not match its header.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"IDX file not found: {path}")
    compressed = path.suffix == ".gz"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise DatasetError(f"{path} is not an IDX file (bad magic number)")
            dtype, ndim = np.dtype(_IDX_TYPES[magic[2]]), magic[3]
            dims = handle.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DatasetError(f"{path}: truncated header ({ndim} dimensions announced)")
            shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
            expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
            available = None if compressed else path.stat().st_size - 4 - 4 * ndim
            if available is not None and available != expected:
                raise DatasetError(f"{path}: header says shape {shape} ({expected} bytes of data) but the file has "
                                   f"{available} bytes after the header")
            chunks, read = [], 0
            while read <= expected:  # in pieces, up to one byte more than announced, to see any excess
                chunk = handle.read(min(1 << 24, expected + 1 - read))
                if not chunk:
                    break
                chunks.append(chunk)
                read += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if read != expected:
        more = f"more than {expected} bytes" if read > expected else f"{read} bytes"
        raise DatasetError(f"{path}: header says shape {shape} ({expected} bytes of data) but the file has {more} "
                           "after the header")
    return np.frombuffer(b"".join(chunks), dtype=dtype).reshape(shape)


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
        DatasetError: for a missing file, text that is not UTF-8, an unknown target column, no feature
            column, ragged rows, non-numeric or non-finite features, or an integer label beyond int64.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"CSV file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") \
            from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    if len(rows) < 2:
        raise DatasetError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], [r for r in rows[1:] if r]
    if len(header) < 2:
        raise DatasetError(f"{path}: {len(header)} column; needs the target and at least one feature column")
    if isinstance(target, str):
        if target not in header:
            raise DatasetError(f"{path}: no column named {target!r}; columns are {header}")
        column = header.index(target)
    else:
        if not -len(header) <= target < len(header):
            raise DatasetError(f"{path}: no column {target}; it has {len(header)} columns")
        column = target % len(header)
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}, line {number}: {len(row)} fields, the header has {len(header)}")
    raw_labels = [row[column] for row in body]
    try:
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf, reported just below
            features = np.array([[float(v) for i, v in enumerate(row) if i != column] for row in body], np.float32)
    except ValueError as exc:
        raise DatasetError(f"{path}: a feature is not a number ({exc})") from None
    bad = np.argwhere(~np.isfinite(features))
    if len(bad):
        row, position = (int(n) for n in bad[0])
        where = [i for i in range(len(header)) if i != column][position]
        raise DatasetError(f"{path}, line {row + 2}, column {header[where]!r}: the feature {body[row][where]!r} is "
                           "not finite (NaN, infinite, or beyond float32's range)")
    try:
        numbers = [int(v) for v in raw_labels]
    except ValueError:
        number = {name: i for i, name in enumerate(sorted(set(raw_labels)))}
        return features, np.array([number[v] for v in raw_labels], np.int64)
    wide = next((v for v in numbers if not -2**63 <= v < 2**63), None)
    if wide is not None:
        raise DatasetError(f"{path}: the label {wide} does not fit in a 64-bit integer")
    return features, np.array(numbers, np.int64)
