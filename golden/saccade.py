"""Event-camera emulation of static images: three saccades, the way N-MNIST was recorded.

Orchard et al. (2015) recorded N-MNIST by pointing an ATIS camera on a pan-tilt unit at
each MNIST digit on a screen and making three small saccades (a triangle) over it. This
module does the same to any stack of square images, in integer arithmetic only, so the
rasters it feeds to golden and the RTL are the same on every machine.

**Sensor.** A ``side × side`` image sits in the middle of a square sensor of
``side + 2·margin`` pixels (``margin = max(1, (3·side + 14) // 28)``: 8×8 digits on a
10×10 sensor, 28×28 images on 34×34, as N-MNIST).

**Motion.** Positions are in 1/16 pixel. The image's offset from its centred place
follows the triangle ``(0, -a) → (a, a) → (-a, a) → (0, -a)`` (x, y; ``a = 16·margin``),
``steps`` steps per saccade, step ``j`` of saccade ``s`` at
``V_s + (V_{s+1} - V_s) · j // steps`` (floor division); frame ``k = 0 … 3·steps``. Each
image adds its own jitter ``(jx, jy)``, integers in ``-8 … 7`` (up to half a pixel),
drawn from xorshift32 (:mod:`golden.rng`) seeded with ``seed + split · 0x9E3779B9``
(mod 2**32), two draws per image in order: ``jx = draw % 16 - 8``, then ``jy``.

**Intensity.** Sensor pixel ``(X, Y)`` sees the image at ``u = 16·X - ox`` (and ``v``),
``ox`` being the image's origin on the sensor at that frame: with ``i = u >> 4``,
``fx = u & 15`` (and ``j``, ``fy``), bilinear interpolation
``J = (16-fx)(16-fy)·I[j,i] + fx(16-fy)·I[j,i+1] + (16-fx)fy·I[j+1,i] + fx·fy·I[j+1,i+1]``
with image pixels outside the image 0, so ``J`` is in ``0 … 255·256``.

**Log intensity.** ``L = log2(J + 256)`` in units of 1/256 (``+256`` is the dark current:
a black pixel is ``L = 2048``, white about ``4096``), computed bit by bit with integer
squaring (:func:`fixed_log2`), truncated: exact, and the same on every machine.

**Pixels.** Each pixel keeps a reference ``ref``, its ``L`` at frame 0. At event step
``e = 0 … 3·steps - 1`` it compares frame ``e + 1``'s ``L``: ``L - ref ≥ θ_on`` fires an
ON event (polarity 1), ``ref - L ≥ θ_off`` an OFF event (polarity 0); either sets
``ref = L``. For ``r = ceil(refractory_us / step_us)`` steps after an event (steps
``e_last + 1 … e_last + r - 1``) the pixel is held in reset: it fires nothing and its
``ref`` follows ``L``. The thresholds carry fixed-pattern mismatch, as a real sensor's:
``θ_on`` and ``θ_off`` of each pixel are ``threshold + d`` with ``d`` uniform in
``-mismatch … mismatch``, drawn per sensor (not per image) from xorshift32 seeded with
``seed``: all ON thresholds row-major, then all OFF ones (``d = draw % (2m+1) - m``).

**Events and rasters.** An event at step ``e`` has timestamp ``t = e · step_us`` µs
(window ``0 … 3·saccade_us``), address ``x, y`` on the sensor and polarity ``p``. A
raster of ``T`` timesteps bins step ``e`` into ``e · T // (3·steps)`` (a fixed window,
the same for every image), pools ``f × f`` and sets input
``p · H·W + (y // f) · W + x // f`` (``H = W = ceil(sensor / f)``), as ``nmnist:DIR``.
"""

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from spikefab.golden.rng import xorshift32


__all__ = ["SaccadeParams", "saccade_params", "fixed_log2", "saccade_path", "image_jitter",
           "saccade_frames", "saccade_events", "saccade_rasters", "sensor_pools",
           "EVENT_DTYPE", "LOG_FRAC_BITS", "SUBPIXEL"]

