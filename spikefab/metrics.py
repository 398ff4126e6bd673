"""NeuroBench's metrics of a spikefab network, computed from our own counts.

The definitions are NeuroBench's (``neurobench`` 2.x, ``neurobench.metrics``), applied
to the integer network of a :class:`~spikefab.config.Config` sample by sample; nothing
here runs a torch model. Workload metrics are averaged over the samples of an inference
pass (NeuroBench measures inference); static ones describe the weights as they are.

* **footprint** (``Footprint``: bytes of parameters and buffers) — the weights at
  ``w_bits`` and one membrane per neuron at ``v_bits``, each memory packed and rounded
  up to whole bytes; 32 bits each for a float model, whose weights are float32.
* **connection sparsity** (``ConnectionSparsity``) — zero weights over all weights.
* **activation sparsity** (``ActivationSparsity``) — neuron × timestep slots of the
  spiking layers (hidden and output; the input encoder is no neuron layer) without a
  spike, over all slots; also per layer (``ActivationSparsityByLayer``).
* **synaptic operations** (``SynapticOperations``) — ``dense``: every synapse at every
  timestep, ``T · Σ fan_in · fan_out``; ``effective_acs``: a spike meets a non-zero
  weight, ``Σ_layers Σ_i count[i] · nnz(W[i, :])``; ``effective_macs``: operations on a
  non-binary input, 0 here (every layer's input is spikes). ``sops`` is what the chip
  performs and counts: ``fan_out`` accumulates per presynaptic spike, zero weights
  included (golden's and the chip's ``sops``).
* **membrane updates** (``MembraneUpdates``) — every neuron at the first timestep, then
  each neuron × timestep whose membrane after the step (leak, input, saturation, reset)
  differs from before it. Integer models only: it replays the layers with golden's
  :func:`~spikefab.golden.lif.lif_step` and checks that the replay's spike counts are
  the model's.
"""

import math

import numpy as np

from spikefab.golden.lif import lif_step


__all__ = ["footprint", "connection_sparsity", "NeuroBenchMeter", "chip_figures",
           "FLOAT_BITS"]

#: Bits of a float model's weights and membranes (float32).
FLOAT_BITS = 32
# Rasters replayed together for the membrane updates: one matrix product per timestep.
REPLAY_BATCH = 256


def footprint(config, *, integer=True):
    """Bytes of the weights and of the membranes (``integer=False``: float32 both)."""
    weights = sum(fan_in * fan_out for fan_in, fan_out in config.weight_shapes)
    neurons = sum(config.layer_sizes[1:])
    w_bits, v_bits = (config.w_bits, config.v_bits) if integer else (FLOAT_BITS,) * 2
    weight_bytes = math.ceil(weights * w_bits / 8)
    state_bytes = math.ceil(neurons * v_bits / 8)
    return {"footprint_bytes": weight_bytes + state_bytes, "weight_bytes": weight_bytes,
            "neuron_state_bytes": state_bytes, "parameters": weights}


def connection_sparsity(weights):
    """Zero weights over all weights, every layer together."""
    zeros = sum(int(np.count_nonzero(np.asarray(w) == 0)) for w in weights)
    return zeros / max(sum(np.asarray(w).size for w in weights), 1)


