"""Checkpoints that lose nothing and run nothing: ``tg.save(obj, path)`` and ``tg.load(path)``.

``obj`` is a nested structure of dicts, lists and tuples holding Tensors, NumPy arrays and plain
values (numbers, strings, booleans, None): a model's and an optimizer's state, the epoch, the random
generators' states, metrics. Arrays go into a safetensors file, each under its path in the structure
(``model/layers.0.weight``); the structure itself, with the plain values, is JSON in the file's
metadata. The format is read and written here with NumPy alone; the files are plain safetensors
files that the ``safetensors`` library (and so PyTorch, JAX, ...) reads.

Loading parses JSON and raw array bytes only: no pickle, no code is ever run. Every size in the
header is checked against the file's size before anything else is read, so a damaged or hostile file
costs at most its own size in memory, and every problem is one :class:`CheckpointError` whose message
is a few hundred characters at most (strings from the file are shortened).

Since the checksums were added, the metadata also holds a CRC-32 of each array's bytes (with its dtype
and shape) and of the structure; :func:`load` verifies them, so a changed byte in an array, a dtype, a
shape or a plain value raises ``CheckpointError`` naming what changed (CRC-32 catches every change
within 4 consecutive bytes, others but for a chance of 2**-32; it guards against damage, not tampering).
Files written before have no checksums and still load (without that verification).

Writing is atomic: the file is written beside its destination under a temporary name, flushed to
disk, then renamed over it, so a crash leaves either the old checkpoint or the new one, never half.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import TapegradError
from .tensor import Tensor

FORMAT = "tapegrad-checkpoint-1"
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
MAX_DEPTH = 100  # nesting of dicts, lists and tuples in a checkpoint
MAX_NDIM = 64
_SHOWN = 80  # characters of a string from the file (or a path) echoed in an error message

# safetensors dtype names and the little-endian NumPy dtypes they hold
DTYPES = {"BOOL": np.dtype("?"), "U8": np.dtype("u1"), "I8": np.dtype("i1"), "U16": np.dtype("<u2"),
          "I16": np.dtype("<i2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "U64": np.dtype("<u8"),
          "I64": np.dtype("<i8"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_NAMES = {(dtype.kind, dtype.itemsize): name for name, dtype in DTYPES.items()}
_METADATA_KEYS = {"format", "structure", "checksums"}


class CheckpointError(TapegradError, ValueError):
    """A checkpoint that cannot be written (unsupported value) or read (missing, truncated, corrupt)."""


def _shown(value: Any) -> str:
    """``repr(value)``, shortened so that a hostile file cannot make an error message long."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def _shown_path(path: Path) -> str:
    text = str(path)
    return text if len(text) <= _SHOWN else f"...{text[-_SHOWN:]}"


# -- the structure -------------------------------------------------------------------------------

