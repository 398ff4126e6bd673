"""Datasets, loaded from installed packages or local folders; nothing is downloaded.

Dataset names (the ``--dataset`` of every ``spikefab`` command):

``digits``
    scikit-learn's embedded 8×8 digits (1,797 images, intensities 0…16, rescaled to
    0…255 by ``(x · 255 + 8) // 16``). Split: ``XorShift32(0).permutation(1797)``; the
    first 20 % (359 images) is the test set, the rest (1,438) the training set.
``idx:DIR``
    Any folder of MNIST-format files (MNIST, Fashion-MNIST, KMNIST):
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each optionally ``.gz``. The files' own train/test split.
``fashion-mnist``
    Debian's ``dataset-fashion-mnist`` under ``/usr/share/datasets/fashion-mnist``.
``nmnist:DIR``
    N-MNIST event files, ``DIR/{Train,Test}/<digit>/*.bin``, read with tonic's
    ``read_mnist_file`` (``pip install 'spikefab[events]'``). Each sample's events are
    binned into ``T`` equal time bins spanning ``0 … last timestamp`` (bin
    ``t · T // (t_last + 1)``), pooled ``f × f`` in space, and become a binary raster with
    address ``p · (H·W) + y · W + x`` (``H = W = ceil(34 / f)``). The pooling ``f`` is the
    one for which ``2 · H · W`` equals the config's ``n_in`` (2312 for ``f = 1``, 578 for
    ``f = 2``, …).
``saccade:SOURCE``
    A pixel dataset of square images (``digits``, ``fashion-mnist``, ``idx:DIR``) turned
    into event rasters by an emulated event camera making three saccades over each image,
    as N-MNIST was recorded (:mod:`golden.saccade`, :mod:`golden.saccade_dataset`).

Pixel datasets keep uint8 images ``(N, n_in)``; the chip's encoder turns them into
rasters. Event datasets hold uint8 rasters ``(N, T, n_in)`` already.

Every problem is a :class:`DatasetError` with one line that names the file or folder and
the reason, raised while loading, before any training: a missing, unreadable or
malformed file, splits whose samples differ in shape, a split that does not fit the
config (inputs, timesteps, labels), an empty split.
"""

import gzip
import io
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from spikefab.golden.rng import XorShift32


__all__ = ["Dataset", "DatasetError", "load_dataset", "check_dataset", "read_idx",
           "DATASET_NAMES"]

DATASET_NAMES = ("digits", "idx:DIR", "fashion-mnist", "nmnist:DIR", "saccade:SOURCE")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
NMNIST_SENSOR = 34


class DatasetError(Exception):
    """A dataset that is missing, malformed or does not fit the config."""


@dataclass
class Dataset:
    name: str
    kind: str              # "pixels" or "events"
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_in(self):
        return self.x_train.shape[-1]

    def limit(self, n_train=None, n_test=None):
        """The first ``n_train`` / ``n_test`` samples (None keeps all; otherwise a
        positive integer, as ``--limit-train`` / ``--limit-test``)."""
        for option, n in (("--limit-train", n_train), ("--limit-test", n_test)):
            if n is not None and not (isinstance(n, (int, np.integer))
                                      and not isinstance(n, bool) and n > 0):
                raise DatasetError(f"{option} must be a positive integer, not {n}")
        return Dataset(self.name, self.kind, self.x_train[:n_train], self.y_train[:n_train],
                       self.x_test[:n_test], self.y_test[:n_test])


# -- digits --------------------------------------------------------------------------------

def load_digits_dataset():
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.data.astype(np.int64) * 255 + 8) // 16
    labels = digits.target.astype(np.int64)
    order = XorShift32(0).permutation(len(labels))
    n_test = len(labels) // 5
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", "pixels", images[train].astype(np.uint8), labels[train],
                   images[test].astype(np.uint8), labels[test])


# -- IDX -----------------------------------------------------------------------------------

