"""tg.save / tg.load: everything comes back, writes are atomic, damage is reported, nothing runs."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import tapegrad as tg


def _state():
    model = tg.nn.MLP([3, 4, 2])
    optimizer = tg.optim.Adam(model.parameters())
    tg.nn.functional.cross_entropy(model(tg.ones(2, 3)), [0, 1]).backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
            "rng": np.random.default_rng(5).bit_generator.state, "best": float("inf"),
            "weights": tg.tensor([1.0, 2.0], requires_grad=True), "pair": (1, "a", None),
            "scalar": np.float32(2.5), "flags": np.array([True, False])}


def test_round_trip_keeps_every_value_and_kind(tmp_path):
    state = _state()
    tg.save(state, tmp_path / "ck.safetensors")
    back = tg.load(tmp_path / "ck.safetensors")
    for name, value in state["model"].items():
        np.testing.assert_array_equal(back["model"][name], value)
        assert back["model"][name].dtype == value.dtype
    assert back["optimizer"]["state"][0]["step"] == 1 and set(back["optimizer"]["state"]) == {0, 1, 2, 3}
    np.testing.assert_array_equal(back["optimizer"]["state"][2]["exp_avg"], state["optimizer"]["state"][2]["exp_avg"])
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["rng"] == state["rng"] and back["best"] == float("inf") and back["pair"] == (1, "a", None)
    assert isinstance(back["weights"], tg.Tensor) and back["weights"].requires_grad
    assert back["scalar"] == np.float32(2.5) and back["scalar"].dtype == np.float32
    assert back["flags"].tolist() == [True, False]


def test_the_file_is_a_plain_safetensors_file(tmp_path):
    from safetensors.numpy import load_file

    tg.save({"model": {"w": np.ones((2, 2))}}, tmp_path / "ck.safetensors")
    assert list(load_file(str(tmp_path / "ck.safetensors"))) == ["model/w"]


def test_a_failed_save_leaves_the_old_checkpoint_in_place(tmp_path):
    path = tmp_path / "ck.safetensors"
    tg.save({"epoch": 1}, path)
    with pytest.raises(tg.CheckpointError, match=r"cannot save a set at model/x"):
        tg.save({"model": {"x": {1, 2}}}, path)
    assert tg.load(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]  # no temporary left behind


@pytest.mark.parametrize("damage", ["truncate", "flip header", "garbage", "empty"])
def test_damaged_files_get_a_clear_error(tmp_path, damage):
    path = tmp_path / "ck.safetensors"
    tg.save(_state(), path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 10]
    elif damage == "flip header":
        data[20] = ord("}")
    elif damage == "garbage":
        data = bytearray(b"\xff" * 64)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(tg.CheckpointError, match="truncated|corrupt|not a tapegrad"):
        tg.load(path)


def test_loading_never_unpickles(tmp_path):
    import pickle

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(tg.CheckpointError):
        tg.load(path)
    with pytest.raises(tg.CheckpointError, match="no checkpoint"):
        tg.load(tmp_path / "missing.safetensors")


def _save_as_before_checksums(obj, path):
    """What tg.save wrote before checksums: safetensors.numpy, the structure alone in the metadata,
    and 0-d arrays turned into shape (1,) by np.ascontiguousarray."""
    import json

    from safetensors.numpy import save_file

    from tapegrad import serialization

    arrays = {}
    structure = serialization._encode(obj, "", arrays)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path),
              metadata={"format": serialization.FORMAT, "structure": json.dumps(structure)})


def test_files_written_before_checksums_still_load(tmp_path):
    state = _state()
    path = tmp_path / "old.safetensors"
    _save_as_before_checksums(state, path)
    back = tg.load(path)
    for name, value in state["model"].items():
        np.testing.assert_array_equal(back["model"][name], value)
    assert back["scalar"] == np.float32(2.5) and back["scalar"].shape == () and back["epoch"] == 3
    assert back["rng"] == state["rng"] and back["weights"].requires_grad


def test_safetensors_reads_what_tapegrad_writes_and_the_other_way(tmp_path):
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    arrays = {f"a{i}": (rng.normal(size=(3, i)) * 100).astype(dtype)
              for i, dtype in enumerate([np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16,
                                         np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.bool_])}
    arrays["zero_d"] = np.array(1.5)
    arrays["big_endian"] = np.arange(4, dtype=">f8")
    tg.save(arrays, tmp_path / "ours.safetensors")
    theirs = load_file(str(tmp_path / "ours.safetensors"))
    ours = tg.load(tmp_path / "ours.safetensors")
    for key, value in arrays.items():
        for back in (theirs[key], ours[key]):
            np.testing.assert_array_equal(back, value)
            assert back.shape == value.shape and back.dtype == value.dtype.newbyteorder("=")
    save_file({"w": arrays["a2"]}, str(tmp_path / "theirs.safetensors"),
              metadata={"format": "tapegrad-checkpoint-1", "structure": '{"__array__": "w", "scalar": false}'})
    np.testing.assert_array_equal(tg.load(tmp_path / "theirs.safetensors"), arrays["a2"])


def test_what_save_refuses(tmp_path):
    loop: list = []
    loop.append(loop)
    with pytest.raises(tg.CheckpointError, match="nested more than 100 levels deep"):
        tg.save({"a": loop}, tmp_path / "ck.safetensors")
    with pytest.raises(tg.CheckpointError, match=r"a is an array of dtype complex128"):
        tg.save({"a": np.ones(2, complex)}, tmp_path / "ck.safetensors")
    with pytest.raises(tg.CheckpointError, match=r"a is an array of dtype float128"):
        tg.save({"a": np.ones(2, np.longdouble)}, tmp_path / "ck.safetensors")
    with pytest.raises(tg.CheckpointError, match="save: cannot write"):
        tg.save({"a": 1}, tmp_path)  # a directory
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary left behind
    tg.save({"__metadata__": np.ones(2)}, tmp_path / "ck.safetensors")  # an array named like the metadata
    assert tg.load(tmp_path / "ck.safetensors")["__metadata__"].tolist() == [1.0, 1.0]


def test_a_write_that_fails_midway_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    tg.save({"epoch": 1, "w": np.ones(3)}, path)
    before = path.read_bytes()

    def full_disk(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tapegrad.serialization.os.fsync", full_disk)
    with pytest.raises(tg.CheckpointError, match="save: cannot write .*ck.safetensors: No space left on device"):
        tg.save({"epoch": 2, "w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and tg.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]


def test_without_safetensors_save_and_load_say_how_to_install_it(tmp_path, monkeypatch):
    path = tmp_path / "ck.safetensors"
    tg.save({"epoch": 1}, path)
    for name in ("safetensors", "safetensors.numpy"):
        monkeypatch.setitem(__import__("sys").modules, name, None)  # `import safetensors` raises ImportError
    for call in (lambda: tg.save({"epoch": 2}, path), lambda: tg.load(path)):
        with pytest.raises(tg.CheckpointError, match=r'need safetensors: pip install "tapegrad\[io\]"') as info:
            call()
        assert info.value.__cause__ is None and info.value.__suppress_context__
    monkeypatch.undo()
    assert tg.load(path) == {"epoch": 1}  # the failed save left the checkpoint alone


def test_files_written_by_the_numpy_only_writer_still_load(tmp_path):
    """Byte for byte what tapegrad wrote while it wrote safetensors with NumPy alone (checksums included)."""
    import json

    structure = ('{"__dict__": [["w", {"__array__": "w", "scalar": false}], '
                 '["b", {"__array__": "b", "scalar": false}], ["epoch", 1]]}')
    checksums = '{"structure": "df5c189e", "arrays": {"w": "4d5b9d98", "b": "449762bb"}}'
    header = ('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"BOOL","shape":[2],"data_offsets":'
              '[12,14]},"__metadata__":' + json.dumps({"format": "tapegrad-checkpoint-1", "structure": structure,
                                                       "checksums": checksums}, separators=(",", ":")) + "}    ")
    data = np.arange(3, dtype="<f4").tobytes() + b"\x01\x00"
    path = tmp_path / "old.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + data)
    assert len(path.read_bytes()) == 438
    back = tg.load(path)
    assert back["w"].tolist() == [0.0, 1.0, 2.0] and back["w"].dtype == np.float32
    assert back["b"].tolist() == [True, False] and back["epoch"] == 1
    tg.save(back, tmp_path / "new.safetensors")  # the library's writer stores the same checksums
    from safetensors import safe_open

    with safe_open(str(tmp_path / "new.safetensors"), framework="numpy") as file:
        assert json.loads(file.metadata()["checksums"]) == json.loads(checksums)
    path.write_bytes(path.read_bytes()[:-2] + b"\x00\x00")  # a changed byte is still caught
    with pytest.raises(tg.CheckpointError, match="array 'b' does not match its checksum"):
        tg.load(path)


def test_views_and_big_endian_arrays_come_back_equal(tmp_path):
    # the library copies the memory behind an array's data pointer: a strided view must be made C-ordered first
    base = np.arange(24, dtype=">i4").reshape(4, 6)
    arrays = {"transposed": np.arange(6.0).reshape(2, 3).T, "strided": np.arange(10)[::3],
              "big_endian_view": base[::2, 1::2].T, "negative_step": np.arange(5, dtype=np.float32)[::-1]}
    tg.save(arrays, tmp_path / "ck.safetensors")
    back = tg.load(tmp_path / "ck.safetensors")
    assert back["transposed"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert back["strided"].tolist() == [0, 3, 6, 9]
    assert back["big_endian_view"].tolist() == [[1, 13], [3, 15], [5, 17]] and back["big_endian_view"].dtype == "=i4"
    assert back["negative_step"].tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]


def test_written_files_get_the_permissions_open_would_give_them(tmp_path):
    """A new file: 0o666 less the umask (not mkstemp's 0o600); a file written over keeps its own (issue 19)."""
    from tapegrad.serialization import write_atomically

    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "new.json", "{}")
        tg.save({"x": np.ones(2)}, tmp_path / "ck.safetensors")
        assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o640
        assert stat.S_IMODE(os.stat(tmp_path / "ck.safetensors").st_mode) == 0o640
        os.umask(0o002)
        write_atomically(tmp_path / "group.txt", b"shared")
        assert stat.S_IMODE(os.stat(tmp_path / "group.txt").st_mode) == 0o664
        os.chmod(tmp_path / "new.json", 0o604)
        write_atomically(tmp_path / "new.json", "[]")
        assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o604
        assert (tmp_path / "new.json").read_text() == "[]"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.safetensors", "group.txt", "new.json"]
    finally:
        os.umask(old)
