"""Dataset loaders on fixtures the tests write themselves, and their error paths."""

import gzip
import struct

import numpy as np
import pytest

from spikefab.config import preset
from spikefab.golden.datasets import (DatasetError, events_to_raster, load_dataset,
                                      read_idx)

import reference
from conftest import small_config


def idx_bytes(array, dtype_code=0x08):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_folder(folder, n_train=5, n_test=3, side=4, gz=False):
    rng = np.random.default_rng(0)
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, side, side))
        labels = rng.integers(0, 3, n)
        for kind, array, dims in (("images", images, 3), ("labels", labels, 1)):
            name = f"{prefix}-{kind}-idx{dims}-ubyte" + (".gz" if gz else "")
            payload = idx_bytes(array)
            (folder / name).write_bytes(gzip.compress(payload) if gz else payload)
        data[prefix] = (images.reshape(n, -1), labels)
    return data


def test_digits_split_is_deterministic():
    a = load_dataset("digits", preset("digits"))
    b = load_dataset("digits", preset("digits"))
    assert (len(a.y_train), len(a.y_test)) == (1438, 359)
    assert np.array_equal(a.x_test, b.x_test)
    assert a.x_train.max() == 255 and a.x_train.dtype == np.uint8


# (x · 255 + 8) // 16 for x = 0 … 16: rounded to nearest, so 1 → 16 (15.9) and 9 → 143.
DIGITS_LEVELS = [0, 16, 32, 48, 64, 80, 96, 112, 128, 143, 159, 175, 191, 207, 223, 239, 255]


def test_digits_rescaling_and_split_follow_the_docstring():
    """Every image equals scikit-learn's, rescaled by ``(x·255 + 8) // 16``, in the order
    of the plain reference's ``XorShift32(0).permutation(1797)``: the first 359 are the
    test split. The first test indices are pinned too."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    data = load_dataset("digits", preset("digits"))
    assert sorted(set(np.unique(data.x_train)) | set(np.unique(data.x_test))) == \
        DIGITS_LEVELS
    levels = np.array(DIGITS_LEVELS)
    images = levels[digits.data.astype(int)]
    order = reference.Xorshift32(0).permutation(1797)
    assert order[:6] == [1284, 728, 193, 962, 1292, 1590]
    assert np.array_equal(data.x_test, images[order[:359]])
    assert np.array_equal(data.y_test, digits.target[order[:359]])
    assert np.array_equal(data.x_train, images[order[359:]])
    assert np.array_equal(data.y_train, digits.target[order[359:]])


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    data = write_idx_folder(tmp_path, gz=gz)
    config = small_config(n_in=16)
    dataset = load_dataset(f"idx:{tmp_path}", config)
    assert np.array_equal(dataset.x_train, data["train"][0])
    assert np.array_equal(dataset.y_test, data["t10k"][1])
    assert dataset.kind == "pixels"


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(5,), (2, 4, 4), (0, 3)])
def test_idx_file_of_exactly_its_declared_size(tmp_path, shape, gz):
    """A file holding exactly the bytes its header promises is read, an empty one too;
    one byte more or less is refused."""
    array = np.arange(int(np.prod(shape))).reshape(shape) % 256
    payload = idx_bytes(array)
    path = tmp_path / ("x-idx-ubyte" + (".gz" if gz else ""))
    pack = gzip.compress if gz else bytes
    path.write_bytes(pack(payload))
    assert np.array_equal(read_idx(str(path)), array)
    size = len(payload) - 4 - 4 * len(shape)
    for extra in (b"\x00", b"\x00" * 7):
        path.write_bytes(pack(payload + extra))
        with pytest.raises(DatasetError, match=f"truncated or padded: its header promises "
                                               f"{size} bytes of data, the file holds "
                                               f"{size + len(extra)}"):
            read_idx(str(path))
    if size:
        path.write_bytes(pack(payload[:-1]))
        with pytest.raises(DatasetError, match=f"the file holds {size - 1}"):
            read_idx(str(path))


@pytest.mark.parametrize("name, payload, message", [
    ("x-idx1-ubyte", b"\x01\x02\x08\x01\x00\x00\x00\x01\x05", "bad magic"),
    ("x-idx3-ubyte", idx_bytes(np.zeros((2, 4, 4)))[:-3],
     "header promises 32 bytes of data, the file holds 29"),
    ("x-idx3-ubyte", idx_bytes(np.zeros((2, 4, 4))) + b"\x07",
     "header promises 32 bytes of data, the file holds 33"),
    ("x-idx1-ubyte", idx_bytes(np.zeros(3), dtype_code=0x0D), "element type 0x0d"),
    ("x-idx1-ubyte.gz", b"\x1f\x8b\x08garbage", "cannot read"),
], ids=["bad-magic", "truncated", "padded", "wrong-element-type", "corrupt-gzip"])
def test_idx_corrupt_file(tmp_path, name, payload, message):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(DatasetError, match=message):
        read_idx(str(path))


def test_idx_count_mismatch(tmp_path):
    write_idx_folder(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4)))
    with pytest.raises(DatasetError, match="5 train images but 4 labels"):
        load_dataset(f"idx:{tmp_path}", small_config(n_in=16))


def test_idx_missing_file_and_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"idx:{tmp_path / 'nope'}", small_config())
    with pytest.raises(DatasetError, match="no train-images-idx"):
        load_dataset(f"idx:{tmp_path}", small_config())


def test_dataset_config_mismatch(tmp_path):
    write_idx_folder(tmp_path)
    with pytest.raises(DatasetError, match="16 inputs but config tiny expects n_in=6"):
        load_dataset(f"idx:{tmp_path}", small_config())


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="valid names: digits, idx:DIR"):
        load_dataset("cifar", small_config())


def test_fashion_mnist_missing_says_how_to_get_it(monkeypatch, tmp_path):
    import spikefab.golden.datasets as datasets
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", preset("mnist"))


# -- N-MNIST -----------------------------------------------------------------------------

def nmnist_bytes(events):
    """N-MNIST's 40-bit events: x, y, then polarity in bit 23 and a 23-bit timestamp."""
    out = bytearray()
    for x, y, t, p in events:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def write_nmnist(folder, samples):
    for split, digit, name, events in samples:
        path = folder / split / str(digit)
        path.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(nmnist_bytes(events))


