"""Hostile checkpoint files: each gives one CheckpointError with a short message; none runs code."""

from __future__ import annotations

import copy
import json
import os
import pickle
import tracemalloc
import zlib

import numpy as np
import pytest

import tapegrad as tg

MAX_MESSAGE = 400


def _touch(path: str) -> None:  # what a malicious pickle would call
    with open(path, "w") as file:
        file.write("ran")


class _Payload:
    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return _touch, (self.sentinel,)


def _good(tmp_path):
    """A valid checkpoint's header (as a dict) and data bytes."""
    path = tmp_path / "good.safetensors"
    tg.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "flags": np.array([True, False]),
             "n": np.int64(7), "epoch": 3, "name": "run", "t": tg.tensor([1.0, 2.0], requires_grad=True)}, path)
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]), data[8 + size:]


def _file(header, data=b"", raw=None):
    text = raw if raw is not None else json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def _restamp(header, data):
    """Recompute the checksums, so that a change gets past them to the checks behind."""
    metadata = header["__metadata__"]
    arrays = {}
    for key, entry in header.items():
        if key != "__metadata__":
            try:
                begin, end = (int(n) for n in entry["data_offsets"])
            except (TypeError, KeyError, ValueError):  # the entry is the damage under test
                arrays[key] = "00000000"
                continue
            described = zlib.crc32(f"{entry['dtype']}{entry['shape']}".encode())
            arrays[key] = f"{zlib.crc32(data[begin:end], described):08x}"
    metadata["checksums"] = json.dumps({"structure": f"{zlib.crc32(metadata['structure'].encode()):08x}",
                                        "arrays": arrays})
    return _file(header, data)


def _structure(header, data, structure):
    header["__metadata__"]["structure"] = structure if isinstance(structure, str) else json.dumps(structure)
    return _restamp(header, data)


def _entry(key, **change):
    def build(header, data):
        header[key].update(change)
        return _restamp(header, data)
    return build


def _deep(depth):
    return "[" * depth + "]" * depth


def _nested_lists(depth):
    value = 1
    for _ in range(depth):
        value = {"__list__": [value]}
    return value


def _flip(position):
    def build(header, data):
        whole = bytearray(_file(header, data))
        whole[position if position >= 0 else len(whole) + position] ^= 0x10
        return bytes(whole)
    return build


def _without_checksums(change):
    def build(header, data):
        del header["__metadata__"]["checksums"]
        change(header)
        return _file(header, data)
    return build


