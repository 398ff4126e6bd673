"""``saccade:SOURCE`` datasets: a pixel dataset seen by the emulated event camera.

``SOURCE`` is a pixel dataset of square images: ``digits`` (8×8 on a 10×10 sensor),
``fashion-mnist`` or ``idx:DIR`` (28×28 on 34×34, as N-MNIST). Each split's images
become event rasters by :mod:`golden.saccade` with its default camera
(:func:`~golden.saccade.saccade_params`), binned into the config's ``timesteps`` and
pooled ``f × f``, ``f`` being the one for which ``2·ceil(sensor/f)²`` is the config's
``n_in`` (digits: 200 for ``f = 1``, 50 for ``f = 2``; 28×28: 2312, 578, 288, …).

Generation is deterministic, so large splits (at least :data:`CACHE_MIN_PIXELS` image ×
sensor pixels: Fashion-MNIST, not digits) are kept in a cache folder, keyed by a hash of
the images, the camera, ``timesteps``, the pooling and :data:`EMULATOR_VERSION`:
``$SPIKEFAB_CACHE`` or ``$XDG_CACHE_HOME/spikefab`` or ``~/.cache/spikefab``, under
``saccade/``. A cache file is written to a temporary file in the same folder and renamed
into place; one that cannot be read is made again, and a folder that cannot be written
leaves the rasters uncached.
"""

import hashlib
import os
import tempfile

import numpy as np

from spikefab.golden import datasets
from spikefab.golden.saccade import image_side, saccade_params, saccade_rasters, sensor_pools


__all__ = ["load_saccade_dataset", "cache_folder", "SACCADE_SOURCES", "CACHE_MIN_PIXELS"]

SACCADE_SOURCES = ("digits", "fashion-mnist", "idx:DIR")
#: Bump when the emulator's output changes, so that old cache files are not read.
EMULATOR_VERSION = 2
#: Splits with fewer image × sensor pixels are made afresh each time (digits: 0.1 s).
CACHE_MIN_PIXELS = 5_000_000


def _source_dataset(source):
    if source == "digits":
        return datasets.load_digits_dataset()
    if source == "fashion-mnist":
        return datasets.load_fashion_mnist()
    if source.startswith("idx:"):
        return datasets.load_idx_dataset(source[len("idx:"):])
    raise datasets.DatasetError(
        f"unknown dataset 'saccade:{source}'; saccade: takes a pixel dataset of square "
        f"images: {', '.join(SACCADE_SOURCES)}")


def load_saccade_dataset(source, config):
    """Both splits of ``saccade:source`` as event rasters ``(N, T, n_in)`` for ``config``."""
    pixels = _source_dataset(source)
    spec = f"saccade:{source}"
    try:
        params = saccade_params(image_side(pixels.x_train, spec))
    except ValueError as error:
        raise datasets.DatasetError(str(error)) from None
    pools = sensor_pools(params.sensor)
    if config.n_in not in pools:
        raise datasets.DatasetError(
            f"{spec} gives 2·H·W inputs (its {params.sensor}×{params.sensor} sensor after "
            f"f×f pooling); the config's n_in={config.n_in} is none of "
            f"{sorted(pools, reverse=True)}")
    pool = pools[config.n_in]
    splits = [_rasters(x, params, split, config.timesteps, pool)
              for split, x in (("train", pixels.x_train), ("test", pixels.x_test))]
    return datasets.Dataset(spec, "events", splits[0], pixels.y_train, splits[1],
                            pixels.y_test)


def cache_folder():
    """Where large splits' rasters are kept (module docstring)."""
    root = (os.environ.get("SPIKEFAB_CACHE")
            or os.path.join(os.environ.get("XDG_CACHE_HOME")
                            or os.path.expanduser("~/.cache"), "spikefab"))
    return os.path.join(root, "saccade")


def _rasters(images, params, split, timesteps, pool):
    """One split's rasters, from the cache when it is large and already there."""
    if len(images) * params.sensor ** 2 < CACHE_MIN_PIXELS:
        return saccade_rasters(images, params, split, timesteps, pool)
    key = hashlib.sha256(repr((EMULATOR_VERSION, params, split, timesteps, pool,
                               images.shape)).encode())
    key.update(np.ascontiguousarray(images).tobytes())
    path = os.path.join(cache_folder(), f"{split}-{key.hexdigest()[:24]}.npy")
    shape = (len(images), timesteps, 2 * (-(-params.sensor // pool)) ** 2)
    rasters = _read_cache(path, shape)
    if rasters is None:
        rasters = saccade_rasters(images, params, split, timesteps, pool)
        _write_cache(path, rasters)
    return rasters


def _read_cache(path, shape):
    """The rasters kept at ``path``, or None when there are none of ``shape`` there."""
    try:
        packed = np.load(path, allow_pickle=False)
        rasters = np.unpackbits(packed, axis=-1, count=shape[-1])
    except (OSError, ValueError, EOFError):
        return None
    return rasters if rasters.shape == shape else None


def _write_cache(path, rasters):
    """Keep ``rasters`` bit-packed at ``path``: a temporary file renamed into place."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:
        return                                   # no cache: the rasters are still right
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, np.packbits(rasters, axis=-1))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError:
        pass
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