NMNIST_SAMPLES = [
    ("Train", 3, "00001.bin", [(0, 0, 0, 1), (33, 33, 999, 0), (5, 6, 500, 1)]),
    ("Train", 7, "00002.bin", [(1, 2, 10, 0)]),
    ("Test", 0, "00003.bin", [(10, 20, 0, 0), (11, 20, 300_000, 1)]),
]


def test_nmnist_full_resolution(tmp_path):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    config = small_config(n_in=2312, n_out=10, timesteps=4, hidden=(8,), threshold=100)
    dataset = load_dataset(f"nmnist:{tmp_path}", config)
    assert dataset.kind == "events"
    assert dataset.x_train.shape == (2, 4, 2312) and list(dataset.y_train) == [3, 7]
    raster = dataset.x_train[0]
    # t_last = 999: bins t·4 // 1000; address p·1156 + y·34 + x
    assert raster[0, 1156 + 0] == 1
    assert raster[3, 33 * 34 + 33] == 1
    assert raster[2, 1156 + 6 * 34 + 5] == 1
    assert raster.sum() == 3


def test_nmnist_pooled(tmp_path):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    config = small_config(n_in=578, n_out=10, timesteps=2, hidden=(8,), threshold=100)
    dataset = load_dataset(f"nmnist:{tmp_path}", config)
    test = dataset.x_test[0]
    # (10,20) and (11,20) pool to the same 17×17 cell, different polarity and time bin
    assert test[0, 10 * 17 + 5] == 1 and test[1, 289 + 10 * 17 + 5] == 1


def test_nmnist_errors(tmp_path):
    pytest.importorskip("tonic")
    config = small_config(n_in=578, n_out=10, timesteps=2, hidden=(8,), threshold=100)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"nmnist:{tmp_path / 'none'}", config)
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    with pytest.raises(DatasetError, match="n_in=6 is none of"):
        load_dataset(f"nmnist:{tmp_path}", small_config())
    bad = tmp_path / "Test" / "0" / "00004.bin"
    bad.write_bytes(b"\x01\x02\x03")
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset(f"nmnist:{tmp_path}", config)


EVENT = [("x", int), ("y", int), ("t", int), ("p", int)]


