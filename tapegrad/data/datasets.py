"""Bundled and local datasets; nothing is ever downloaded.

Each loader returns ``(features, labels)``: float32 features scaled to [0, 1] (images) or as read
(CSV), and int64 labels.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

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


#: Cells read as a missing value, compared without surrounding blanks and ignoring case: pandas' defaults
#: (empty, NA, N/A, NaN, null, None, ...) and the question mark of the UCI repository's files.
MISSING = frozenset({"", "?", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "#n/a n/a", "#na", "<na>",
                     "1.#ind", "-1.#ind", "1.#qnan", "-1.#qnan"})
#: The delimiters ``read_csv`` tells apart when it is not given one.
DELIMITERS = ",;\t|"
_SNIFFED = 1 << 16  # characters of the file csv.Sniffer reads
_HEAD = 201  # rows read to tell a header from data


class MissingValuesError(DatasetError):
    """Missing values in a CSV file: ``cells`` lists each as ``(line, column name)``, in file order."""

    def __init__(self, path: Path, cells: list[tuple[int, str]], rows: int) -> None:
        self.path, self.cells, self.rows = path, cells, rows
        super().__init__(f"{path}: {describe_missing(cells, rows)}; read with drop_missing=True to leave those rows "
                         "out")


def describe_missing(cells: list[tuple[int, str]], rows: int, shown: int = 5) -> str:
    """``"3 missing values in 2 rows: line 4, column 'b'; ..."``, the first ``shown`` cells named."""
    listed = "; ".join(f"line {line}, column {name!r}" for line, name in cells[:shown])
    more = f"; and {len(cells) - shown} more" if len(cells) > shown else ""
    values, lines = ("value", "row") if len(cells) == 1 else ("values", "row" if rows == 1 else "rows")
    return f"{len(cells)} missing {values} in {rows} {lines}: {listed}{more}"


@dataclass(frozen=True)
class CSVTable:
    """What :func:`read_csv` read: the features and the target column's cells of every row kept."""

    features: np.ndarray  #: float32, (rows, feature columns)
    targets: list[str]  #: the target column's cells, without surrounding blanks
    columns: list[str]  #: the feature columns' names
    target: str  #: the target column's name
    delimiter: str  #: the delimiter used (given or detected)
    header: bool  #: whether the first row names the columns (else they are named by position: 0, 1, ...)
    lines: list[int] = field(default_factory=list)  #: the line of each row kept
    dropped: list[int] = field(default_factory=list)  #: the lines of the rows left out for missing values


def _delimiter(path: Path, text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:_SNIFFED], delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or nothing consistent: the standard comma
        return ","


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _has_header(rows: list[list[str]], sample: int = 200) -> bool:
    """Whether the first row names the columns: some cell of it is text (not a number, not missing) where the
    rows after it hold numbers (and at least one), as csv.Sniffer.has_header reasons. A file of one row has a
    header if any cell of it is text."""
    first, rest = rows[0], rows[1:sample + 1]

    def text(cell: str) -> bool:
        return cell.lower() not in MISSING and not _is_number(cell)

    if not rest:
        return any(text(cell) for cell in first)
    for position, cell in enumerate(first):
        below = [row[position] for row in rest if position < len(row) and row[position].lower() not in MISSING]
        if text(cell) and below and all(_is_number(v) for v in below):
            return True
    return False