def _encode(value: Any, path: str, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"save: the object is nested more than {MAX_DEPTH} levels deep at "
                              f"{_shown(path[:200])} (does it contain itself?)")
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if (array.dtype.kind, array.dtype.itemsize) not in _NAMES or array.dtype.kind not in "biuf":
            raise CheckpointError(f"save: {path or 'the object'} is an array of dtype {array.dtype}; only "
                                  "bool, (u)int8-64 and float16/32/64 arrays can be saved")
        key = path or "value"
        while key in arrays or key == "__metadata__":
            key += "_"
        # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
        arrays[key] = array if array.flags.c_contiguous else array.copy(order="C")
        if isinstance(value, Tensor):
            return {"__tensor__": key, "requires_grad": bool(value.requires_grad)}
        return {"__array__": key, "scalar": isinstance(value, np.generic)}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CheckpointError(f"save: dict keys must be strings or ints, got {_shown(key)} at "
                                      f"{path or 'top'}")
        return {"__dict__": [[k, _encode(v, f"{path}/{k}" if path else str(k), arrays, depth + 1)]
                             for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{path}/{i}" if path else str(i), arrays, depth + 1) for i, v in enumerate(value)]
        return {"__tuple__" if isinstance(value, tuple) else "__list__": items}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"save: cannot save a {type(value).__name__} at {path or 'the top level'}; "
                          "checkpoints hold dicts, lists, tuples, arrays, tensors, numbers, strings and None")


class _Decoder:
    """Turns the JSON structure back into Python values, checking every node (the file may be hostile)."""

    def __init__(self, arrays: dict[str, np.ndarray], name: str) -> None:
        self.arrays, self.name, self.used = arrays, name, set()

    def fail(self, where: str, problem: str) -> CheckpointError:
        place = f"at {_shown(where)}" if where else "at the top"
        return CheckpointError(f"load: {self.name} is corrupt: {place} of its structure, {problem}")

    def items(self, value: dict, marker: str, where: str) -> list:
        if set(value) != {marker} or not isinstance(value[marker], list):
            raise self.fail(where, f"{marker} needs a list and no other key, got {_shown(value)}")
        return value[marker]

    def array(self, key: Any, where: str) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise self.fail(where, f"the array {_shown(key)} is not in the file")
        if key in self.used:
            raise self.fail(where, f"the array {_shown(key)} is used twice")
        self.used.add(key)
        return self.arrays[key]

    def flag(self, value: dict, key: str, where: str) -> bool:
        if not isinstance(value.get(key), bool):
            raise self.fail(where, f"{key} must be true or false, got {_shown(value.get(key))}")
        return value[key]

    def __call__(self, value: Any, where: str = "", depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(where, f"it is nested more than {MAX_DEPTH} levels deep")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if not isinstance(value, dict):
            raise self.fail(where, f"a bare JSON {type(value).__name__}; expected a value or a marked object")
        if "__dict__" in value:
            result = {}
            for pair in self.items(value, "__dict__", where):
                if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], (str, int))
                        or isinstance(pair[0], bool)):
                    raise self.fail(where, f"a dict entry must be a [key, value] pair with a string or int key, "
                                           f"got {_shown(pair)}")
                inner = f"{where}/{pair[0]}" if where else str(pair[0])
                result[pair[0]] = self(pair[1], inner, depth + 1)
            return result
        for marker, kind in (("__list__", list), ("__tuple__", tuple)):
            if marker in value:
                return kind(self(v, f"{where}/{i}" if where else str(i), depth + 1)
                            for i, v in enumerate(self.items(value, marker, where)))
        if "__tensor__" in value and set(value) == {"__tensor__", "requires_grad"}:
            array = self.array(value["__tensor__"], where)
            requires_grad = self.flag(value, "requires_grad", where)
            if requires_grad and array.dtype.kind != "f":
                raise self.fail(where, f"a tensor of dtype {array.dtype} cannot require grad")
            return Tensor(array, requires_grad=requires_grad)
        if "__array__" in value and set(value) == {"__array__", "scalar"}:
            array = self.array(value["__array__"], where)
            if self.flag(value, "scalar", where):
                if array.size != 1:  # files written before 0-d arrays were kept 0-d store scalars as (1,)
                    raise self.fail(where, f"a scalar must be an array of one element, got shape {array.shape}")
                return array.reshape(())[()]
            return array
        raise self.fail(where, f"an object with keys {_shown(sorted(map(str, value))[:8])}; expected one "
                               "marked __dict__, __list__, __tuple__, __tensor__ or __array__")


# -- writing -------------------------------------------------------------------------------------

def _checksum(dtype_name: str, shape: tuple[int, ...], data: Any) -> str:
    """CRC-32 of an array's dtype, shape and bytes, as 8 hex digits."""
    described = zlib.crc32(f"{dtype_name}{list(shape)}".encode())
    return f"{zlib.crc32(data, described):08x}"


def _bytes_of(array: np.ndarray) -> np.ndarray:
    little = array.astype(array.dtype.newbyteorder("<"), copy=False) if array.dtype.itemsize > 1 else array
    return little.reshape(-1).view(np.uint8)  # reshape copies only what is not contiguous


