"""Checkpoints that lose nothing and run nothing: ``tg.save(obj, path)`` and ``tg.load(path)``.

``obj`` is a nested structure of dicts, lists and tuples holding Tensors, NumPy arrays and plain
values (numbers, strings, booleans, None): a model's and an optimizer's state, the epoch, the random
generators' states, metrics. Arrays go into a safetensors file, each under its path in the structure
(``model/layers.0.weight``); the structure itself, with the plain values, is JSON in the file's
metadata. Both need the ``safetensors`` library (``pip install "tapegrad[io]"``).

The library reads and writes the file format: on load it memory-maps the file and rejects a header
that is too large, not JSON, nested too deeply or of the wrong types, unknown dtypes, shapes whose
byte size overflows or does not match their offsets, offsets that overlap, leave gaps or do not cover
the file exactly. tapegrad adds, around it: the path must be a regular file (symlinks followed; a
directory, pipe or device is refused without waiting on it); a pickle or zip file is named as such;
the metadata must be tapegrad's (its format name and keys; the structure JSON with every node's type
checked and nesting limited); arrays are bool, int or float (bool ones hold only 0 and 1); and a
CRC-32 of each array (with its dtype and shape) and of the structure is verified, so a changed byte
raises naming what changed (CRC-32 catches every change within 4 consecutive bytes, others but for a
chance of 2**-32; it guards against damage, not tampering; files written without checksums still
load). Nothing is unpickled, no code is run, and every problem is one :class:`CheckpointError` of a
few hundred characters at most.

Writing is atomic: the file is written beside its destination under a temporary name, flushed to
disk, then renamed over it, so a crash leaves either the old checkpoint or the new one, never half.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TapegradError
from .ops.shape import shown
from .tensor import Tensor

__all__ = [
    "save", "load", "require_io", "write_atomically", "CheckpointError", "FORMAT", "MAX_DEPTH"
]

FORMAT = "tapegrad-checkpoint-1"
MAX_DEPTH = 100  # nesting of dicts, lists and tuples in a checkpoint
_SHOWN = 80  # characters of a string from the file (or a path) echoed in an error message
_METADATA_KEYS = {"format", "structure", "checksums"}


class CheckpointError(TapegradError, ValueError):
    """A checkpoint that cannot be written (unsupported value) or read (missing, truncated, corrupt)."""


def _safetensors() -> Any:
    """The ``safetensors`` package, or a CheckpointError saying how to install it."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise CheckpointError('saving and loading checkpoints need safetensors: pip install "tapegrad[io]"') from None
    return safetensors


def require_io() -> None:
    """Check, before any work that ends in a checkpoint, that checkpoints can be written here.

    Raises:
        CheckpointError: saying how to install the ``safetensors`` package, when it is missing.
    """
    _safetensors()


def _shown_path(path: Path) -> str:
    text = str(path)
    return text if len(text) <= _SHOWN else f"...{text[-_SHOWN:]}"


# -- the structure -------------------------------------------------------------------------------

