"""Datasets, batching and the dataset loaders (on small files the tests write)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.data import DataLoader, TensorDataset, datasets, random_split


def test_tensor_dataset_and_loader_batches():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0][0], tg.Tensor) and batches[2][1].tolist() == [8, 9]
    assert len(DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)) == 2


def test_shuffling_is_seeded_and_resumable():
    data = TensorDataset(np.arange(50))
    first = [b[0].tolist() for b in DataLoader(data, batch_size=10, shuffle=True, seed=3)]
    again = [b[0].tolist() for b in DataLoader(data, batch_size=10, shuffle=True, seed=3)]
    assert first == again and sorted(sum(first, [])) == list(range(50))
    loader = DataLoader(data, batch_size=50, shuffle=True, seed=1)
    list(loader)
    saved = loader.state_dict()
    expected = [b[0].tolist() for b in loader]
    resumed = DataLoader(data, batch_size=50, shuffle=True, seed=99)
    resumed.load_state_dict(saved)
    assert [b[0].tolist() for b in resumed] == expected


def test_random_split_and_generic_datasets():
    data = TensorDataset(np.arange(10), np.arange(10) * 2)
    a, b = random_split(data, [7, 3], seed=0)
    assert len(a) == 7 and len(b) == 3
    assert sorted(np.concatenate([a.indices, b.indices]).tolist()) == list(range(10))
    assert [len(s) for s in random_split(data, [0.5, 0.5], seed=0)] == [5, 5]
    with pytest.raises(ValueError, match="add up"):
        random_split(data, [3, 3])

    class Squares(tg.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i]), np.array(i * i)

    (x, y), *_ = DataLoader(Squares(), batch_size=5)
    assert x.shape == (5, 1) and y.tolist() == [0, 1, 4, 9, 16]
    with pytest.raises(tg.ShapeError, match="different lengths"):
        TensorDataset(np.zeros(3), np.zeros(4))


def test_load_digits():
    x, y = datasets.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0 <= x.min() and x.max() == 1.0 and set(y.tolist()) == set(range(10))


def _write_idx(path, array, code, compress=False):
    header = bytes([0, 0, code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(payload)


def test_load_mnist_from_raw_and_gzipped_idx_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte", images, 0x08)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, 0x08, compress=True)
    x, y = datasets.load_mnist(tmp_path)
    assert x.shape == (5, 784) and x.dtype == np.float32 and y.tolist() == [3, 1, 4, 1, 5]
    np.testing.assert_allclose(x[0], images[0].reshape(-1) / 255.0, rtol=1e-6)
    with pytest.raises(datasets.DatasetError, match="t10k-images-idx3-ubyte"):
        datasets.load_mnist(tmp_path, train=False)


def test_bad_idx_files_get_clear_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(datasets.DatasetError, match="bad magic number"):
        datasets.read_idx(tmp_path / "bad")
    _write_idx(tmp_path / "short", np.zeros((4, 2, 2), np.uint8), 0x08)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(datasets.DatasetError, match=r"shape \(4, 2, 2\)"):
        datasets.read_idx(tmp_path / "short")
    with pytest.raises(datasets.DatasetError, match="not found"):
        datasets.read_idx(tmp_path / "missing")


def test_load_csv(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("a,b,species\n1.0,2.0,setosa\n3.5,4.0,virginica\n0.5,1.5,setosa\n")
    x, y = datasets.load_csv(path, target="species")
    assert x.tolist() == [[1.0, 2.0], [3.5, 4.0], [0.5, 1.5]] and y.tolist() == [0, 1, 0]
    x, y = datasets.load_csv(path, target=-1)  # by position
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 0]
    with pytest.raises(datasets.DatasetError, match="not a number"):
        datasets.load_csv(path, target=0)  # then the species names would be features
    with pytest.raises(datasets.DatasetError, match="no column named 'kind'"):
        datasets.load_csv(path, target="kind")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(datasets.DatasetError, match="line 3"):
        datasets.load_csv(tmp_path / "ragged.csv")


def test_idx_headers_that_do_not_match_the_data(tmp_path):
    def idx(name, code, dims, data=b"", compress=False):
        payload = bytes([0, 0, code, len(dims)]) + b"".join(n.to_bytes(4, "big") for n in dims) + data
        (gzip.open if compress else open)(tmp_path / name, "wb").write(payload)
        return tmp_path / name

    # dimensions whose product overflows int64 (np.prod would wrap around to a small or negative number)
    for compress in (False, True):
        path = idx("overflow.gz" if compress else "overflow", 0x0E, [2**32 - 1] * 4, b"\0" * 16, compress)
        with pytest.raises(datasets.DatasetError, match=r"header says shape \(4294967295, 4294967295"):
            datasets.read_idx(path)
    idx("dims", 0x08, [3, 3])
    with pytest.raises(datasets.DatasetError, match="truncated header"):
        datasets.read_idx(_cut(tmp_path / "dims", 10))
    path = idx("extra.gz", 0x08, [2, 2], bytes(5), compress=True)
    with pytest.raises(datasets.DatasetError, match=r"\(4 bytes of data\) but the file has more than 4 bytes"):
        datasets.read_idx(path)
    path = idx("short.gz", 0x0C, [3], bytes(11), compress=True)
    with pytest.raises(datasets.DatasetError, match=r"\(12 bytes of data\) but the file has 11 bytes"):
        datasets.read_idx(path)
    assert datasets.read_idx(idx("ok.gz", 0x0C, [3], (7).to_bytes(4, "big") * 3, compress=True)).tolist() == [7] * 3
    (tmp_path / "notgz.gz").write_bytes(b"plain bytes, not gzip")
    with pytest.raises(datasets.DatasetError, match="cannot read"):
        datasets.read_idx(tmp_path / "notgz.gz")


def _cut(path, size):
    path.write_bytes(path.read_bytes()[:size])
    return path


@pytest.mark.parametrize("content,message", [
    ("a,b,label\n1,2,0\n3,4,1\n".encode("utf-16"), r"is not UTF-8 text \(byte 0xff at offset 0\)"),
    (b"a,label\n\xe9t\xe9,1\n", r"is not UTF-8 text \(byte 0xe9 at offset 8\)"),
    (b"label\n1\n2\n3\n", "1 column; needs the target and at least one feature column"),
    (b"a,b,label\n1,2,0\n3,nan,1\n", r"1 missing value in 1 row: line 3, column 'b'; read with drop_missing=True"),
    (b"a,b,label\n1,2,0\n3,abc,1\n", r"line 3, column 'b': the feature 'abc' is not a number"),
    (b"a,b,label\n1,2,0\n3,4\n", r"line 3: 2 fields \(delimiter ','\), the header has 3"),
    (b"a,b,label\n", "needs a header row and at least one data row"),
    (b"", "the file is empty"),
    (b"a,b,label\n1,-inf,0\n3,4,1\n", r"line 2, column 'b': the feature '-inf' is not finite"),
    (b"a,b,label\n1,2,0\n1e39,4,1\n", r"line 3, column 'a': the feature '1e39' is not finite"),
    (b"a,label\n1,0\n2,99999999999999999999\n", "the label 99999999999999999999 does not fit"),
    (b'a,label\n"1,0\n' + b"x" * 200_000 + b"\n", "not a readable CSV file"),
])
def test_bad_csv_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(datasets.DatasetError, match=message):
        datasets.load_csv(path)


def test_csv_with_a_byte_order_mark_and_integer_labels(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("\ufeffa,label\n0.5,1000000000000\n1.5,-3\n".encode())
    x, y = datasets.load_csv(path, target="label")  # the mark is not part of the first column's name
    assert x.tolist() == [[0.5], [1.5]] and y.tolist() == [10**12, -3] and y.dtype == np.int64
    with pytest.raises(datasets.DatasetError, match="no column 5; it has 2 columns"):
        datasets.load_csv(path, target=5)


# -- CSV files as practitioners have them (issue 19) ----------------------------------------------

def test_read_csv_detects_the_delimiter_and_keeps_the_target_as_text(tmp_path):
    path = tmp_path / "wine.csv"
    path.write_text('"fixed acidity";"volatile acidity";"quality"\n7.4;0.7;5\n7.8;0.88;6\n\n11.2;0.28;5\n')
    table = datasets.read_csv(path, target="quality")
    assert table.delimiter == ";" and table.header and table.columns == ["fixed acidity", "volatile acidity"]
    assert table.target == "quality" and table.targets == ["5", "6", "5"] and table.lines == [2, 3, 5]
    np.testing.assert_array_equal(table.features, np.array([[7.4, 0.7], [7.8, 0.88], [11.2, 0.28]], np.float32))
    tabbed = tmp_path / "tabbed.tsv"
    tabbed.write_text("a\tb\tlabel\n1\t2\tx\n3\t4\ty\n")
    assert datasets.read_csv(tabbed).delimiter == "\t"
    with pytest.raises(datasets.DatasetError, match=r"1 column; needs the target .* \(read with the delimiter ','\)"):
        datasets.read_csv(path, delimiter=",")
    with pytest.raises(datasets.DatasetError, match="the delimiter must be one character"):
        datasets.read_csv(path, delimiter=";;")


def test_read_csv_without_a_header_names_columns_by_position(tmp_path):
    path = tmp_path / "wine.data"  # the UCI file: the class first, no header
    path.write_text("1,14.23,1.71,1065\n2,13.2,1.78,1050\n3,13.0,.7,735\n")
    table = datasets.read_csv(path, target=0)
    assert not table.header and table.columns == ["1", "2", "3"] and table.target == "0"
    assert table.targets == ["1", "2", "3"] and table.lines == [1, 2, 3]
    np.testing.assert_array_equal(table.features[2], np.array([13.0, 0.7, 735], np.float32))
    assert datasets.read_csv(path, target="0").target == "0"  # a name that is also a position
    assert datasets.read_csv(path).target == "3"
    iris = tmp_path / "iris.data"  # text labels in the first row do not make it a header
    iris.write_text("5.1,3.5,Iris-setosa\n7.0,3.2,Iris-versicolor\n")
    assert not datasets.read_csv(iris).header and datasets.read_csv(iris).targets[0] == "Iris-setosa"


def test_read_csv_reports_or_drops_missing_values(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("a,b,label\n1,2,x\n3,,y\n?,5,x\n6,7,\n8,NA,y\n9,10,y\n11,12,x\n13,nan,x\n")
    with pytest.raises(datasets.MissingValuesError) as caught:
        datasets.read_csv(path)
    assert caught.value.cells == [(3, "b"), (4, "a"), (5, "label"), (6, "b"), (9, "b")] and caught.value.rows == 5
    assert str(caught.value).endswith("5 missing values in 5 rows: line 3, column 'b'; line 4, column 'a'; line 5, "
                                      "column 'label'; line 6, column 'b'; line 9, column 'b'; read with "
                                      "drop_missing=True to leave those rows out")
    table = datasets.read_csv(path, drop_missing=True)
    assert table.dropped == [3, 4, 5, 6, 9] and table.lines == [2, 7, 8] and table.targets == ["x", "y", "x"]
    assert table.features.tolist() == [[1, 2], [9, 10], [11, 12]]
    assert datasets.describe_missing([(2, "a")] * 7, 7).endswith("; and 2 more")


def test_encode_labels_of_any_kind():
    labels, classes, kind = datasets.encode_labels(["-1", "1", "1.0", " -1 "])
    assert labels.tolist() == [0, 1, 1, 0] and classes == ["-1", "1"] and kind == "integer"
    assert datasets.encode_labels(["10", "9", "100"]).classes == ["9", "10", "100"]  # numbers in numeric order
    assert datasets.encode_labels(["1.5", "0.5", "1"])[1:] == (["0.5", "1", "1.5"], "number")
    labels, classes, kind = datasets.encode_labels(["virginica", "setosa", "2"])
    assert labels.tolist() == [2, 1, 0] and classes == ["2", "setosa", "virginica"] and kind == "text"
    assert datasets.encode_labels(["3", "1.0"], classes=["1", "3"]).labels.tolist() == [1, 0]
    with pytest.raises(datasets.DatasetError, match=r"the label 'x' \(example 1\) is not one of the classes"):
        datasets.encode_labels(["1", "x"], classes=["1", "3"])
    with pytest.raises(datasets.DatasetError, match="label 1 is empty"):
        datasets.encode_labels(["1", " "])


@pytest.mark.parametrize("content", [
    '"fixed acidity";"volatile acidity";"quality"\r\n7.4;0.7;5\r\n7.8;0.88;6\r\n\r\n11.2;0.28;5\r\n',
    "1,14.23,1.71,1065\n2,13.2,1.78,1050\n\n3,13.0,.7,735\n",
    'x, y ,label\n 1.5 ,2,"in, or out"\n3,-4e2, setosa \n5,6,"say ""hi"""\n',
])
def test_the_fast_reading_equals_the_careful_one(tmp_path, monkeypatch, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content.encode())
    fast = datasets.read_csv(path)
    monkeypatch.setattr(datasets, "_read_numbers", lambda *args: None)
    careful = datasets.read_csv(path)
    assert fast.features.dtype == careful.features.dtype == np.float32
    np.testing.assert_array_equal(fast.features, careful.features)
    assert (fast.targets, fast.columns, fast.target, fast.delimiter, fast.header, fast.lines) == \
        (careful.targets, careful.columns, careful.target, careful.delimiter, careful.header, careful.lines)
