"""Float references of evolution strategies on the same network (seed 001): EGGROLL
with Gaussian low-rank perturbations, as in the paper, and full-rank ES (OpenES).

The network is :class:`golden.float_model.FloatNet`'s (float32 weights from the
integer initialisation, float32 membranes, leak ``v · (1 - 2**-leak_shift)``, no
saturation, the integer threshold and reset). A generation follows :mod:`golden.es`'s
schedule and fitness, with the paper's float arithmetic in place of the integer rules:

* **Members** ``N = es_population`` in antithetic pairs (member ``m``: pair ``m // 2``,
  sign ``s = +1`` even, ``-1`` odd). Pair ``k``'s noise comes from
  ``numpy.random.default_rng(q_k)`` with ``q_k`` the pair seed of :mod:`golden.es`'s
  schedule (standard normals, float32, weight layers input side first).
* **EGGROLL** (``rank = r``): per layer ``A`` (``fan_out × r``) then ``B``
  (``fan_in × r``), ``E = (σ/√r) · B Aᵀ`` in this package's ``(fan_in, fan_out)``
  orientation. A member's weights are never formed: its synaptic input at each
  timestep is ``x W + s · (σ/√r) · (x B) Aᵀ`` for the spike vector ``x``.
* **OpenES** (``rank=None``): ``E`` is a full ``fan_in × fan_out`` matrix of standard
  normals times ``σ``; member ``m`` runs on ``W + s·E`` (materialised).
* **Fitness** the same as the integer rule 5 (``-Σ e²`` over the mini-batch, from the
  spike counts), then z-scored over the population: ``f̃ = (f - mean f) / std f`` (all
  zero when every member scored the same).
* **Step** ``ĝ = (1/N) Σ_m f̃_m E_m`` (for EGGROLL ``Σ_k (f̃_{2k} - f̃_{2k+1})
  (σ/√r) B_k A_kᵀ / N``, one matrix product over the stacked factors), then
  ``W ← W + lr · √N · ĝ`` (``optimizer="sgd"``) or Adam on ``ĝ`` (``"adam"``: β 0.9,
  0.999, ε 1e-8; ascent), layer by layer.

``σ`` defaults to ``2**(es_sigma_shift+1) · √es_rank``, twice the standard deviation
of the integer member's perturbation of one weight (its rank sum has variance ``r``),
and ``lr`` to 1 weight step (Adam), the integer rule's ``es_max_step = 1`` move: tuned
on digits (1,440 generations: σ 8 and lr 1 reached 87 % test accuracy, σ 4 83 %, lr 0.5
at σ 8 78 %, lr 2 75 %).
The step halves wherever the config's schedule raises the integer shift
(:meth:`Config.es_lr_shift_at`; the training loop sets :attr:`lr_shifts`).
"""

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from spikefab.golden.es import BLAS, fitness
from spikefab.golden.float_model import FloatNet


__all__ = ["FloatES", "FloatGeneration", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "sgd")

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@njit(cache=True, nogil=True)
def _lif(currents, threshold, decay, reset_zero, out):
    """FloatNet's LIF over a batch of synaptic inputs ``(B, T, n)``, each sample from
    membranes 0: ``u = v · decay + I``, fire at ``u ≥ threshold``, reset."""
    n_samples, timesteps, n_post = currents.shape
    v = np.empty(n_post, dtype=np.float32)
    for n in range(n_samples):
        v[:] = 0
        for t in range(timesteps):
            for j in range(n_post):
                u = v[j] * decay + currents[n, t, j]
                if u >= threshold:
                    out[n, t, j] = 1
                    u = 0 if reset_zero else u - threshold
                else:
                    out[n, t, j] = 0
                v[j] = u


@dataclass
class FloatGeneration:
    fitness: np.ndarray       # (N,) raw member fitnesses
    correct: int
    sops: int
    weight_writes: int        # weights changed (every weight with a non-zero step)