def read_idx(path):
    """Read one IDX file of unsigned bytes (``.gz`` allowed) into a uint8 array.

    Raises :class:`DatasetError` on a bad magic number, an element type other than
    unsigned byte, or a payload whose size differs from what the header promises.
    """
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {_reason(error)}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise DatasetError(f"{path} holds IDX element type 0x{data[2]:02x}; "
                           f"only unsigned bytes (0x08) are supported")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetError(f"{path} has a truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DatasetError(f"{path} is truncated or padded: its header promises "
                           f"{expected} bytes of data, the file holds {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _reason(error):
    """An OSError's reason in words (``Permission denied``), without its errno and path."""
    return error.strerror or str(error)


def list_folder(folder, what):
    """The names in ``folder``; a missing, unreadable or not-a-folder one is a
    :class:`DatasetError` naming it (``what`` says whose folder it is)."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        raise DatasetError(f"{what} folder {folder} does not exist") from None
    except NotADirectoryError:
        raise DatasetError(f"{what} folder {folder} is not a folder but a file") from None
    except OSError as error:
        raise DatasetError(f"cannot read {what} folder {folder}: {_reason(error)}") from None


def _find_idx(folder, names, prefix, kind):
    for suffix in ("", ".gz"):
        for sep in ("-", "."):
            name = f"{prefix}-{kind}{sep}idx{3 if kind == 'images' else 1}-ubyte{suffix}"
            if name in names:
                return os.path.join(folder, name)
    raise DatasetError(f"{folder} has no {prefix}-{kind}-idx?-ubyte[.gz] file")


def _read_idx_split(folder, names, prefix):
    """One split's images ``(N, rows, cols)`` and labels ``(N,)``."""
    images = read_idx(_find_idx(folder, names, prefix, "images"))
    labels = read_idx(_find_idx(folder, names, prefix, "labels"))
    if images.ndim != 3 or labels.ndim != 1:
        raise DatasetError(f"{folder}: {prefix} images must be 3-D and labels 1-D")
    if len(images) != len(labels):
        raise DatasetError(f"{folder}: {len(images)} {prefix} images but "
                           f"{len(labels)} labels")
    return images, labels.astype(np.int64)


def _size(images):
    """``rows×cols`` of a stack of images."""
    return "×".join(str(n) for n in images.shape[1:])


def load_idx_dataset(folder, name=None):
    names = list_folder(folder, "dataset")
    (train_x, train_y), (test_x, test_y) = (_read_idx_split(folder, names, prefix)
                                            for prefix in ("train", "t10k"))
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(f"{folder}: its train images are {_size(train_x)} but its "
                           f"t10k images are {_size(test_x)}; both splits must be alike")
    pixels = int(np.prod(train_x.shape[1:]))
    return Dataset(name or f"idx:{folder}", "pixels", train_x.reshape(len(train_x), pixels),
                   train_y, test_x.reshape(len(test_x), pixels), test_y)


def load_fashion_mnist():
    if not os.path.isdir(FASHION_MNIST_DIR):
        raise DatasetError(f"Fashion-MNIST is not installed at {FASHION_MNIST_DIR}; "
                           f"install it with `apt-get install dataset-fashion-mnist`, "
                           f"or use idx:DIR with a folder of IDX files")
    return load_idx_dataset(FASHION_MNIST_DIR, name="fashion-mnist")


# -- N-MNIST -------------------------------------------------------------------------------

NMNIST_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def events_to_raster(events, timesteps, pool):
    """Bin one sample's ``x, y, t, p`` events into a ``(T, 2·H·W)`` binary raster."""
    side = -(-NMNIST_SENSOR // pool)
    raster = np.zeros((timesteps, 2 * side * side), dtype=np.uint8)
    if len(events) == 0:
        return raster
    x, y, t, p = (np.asarray(events[f], dtype=np.int64) for f in "xytp")
    if x.min() < 0 or x.max() >= NMNIST_SENSOR or y.min() < 0 or y.max() >= NMNIST_SENSOR:
        raise DatasetError("event address outside the 34×34 N-MNIST sensor")
    bins = t * timesteps // (t.max() + 1)
    address = (p != 0) * (side * side) + (y // pool) * side + x // pool
    raster[bins, address] = 1
    return raster


def load_nmnist_dataset(folder, timesteps, n_in):
    if not os.path.exists(folder):
        raise DatasetError(f"N-MNIST folder {folder} does not exist; it must hold "
                           f"Train/<digit>/*.bin and Test/<digit>/*.bin")
    names = list_folder(folder, "N-MNIST")
    try:
        from tonic.io import read_mnist_file
    except ImportError:
        raise DatasetError("nmnist:DIR needs tonic: pip install 'spikefab[events]'") from None
    pools = {2 * (-(-NMNIST_SENSOR // f)) ** 2: f for f in range(1, 9)}
    if n_in not in pools:
        raise DatasetError(f"N-MNIST gives 2·H·W inputs after f×f pooling; the config's "
                           f"n_in={n_in} is none of {sorted(pools, reverse=True)}")
    pool = pools[n_in]
    parts = {}
    for split in ("Train", "Test"):
        root = os.path.join(folder, split)
        if split not in names:
            raise DatasetError(f"N-MNIST folder {folder} has no {split}/ subfolder")
        parts[split] = _read_nmnist_split(root, timesteps, pool, read_mnist_file)
    return Dataset(f"nmnist:{folder}", "events", *parts["Train"], *parts["Test"])


def _read_nmnist_split(root, timesteps, pool, read_mnist_file):
    """Rasters and labels of every ``root/<digit>/*.bin``."""
    rasters, labels = [], []
    for digit in list_folder(root, "N-MNIST"):
        if not digit.isdigit():
            continue
        folder = os.path.join(root, digit)
        if os.path.isfile(folder):
            raise DatasetError(f"{folder} is a file; N-MNIST digits are folders of .bin files")
        for name in list_folder(folder, "N-MNIST"):
            if name.endswith(".bin"):
                path = os.path.join(folder, name)
                rasters.append(_nmnist_raster(path, timesteps, pool, read_mnist_file))
                labels.append(int(digit))
    if not rasters:
        raise DatasetError(f"N-MNIST folder {root} holds no <digit>/*.bin files")
    return np.stack(rasters), np.array(labels, dtype=np.int64)


def _nmnist_raster(path, timesteps, pool, read_mnist_file):
    """One sample's raster; a bad file is refused by name."""
    events = _read_nmnist_file(path, read_mnist_file)
    try:
        return events_to_raster(events, timesteps, pool)
    except DatasetError as error:
        raise DatasetError(f"{path}: {error}") from None


def _read_nmnist_file(path, read_mnist_file):
    """One sample's events; an unreadable or truncated file is refused by name."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {_reason(error)}") from None
    if len(data) % 5:
        raise DatasetError(f"{path} is truncated: N-MNIST events are 5 bytes each")
    return read_mnist_file(io.BytesIO(data), dtype=NMNIST_DTYPE, is_stream=True)


# -- entry point ---------------------------------------------------------------------------

def load_dataset(spec, config):
    """Load the dataset named ``spec`` for ``config`` (whose ``n_in`` it must match)."""
    if spec == "digits":
        dataset = load_digits_dataset()
    elif spec == "fashion-mnist":
        dataset = load_fashion_mnist()
    elif spec.startswith("idx:"):
        dataset = load_idx_dataset(spec[len("idx:"):])
    elif spec.startswith("nmnist:"):
        dataset = load_nmnist_dataset(spec[len("nmnist:"):], config.timesteps, config.n_in)
    elif spec.startswith("saccade:"):
        from spikefab.golden.saccade_dataset import load_saccade_dataset
        dataset = load_saccade_dataset(spec[len("saccade:"):], config)
    else:
        raise DatasetError(f"unknown dataset {spec!r}; valid names: {', '.join(DATASET_NAMES)}")
    check_dataset(dataset, spec, config)
    return dataset


def _inputs(shape):
    """A sample's shape in words: ``784 inputs``, ``784 inputs × 16 timesteps``."""
    if len(shape) == 1:
        return f"{shape[0]} inputs"
    if len(shape) == 2:
        return f"{shape[1]} inputs × {shape[0]} timesteps"
    return f"shape {shape}"


def check_dataset(dataset, spec, config):
    """Refuse a dataset whose either split does not fit ``config``, before training."""
    if dataset.n_in != config.n_in:
        raise DatasetError(f"dataset {spec} has {dataset.n_in} inputs but config "
                           f"{config.name} expects n_in={config.n_in}")
    sample = (config.n_in,) if dataset.kind == "pixels" else (config.timesteps, config.n_in)
    for split, x, y in (("training", dataset.x_train, dataset.y_train),
                        ("test", dataset.x_test, dataset.y_test)):
        if x.shape[1:] != sample:
            raise DatasetError(f"dataset {spec}: its {split} samples have "
                               f"{_inputs(x.shape[1:])}, config {config.name} needs "
                               f"{_inputs(sample)}")
        if len(x) != len(y):
            raise DatasetError(f"dataset {spec}: {len(x)} {split} samples but "
                               f"{len(y)} labels")
        if len(y) == 0:
            raise DatasetError(f"dataset {spec} has no {split} samples")
        if y.min() < 0 or y.max() >= config.n_out:
            raise DatasetError(f"dataset {spec} has {split} labels outside "
                               f"0 … {config.n_out - 1}")