class NeuroBenchMeter:
    """The metrics of one inference pass of ``model`` (its weights must not change
    during the pass). Feed every sample to :meth:`add`; :meth:`summary` gives the
    figures (per sample where NeuroBench's are).

    ``model`` needs ``config`` and ``weights``; with ``lif`` (golden's integer models)
    the membrane updates are counted, otherwise they are None.
    """

    def __init__(self, model):
        self.config = config = model.config
        self.weights = [np.asarray(w) for w in model.weights]
        self.lif = getattr(model, "lif", None)
        self.row_nonzeros = [np.count_nonzero(w, axis=1) for w in self.weights]
        self.sizes = config.layer_sizes[1:]
        self.samples = self.sops = self.effective_acs = self.membrane_updates = 0
        self.spikes = np.zeros(len(self.sizes), dtype=np.int64)
        self._pending = []          # (raster, spike counts) awaiting the replay

    def add(self, raster, counts, sops):
        """One sample: its input raster ``(T, n_in)``, its spike counts per layer, input
        first (``ForwardResult.counts``), and its synaptic operations."""
        self.samples += 1
        self.sops += int(sops)
        self.spikes += [int(np.sum(c)) for c in counts[1:]]
        self.effective_acs += sum(int(np.dot(c, nz))
                                  for c, nz in zip(counts[:-1], self.row_nonzeros))
        if self.lif is not None:
            self._pending.append((np.asarray(raster, dtype=np.uint8), counts))
            if len(self._pending) == REPLAY_BATCH:
                self._replay()

    def _replay(self):
        """Count the membrane updates of the pending samples, all at once."""
        if not self._pending:
            return
        spikes = np.stack([raster for raster, _ in self._pending])     # (N, T, n_in)
        for layer, weights in enumerate(self.weights):
            updates, spikes = _membrane_updates(self.lif, spikes, weights)
            self.membrane_updates += updates
            expected = np.stack([counts[layer + 1] for _, counts in self._pending])
            if not np.array_equal(spikes.sum(axis=1), expected):
                raise RuntimeError(f"the membrane replay of layer {layer} does not spike "
                                   f"as the model did: the metrics are not of this model")
        self._pending.clear()

    def summary(self):
        """The figures: static ones, then per-sample workload ones (NeuroBench's names in
        snake case)."""
        self._replay()
        n = max(self.samples, 1)
        slots = self.config.timesteps * np.asarray(self.sizes) * n
        dense = self.config.timesteps * sum(a * b for a, b in self.config.weight_shapes)
        integer = self.lif is not None
        return {
            **footprint(self.config, integer=integer),
            "connection_sparsity": connection_sparsity(self.weights),
            # NeuroBench's (slots - spikes) / slots, in that order (the same float).
            "activation_sparsity": float((slots.sum() - self.spikes.sum()) / slots.sum()),
            "activation_sparsity_by_layer": [float((k - s) / k)
                                             for s, k in zip(self.spikes, slots)],
            "synaptic_operations": {"dense": float(dense), "effective_macs": 0.0,
                                    "effective_acs": self.effective_acs / n,
                                    "sops": self.sops / n},
            "membrane_updates": self.membrane_updates / n if integer else None,
            "samples": self.samples,
        }


def chip_figures(config, samples, sops, output_spikes, weights=None):
    """The figures a chip measures itself over ``samples`` inferences: its synaptic
    operations counter, the output layer's activation sparsity from the spike counts it
    replies, and the connection sparsity of the ``weights`` read back from it (None
    without them). Golden's :class:`NeuroBenchMeter` must give the same three."""
    n = max(samples, 1)
    slots = config.timesteps * config.n_out * n
    return {"sops": sops / n,
            "output_activation_sparsity": (slots - output_spikes) / slots,
            "connection_sparsity": None if weights is None else connection_sparsity(weights)}


def _membrane_updates(lif, rasters, weights):
    """``(membrane updates, output spikes (N, T, n_post))`` of one layer over a batch of
    rasters ``(N, T, n_pre)``: NeuroBench counts every neuron at the first timestep, then
    each membrane that a step changes."""
    n, timesteps, _ = rasters.shape
    # float64 sums are exact: Config bounds |I| by 2**(v_bits-1) ≤ 2**31.
    currents = (rasters.astype(np.float64) @ weights.astype(np.float64)).astype(np.int64)
    v = np.zeros((n, weights.shape[1]), dtype=np.int64)
    out = np.empty((n, timesteps, weights.shape[1]), dtype=np.uint8)
    updates = n * weights.shape[1]
    for t in range(timesteps):
        out[:, t], after = lif_step(lif, v, currents[:, t])
        if t:
            updates += int(np.count_nonzero(after != v))
        v = after
    return updates, out