HOSTILE = {
    # sizes
    "empty": lambda h, d: b"",
    "3 bytes": lambda h, d: b"\x01\x00\x00",
    "header size only": lambda h, d: _file(h, d)[:8],
    "truncated in the header": lambda h, d: _file(h, d)[:40],
    "truncated at the header's end": lambda h, d: _file(h, d)[:-len(d)],
    "truncated in the data": lambda h, d: _file(h, d)[:-5],
    "truncated by one byte": lambda h, d: _file(h, d)[:-1],
    "extra bytes at the end": lambda h, d: _file(h, d) + b"\0" * 8,
    "header size 16 GB": lambda h, d: (16 << 30).to_bytes(8, "little") + _file(h, d)[8:],
    "header size 2**64-1": lambda h, d: b"\xff" * 8 + _file(h, d)[8:],
    "header size 0": lambda h, d: b"\0" * 8 + _file(h, d)[8:],
    # flipped bytes (every single-bit flip is covered by test_every_flipped_bit_is_detected)
    "flip in the size field": _flip(1),
    "flip in the header": _flip(30),
    "flip in the data": _flip(-3),
    "flip in the first array": lambda h, d: _flip(len(_file(h, d)) - len(d) + h["w"]["data_offsets"][0] + 1)(h, d),
    # the header's JSON
    "header not UTF-8": lambda h, d: _file(h, d, raw=b"{\xff\xfe}"),
    "header not JSON": lambda h, d: _file(h, d, raw=b"{not json"),
    "header a JSON list": lambda h, d: _file(h, d, raw=b"[1, 2]"),
    "header not an object": lambda h, d: _file(h, d, raw=b"  7"),
    "header nested 100,000 deep": lambda h, d: _file(h, d, raw=b'{"a":' + _deep(100_000).encode() + b"}"),
    "header with a huge number": lambda h, d: _file(h, d, raw=b'{"a":' + b"9" * 100_000 + b"}"),
    "__metadata__ a list": lambda h, d: _file({**h, "__metadata__": ["format", "structure"]}, d),
    "__metadata__ with a number": lambda h, d: _file({**h, "__metadata__": {"format": 1}}, d),
    "__metadata__ missing": lambda h, d: _file({k: v for k, v in h.items() if k != "__metadata__"}, d),
    "format of 10 MB": lambda h, d: _file({**h, "__metadata__": {**h["__metadata__"], "format": "x" * 10**7}}, d),
    "unknown metadata key": lambda h, d: _file({**h, "__metadata__": {**h["__metadata__"], "checksumz": ""}}, d),
    "structure missing": _without_checksums(lambda h: h["__metadata__"].pop("structure")),
    # the entries of the arrays
    "entry a list": lambda h, d: _restamp({**h, "w": [1, 2]}, d),
    "entry without data_offsets": lambda h, d: _restamp({**h, "w": {"dtype": "F32", "shape": [2, 3]}}, d),
    "dtype unknown": _entry("w", dtype="F128"),
    "dtype a number": _entry("w", dtype=4),
    "dtype complex (C64)": _entry("w", dtype="C64", shape=[3]),
    "dtype bfloat16 (not in NumPy)": _entry("w", dtype="BF16", shape=[12]),
    "dtype float8 (not in NumPy)": _entry("w", dtype="F8_E4M3", shape=[24]),
    "dtype of 10 MB": _entry("w", dtype="F" * 10**7),
    "shape negative": _entry("w", shape=[-2, -3]),
    "shape of floats": _entry("w", shape=[2.0, 3.0]),
    "shape of booleans": _entry("w", shape=[True, 6]),
    "shape a string": _entry("w", shape="2,3"),
    "shape of 100 axes": _entry("w", shape=[1] * 100),
    "shape of 2**70 elements": _entry("w", shape=[2**35, 2**35]),
    "shape not matching the bytes": _entry("w", shape=[3, 3]),
    "offsets out of range": _entry("w", data_offsets=[0, 10**12]),
    "offsets reversed": lambda h, d: _entry("w", data_offsets=h["w"]["data_offsets"][::-1])(h, d),
    "offsets of three": _entry("w", data_offsets=[0, 24, 24]),
    "offsets of floats": lambda h, d: _entry("w", data_offsets=[float(x) for x in h["w"]["data_offsets"]])(h, d),
    "offsets overlapping": lambda h, d: _entry("flags", data_offsets=[h["flags"]["data_offsets"][0] - 2,
                                                                     h["flags"]["data_offsets"][1] - 2])(h, d),
    "bool array holding 2": lambda h, d: _restamp(h, d[:h["flags"]["data_offsets"][0]] + b"\x02"
                                                  + d[h["flags"]["data_offsets"][0] + 1:]),
    # the checksums
    "checksums not JSON": lambda h, d: _file({**h, "__metadata__": {**h["__metadata__"], "checksums": "{"}}, d),
    "checksums without an array": lambda h, d: _file({**h, "__metadata__": {**h["__metadata__"], "checksums":
                                                      json.dumps({"structure": "0", "arrays": {}})}}, d),
    "structure changed, checksum kept": lambda h, d: _file(
        {**h, "__metadata__": {**h["__metadata__"],
                               "structure": h["__metadata__"]["structure"].replace("3", "4")}}, d),
    # the structure
    "structure not JSON": lambda h, d: _structure(h, d, "{"),
    "structure nested 100,000 deep": lambda h, d: _structure(h, d, _deep(100_000)),
    "structure nested 200 levels of lists": lambda h, d: _structure(h, d, _nested_lists(200)),
    "structure a bare list": lambda h, d: _structure(h, d, [1, 2]),
    "structure an unmarked object": lambda h, d: _structure(h, d, {"a": 1}),
    "structure __dict__ not pairs": lambda h, d: _structure(h, d, {"__dict__": [[1, 2, 3]]}),
    "structure __dict__ with a list key": lambda h, d: _structure(h, d, {"__dict__": [[[1], 2]]}),
    "structure __list__ a number": lambda h, d: _structure(h, d, {"__list__": 5}),
    "structure names a missing array": lambda h, d: _structure(h, d, {"__array__": "nope", "scalar": False}),
    "structure uses an array twice": lambda h, d: _structure(h, d, {"__list__": [
        {"__array__": "w", "scalar": False}, {"__array__": "w", "scalar": False}]}),
    "structure: requires_grad a string": lambda h, d: _structure(h, d, {"__tensor__": "w", "requires_grad": "yes"}),
    "structure: an int tensor requiring grad": lambda h, d: _structure(h, d, {"__tensor__": "n",
                                                                             "requires_grad": True}),
    "structure: a scalar of 6 elements": lambda h, d: _structure(h, d, {"__array__": "w", "scalar": True}),
    "structure: a key of 10 MB": lambda h, d: _structure(h, d, {"__array__": "w" * 10**7, "scalar": False}),
    # other kinds of file
    "a zip archive (torch.save)": lambda h, d: b"PK\x03\x04" + b"\0" * 60,
    "random bytes": lambda h, d: np.random.default_rng(0).integers(0, 256, 4096).astype(np.uint8).tobytes(),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_file_gives_one_short_checkpoint_error(tmp_path, case):
    header, data = _good(tmp_path)
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(HOSTILE[case](copy.deepcopy(header), data))
    with pytest.raises(tg.CheckpointError) as info:
        tg.load(path)
    message = str(info.value)
    assert type(info.value) is tg.CheckpointError and message.startswith("load: ")
    assert len(message) <= MAX_MESSAGE and "\n" not in message
    error = info.value  # one error: no chained exception is shown with it
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_the_valid_file_the_table_starts_from_loads(tmp_path):
    header, data = _good(tmp_path)
    path = tmp_path / "copy.safetensors"
    path.write_bytes(_restamp(copy.deepcopy(header), data))  # the helpers themselves make valid files
    back = tg.load(path)
    assert back["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["n"] == 7 and back["epoch"] == 3


def test_an_unknown_key_in_an_array_entry_is_ignored_as_the_safetensors_library_does(tmp_path):
    """The safetensors format (as its library reads it) ignores keys it does not know in an array's entry;
    the dtype, shape, offsets and bytes are all still checked, so what loads is exactly what was saved."""
    header, data = _good(tmp_path)
    path = tmp_path / "extra.safetensors"
    path.write_bytes(_entry("w", extra=1)(copy.deepcopy(header), data))
    back = tg.load(path)
    assert back["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["w"].dtype == np.float32 and back["n"] == 7
    changed = copy.deepcopy(header)
    changed["w"]["extra"] = 1
    path.write_bytes(_file(changed, data[:-1] + bytes([data[-1] ^ 1])))  # the same entry, a flipped byte
    _expect(path, "does not match its checksum")


def _expect(path, pattern):
    with pytest.raises(tg.CheckpointError, match=pattern) as info:
        tg.load(path)
    assert len(str(info.value)) <= MAX_MESSAGE
    return str(info.value)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickle_is_never_unpickled(tmp_path, protocol):
    sentinel = tmp_path / "sentinel"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"model": _Payload(str(sentinel))}, protocol=protocol))
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "control")), protocol=protocol))
    assert (tmp_path / "control").exists()  # the payload does run when unpickled
    _expect(path, "pickle" if protocol >= 2 else "not a checkpoint")
    assert not sentinel.exists()


