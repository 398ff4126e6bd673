"""Input encoders: pixel intensities to a binary spike raster ``(T, n_in)``.

Both pixel-mode encoders run on the chip; these functions define them exactly. Pixels
are unsigned integers of ``pixel_bits`` (0 … ``2**pixel_bits - 1``), flattened row-major.

**Rate (LFSR)** — ``rate_encode``. The LFSR of :mod:`golden.rng` is reloaded with
``lfsr_seed`` at the start of every sample, then drawn once per (timestep, pixel) in
timestep-major, pixel-minor order: draw ``n = t · n_in + p``. Pixel ``p`` spikes at
timestep ``t`` when ``pixel[p] > draw[n]`` (strictly), so intensity 0 never spikes and
the firing probability is about ``pixel / 2**pixel_bits``.

**Sigma-delta** — ``sigma_delta_encode`` (first-order, after seed 003's sigma-delta
coding). Each pixel has an accumulator ``σ`` of ``pixel_bits + 1`` bits that starts at
``2**(pixel_bits-1)`` (half a quantum, so the count rounds to nearest). Each timestep
``σ ← σ + pixel``; when ``σ ≥ 2**pixel_bits`` the pixel spikes and
``σ ← σ - 2**pixel_bits``. Over ``T`` steps pixel ``p`` spikes
``floor((2**(pixel_bits-1) + T·pixel) / 2**pixel_bits)`` times, evenly spread.

**Event mode** needs no encoder: the host sends, per timestep, the strictly increasing
addresses of the inputs that spike, which is the raster itself.
"""

import numpy as np

from spikefab.golden.rng import lfsr16_draws


__all__ = ["rate_encode", "sigma_delta_encode", "encode", "ENCODERS"]


def check_images(images, config):
    """Validate ``(N, n_in)`` pixel intensities; return them as int64."""
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != config.n_in:
        raise ValueError(f"pixel samples must have shape (N, {config.n_in}), not {images.shape}")
    if not np.issubdtype(images.dtype, np.integer):
        raise ValueError(f"pixel intensities must be integers, not {images.dtype}")
    if images.size and (images.min() < 0 or images.max() > config.pixel_max):
        raise ValueError(f"pixel intensities must lie in 0 … {config.pixel_max}")
    return images.astype(np.int64)


def rate_encode(images, config):
    """Rate-encode ``(N, n_in)`` pixels → ``(N, T, n_in)`` uint8 rasters.

    Every sample reloads the LFSR, so the draws are the same for all of them.
    """
    images = check_images(images, config)
    draws = lfsr16_draws(config.lfsr_seed, config.timesteps * config.n_in,
                         config.pixel_bits).reshape(config.timesteps, config.n_in)
    return (images[:, None, :] > draws[None, :, :]).astype(np.uint8)


def sigma_delta_encode(images, config):
    """Sigma-delta-encode ``(N, n_in)`` pixels → ``(N, T, n_in)`` uint8 rasters."""
    images = check_images(images, config)
    full = 1 << config.pixel_bits
    sigma = np.full(images.shape, full >> 1, dtype=np.int64)
    raster = np.empty((images.shape[0], config.timesteps, config.n_in), dtype=np.uint8)
    for t in range(config.timesteps):
        sigma += images
        fire = sigma >= full
        raster[:, t] = fire
        sigma -= fire * full
    return raster


ENCODERS = {"rate": rate_encode, "sigma-delta": sigma_delta_encode}


def encode(images, config):
    """The rasters the chip's configured encoder produces for ``(N, n_in)`` pixels."""
    return ENCODERS[config.encoding](images, config)