def test_events_outside_the_sensor_are_refused():
    events = np.array([(40, 0, 0, 0)], dtype=EVENT)
    with pytest.raises(DatasetError, match="outside the 34×34"):
        events_to_raster(events, 4, 1)


@pytest.mark.parametrize("x, y", [(34, 0), (0, 34), (34, 34), (-1, 0), (0, -1), (33, 34)])
def test_events_just_off_the_sensor_edges_are_refused(x, y):
    """The sensor is 0 … 33 in x and y: 34 and -1 are off it (x = 34 would otherwise
    land on the next row: address y·34 + 34 = (y + 1)·34)."""
    events = np.array([(5, 5, 0, 0), (x, y, 1, 1)], dtype=EVENT)
    for pool in (1, 2, 3):
        with pytest.raises(DatasetError, match="outside the 34×34"):
            events_to_raster(events, 2, pool)


@pytest.mark.parametrize("pool, side", [(1, 34), (2, 17), (3, 12), (8, 5)])
def test_events_on_the_sensor_edges(pool, side):
    """The four corners (0 and 33 in x and y), both polarities: address
    ``p·side² + (y // f)·side + x // f``, binned by ``t·T // (t_last + 1)``."""
    corners = [(0, 0, 0, 0), (33, 0, 1, 1), (0, 33, 2, 0), (33, 33, 3, 1)]
    raster = events_to_raster(np.array(corners, dtype=EVENT), 4, pool)
    assert raster.shape == (4, 2 * side * side)
    expected = np.zeros_like(raster)
    for x, y, t, p in corners:
        expected[t * 4 // 4, p * side * side + (y // pool) * side + x // pool] = 1
    assert np.array_equal(raster, expected)
    assert raster[3, 2 * side * side - 1] == 1          # (33, 33, on): the last address


# -- early, one-line errors (issue 15) ---------------------------------------------------

def write_split(folder, prefix, n, side, labels=3):
    rng = np.random.default_rng(1)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        idx_bytes(rng.integers(0, 256, (n, side, side))))
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        idx_bytes(rng.integers(0, labels, n)))


def test_idx_splits_of_different_image_shapes_are_refused(tmp_path):
    """8×8 training images and 7×7 test images: refused on loading, not after an epoch."""
    write_split(tmp_path, "train", 5, 8)
    write_split(tmp_path, "t10k", 3, 7)
    with pytest.raises(DatasetError, match=r"train images are 8×8 but its t10k images are 7×7"):
        load_dataset(f"idx:{tmp_path}", small_config(n_in=64))


def test_test_split_that_does_not_fit_the_config_is_refused():
    from spikefab.golden.datasets import Dataset, check_dataset
    x = np.zeros((4, 6), dtype=np.uint8)
    y = np.zeros(4, dtype=np.int64)
    dataset = Dataset("odd", "pixels", x, y, np.zeros((4, 5), dtype=np.uint8), y)
    with pytest.raises(DatasetError, match="test samples have 5 inputs"):
        check_dataset(dataset, "odd", small_config())


@pytest.mark.parametrize("split, name", [("train", "training"), ("t10k", "test")])
def test_label_equal_to_n_out_is_refused_on_loading(tmp_path, split, name):
    """Labels 0 … n_out - 1 load; a label n_out (3 for the 3 outputs here) in either
    split is refused by load_dataset, before any training, in one line."""
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    for prefix in ("train", "t10k"):
        labels = [0, 1, 3] if prefix == split else [0, 1, 2]
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DatasetError) as refused:
        load_dataset(f"idx:{tmp_path}", small_config(n_in=16))
    message = str(refused.value)
    assert f"has {name} labels outside 0 … 2" in message and "\n" not in message
    # The largest valid label, n_out - 1, is accepted.
    (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes([0, 1, 2]))
    dataset = load_dataset(f"idx:{tmp_path}", small_config(n_in=16))
    assert dataset.y_train.max() == dataset.y_test.max() == 2


def test_empty_split_is_refused(tmp_path):
    write_split(tmp_path, "train", 0, 4)
    write_split(tmp_path, "t10k", 3, 4)
    with pytest.raises(DatasetError, match="has no training samples"):
        load_dataset(f"idx:{tmp_path}", small_config(n_in=16))