def test_the_error_names_the_changed_array(tmp_path):
    header, data = _good(tmp_path)
    begin = header["t"]["data_offsets"][0]
    changed = bytearray(data)
    changed[begin + 2] ^= 1
    path = tmp_path / "flipped.safetensors"
    path.write_bytes(_file(header, bytes(changed)))
    _expect(path, "array 't' does not match its checksum")


def test_every_flipped_bit_is_detected(tmp_path):
    header, data = _good(tmp_path)
    whole = _file(header, data)
    path = tmp_path / "flipped.safetensors"
    for position in range(len(whole)):
        for bit in range(8):
            changed = bytearray(whole)
            changed[position] ^= 1 << bit
            path.write_bytes(bytes(changed))
            with pytest.raises(tg.CheckpointError) as info:
                tg.load(path)
            assert len(str(info.value)) <= MAX_MESSAGE, (position, bit)


def test_a_header_larger_than_the_limit_reads_nothing(tmp_path):
    path = tmp_path / "sparse.safetensors"
    with open(path, "wb") as file:
        file.write((200 << 20).to_bytes(8, "little"))
        file.truncate((200 << 20) + 8)  # sparse: the header size is true, the file really is that large
    tracemalloc.start()
    try:
        _expect(path, "header too large")  # the safetensors library's words
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_paths_that_are_not_regular_files(tmp_path):
    header, data = _good(tmp_path)
    good = tmp_path / "good.safetensors"
    link = tmp_path / "link.safetensors"
    link.symlink_to(good)
    assert tg.load(link)["epoch"] == 3  # a symlink to a checkpoint is followed
    _expect(tmp_path, "is a directory")
    folder_link = tmp_path / "folder-link"
    folder_link.symlink_to(tmp_path)
    _expect(folder_link, "is a directory")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "missing")
    _expect(dangling, "a symlink to a missing file")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    _expect(loop, "cannot open")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _expect(fifo, "not a regular file")  # and does not wait for a writer
    device = tmp_path / "zero"
    device.symlink_to("/dev/zero")
    _expect(device, "not a regular file")
    _expect(str(tmp_path / "nul\0byte"), "cannot open")