def _encode(value: Any, path: str, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"save: the object is nested more than {MAX_DEPTH} levels deep at "
                              f"{shown(path[:200], _SHOWN)} (does it contain itself?)")
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf" or array.dtype.itemsize > 8:
            raise CheckpointError(f"save: {path or 'the object'} is an array of dtype {array.dtype}; only "
                                  "bool, (u)int8-64 and float16/32/64 arrays can be saved")
        key = path or "value"
        while key in arrays or key == "__metadata__":
            key += "_"
        # C order: the library copies the memory behind the array's data pointer as it is;
        # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
        arrays[key] = array if array.flags.c_contiguous else array.copy(order="C")
        if isinstance(value, Tensor):
            return {"__tensor__": key, "requires_grad": bool(value.requires_grad)}
        return {"__array__": key, "scalar": isinstance(value, np.generic)}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CheckpointError(f"save: dict keys must be strings or ints, got {shown(key, _SHOWN)} at "
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
        place = f"at {shown(where, _SHOWN)}" if where else "at the top"
        return CheckpointError(f"load: {self.name} is corrupt: {place} of its structure, {problem}")

    def items(self, value: dict, marker: str, where: str) -> list:
        if set(value) != {marker} or not isinstance(value[marker], list):
            raise self.fail(where, f"{marker} needs a list and no other key, got {shown(value, _SHOWN)}")
        return value[marker]

    def array(self, key: Any, where: str) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise self.fail(where, f"the array {shown(key, _SHOWN)} is not in the file")
        if key in self.used:
            raise self.fail(where, f"the array {shown(key, _SHOWN)} is used twice")
        self.used.add(key)
        return self.arrays[key]

    def flag(self, value: dict, key: str, where: str) -> bool:
        if not isinstance(value.get(key), bool):
            raise self.fail(where, f"{key} must be true or false, got {shown(value.get(key), _SHOWN)}")
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
                                           f"got {shown(pair, _SHOWN)}")
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
        raise self.fail(where, f"an object with keys {shown(sorted(map(str, value))[:8], _SHOWN)}; expected one "
                               "marked __dict__, __list__, __tuple__, __tensor__ or __array__")


# -- writing -------------------------------------------------------------------------------------

