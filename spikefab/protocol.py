"""The host protocol of the chip: sample payloads, frames, opcodes and replies.

This module is the written-down wire format; ``hw/`` implements it in gateware and
:mod:`spikefab.driver` speaks it from the host. Nothing here needs Amaranth.

Sample payloads
---------------
*Pixels*: ``n_in`` bytes, one intensity per input, row-major.
*Events*: for each timestep, the addresses of the inputs that spike, strictly increasing,
each a little-endian 16-bit word, then the word ``0xFFFF``; ``T`` timesteps in all.
"""

import numpy as np


__all__ = ["EVENT_END", "pixel_payload", "event_payload"]

EVENT_END = 0xFFFF


def pixel_payload(pixels, config):
    """Bytes of one pixel sample (``n_in`` intensities)."""
    pixels = np.asarray(pixels)
    if pixels.shape != (config.n_in,):
        raise ValueError(f"a pixel sample must have shape ({config.n_in},), not {pixels.shape}")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise ValueError("pixel intensities must fit one byte")
    return bytes(pixels.astype(np.uint8))


def event_payload(raster):
    """Bytes of one event sample from a binary raster ``(T, n_in)``."""
    raster = np.asarray(raster)
    words = []
    for row in raster:
        words.extend(int(i) for i in np.flatnonzero(row))
        words.append(EVENT_END)
    return np.asarray(words, dtype="<u2").tobytes()
