"""What a sample costs the chip: the cycle model, its worst case, the memory-port bound.

The chip's weight memory has one port of ``P`` weights, so a sample needs at least
:func:`memory_port_bound` cycles: a read per synaptic operation, a read and a write per
weight written. The cycles it takes on top of that are the *phases* of
:func:`cycle_model`:

* **synapse phase**, per weight layer and timestep: ``words_per_row`` cycles per
  presynaptic spike (``P`` synaptic operations a cycle), ``L + 2`` to drain (``L`` the
  weight memory's read latency, 2 or 3); the pixel encoder examines every input of the
  input layer each timestep, ``pixels_per_cycle`` a cycle
  (:attr:`~spikefab.layout.Layout.pixels_per_cycle`), while the synapse engine adds the
  rows of the spikes it found before (up to three spikes ahead): the scan costs cycles
  only where it finds no spike for longer than the engine has rows to add. ``total``
  counts it in full (an upper estimate), ``least`` not at all;
* **neuron phase**, per layer and timestep: ``words + 5`` cycles (``+ 1`` when
  :attr:`~spikefab.layout.Layout.wide`);
* **update**, for a training sample outside the margin: a cycle per weight word read and
  one more per word written, ``k_fb`` per neuron word for the hidden signals; row by row
  (narrow configs) four cycles per presynaptic row and ``L + 4`` more for a row that is
  updated, while its pipeline drains (its writes may land meanwhile: ``least`` counts
  ``L + 2`` and no write); with the rows overlapped
  (:attr:`~spikefab.layout.Layout.overlap_rows`, wide configs) a layer costs
  ``max(rows, words read) + words written`` and ``L + 8`` to start and drain (``least``:
  the port's reads and writes, or the rows scanned, whichever is more).

:func:`max_sample_cycles` and its siblings bound one sample from above (every input
spiking every timestep, every weight written); the chip's per-sample counters are as
wide as these bounds need.
"""

from spikefab.layout import Layout


__all__ = ["memory_port_bound", "max_sample_sops", "max_sample_writes", "max_sample_cycles",
           "sample_counter_bits", "cycle_model", "samples_per_second", "modelled_samples",
           "es_update_cycles", "es_factor_cycles"]


#: The wire carries a sample's figures as u32.
SAMPLE_FIGURE_BITS = 32


def memory_port_bound(config, sops, writes):
    """Fewest cycles the weight port allows: ``(SOPs + 2·writes) / P``."""
    return (sops + 2 * writes) / config.lanes


def max_sample_sops(config):
    """Synaptic operations of a sample in which every neuron spikes every timestep."""
    return config.timesteps * sum(fan_in * fan_out for fan_in, fan_out in config.weight_shapes)


def max_sample_writes(config):
    """Weight writes of an update that changes every weight."""
    return config.n_weights


