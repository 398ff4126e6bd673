"""The integer network: forward pass, decision and on-chip training step.

``GoldenNet`` holds the weights (signed ``w_bits`` integers, stored as int16/int32
arrays of shape ``(fan_in, fan_out)``) and the fixed feedback tables of a
:class:`~spikefab.config.Config`. A sample is a binary raster ``(T, n_in)`` (from an
encoder in pixel mode, or address-events in event mode).

* **Forward** Membranes start at 0; layer after layer runs :mod:`golden.lif` over all
  timesteps. Synaptic operations (SOPs) are counted as ``fan_out`` per presynaptic spike.
* **Decision** the argmax of the output spike counts; ties go to the lowest index.
* **Train** forward, then the sparse-DFA update of :mod:`golden.learning` on every layer,
  output layer first, scaled by :attr:`GoldenNet.lr_shifts` and skipped within
  :attr:`GoldenNet.margin` — the chip's run-time registers, which start at the config's
  values and which the host may change between samples. With stochastic rounding,
  :attr:`GoldenNet.rounding` is the chip's rounding generator, kept across samples.

Weight initialisation: ``XorShift32(init_seed)``, layers in order, row-major
(presynaptic index outer, postsynaptic inner), each weight
``-r + below(2r + 1)`` with ``r = init_range[layer]``.
"""

from dataclasses import dataclass

import numpy as np

from spikefab.golden.learning import (RoundingGenerator, apply_update, feedback_table,
                                      learning_signals)
from spikefab.golden.lif import LIFParams, run_layer
from spikefab.golden.rng import XorShift32


__all__ = ["GoldenNet", "ForwardResult", "TrainResult", "init_weights", "decide"]


def weight_dtype(config):
    return np.int16 if config.w_bits <= 16 else np.int32


def init_weights(config):
    rng = XorShift32(config.init_seed)
    weights = []
    for (fan_in, fan_out), r in zip(config.weight_shapes, config.init_range):
        values = rng.integers(-r, r, fan_in * fan_out)
        weights.append(values.reshape(fan_in, fan_out).astype(weight_dtype(config)))
    return weights


def decide(counts):
    """Argmax of the output counts; the lowest index wins a tie."""
    return int(np.argmax(counts))


@dataclass
class ForwardResult:
    counts: list          # spike counts per layer, input first: counts[-1] is the output
    prediction: int
    sops: int

    @property
    def output_counts(self):
        return self.counts[-1]


@dataclass
class TrainResult(ForwardResult):
    error: np.ndarray
    skipped: bool         # within the margin: no update
    weight_writes: int


class GoldenNet:
    """Bit-exact integer model of the on-chip learner."""

    def __init__(self, config, weights=None):
        self.config = config
        self.lif = LIFParams(config)
        self.feedback = feedback_table(config)
        self.weights = init_weights(config) if weights is None else self._check(weights)
        self.lr_shifts = config.lr_shifts
        self.margin = config.margin
        self.rounding = RoundingGenerator(config) if config.rounding == "stochastic" else None

    def _check(self, weights):
        config = self.config
        if len(weights) != len(config.weight_shapes):
            raise ValueError(f"expected {len(config.weight_shapes)} weight layers, "
                             f"got {len(weights)}")
        checked = []
        for layer, (w, shape) in enumerate(zip(weights, config.weight_shapes)):
            w = np.asarray(w)
            if w.shape != shape:
                raise ValueError(f"weight layer {layer} has shape {w.shape}, "
                                 f"the config needs {shape}")
            if w.size and (w.min() < config.w_min or w.max() > config.w_max):
                raise ValueError(f"weight layer {layer} holds values outside "
                                 f"w_bits={config.w_bits} ({config.w_min} … {config.w_max})")
            checked.append(w.astype(weight_dtype(config)))
        return checked

    def check_raster(self, raster):
        raster = np.asarray(raster)
        shape = (self.config.timesteps, self.config.n_in)
        if raster.shape != shape:
            raise ValueError(f"a sample raster must have shape {shape}, not {raster.shape}")
        return np.ascontiguousarray(raster, dtype=np.uint8)

    def forward(self, raster):
        spikes = self.check_raster(raster)
        counts = [spikes.sum(axis=0, dtype=np.int64)]
        sops = 0
        for weights in self.weights:
            spikes, _, layer_sops = run_layer(self.lif, spikes, weights)
            counts.append(spikes.sum(axis=0, dtype=np.int64))
            sops += layer_sops
        return ForwardResult(counts=counts, prediction=decide(counts[-1]), sops=sops)

    def reseed_rounding(self):
        """Restart the rounding generator from its seed, as the chip's reset does."""
        if self.rounding is not None:
            self.rounding.reseed()

    def predict(self, raster):
        return self.forward(raster).prediction

    def learn(self, counts, label):
        """The update of one sample from the spike counts of its forward pass (every
        layer, input first): ``(error, signals, weight writes)``; ``signals`` is None for
        a sample within the margin, which changes nothing."""
        config = self.config
        error, signals = learning_signals(config, self.feedback, counts, label, self.margin)
        writes = 0
        if signals is not None:
            # Output layer first: the order in which the chip draws its rounding dither.
            for layer in reversed(range(len(self.weights))):
                writes += apply_update(self.weights[layer], counts[layer], signals[layer],
                                       self.lr_shifts[layer], config.w_min, config.w_max,
                                       self.rounding)
        return error, signals, writes

    def train(self, raster, label):
        config = self.config
        if not 0 <= label < config.n_out:
            raise ValueError(f"label must lie in 0 … {config.n_out - 1}, not {label}")
        result = self.forward(raster)
        error, signals, writes = self.learn(result.counts, label)
        return TrainResult(counts=result.counts, prediction=result.prediction,
                           sops=result.sops, error=error, skipped=signals is None,
                           weight_writes=writes)