def _checksum(array: np.ndarray) -> str:
    """CRC-32 of a C-ordered array's safetensors dtype name, shape and bytes as stored (little-endian),
    as 8 hex digits."""
    name = "BOOL" if array.dtype.kind == "b" else f"{array.dtype.kind.upper()}{8 * array.dtype.itemsize}"
    described = zlib.crc32(f"{name}{list(array.shape)}".encode())
    stored = array.astype(array.dtype.newbyteorder("<"), copy=False).reshape(-1).view(np.uint8)
    return f"{zlib.crc32(stored, described):08x}"


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` atomically (see the module docstring).

    Raises:
        CheckpointError: for a value that cannot be saved (named by its path in ``obj``), a destination
            that cannot be written, or if the ``safetensors`` library is not installed.
    """
    safetensors = _safetensors()
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps(_encode(obj, "", arrays))
    checksums = {"structure": f"{zlib.crc32(structure.encode()):08x}",
                 "arrays": {key: _checksum(array) for key, array in arrays.items()}}
    payload = safetensors.numpy.save(arrays, metadata={"format": FORMAT, "structure": structure,
                                                       "checksums": json.dumps(checksums)})
    destination = Path(path)
    try:
        write_atomically(destination, payload)
    except OSError as exc:
        raise CheckpointError(f"save: cannot write {_shown_path(destination)}: {exc.strerror or exc}") from None


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux 4.7 and later):
    ``os.umask`` can only read it by setting it, and a file another thread creates meanwhile would get
    the temporary value."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _mode_for(path: Path) -> int:
    """The permissions ``open(path, "w")`` would leave: an existing file's own, else ``0o666`` less the umask."""
    try:
        existing = os.stat(path)
    except OSError:
        return 0o666 & ~_umask()
    return stat.S_IMODE(existing.st_mode) if stat.S_ISREG(existing.st_mode) else 0o666 & ~_umask()


def write_atomically(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is written as UTF-8) to ``path`` so that a reader, or a crash, finds the old
    file or the whole new one, never a part: into a temporary file beside it, flushed to disk, then
    renamed over it. The file gets the permissions ``open`` would give it: a new file ``0o666`` less the
    user's umask (not the ``0o600`` of the temporary file), a file written over keeps its own. The
    parent folders are made if missing.

    Returns:
        The path written.

    Raises:
        OSError: if the file cannot be written (the temporary file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            if hasattr(os, "fchmod"):  # mkstemp's 0600 would hide the file from the user's group and others
                os.fchmod(file.fileno(), mode)
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself reaches the disk
    finally:
        os.close(directory)
    return path


# -- reading -------------------------------------------------------------------------------------

def _check_file(path: Path, name: str) -> None:
    """Refuse what is not a regular file (following symlinks), a pickle and a zip archive."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        dangling = " (a symlink to a missing file)" if path.is_symlink() else ""
        raise CheckpointError(f"load: no checkpoint at {name}{dangling}") from None
    except IsADirectoryError:
        raise CheckpointError(f"load: {name} is a directory, not a checkpoint file") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else shown(str(exc), _SHOWN)
        raise CheckpointError(f"load: cannot open {name}: {reason}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
            raise CheckpointError(f"load: {name} is {kind}, not a checkpoint file")
        start = os.read(descriptor, 4)
    finally:
        os.close(descriptor)
    if start[:1] == b"\x80" and 2 <= start[1:2][0] <= 5:
        raise CheckpointError(f"load: {name} is a Python pickle, not a checkpoint; tapegrad never unpickles "
                              "(that could run any code)")
    if start == b"PK\x03\x04":
        raise CheckpointError(f"load: {name} is a zip archive (a torch.save file?), not a tapegrad checkpoint")


def _json(text: str, what: str, name: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"load: {name} is corrupt: its {what} is JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and too many digits in a number
        detail = (f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError)
                  else shown(str(exc), _SHOWN))
        raise CheckpointError(f"load: {name} is corrupt: its {what} is not valid JSON ({detail})") from None


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


def _read(path: Path, name: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The metadata and the arrays of a safetensors file, as the library reads and validates them."""
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(str(path), framework="numpy") as file:
            metadata = file.metadata() or {}
            return metadata, {key: file.get_tensor(key) for key in file.keys()}
    except MemoryError:
        raise
    except Exception as exc:  # SafetensorError for a bad format; NumPy's for dtypes it lacks (bfloat16, float8)
        message = " ".join(str(exc).split()).removeprefix("Error while deserializing header: ")
        reason = message if len(message) <= 2 * _SHOWN else f"{message[:2 * _SHOWN]}..."
        raise CheckpointError(f"load: {name} is truncated, corrupt or not a checkpoint (safetensors: "
                              f"{reason})") from None


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`save` wrote. Tensors come back as Tensors, arrays as arrays.

    A symlink is followed to the file it points to; a directory, device or pipe is refused.

    Raises:
        CheckpointError: if the path is missing or not a regular file, or the file is empty, truncated,
            corrupted (a checksum that does not match), malformed, a pickle, or not a tapegrad checkpoint;
            or if the ``safetensors`` library is not installed.
    """
    path = Path(path)
    name = _shown_path(path)
    _check_file(path, name)
    metadata, arrays = _read(path, name)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"load: {name} is a safetensors file but not a tapegrad checkpoint (its format is "
                              f"{shown(metadata.get('format'), _SHOWN)}, expected {FORMAT!r})")
    if set(metadata) - _METADATA_KEYS or "structure" not in metadata:
        raise CheckpointError(f"load: {name} is corrupt: its metadata has the keys {shown(sorted(metadata), _SHOWN)}, "
                              f"expected {sorted(_METADATA_KEYS)}")
    checksums = _checksums(metadata, set(arrays), name)
    if checksums is not None and f"{zlib.crc32(metadata['structure'].encode()):08x}" != checksums[0]:
        raise CheckpointError(f"load: {name} is corrupt: its structure (the values other than arrays) does "
                              "not match its checksum")
    for key, array in arrays.items():
        if array.dtype.kind not in "biuf":  # the library also reads complex64 (and others NumPy lacks)
            raise CheckpointError(f"load: {name} is not a tapegrad checkpoint: array {shown(key, _SHOWN)} is of dtype "
                                  f"{array.dtype}; tapegrad saves bool, int and float arrays only")
        if checksums is not None and _checksum(array) != checksums[1][key]:
            raise CheckpointError(f"load: {name} is corrupt: array {shown(key, _SHOWN)} does not match its checksum")
        if array.dtype.kind == "b" and array.size and array.view(np.uint8).max() > 1:
            raise CheckpointError(f"load: {name} is corrupt: the bool array {shown(key, _SHOWN)} holds bytes other "
                                  "than 0 and 1")
    structure = _json(metadata["structure"], "structure", name)
    return _Decoder(arrays, name)(structure)