def cycle_model(config, weight_latency, *, spikes, rows_updated=None, words_written=0):
    """Cycles of one sample by phase, as the text above counts them.

    Parameters
    ----------
    spikes : sequence of int
        Presynaptic spikes per weight layer, summed over the timesteps.
    rows_updated : sequence of int, optional
        Presynaptic rows with a non-zero count per weight layer (None: no update).
    words_written : int
        Weight words written by the update.

    Returns
    -------
    dict
        ``synapse``, ``neuron``, ``update`` and ``total`` cycles (the total leaves out the
        handful of cycles each hand-over between phases costs, and counts the pixel
        encoder's scan in full), and ``least``: the total with the scan hidden behind
        the synapse engine's rows wherever the spike count allows (and, for the update,
        ``update_least``: the writes hidden where they may be).
    """
    layout = Layout(config)
    L, T = weight_latency, config.timesteps
    rows_added = sum(n * words for n, words in zip(spikes, layout.words_per_row))
    drain = T * len(layout.words_per_row) * (L + 2)
    scan = T * -(-config.n_in // layout.pixels_per_cycle)
    synapse = rows_added + drain + scan
    # The input layer's rows hide the scan, as far as they go.
    first = spikes[0] * layout.words_per_row[0]
    synapse_least = rows_added - first + max(first, scan) + drain
    neuron = T * sum(words + 5 + layout.wide for words in layout.neuron_words)
    update = update_least = 0
    if rows_updated is not None:
        fan_ins = [fan_in for fan_in, _ in config.weight_shapes]
        reads = [rows * words for rows, words in zip(rows_updated, layout.words_per_row)]
        n_layers = len(fan_ins)
        if layout.overlap_rows:
            update += sum(max(fan_in, r) for fan_in, r in zip(fan_ins, reads))
            update += words_written + n_layers * (L + 8)
            # Every word read and written takes the port; every row is scanned.
            update_least = max(sum(reads) + words_written, sum(fan_ins)) + n_layers * (L + 4)
        else:
            update += sum(fan_ins) * 4 + sum(reads) + words_written
            update += sum(rows_updated) * (L + 4)
            # A row's writes may land while it drains.
            update_least = sum(fan_ins) * 4 + sum(reads) + sum(rows_updated) * (L + 2)
        signals = sum(words * config.k_fb for words in layout.neuron_words[:-1])
        signals += layout.neuron_words[-1] * 2 + config.n_out
        update += signals
        update_least += signals
    return {"synapse": synapse, "neuron": neuron, "update": update,
            "update_least": update_least,
            "total": synapse + neuron + update,
            "least": synapse_least + neuron + update_least}


def max_sample_cycles(config, weight_latency):
    """An upper bound of one sample's busy cycles: the worst case of :func:`cycle_model`
    (every presynaptic neuron spiking every timestep and its row updated, every word
    written, inputs cleared first), doubled for the hand-overs it leaves out."""
    layout = Layout(config)
    fan_ins = [fan_in for fan_in, _ in config.weight_shapes]
    worst = cycle_model(config, weight_latency,
                        spikes=[config.timesteps * n for n in fan_ins], rows_updated=fan_ins,
                        words_written=layout.weight_depth)
    return 2 * (worst["total"] + config.n_in + layout.max_layer_words)


def es_update_cycles(config):
    """Busy cycles of an ``ES_UPDATE`` (``Config.es_on_chip``): the ``K`` signals checked,
    then per row of every weight layer a cycle (its dither) and per word of the row
    ``K + 9`` (the word read, ``K`` pairs read, their last registered, its rank sums
    registered and added, the step's three stages, the new word registered, the write
    or not), and
    the core's hand-overs (:data:`ES_UPDATE_OVERHEAD`)."""
    layout = Layout(config)
    pairs = config.es_population // 2
    rows = sum(fan_in * (1 + words * (pairs + 9))
               for (fan_in, _), words in zip(config.weight_shapes, layout.words_per_row))
    return ES_UPDATE_OVERHEAD + pairs + rows


def es_factor_cycles(config):
    """Busy cycles of an ``ES_FACTORS``: per pair its seed's 4 bytes read (5 cycles), the
    generator started, one cycle per factor row (``Σ fan_out + Σ fan_in``), and the
    core's hand-overs (:data:`ES_FACTORS_OVERHEAD`)."""
    pairs = config.es_population // 2
    rows = sum(fan_in + fan_out for fan_in, fan_out in config.weight_shapes)
    return ES_FACTORS_OVERHEAD + pairs * (6 + rows)


#: Cycles of the core's own around an ES request (start, done, finish).
ES_UPDATE_OVERHEAD = 4
ES_FACTORS_OVERHEAD = 2


def sample_counter_bits(config, weight_latency):
    """Widths of the per-sample counters ``cycles``, ``sops``, ``writes``: as many bits as
    their worst case needs, at most the wire's 32."""
    cycles = max_sample_cycles(config, weight_latency)
    if config.es_on_chip:
        cycles = max(cycles, 2 * es_update_cycles(config), 2 * es_factor_cycles(config))
    bounds = {"cycles": cycles,
              "sops": max_sample_sops(config), "writes": max_sample_writes(config)}
    return {name: min(SAMPLE_FIGURE_BITS, bound.bit_length())
            for name, bound in bounds.items()}


def samples_per_second(cycles_per_train_sample, cycles_per_infer_sample, clock_hz):
    """Training and inference samples per second at ``clock_hz``: the clock over the
    cycles a sample takes (the chip's busy cycles; the host link's time not counted)."""
    return {"train_samples_per_s": clock_hz / cycles_per_train_sample,
            "infer_samples_per_s": clock_hz / cycles_per_infer_sample}


def modelled_samples(config, weight_latency, rasters, labels):
    """:func:`cycle_model` of real samples: golden trains on ``rasters`` (one training
    sample each, in order, from its initial weights) and each sample is modelled from
    its spikes, rows updated and weight words written (a word with any weight changed);
    its forward pass alone is the inference sample. Returns the mean ``total`` and
    ``least`` cycles of a training and of an inference sample, and the mean memory-port
    bound of a training sample."""
    import numpy as np

    from spikefab.golden.network import GoldenNet

    layout = Layout(config)
    golden = GoldenNet(config)
    sums = {key: 0.0 for key in ("train_total", "train_least", "infer_total", "infer_least",
                                 "train_bound")}
    for raster, label in zip(rasters, labels):
        before = [w.copy() for w in golden.weights]
        result = golden.train(raster, int(label))
        spikes = [int(c.sum()) for c in result.counts[:-1]]
        infer = cycle_model(config, weight_latency, spikes=spikes)
        if result.skipped:
            train = infer
        else:
            words = 0
            for old, new, per_row in zip(before, golden.weights, layout.words_per_row):
                fan_in, fan_out = old.shape
                changed = np.zeros((fan_in, per_row * config.lanes), bool)
                changed[:, :fan_out] = old != new
                words += int(changed.reshape(fan_in, per_row, config.lanes).any(axis=2).sum())
            train = cycle_model(config, weight_latency, spikes=spikes,
                                rows_updated=[int((c > 0).sum()) for c in result.counts[:-1]],
                                words_written=words)
        sums["train_total"] += train["total"]
        sums["train_least"] += train["least"]
        sums["infer_total"] += infer["total"]
        sums["infer_least"] += infer["least"]
        sums["train_bound"] += memory_port_bound(config, result.sops, result.weight_writes)
    n = max(1, len(labels))
    return {key: value / n for key, value in sums.items()}