#: Log intensities are in units of 2**-LOG_FRAC_BITS (log2).
LOG_FRAC_BITS = 8
#: Positions are in 1/SUBPIXEL pixel; bilinear weights sum to SUBPIXEL**2.
SUBPIXEL = 16
SUBPIXEL_BITS = 4
#: The dark current added before the log: one grey level, in interpolated units.
DARK = SUBPIXEL * SUBPIXEL
#: Split numbers that salt the jitter generator.
SPLITS = {"train": 0, "test": 1}
GOLDEN_GAMMA = 0x9E3779B9
EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
_MAX_LEVEL = 255


@dataclass(frozen=True)
class SaccadeParams:
    """The emulated camera and its motion (module docstring: the rules they enter).

    side : int
        The images' side (square images).
    margin : int
        Sensor pixels on each side of the image: the sensor is ``side + 2·margin``.
    steps : int
        Event steps per saccade (three saccades).
    saccade_us : int
        Duration of one saccade in µs; a step is ``saccade_us // steps``.
    threshold : int
        Contrast threshold in 1/256 log2 units (both polarities).
    mismatch : int
        Fixed-pattern spread of the thresholds, ``±mismatch`` (``< threshold``).
    refractory_us : int
        After an event a pixel fires nothing for this long (at least one step).
    seed : int
        Seed of the threshold mismatch and the per-image jitter.

    The defaults (threshold 192 ± 24 in 1/256 log2 units, a contrast of
    2**(0.75 ± 0.094); four steps' refractory period) keep an 8×8 digit's sample within
    the chip's 1 KiB input buffer: at most 381 raster events in 16 timesteps (mean
    288); half the threshold and period would give 730.
    """

    side: int
    margin: int
    steps: int = 16
    saccade_us: int = 100_000
    threshold: int = 192
    mismatch: int = 24
    refractory_us: int = 25_000
    seed: int = 1

    def __post_init__(self):
        for name in ("side", "margin", "steps", "saccade_us", "threshold", "refractory_us"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"saccade {name} must be a positive integer, not {value!r}")
        if self.saccade_us < self.steps:
            raise ValueError(f"saccade_us={self.saccade_us} is shorter than one µs a step")
        if not 0 <= self.mismatch < self.threshold:
            raise ValueError(f"saccade mismatch must be in 0 … threshold-1, not {self.mismatch}")

    @property
    def sensor(self):
        return self.side + 2 * self.margin

    @property
    def event_steps(self):
        """Event steps of the three saccades together."""
        return 3 * self.steps

    @property
    def step_us(self):
        return self.saccade_us // self.steps

    @property
    def window_us(self):
        return self.event_steps * self.step_us

    @property
    def refractory_steps(self):
        """``r``: events of one pixel are at least this many steps apart."""
        return max(1, -(-self.refractory_us // self.step_us))


def saccade_params(side, **changes):
    """The default camera for ``side × side`` images (margin scaled as N-MNIST's 3/28)."""
    return SaccadeParams(side=side, margin=max(1, (3 * side + 14) // 28), **changes)


def sensor_pools(sensor, max_pool=8):
    """``{n_in: f}``: the raster width ``2·ceil(sensor/f)²`` of each pooling ``f`` (the
    smallest ``f`` where two give the same width)."""
    pools = {}
    for f in range(1, max_pool + 1):
        pools.setdefault(2 * (-(-sensor // f)) ** 2, f)
    return pools


# -- integer arithmetic --------------------------------------------------------------------

def fixed_log2(x, frac_bits=LOG_FRAC_BITS):
    """``floor``-style ``log2(x) · 2**frac_bits`` of positive integers ``x < 2**31``, exactly.

    The integer part is the bit length less one; each fraction bit squares the mantissa
    (30 fraction bits, truncated) and takes a bit when it reaches 2.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.size and (x.min() < 1 or x.max() >= 1 << 31):
        raise ValueError("fixed_log2 takes integers 1 … 2**31 - 1")
    one = 1 << 30
    exponent = np.zeros_like(x)
    for bit in range(30, -1, -1):       # bit length - 1, vectorised
        exponent = np.where((exponent == 0) & (x >= (1 << bit)), bit, exponent)
    mantissa = (x << 30) >> exponent    # in [1, 2) with 30 fraction bits
    result = exponent << frac_bits
    for bit in range(frac_bits - 1, -1, -1):
        mantissa = (mantissa * mantissa) >> 30
        carry = mantissa >= 2 * one
        result += carry.astype(np.int64) << bit
        mantissa = np.where(carry, mantissa >> 1, mantissa)
    return result


#: ``L`` of every interpolated intensity ``J = 0 … 255·256``.
LOG_TABLE = fixed_log2(np.arange(_MAX_LEVEL * DARK + 1) + DARK)


def saccade_path(params):
    """``(3·steps + 1, 2)`` int64: the image's offset (x, y) in 1/16 pixel at every frame."""
    a = SUBPIXEL * params.margin
    vertices = [(0, -a), (a, a), (-a, a), (0, -a)]
    frames = [vertices[0]]
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:]):
        for j in range(1, params.steps + 1):
            frames.append((x0 + (x1 - x0) * j // params.steps,
                           y0 + (y1 - y0) * j // params.steps))
    return np.array(frames, dtype=np.int64)


@njit(cache=True, nogil=True)
def _draws(seed, count):
    """``count`` successive xorshift32 states after ``seed`` (0 is replaced as XorShift32)."""
    out = np.empty(count, dtype=np.int64)
    state = seed if seed else GOLDEN_GAMMA
    for i in range(count):
        state = xorshift32(state)
        out[i] = state
    return out


def image_jitter(params, split, count):
    """``(count, 2)`` int64: each image's jitter ``(jx, jy)`` in ``-8 … 7`` (1/16 pixel)."""
    seed = (params.seed + SPLITS[split] * GOLDEN_GAMMA) & 0xFFFFFFFF
    return (_draws(seed, 2 * count) % SUBPIXEL - SUBPIXEL // 2).reshape(count, 2)


def pixel_thresholds(params):
    """``(θ_on, θ_off)``, each ``(sensor, sensor)`` int64, with fixed-pattern mismatch."""
    m, n = params.mismatch, params.sensor * params.sensor
    d = _draws(params.seed, 2 * n) % (2 * m + 1) - m
    shape = (params.sensor, params.sensor)
    return (params.threshold + d[:n]).reshape(shape), (params.threshold + d[n:]).reshape(shape)


def frame_origins(params, jitter):
    """``(N, frames, 2)``: each image's origin (x, y) on the sensor, in 1/16 pixel."""
    centred = SUBPIXEL * params.margin
    return centred + saccade_path(params)[None, :, :] + np.asarray(jitter)[:, None, :]


def _pad(params):
    """Zeros around an image that every sampled point (and its right/lower neighbour)
    stays within: origins span ``0 … 32·margin`` plus jitter ``-8 … 7``."""
    return 2 * params.margin + 2


# -- intensity frames (numpy; the kernel below recomputes them pixel by pixel) ------------

def saccade_frames(image, params, jitter=(0, 0)):
    """``(3·steps + 1, sensor, sensor)`` int64: the interpolated ``J`` the sensor sees at
    every frame of one ``(side, side)`` image with the given jitter."""
    image = np.asarray(image, dtype=np.int64).reshape(params.side, params.side)
    pad = _pad(params)
    canvas = np.pad(image, pad)
    sensor = np.arange(params.sensor) * SUBPIXEL
    frames = []
    for ox, oy in frame_origins(params, [jitter])[0]:
        u, v = sensor - ox, sensor - oy                  # image coordinates, 1/16 px
        i, fx = (u >> SUBPIXEL_BITS) + pad, u & (SUBPIXEL - 1)
        j, fy = (v >> SUBPIXEL_BITS) + pad, v & (SUBPIXEL - 1)
        rows0, rows1 = canvas[j], canvas[j + 1]          # (sensor, width)
        top = (SUBPIXEL - fx) * rows0[:, i] + fx * rows0[:, i + 1]
        bottom = (SUBPIXEL - fx) * rows1[:, i] + fx * rows1[:, i + 1]
        frames.append((SUBPIXEL - fy)[:, None] * top + fy[:, None] * bottom)
    return np.stack(frames)


# -- the pixel kernel ------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _emulate(canvases, pad, origins, th_on, th_off, refractory, log_table, bins, pool,
             side_out, raster, polarity, record):
    """Run every pixel of every image (``canvases``: the images with ``pad`` zeros around);
    set raster bits, and with ``record`` also write ``polarity[n, e, y, x]`` (+1 ON, -1 OFF).

    A frame's offset is the same for every pixel: sensor ``x`` samples image column
    ``x + (-ox >> 4)`` with fraction ``-ox & 15``, so the weights are set once a frame.
    """
    n_images, n_frames = origins.shape[0], origins.shape[1]
    sensor = th_on.shape[0]
    plane = side_out * side_out
    ref = np.empty((sensor, sensor), dtype=np.int64)
    last = np.empty((sensor, sensor), dtype=np.int64)
    for n in range(n_images):
        canvas = canvases[n]
        last[:, :] = -refractory
        for k in range(n_frames):
            bx, fx = (-origins[n, k, 0]) >> SUBPIXEL_BITS, (-origins[n, k, 0]) & (SUBPIXEL - 1)
            by, fy = (-origins[n, k, 1]) >> SUBPIXEL_BITS, (-origins[n, k, 1]) & (SUBPIXEL - 1)
            w00, w01 = (SUBPIXEL - fx) * (SUBPIXEL - fy), fx * (SUBPIXEL - fy)
            w10, w11 = (SUBPIXEL - fx) * fy, fx * fy
            e = k - 1
            for y in range(sensor):
                row = y + by + pad
                for x in range(sensor):
                    col = x + bx + pad
                    level = log_table[w00 * canvas[row, col] + w01 * canvas[row, col + 1]
                                      + w10 * canvas[row + 1, col]
                                      + w11 * canvas[row + 1, col + 1]]
                    if k == 0 or e - last[y, x] < refractory:
                        ref[y, x] = level        # frame 0, or held in reset
                        continue
                    if level - ref[y, x] >= th_on[y, x]:
                        p = 1
                    elif ref[y, x] - level >= th_off[y, x]:
                        p = 0
                    else:
                        continue
                    ref[y, x], last[y, x] = level, e
                    raster[n, bins[e], p * plane + (y // pool) * side_out + x // pool] = 1
                    if record:
                        polarity[n, e, y, x] = 2 * p - 1


def _run(images, params, split, timesteps, pool, record, first=0):
    """Emulate ``images`` (N, side·side) of ``split`` whose first is image ``first`` of it;
    return ``(raster, polarity)``."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, params.side, params.side)
    pad = _pad(params)
    canvases = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    n = len(images)
    jitter = image_jitter(params, split, first + n)[first:]
    origins = np.ascontiguousarray(frame_origins(params, jitter))
    th_on, th_off = pixel_thresholds(params)
    steps = params.event_steps
    bins = np.arange(steps, dtype=np.int64) * timesteps // steps
    side_out = -(-params.sensor // pool)
    raster = np.zeros((n, timesteps, 2 * side_out * side_out), dtype=np.uint8)
    shape = (n, steps, params.sensor, params.sensor) if record else (0, 1, 1, 1)
    polarity = np.zeros(shape, dtype=np.int8)
    _emulate(canvases, pad, origins, th_on, th_off, params.refractory_steps, LOG_TABLE, bins,
             pool, side_out, raster, polarity, record)
    return raster, polarity


def saccade_events(image, params, split="train", index=0):
    """The events of one image (image ``index`` of ``split``, whose jitter it gets), as a
    record array of ``x, y, t, p`` (``EVENT_DTYPE``) in time order, then y, then x."""
    _, polarity = _run(np.asarray(image)[None], params, split, 1, 1, True, first=index)
    e, y, x = np.nonzero(polarity[0])
    events = np.empty(len(e), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"] = x, y, e * params.step_us
    events["p"] = polarity[0][e, y, x] > 0
    return events


def saccade_rasters(images, params, split, timesteps, pool=1, chunk=2048):
    """``(N, timesteps, 2·ceil(sensor/pool)²)`` uint8 rasters of ``images`` (N, side·side),
    image ``i`` jittered as image ``i`` of ``split``."""
    if not isinstance(pool, int) or pool < 1:
        raise ValueError(f"pool must be a positive integer, not {pool!r}")
    starts = range(0, max(len(images), 1), chunk)   # one (empty) part for no images
    return np.concatenate([_run(images[start:start + chunk], params, split, timesteps, pool,
                                False, first=start)[0] for start in starts])


def image_side(images, name):
    """The side of square images flattened to ``(N, side²)``; others are refused."""
    side = math.isqrt(images.shape[1])
    if side * side != images.shape[1]:
        raise ValueError(f"{name}: saccades need square images, not {images.shape[1]} pixels")
    return side