def read_csv(path: str | Path, target: str | int = -1, delimiter: str | None = None,
             drop_missing: bool = False) -> CSVTable:
    """Read a CSV file of examples: one column is the target (class labels of any kind, kept as text), every
    other column a numeric feature.

    Args:
        path: a UTF-8 text file (a byte order mark is ignored).
        target: the target column's name, or its position (negative from the end; -1, the last, by default).
            A text that names no column but is an integer is a position.
        delimiter: one character; by default detected by ``csv.Sniffer`` among ``,`` ``;`` tab and ``|``
            (a comma if the file has one column or nothing consistent).
        drop_missing: leave out the rows with a missing value (an empty cell, NA, NaN, ?, ...: ``MISSING``)
            instead of raising.

    The first row names the columns if it holds text where the rows below hold numbers; otherwise (a first
    row of the same kinds as the rest, as in the UCI repository's files) it is data, and the columns are named
    by position: ``"0"``, ``"1"``, ...

    Returns:
        A :class:`CSVTable`.

    Raises:
        MissingValuesError: for missing values (unless ``drop_missing``), naming each by line and column.
        DatasetError: for a missing file, text that is not UTF-8, a bad delimiter, an unknown target column,
            no feature column, ragged rows, a feature that is not a number or not finite in float32, or no
            row left.
    """
    path = Path(path)
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n"):
        raise DatasetError(f"{path}: the delimiter must be one character other than a quote or a line break, got "
                           f"{delimiter!r}")
    if not path.is_file():
        raise DatasetError(f"CSV file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") \
            from None
    if delimiter is None:
        delimiter = _delimiter(path, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        head = [[cell.strip() for cell in row] for row in itertools.islice(reader, _HEAD) if row]
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    if not head:
        raise DatasetError(f"{path}: the file is empty")
    named = _has_header(head)
    header = head[0] if named else [str(i) for i in range(len(head[0]))]
    if named and len(head) == 1:
        raise DatasetError(f"{path}: needs a header row and at least one data row")
    if len(header) < 2:
        raise DatasetError(f"{path}: {len(header)} column; needs the target and at least one feature column (read "
                           f"with the delimiter {delimiter!r})")
    column = _target_column(path, header, target)
    table = _read_numbers(text, delimiter, named, header, column)
    if table is not None:
        return table
    # Something to report or to leave out: read again, cell by cell, to say where.
    rows, lines = [], []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if row:  # blank lines are skipped
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    body, lines = (rows[1:], lines[1:]) if named else (rows, lines)
    for line, row in zip(lines, body):
        if len(row) != len(header):
            raise DatasetError(f"{path}, line {line}: {len(row)} fields (delimiter {delimiter!r}), the "
                               f"{'header' if named else 'first row'} has {len(header)}")
    names = [name for i, name in enumerate(header) if i != column]
    missing = [(line, header[i]) for line, row in zip(lines, body) for i, cell in enumerate(row)
               if cell.lower() in MISSING]
    dropped: list[int] = []
    if missing:
        bad = sorted({line for line, _ in missing})
        if not drop_missing:
            raise MissingValuesError(path, missing, len(bad))
        keep = [i for i, line in enumerate(lines) if line not in set(bad)]
        body, lines, dropped = [body[i] for i in keep], [lines[i] for i in keep], bad
        if not body:
            raise DatasetError(f"{path}: every row has a missing value; none is left")
    targets = [row[column] for row in body]
    cells = [[cell for i, cell in enumerate(row) if i != column] for row in body]
    try:
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf, reported just below
            features = np.array(cells, dtype=str).astype(np.float64).astype(np.float32)
    except ValueError:
        for line, row in zip(lines, cells):
            for name, cell in zip(names, row):
                if not _is_number(cell):
                    raise DatasetError(f"{path}, line {line}, column {name!r}: the feature {cell!r} is not a "
                                       "number") from None
        raise
    bad_cells = np.argwhere(~np.isfinite(features))
    if len(bad_cells):
        row, position = (int(n) for n in bad_cells[0])
        raise DatasetError(f"{path}, line {lines[row]}, column {names[position]!r}: the feature "
                           f"{cells[row][position]!r} is not finite (infinite, or beyond float32's range)")
    return CSVTable(features.reshape(len(body), len(names)), targets, names, header[column], delimiter, named,
                    lines, dropped)


def _read_numbers(text: str, delimiter: str, named: bool, header: list[str], column: int) -> CSVTable | None:
    """The table, read at NumPy's speed (``np.loadtxt``), if nothing is missing or wrong in it; else None."""
    codes: dict[str, int] = {}

    def code(cell: str) -> float:
        cell = cell.strip()
        return math.nan if cell.lower() in MISSING else float(codes.setdefault(cell, len(codes)))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty body, reported by the careful reading
            values = np.loadtxt(io.StringIO(text, newline=""), dtype=np.float64, delimiter=delimiter, comments=None,
                                skiprows=int(named), quotechar='"', converters={column: code}, ndmin=2)
    except (ValueError, TypeError, IndexError):
        return None
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if line][int(named):]
    if values.shape != (len(lines), len(header)) or not len(lines) or np.isnan(values).any():
        return None
    with np.errstate(over="ignore"):
        features = np.delete(values, column, axis=1).astype(np.float32)
    if not np.isfinite(features).all():
        return None
    names = list(codes)
    targets = [names[int(c)] for c in values[:, column]]
    columns = [name for i, name in enumerate(header) if i != column]
    return CSVTable(np.ascontiguousarray(features), targets, columns, header[column], delimiter, named, lines, [])