def _payload(arrays: dict[str, np.ndarray], structure: str) -> tuple[bytes, list[np.ndarray]]:
    """The safetensors header (size field included) and the arrays' bytes in file order."""
    # the widest elements first, so that every array starts at a multiple of its element size
    order = sorted(arrays, key=lambda key: (-arrays[key].dtype.itemsize, key))
    header: dict[str, Any] = {}
    checksums: dict[str, str] = {}
    blobs, offset = [], 0
    for key in order:
        array = arrays[key]
        name = _NAMES[array.dtype.kind, array.dtype.itemsize]
        blob = _bytes_of(array)
        header[key] = {"dtype": name, "shape": list(array.shape), "data_offsets": [offset, offset + blob.size]}
        checksums[key] = _checksum(name, array.shape, blob)
        blobs.append(blob)
        offset += blob.size
    header["__metadata__"] = {
        "format": FORMAT, "structure": structure,
        "checksums": json.dumps({"structure": f"{zlib.crc32(structure.encode()):08x}", "arrays": checksums})}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, blobs


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` atomically (see the module docstring).

    Raises:
        CheckpointError: for a value that cannot be saved (named by its path in ``obj``), or a
            destination that cannot be written.
    """
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps(_encode(obj, "", arrays))
    header, blobs = _payload(arrays, structure)
    destination = Path(path)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    except OSError as exc:
        raise CheckpointError(f"save: cannot write {_shown_path(destination)}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(header)
            for blob in blobs:
                file.write(blob)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, destination)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CheckpointError(f"save: cannot write {_shown_path(destination)}: {exc.strerror}") from None
        raise
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# -- reading -------------------------------------------------------------------------------------

def _open(path: Path, name: str) -> BinaryIO:
    """The checkpoint file, opened for reading; symlinks are followed, anything but a regular file refused."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        dangling = " (a symlink to a missing file)" if path.is_symlink() else ""
        raise CheckpointError(f"load: no checkpoint at {name}{dangling}") from None
    except IsADirectoryError:
        raise CheckpointError(f"load: {name} is a directory, not a checkpoint file") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _shown(str(exc))
        raise CheckpointError(f"load: cannot open {name}: {reason}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
        raise CheckpointError(f"load: {name} is {kind}, not a checkpoint file")
    return os.fdopen(descriptor, "rb", buffering=0)


def _read(file: BinaryIO, size: int, name: str) -> np.ndarray:
    buffer = np.empty(size, np.uint8)
    view, done = memoryview(buffer), 0
    while done < size:
        count = file.readinto(view[done:])
        if not count:
            raise CheckpointError(f"load: {name} is truncated: it ended while being read")
        done += count
    return buffer


def _json(text: str, what: str, name: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"load: {name} is corrupt: its {what} is JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and too many digits in a number
        detail = f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else _shown(str(exc))
        raise CheckpointError(f"load: {name} is corrupt: its {what} is not valid JSON ({detail})") from None


def _header(file: BinaryIO, size: int, name: str) -> tuple[dict[str, Any], dict[str, str], int]:
    """The tensors' entries, the metadata and where the data begins; sizes checked against the file's."""
    if size == 0:
        raise CheckpointError(f"load: {name} is empty (0 bytes): truncated, or not a checkpoint")
    start = bytes(_read(file, min(size, 8), name))
    if start[:1] == b"\x80" and 2 <= start[1:2][0] <= 5:
        raise CheckpointError(f"load: {name} is a Python pickle, not a checkpoint; tapegrad never unpickles "
                              "(that could run any code)")
    if start[:4] == b"PK\x03\x04":
        raise CheckpointError(f"load: {name} is a zip archive (a torch.save file?), not a tapegrad checkpoint")
    if size < 8:
        raise CheckpointError(f"load: {name} is truncated: {size} bytes, fewer than the 8 of the header size")
    header_size = int.from_bytes(start, "little")
    if header_size > size - 8:
        raise CheckpointError(f"load: {name} is truncated or not a checkpoint: its header size field says "
                              f"{header_size} bytes, the file has {size - 8} after that field")
    if header_size > MAX_HEADER_BYTES:
        raise CheckpointError(f"load: {name}: its header of {header_size} bytes is larger than the limit of "
                              f"{MAX_HEADER_BYTES}")
    try:
        text = bytes(_read(file, header_size, name)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"load: {name} is corrupt: its header is not UTF-8 text (byte {exc.start})") from None
    if not text.startswith("{"):
        raise CheckpointError(f"load: {name} is not a checkpoint: its header does not start with '{{'")
    header = _json(text, "header", name)
    if not isinstance(header, dict):
        raise CheckpointError(f"load: {name} is corrupt: its header is a JSON {type(header).__name__}, "
                              "expected an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"load: {name} is corrupt: its __metadata__ is {_shown(metadata)}; expected an "
                              "object of strings")
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"load: {name} is a safetensors file but not a tapegrad checkpoint (its format is "
                              f"{_shown(metadata.get('format'))}, expected {FORMAT!r})")
    if set(metadata) - _METADATA_KEYS or "structure" not in metadata:
        raise CheckpointError(f"load: {name} is corrupt: its metadata has the keys {_shown(sorted(metadata))}, "
                              f"expected {sorted(_METADATA_KEYS)}")
    return header, metadata, 8 + header_size


def _layout(header: dict[str, Any], data_size: int, name: str) -> list[tuple[str, str, tuple[int, ...], int, int]]:
    """(key, dtype name, shape, begin, end) of every array, in file order; the arrays must tile the data."""
    entries = []
    for key, entry in header.items():
        what = f"load: {name} is corrupt: the entry of array {_shown(key)}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{what} is {_shown(entry)}; expected an object with dtype, shape and "
                                  "data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise CheckpointError(f"{what} has dtype {_shown(dtype)}; expected one of {', '.join(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
            raise CheckpointError(f"{what} has shape {_shown(shape)}; expected a list of at most {MAX_NDIM} "
                                  "non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise CheckpointError(f"{what} has data_offsets {_shown(offsets)}; expected [begin, end] with "
                                  "0 <= begin <= end")
        if offsets[1] > data_size:
            raise CheckpointError(f"load: {name} is truncated or corrupt: array {_shown(key)} takes bytes "
                                  f"{offsets[0]}-{offsets[1]} of the data, the file has {data_size}")
        needed = math.prod(shape) * DTYPES[dtype].itemsize
        if offsets[1] - offsets[0] != needed:
            raise CheckpointError(f"{what}: shape {_shown(shape)} of {dtype} needs {needed} bytes, its offsets "
                                  f"span {offsets[1] - offsets[0]}")
        entries.append((key, dtype, tuple(shape), offsets[0], offsets[1]))
    entries.sort(key=lambda entry: (entry[3], entry[4]))
    position = 0
    for key, _, _, begin, end in entries:
        if begin != position:
            problem = "overlaps the previous array" if begin < position else f"leaves a gap of {begin - position} bytes"
            raise CheckpointError(f"load: {name} is corrupt: array {_shown(key)} at bytes {begin}-{end} {problem}")
        position = end
    if position != data_size:
        raise CheckpointError(f"load: {name} is truncated or corrupt: its arrays take {position} bytes, the file "
                              f"has {data_size} after the header")
    return entries


def _checksums(metadata: dict[str, str], keys: set[str], name: str) -> tuple[str, dict[str, str]] | None:
    if "checksums" not in metadata:
        return None  # written before checksums were stored
    value = _json(metadata["checksums"], "checksums entry", name)
    if (not isinstance(value, dict) or set(value) != {"structure", "arrays"} or not isinstance(value["arrays"], dict)
            or set(value["arrays"]) != keys
            or not all(isinstance(v, str) for v in (value["structure"], *value["arrays"].values()))):
        raise CheckpointError(f"load: {name} is corrupt: its checksums entry does not list one checksum for the "
                              "structure and one per array")
    return value["structure"], value["arrays"]


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`save` wrote. Tensors come back as Tensors, arrays as arrays.

    A symlink is followed to the file it points to; a directory, device or pipe is refused.

    Raises:
        CheckpointError: if the path is missing or not a regular file, or the file is empty, truncated,
            corrupted (a checksum that does not match), malformed, a pickle, or not a tapegrad checkpoint.
    """
    path = Path(path)
    name = _shown_path(path)
    with _open(path, name) as file:
        size = os.fstat(file.fileno()).st_size
        header, metadata, header_end = _header(file, size, name)
        entries = _layout(header, size - header_end, name)
        checksums = _checksums(metadata, set(header), name)
        if checksums is not None and f"{zlib.crc32(metadata['structure'].encode()):08x}" != checksums[0]:
            raise CheckpointError(f"load: {name} is corrupt: its structure (the values other than arrays) does "
                                  "not match its checksum")
        arrays: dict[str, np.ndarray] = {}
        for key, dtype, shape, begin, end in entries:
            blob = _read(file, end - begin, name)
            if checksums is not None and _checksum(dtype, shape, blob) != checksums[1][key]:
                raise CheckpointError(f"load: {name} is corrupt: array {_shown(key)} does not match its checksum")
            if dtype == "BOOL" and blob.size and blob.max() > 1:
                raise CheckpointError(f"load: {name} is corrupt: the bool array {_shown(key)} holds bytes other "
                                      "than 0 and 1")
            array = blob.view(DTYPES[dtype]).reshape(shape)
            arrays[key] = array.astype(array.dtype.newbyteorder("="), copy=False)
    structure = _json(metadata["structure"], "structure", name)
    return _Decoder(arrays, name)(structure)
