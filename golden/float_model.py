"""Float32 reference of the same network and learning rule, to price fixed point.

It mirrors :class:`golden.network.GoldenNet` with every integer operation replaced by
its ideal counterpart, and nothing else changed:

* membranes are float32 with leak ``v ← v · (1 - 2**-leak_shift)`` and no saturation;
* weights are float32, start from the same integer initialisation, and change by
  ``Δ = -p · a · 2**-shift`` exactly: no rounding, no saturation;
* threshold, reset mode, spike counts, error, margin, feedback table and gate are the
  integer model's (counts are integers in both).

The gap between this model and the golden one is what ``w_bits``, ``v_bits`` and the
shift rounding cost.
"""

import numpy as np
from numba import njit

from spikefab.golden.learning import feedback_table, learning_signals
from spikefab.golden.network import ForwardResult, TrainResult, decide, init_weights


__all__ = ["FloatNet"]


@njit(cache=True, nogil=True)
def _run_layer_float(raster, weights, threshold, decay, reset_zero, out_raster):
    timesteps, n_pre = raster.shape
    n_post = weights.shape[1]
    current = np.empty(n_post, dtype=np.float32)
    v = np.zeros(n_post, dtype=np.float32)
    sops = 0
    for t in range(timesteps):
        current[:] = 0
        for i in range(n_pre):
            if raster[t, i]:
                sops += n_post
                for j in range(n_post):
                    current[j] += weights[i, j]
        for j in range(n_post):
            u = v[j] * decay + current[j]
            if u >= threshold:
                out_raster[t, j] = 1
                u = 0 if reset_zero else u - threshold
            else:
                out_raster[t, j] = 0
            v[j] = u
    return sops


@njit(cache=True, nogil=True)
def _apply_update_float(weights, pre, post, scale):
    for i in range(pre.shape[0]):
        if pre[i] == 0:
            continue
        for j in range(post.shape[0]):
            if post[j] != 0:
                weights[i, j] -= np.float32(post[j] * pre[i] * scale)


class FloatNet:
    """Float32 twin of :class:`~golden.network.GoldenNet` with the same interface."""

    def __init__(self, config, weights=None):
        self.config = config
        self.feedback = feedback_table(config)
        source = init_weights(config) if weights is None else weights
        self.weights = [np.asarray(w, dtype=np.float32).copy() for w in source]
        self.decay = np.float32(1.0 - 2.0 ** -config.leak_shift)
        self.lr_shifts = config.lr_shifts

    def forward(self, raster):
        spikes = np.ascontiguousarray(raster, dtype=np.uint8)
        counts = [spikes.sum(axis=0, dtype=np.int64)]
        sops = 0
        for weights in self.weights:
            out = np.empty((spikes.shape[0], weights.shape[1]), dtype=np.uint8)
            sops += _run_layer_float(spikes, weights, np.float32(self.config.threshold),
                                     self.decay, self.config.reset == "zero", out)
            spikes = out
            counts.append(spikes.sum(axis=0, dtype=np.int64))
        return ForwardResult(counts=counts, prediction=decide(counts[-1]), sops=sops)

    def predict(self, raster):
        return self.forward(raster).prediction

    def train(self, raster, label):
        config = self.config
        result = self.forward(raster)
        error, signals = learning_signals(config, self.feedback, result.counts, label)
        # Every synapse with a non-zero p·a changes: float has no rounding to zero.
        updates = 0
        if signals is not None:
            for weights, pre, post, shift in zip(self.weights, result.counts, signals,
                                                 self.lr_shifts):
                _apply_update_float(weights, pre, post.astype(np.int64), 2.0 ** -shift)
                updates += int(np.count_nonzero(pre)) * int(np.count_nonzero(post))
        return TrainResult(counts=result.counts, prediction=result.prediction,
                           sops=result.sops, error=error, skipped=signals is None,
                           weight_writes=updates)
