"""Surrogate-gradient BPTT baseline (seed 002, snnTorch style) on the same network.

A host-side float baseline for the on-chip rules, in PyTorch (``pip install
'spikefab[bench]'``; imported only when a model is made). The network is
:class:`golden.float_model.FloatNet`'s — same layer sizes, the same integer weight
initialisation, membranes ``v ← v · (1 - 2**-leak_shift) + I``, fire at
``v ≥ threshold``, reset by subtraction (or to zero) — run in threshold units (weights
divided by ``threshold``, threshold 1), so Adam's step is relative to the firing scale.

* **Surrogate** the spike's derivative is the fast sigmoid
  ``1 / (1 + slope · |v - 1|)²`` (snnTorch's ``fast_sigmoid``, slope 25); the reset is
  detached from the graph, as in snnTorch.
* **Loss** minus the ES fitness of :mod:`golden.es` (rule 5: the count error beyond
  the margin, squared, the label's four times; ``error_clip`` left out) averaged over
  the mini-batch, so the three rules climb the same objective. Spike counts are the
  sums of the surrogate-differentiable spikes over the ``T`` timesteps.
* **Data** the rasters the chip's encoder makes (rate coding: the LFSR rasters);
  mini-batches of ``batch`` samples in the run's order (:func:`golden.es.generation_plan`
  without pair seeds), Adam (``lr``), BPTT through all timesteps.

After every step the float32 weights (times ``threshold``) are copied into
:attr:`weights`, so :meth:`forward` (FloatNet's) evaluates exactly the trained network.
"""

import numpy as np

from spikefab.golden.es import ES_LABEL_SHIFT
from spikefab.golden.float_model import FloatNet


__all__ = ["BPTTNet", "BPTTStep", "TorchMissing", "require_torch"]

SLOPE = 25.0


class TorchMissing(Exception):
    """PyTorch is not installed."""


def require_torch():
    """``torch``, or :class:`TorchMissing` with the line that installs it."""
    try:
        import torch
    except ImportError:
        raise TorchMissing("--algo bptt needs PyTorch, which is not installed: "
                           "pip install 'spikefab[bench]'") from None
    return torch


class BPTTStep:
    """What one optimiser step reports (the fields the training loop reads)."""

    def __init__(self, fitness, correct, sops, weight_writes):
        self.fitness = fitness
        self.correct = correct
        self.sops = sops
        self.weight_writes = weight_writes


def _spike_function(torch):
    class FastSigmoidSpike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            return (v >= 1.0).to(v.dtype)

        @staticmethod
        def backward(ctx, grad):
            (v,) = ctx.saved_tensors
            return grad / (1.0 + SLOPE * (v - 1.0).abs()) ** 2

    return FastSigmoidSpike.apply


class BPTTNet(FloatNet):
    """FloatNet trained by surrogate-gradient BPTT, a mini-batch at a time."""

    population = 1            # one network: the training loop's accuracy counts it once
    pair_seeds = 0            # draws no pair seeds

    def __init__(self, config, weights=None, *, batch=32, lr=2e-3, threads=1):
        torch = require_torch()
        super().__init__(config, weights)
        self.torch = torch
        self.batch = batch
        if threads:
            torch.set_num_threads(threads)
        self.spike = _spike_function(torch)
        scale = 1.0 / config.threshold
        self.params = [torch.nn.Parameter(torch.tensor(w * scale, dtype=torch.float32))
                       for w in self.weights]
        self.optimiser = torch.optim.Adam(self.params, lr=lr)
        self.lr_shifts = (0,) * len(self.weights)

    def train(self, raster, label):
        raise TypeError("BPTTNet learns a mini-batch at a time: use generation()")

    def _counts(self, rasters):
        torch = self.torch
        decay = float(self.decay)
        x = torch.as_tensor(rasters, dtype=torch.float32)      # (B, T, n_in)
        sops = 0
        spikes_in = x
        for w in self.params:
            v = torch.zeros(x.shape[0], w.shape[1])
            out = []
            for t in range(x.shape[1]):
                v = v * decay + spikes_in[:, t] @ w
                s = self.spike(v)
                reset = s.detach()
                v = v * (1 - reset) if self.reset_zero else v - reset
                out.append(s)
            sops += int(spikes_in.detach().sum()) * w.shape[1]
            spikes_in = torch.stack(out, dim=1)
        return spikes_in.sum(dim=1), sops

    @property
    def reset_zero(self):
        return self.config.reset == "zero"

    def generation(self, rasters, labels, pair_seeds=()):
        """One Adam step on a mini-batch ``(B, T, n_in)``."""
        torch = self.torch
        labels_t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        counts, sops = self._counts(np.asarray(rasters, dtype=np.uint8))
        rows = torch.arange(len(labels_t))
        target = torch.zeros_like(counts)
        target[rows, labels_t] = float(self.config.target_count)
        weight = torch.ones_like(counts)
        weight[rows, labels_t] = float(1 << ES_LABEL_SHIFT)
        excess = torch.relu((counts - target).abs() - self.config.margin)
        squared = (weight * excess ** 2).sum()
        self.optimiser.zero_grad()
        (squared / len(labels_t)).backward()
        self.optimiser.step()
        with torch.no_grad():
            for w, p in zip(self.weights, self.params):
                w[:] = p.detach().numpy() * self.config.threshold
        correct = int((counts.detach().argmax(dim=1) == labels_t).sum())
        return BPTTStep(fitness=np.array([-int(round(float(squared.detach())))]),
                        correct=correct, sops=sops,
                        weight_writes=sum(w.size for w in self.weights))
