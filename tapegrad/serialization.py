"""Checkpoints that lose nothing and run nothing: ``tg.save(obj, path)`` and ``tg.load(path)``.

``obj`` is a nested structure of dicts, lists and tuples holding Tensors, NumPy arrays and plain
values (numbers, strings, booleans, None): a model's and an optimizer's state, the epoch, the random
generators' states, metrics. Arrays go into a safetensors file, each under its path in the structure
(``model/layers.0.weight``); the structure itself, with the plain values, is JSON in the file's
metadata. Loading parses JSON and raw array bytes only: no pickle, no code is ever run.

Writing is atomic: the file is written beside its destination under a temporary name, flushed to
disk, then renamed over it, so a crash leaves either the old checkpoint or the new one, never half.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TapegradError
from .tensor import Tensor

FORMAT = "tapegrad-checkpoint-1"


class CheckpointError(TapegradError, ValueError):
    """A checkpoint that cannot be written (unsupported value) or read (missing, truncated, corrupt)."""


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise CheckpointError('saving and loading need safetensors: pip install "tapegrad[io]"') from None
    return safetensors.numpy


def _encode(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf":
            raise CheckpointError(f"save: {path or 'the object'} is an array of dtype {array.dtype}; only "
                                  "boolean and numeric arrays can be saved")
        key = path or "value"
        while key in arrays:
            key += "_"
        arrays[key] = np.ascontiguousarray(array)
        if isinstance(value, Tensor):
            return {"__tensor__": key, "requires_grad": bool(value.requires_grad)}
        return {"__array__": key, "scalar": isinstance(value, np.generic)}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CheckpointError(f"save: dict keys must be strings or ints, got {key!r} at {path or 'top'}")
        return {"__dict__": [[k, _encode(v, f"{path}/{k}" if path else str(k), arrays)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{path}/{i}" if path else str(i), arrays) for i, v in enumerate(value)]
        return {"__tuple__" if isinstance(value, tuple) else "__list__": items}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(f"save: cannot save a {type(value).__name__} at {path or 'the top level'}; "
                          "checkpoints hold dicts, lists, tuples, arrays, tensors, numbers, strings and None")


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if "__dict__" in value:
            return {k: _decode(v, arrays) for k, v in value["__dict__"]}
        if "__list__" in value:
            return [_decode(v, arrays) for v in value["__list__"]]
        if "__tuple__" in value:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        key = value.get("__tensor__", value.get("__array__"))
        if key not in arrays:
            raise CheckpointError(f"load: the checkpoint's structure names an array {key!r} it does not contain")
        array = arrays[key]
        if "__tensor__" in value:
            return Tensor(array, requires_grad=value["requires_grad"])
        return array[()] if value.get("scalar") else array
    return value


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` atomically (see the module docstring).

    Raises:
        CheckpointError: for a value that cannot be saved (named by its path in ``obj``).
    """
    arrays: dict[str, np.ndarray] = {}
    structure = _encode(obj, "", arrays)
    metadata = {"format": FORMAT, "structure": json.dumps(structure)}
    payload = _safetensors().save(arrays, metadata=metadata)
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`save` wrote. Tensors come back as Tensors, arrays as arrays.

    Raises:
        CheckpointError: if the file is missing, truncated, corrupted or not a tapegrad checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"load: no checkpoint at {path}")
    data = path.read_bytes()
    if len(data) < 8:
        raise CheckpointError(f"load: {path} is truncated ({len(data)} bytes)")
    header_size = int.from_bytes(data[:8], "little")
    if header_size > len(data) - 8:
        raise CheckpointError(f"load: {path} is truncated or corrupt: its header claims {header_size} bytes, "
                              f"the file has {len(data) - 8} after the size field")
    try:
        header = json.loads(data[8:8 + header_size])
        metadata = header.get("__metadata__") or {}
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise CheckpointError(f"load: {path} is corrupt: its header is not valid JSON") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"load: {path} is a safetensors file but not a tapegrad checkpoint")
    try:
        arrays = _safetensors().load(data)
    except Exception as exc:  # safetensors raises its own error type for every kind of damage
        raise CheckpointError(f"load: {path} is truncated or corrupt ({exc})") from None
    try:
        structure = json.loads(metadata["structure"])
    except (KeyError, ValueError):
        raise CheckpointError(f"load: {path} is corrupt: its structure is not valid JSON") from None
    return _decode(structure, arrays)
