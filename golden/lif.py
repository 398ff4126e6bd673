"""Integer Leaky-Integrate-and-Fire layer: the contract of the LIF array.

Every variable is an integer. Per timestep ``t`` and neuron ``j`` of a layer with
fan-in ``n``:

1. **Synaptic input** ``I[j] = Σ_i s[i] · W[i, j]`` over the presynaptic spikes
   ``s ∈ {0, 1}`` of this timestep, summed exactly. (``Config`` guarantees
   ``|I| ≤ n · 2**(w_bits-1) ≤ 2**(v_bits-1)``, so the sum fits ``v_bits + 1`` bits and
   its order does not matter: the hardware adds spikes in arrival order.)
2. **Leak** ``v' = v - (v >> leak_shift)`` with an *arithmetic* shift, which rounds toward
   −∞: a positive membrane below ``2**leak_shift`` does not leak, and a negative one leaks
   at least 1 toward zero (``-1 → 0``).
3. **Integrate** ``u = v' + I`` exactly, then **saturate** to
   ``[-2**(v_bits-1), 2**(v_bits-1) - 1]``.
4. **Fire** when ``u ≥ threshold`` (equality fires).
5. **Reset** on a spike: ``u - threshold`` (reset by subtraction, the default) or ``0``.
   Without a spike the membrane keeps ``u``.

Membranes start at 0 at the beginning of every sample. The layers of one timestep are
evaluated input to output: the spikes of layer ``l`` at timestep ``t`` are the input of
layer ``l + 1`` at the same timestep.

:func:`lif_step` is the plain statement of one timestep; :func:`run_layer` is the fast
kernel that runs a layer over all timesteps (layers are feed-forward, so the whole spike
train of one layer can be computed before the next).
"""

import numpy as np
from numba import njit


__all__ = ["lif_step", "run_layer", "LIFParams"]


class LIFParams:
    """The LIF fields of a :class:`~spikefab.config.Config`, as plain integers."""

    __slots__ = ("threshold", "leak_shift", "v_min", "v_max", "reset_zero")

    def __init__(self, config):
        self.threshold = config.threshold
        self.leak_shift = config.leak_shift
        self.v_min = config.v_min
        self.v_max = config.v_max
        self.reset_zero = config.reset == "zero"


def lif_step(params, v, current):
    """One timestep of a layer: ``(spikes, new_v)`` from membranes and synaptic input.

    ``v`` and ``current`` are integer arrays (or scalars); nothing is modified in place.
    """
    v = np.asarray(v, dtype=np.int64)
    current = np.asarray(current, dtype=np.int64)
    u = v - (v >> params.leak_shift) + current
    u = np.clip(u, params.v_min, params.v_max)
    spikes = u >= params.threshold
    reset = np.zeros_like(u) if params.reset_zero else u - params.threshold
    return spikes.astype(np.uint8), np.where(spikes, reset, u)


@njit(cache=True, nogil=True)
def _run_layer(raster, weights, threshold, leak_shift, v_min, v_max, reset_zero,
               out_raster, v):
    timesteps, n_pre = raster.shape
    n_post = weights.shape[1]
    # int32 is exact: Config bounds |I| by 2**(v_bits-1) ≤ 2**31 and the positive side
    # by n·(2**(w_bits-1) - 1) < 2**31. It vectorises twice as wide as int64.
    current = np.empty(n_post, dtype=np.int32)
    sops = 0
    for t in range(timesteps):
        current[:] = 0
        for i in range(n_pre):
            if raster[t, i]:
                sops += n_post
                for j in range(n_post):
                    current[j] += weights[i, j]
        for j in range(n_post):
            x = v[j]
            u = x - (x >> leak_shift) + np.int64(current[j])
            if u > v_max:
                u = v_max
            elif u < v_min:
                u = v_min
            if u >= threshold:
                out_raster[t, j] = 1
                u = 0 if reset_zero else u - threshold
            else:
                out_raster[t, j] = 0
            v[j] = u
    return sops


def run_layer(params, raster, weights, v=None):
    """Run one layer over a whole sample.

    Parameters
    ----------
    raster : uint8 array ``(T, n_pre)``
        Presynaptic spikes, 0 or 1.
    weights : integer array ``(n_pre, n_post)``
    v : int64 array ``(n_post,)``, optional
        Initial membranes (zeros by default); updated in place to the final membranes.

    Returns
    -------
    (out_raster, v, sops)
        Spikes ``(T, n_post)`` as uint8, final membranes, and the synaptic operations
        performed (``n_post`` per presynaptic spike).
    """
    n_post = weights.shape[1]
    if v is None:
        v = np.zeros(n_post, dtype=np.int64)
    out = np.empty((raster.shape[0], n_post), dtype=np.uint8)
    sops = _run_layer(raster, weights, params.threshold, params.leak_shift,
                      params.v_min, params.v_max, params.reset_zero, out, v)
    return out, v, sops
