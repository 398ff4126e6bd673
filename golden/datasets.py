"""Datasets, loaded from installed packages or local folders; nothing is downloaded.

Dataset names (SPEC §6):

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

Pixel datasets keep uint8 images ``(N, n_in)``; the chip's encoder turns them into
rasters. Event datasets hold uint8 rasters ``(N, T, n_in)`` already.
"""

import gzip
import os
import struct
from dataclasses import dataclass

import numpy as np

from .rng import XorShift32


__all__ = ["Dataset", "DatasetError", "load_dataset", "read_idx", "DATASET_NAMES"]

DATASET_NAMES = ("digits", "idx:DIR", "fashion-mnist", "nmnist:DIR")
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
        """The first ``n_train`` / ``n_test`` samples (None keeps all)."""
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
    except (OSError, EOFError, gzip.BadGzipFile) as error:
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


def _find_idx(folder, prefix, kind):
    for suffix in ("", ".gz"):
        for sep in ("-", "."):
            name = f"{prefix}-{kind}{sep}idx{3 if kind == 'images' else 1}-ubyte{suffix}"
            path = os.path.join(folder, name)
            if os.path.exists(path):
                return path
    raise DatasetError(f"{folder} has no {prefix}-{kind}-idx?-ubyte[.gz] file")


def load_idx_dataset(folder, name=None):
    if not os.path.isdir(folder):
        raise DatasetError(f"dataset folder {folder} does not exist")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_find_idx(folder, prefix, "images"))
        labels = read_idx(_find_idx(folder, prefix, "labels"))
        if images.ndim != 3 or labels.ndim != 1:
            raise DatasetError(f"{folder}: {prefix} images must be 3-D and labels 1-D")
        if len(images) != len(labels):
            raise DatasetError(f"{folder}: {len(images)} {prefix} images but "
                               f"{len(labels)} labels")
        parts[split] = (images.reshape(len(images), -1), labels.astype(np.int64))
    return Dataset(name or f"idx:{folder}", "pixels", *parts["train"], *parts["test"])


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
    if not os.path.isdir(folder):
        raise DatasetError(f"N-MNIST folder {folder} does not exist; it must hold "
                           f"Train/<digit>/*.bin and Test/<digit>/*.bin")
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
        rasters, labels = [], []
        root = os.path.join(folder, split)
        if not os.path.isdir(root):
            raise DatasetError(f"N-MNIST folder {folder} has no {split}/ subfolder")
        for digit in sorted(os.listdir(root)):
            if not digit.isdigit():
                continue
            for name in sorted(os.listdir(os.path.join(root, digit))):
                if not name.endswith(".bin"):
                    continue
                path = os.path.join(root, digit, name)
                if os.path.getsize(path) % 5:
                    raise DatasetError(f"{path} is truncated: N-MNIST events are 5 bytes each")
                events = read_mnist_file(path, dtype=NMNIST_DTYPE)
                rasters.append(events_to_raster(events, timesteps, pool))
                labels.append(int(digit))
        if not rasters:
            raise DatasetError(f"N-MNIST folder {root} holds no <digit>/*.bin files")
        parts[split] = (np.stack(rasters), np.array(labels, dtype=np.int64))
    return Dataset(f"nmnist:{folder}", "events", *parts["Train"], *parts["Test"])


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
    else:
        raise DatasetError(f"unknown dataset {spec!r}; valid names: {', '.join(DATASET_NAMES)}")
    if dataset.n_in != config.n_in:
        raise DatasetError(f"dataset {spec} has {dataset.n_in} inputs but config "
                           f"{config.name} expects n_in={config.n_in}")
    labels = np.concatenate([dataset.y_train, dataset.y_test])
    if labels.size and (labels.min() < 0 or labels.max() >= config.n_out):
        raise DatasetError(f"dataset {spec} has labels outside 0 … {config.n_out - 1}")
    return dataset