@pytest.mark.parametrize("n_train, n_test, message", [
    (0, None, "--limit-train must be a positive integer, not 0"),
    (-5, None, "--limit-train must be a positive integer, not -5"),
    (None, 0, "--limit-test must be a positive integer, not 0"),
    (2.5, None, "--limit-train must be a positive integer, not 2.5"),
])
def test_limits_must_be_positive(n_train, n_test, message):
    dataset = load_dataset("digits", preset("digits"))
    with pytest.raises(DatasetError, match=message):
        dataset.limit(n_train, n_test)


def deny(monkeypatch, function, path):
    """Make ``os.<function>(path)`` fail as it does on a folder without read permission."""
    import os
    real = getattr(os, function)

    def denied(target, *args, **kwargs):
        if os.fspath(target) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(target, *args, **kwargs)

    monkeypatch.setattr(os, function, denied)


def test_unreadable_idx_folder_is_reported_unreadable(tmp_path, monkeypatch):
    write_idx_folder(tmp_path)
    deny(monkeypatch, "listdir", tmp_path)
    deny(monkeypatch, "stat", tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(DatasetError, match=f"cannot read dataset folder {tmp_path}: "
                                           f"Permission denied"):
        load_dataset(f"idx:{tmp_path}", small_config(n_in=16))


def test_unreadable_idx_file_is_named(tmp_path, monkeypatch):
    write_idx_folder(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    import builtins
    real = builtins.open

    def denied(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(DatasetError, match=f"cannot read {path}: Permission denied"):
        load_dataset(f"idx:{tmp_path}", small_config(n_in=16))


def test_idx_path_that_is_a_file(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset(f"idx:{tmp_path / 'file'}", small_config())


NMNIST_CONFIG = dict(n_in=578, n_out=10, timesteps=2, hidden=(8,), threshold=100)


def test_nmnist_digit_entry_that_is_a_file(tmp_path):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    (tmp_path / "Train" / "5").write_bytes(b"not a folder")
    with pytest.raises(DatasetError, match=f"{tmp_path / 'Train' / '5'} is a file"):
        load_dataset(f"nmnist:{tmp_path}", small_config(**NMNIST_CONFIG))


@pytest.mark.parametrize("where", ["Train", "Test/0"])
def test_nmnist_unreadable_folder_is_named(tmp_path, monkeypatch, where):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    deny(monkeypatch, "listdir", tmp_path / where)
    with pytest.raises(DatasetError, match=f"cannot read N-MNIST folder {tmp_path / where}: "
                                           f"Permission denied"):
        load_dataset(f"nmnist:{tmp_path}", small_config(**NMNIST_CONFIG))


def test_nmnist_unreadable_file_is_named(tmp_path, monkeypatch):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    path = tmp_path / "Train" / "7" / "00002.bin"
    import builtins
    real = builtins.open

    def denied(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    deny(monkeypatch, "stat", path)
    with pytest.raises(DatasetError, match=f"cannot read {path}: Permission denied"):
        load_dataset(f"nmnist:{tmp_path}", small_config(**NMNIST_CONFIG))


def test_nmnist_bin_entry_that_is_a_folder(tmp_path):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES)
    (tmp_path / "Test" / "0" / "odd.bin").mkdir()
    with pytest.raises(DatasetError, match="odd.bin: .*directory"):
        load_dataset(f"nmnist:{tmp_path}", small_config(**NMNIST_CONFIG))


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root reads any folder")
def test_really_unreadable_idx_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_folder(folder)
    folder.chmod(0)
    try:
        with pytest.raises(DatasetError, match="cannot read dataset folder"):
            load_dataset(f"idx:{folder}", small_config(n_in=16))
    finally:
        folder.chmod(0o755)


def test_idx_gzip_with_a_corrupt_stream_is_named(tmp_path):
    payload = bytearray(gzip.compress(idx_bytes(np.arange(200) % 256)))
    payload[10] ^= 0xFF                 # the deflate stream's first block type
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(bytes(payload))
    with pytest.raises(DatasetError, match=f"cannot read {path}"):
        read_idx(str(path))


def test_nmnist_event_outside_the_sensor_names_the_file(tmp_path):
    pytest.importorskip("tonic")
    write_nmnist(tmp_path, NMNIST_SAMPLES + [("Test", 1, "far.bin", [(40, 0, 0, 0)])])
    with pytest.raises(DatasetError, match="far.bin: event address outside"):
        load_dataset(f"nmnist:{tmp_path}", small_config(**NMNIST_CONFIG))