def _target_column(path: Path, header: list[str], target: str | int) -> int:
    if isinstance(target, str):
        if target in header:
            return header.index(target)
        try:
            target = int(target)
        except ValueError:
            shown = header if len(header) <= 20 else [*header[:20], "..."]
            raise DatasetError(f"{path}: no column named {target!r}; columns are {shown}") from None
    if isinstance(target, bool) or not isinstance(target, int) or not -len(header) <= target < len(header):
        raise DatasetError(f"{path}: no column {target}; it has {len(header)} columns")
    return target % len(header)


class Labels(NamedTuple):
    """Class labels as indices (``labels``), the classes' names in index order, and their ``kind``:
    ``"integer"``, ``"number"`` (some not whole) or ``"text"``."""

    labels: np.ndarray
    classes: list[str]
    kind: str


def _number(cell: str) -> int | float | None:
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        value = float(cell)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def encode_labels(values: Sequence[str], classes: Sequence[str] | None = None) -> Labels:
    """Labels of any kind as class indices (scikit-learn's ``LabelEncoder``): ``-1``/``1``, ``1``/``2``/``3``,
    ``0.5``/``1.5`` or ``"setosa"``/``"virginica"``.

    Without ``classes``: if every label is a number, the classes are the distinct numbers in increasing order,
    named as Python writes them (whole numbers as integers: ``1.0`` and ``1`` are the class ``"1"``); otherwise
    the distinct texts in sorted order. With ``classes`` (names, as this returned them for other data): each
    label is looked up among them, as written or as its number's name.

    Raises:
        DatasetError: for an empty label, or (with ``classes``) a label that is not one of them.
    """
    values = [str(v).strip() for v in values]
    empty = next((i for i, v in enumerate(values) if not v), None)
    if empty is not None:
        raise DatasetError(f"label {empty} is empty")
    numbers = [_number(v) for v in values]
    numeric = all(n is not None for n in numbers)
    names = ([str(n) if isinstance(n, int) else repr(n) for n in numbers] if numeric else values)
    if classes is None:
        if numeric:
            distinct = sorted(set(numbers))
            classes = [str(n) if isinstance(n, int) else repr(n) for n in distinct]
            kind = "integer" if all(isinstance(n, int) for n in distinct) else "number"
        else:
            classes, kind = sorted(set(values)), "text"
        index = {name: i for i, name in enumerate(classes)}
        return Labels(np.array([index[name] for name in names], dtype=np.int64), list(classes), kind)
    index = {str(name): i for i, name in enumerate(classes)}
    labels = np.empty(len(values), dtype=np.int64)
    for i, (value, name) in enumerate(zip(values, names)):
        found = index.get(value, index.get(name))
        if found is None:
            shown = list(classes) if len(classes) <= 20 else [*classes[:20], "..."]
            raise DatasetError(f"the label {value!r} (example {i}) is not one of the classes {shown}")
        labels[i] = found
    kind = "text" if not numeric else "integer" if all(isinstance(n, int) for n in numbers) else "number"
    return Labels(labels, list(classes), kind)


def load_csv(path: str | Path, target: str | int = -1, delimiter: str | None = None,
             drop_missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A CSV file read by :func:`read_csv`: float32 features and int64 labels, the labels as they are when
    every one is an integer, else numbered by :func:`encode_labels` (text in sorted order, numbers in
    increasing order).

    Raises:
        DatasetError: as :func:`read_csv`, and for an integer label beyond int64.
    """
    table = read_csv(path, target, delimiter, drop_missing)
    try:
        numbers = [int(v) for v in table.targets]
    except ValueError:
        return table.features, encode_labels(table.targets).labels
    wide = next((v for v in numbers if not -2**63 <= v < 2**63), None)
    if wide is not None:
        raise DatasetError(f"{path}: the label {wide} does not fit in a 64-bit integer")
    return table.features, np.array(numbers, np.int64)