class FloatES(FloatNet):
    """Float EGGROLL (``rank`` 1 …) or full-rank OpenES (``rank=None``) on FloatNet's
    network. ``sigma`` and ``lr`` are in weight units (see the module docstring)."""

    def __init__(self, config, weights=None, *, rank="config", sigma=None, lr=None,
                 optimizer="adam"):
        super().__init__(config, weights)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                             f"not {optimizer!r}")
        self.rank = config.es_rank if rank == "config" else rank
        self.sigma = (2.0 ** (config.es_sigma_shift + 1) * math.sqrt(config.es_rank)
                      if sigma is None else float(sigma))
        self.lr = 1.0 if lr is None else float(lr)
        self.optimizer = optimizer
        self.adam_step = 0
        self.adam_m = [np.zeros_like(w) for w in self.weights]
        self.adam_v = [np.zeros_like(w) for w in self.weights]
        self.threshold = np.float32(config.threshold)
        self.reset_zero = config.reset == "zero"
        # The integer rule's shift registers: the step halves for each 1 the host's
        # schedule adds to es_lr_shift (Config.es_lr_shift_at), as the integer
        # threshold doubles.
        self.lr_shifts = config.es_lr_shift_at(0)

    def train(self, raster, label):
        raise TypeError("FloatES learns a generation at a time: use generation()")

    # -- noise -------------------------------------------------------------------------

    def pair_noise(self, seed):
        """Per layer ``(A, B)`` (EGGROLL) or ``E`` (full rank, standard normals, not yet
        times σ) from the pair seed."""
        rng = np.random.default_rng(int(seed))
        noise = []
        for fan_in, fan_out in self.config.weight_shapes:
            if self.rank is None:
                noise.append(rng.standard_normal((fan_in, fan_out), dtype=np.float32))
            else:
                a = rng.standard_normal((fan_out, self.rank), dtype=np.float32)
                b = rng.standard_normal((fan_in, self.rank), dtype=np.float32)
                noise.append((a, b))
        return noise

    # -- forward of the population on a batch ---------------------------------------
    #
    # One code path for both: a layer's synaptic input is ``x W`` (spikes times the
    # weights, a dense product) plus the member's perturbation term ``s · P(x)``, with
    # ``P(x) = x (σ E)`` (full rank) or ``((x B) (σ/√r)) Aᵀ`` (EGGROLL). The input layer's
    # spikes are the same for every member, so its ``x W`` is computed once per
    # generation and its ``P(x)`` once per pair, for both kinds.

    def _perturbation(self, x, layer_noise):
        if self.rank is None:
            return x @ (np.float32(self.sigma) * layer_noise)
        a, b = layer_noise
        return (x @ b) * np.float32(self.sigma / math.sqrt(self.rank)) @ a.T

    def _spikes(self, currents, shape):
        out = np.empty(shape, dtype=np.uint8)
        _lif(currents.reshape(shape), self.threshold, self.decay, self.reset_zero, out)
        return out

    def population_counts(self, rasters, noises):
        """Output counts ``(N, B, n_out)`` and SOPs (``fan_out`` per spike, as the
        event-driven model counts them) of every member on a batch."""
        n_samples, timesteps, _ = rasters.shape
        x0 = rasters.reshape(n_samples * timesteps, -1).astype(np.float32)
        base = x0 @ self.weights[0]
        input_sops = int(rasters.sum()) * self.weights[0].shape[1]
        counts, sops = [], 0
        for noise in noises:
            first = self._perturbation(x0, noise[0])
            for sign in (1, -1):
                shape = (n_samples, timesteps, self.weights[0].shape[1])
                spikes = self._spikes(base + first if sign > 0 else base - first, shape)
                sops += input_sops
                for w, layer_noise in zip(self.weights[1:], noise[1:]):
                    x = spikes.reshape(n_samples * timesteps, -1).astype(np.float32)
                    sops += int(spikes.sum()) * w.shape[1]
                    current = x @ w
                    if sign > 0:
                        current += self._perturbation(x, layer_noise)
                    else:
                        current -= self._perturbation(x, layer_noise)
                    spikes = self._spikes(current, (n_samples, timesteps, w.shape[1]))
                counts.append(spikes.sum(axis=1, dtype=np.int64))
        return np.array(counts), sops

    # -- a generation ------------------------------------------------------------------

    def generation(self, rasters, labels, pair_seeds):
        """One generation on a mini-batch ``(B, T, n_in)`` with the given pair seeds."""
        with BLAS.limit(limits=1, user_api="blas"):
            return self._generation(rasters, labels, pair_seeds)

    def _generation(self, rasters, labels, pair_seeds):
        config = self.config
        rasters = np.ascontiguousarray(rasters, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64)
        noises = [self.pair_noise(seed) for seed in pair_seeds]
        counts, sops = self.population_counts(rasters, noises)
        fitnesses = np.array([fitness(config, c, labels) for c in counts], dtype=np.int64)
        correct = int((counts.argmax(axis=2) == labels).sum())
        n = len(fitnesses)
        shaped = fitnesses.astype(np.float64)
        spread = shaped.std()
        shaped = (shaped - shaped.mean()) / spread if spread > 0 else np.zeros(n)
        coef = (shaped[0::2] - shaped[1::2]) / n          # f̃⁺ - f̃⁻ per pair, / N
        gradients = self._gradient(noises, coef)
        writes = self._step(gradients)
        return FloatGeneration(fitness=fitnesses, correct=correct, sops=sops,
                               weight_writes=writes)

    def _gradient(self, noises, coef):
        """``ĝ`` of every layer from the pairs' noise and ``(f̃⁺ - f̃⁻)/N``."""
        gradients = []
        for layer in range(len(self.weights)):
            if self.rank is None:
                g = np.zeros_like(self.weights[layer])
                for c, noise in zip(coef, noises):
                    if c:
                        g += np.float32(c * self.sigma) * noise[layer]
            else:
                a = np.concatenate([noise[layer][0] for noise in noises], axis=1)
                b = np.concatenate([noise[layer][1] for noise in noises], axis=1)
                column = np.repeat(coef, self.rank).astype(np.float32)
                g = (b * column) @ a.T * np.float32(self.sigma / math.sqrt(self.rank))
            gradients.append(g.astype(np.float32))
        return gradients

    def _step(self, gradients):
        n = self.config.es_population
        self.adam_step += 1
        b1, b2 = ADAM_BETAS
        writes = 0
        for layer, g in enumerate(gradients):
            lr = self.lr * 2.0 ** (self.config.es_lr_shift - self.lr_shifts[layer])
            if self.optimizer == "sgd":
                step = np.float32(lr * math.sqrt(n)) * g
            else:
                m, v = self.adam_m[layer], self.adam_v[layer]
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                m_hat = m / (1 - b1 ** self.adam_step)
                v_hat = v / (1 - b2 ** self.adam_step)
                step = (lr * m_hat / (np.sqrt(v_hat) + ADAM_EPS)).astype(np.float32)
            self.weights[layer] += step
            writes += int(np.count_nonzero(step))
        return writes
