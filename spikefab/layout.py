"""Where the chip keeps a network: the memory layout shared by ``hw/`` and the host driver.

The chip processes ``P = config.lanes`` neurons side by side, so every per-neuron memory
is organised in *words* of ``P`` lanes; lane ``q`` of word ``k`` belongs to neuron
``k·P + q``. A layer of ``n`` neurons takes ``ceil(n / P)`` words; lanes past ``n`` are
padding, always zero and never written by the learning rule.

**Weight memory** One flat single-port memory for all weight layers. Weight layer ``l``
(``fan_in × fan_out``) starts at word :attr:`Layout.weight_base` ``[l]``; its row ``i``
(presynaptic neuron ``i``) is :attr:`Layout.words_per_row` ``[l]`` consecutive words, and
``W[i, j]`` is lane ``j mod P`` of word ``base + i·words_per_row + j // P``.

**Neuron memory** The membrane and spike count of every hidden and output neuron; layer
``l`` (``l = 0`` the first hidden layer) starts at word :attr:`Layout.neuron_base` ``[l]``.

**Wide lanes** From :data:`WIDE_LANES` lanes on, the blocks spend logic to keep the
weight port busy where a narrow chip spends cycles (the UP5K's presets, at two lanes,
leave it out): the update unit overlaps the rows it updates
(:attr:`Layout.overlap_rows`), the pixel encoder examines
:attr:`Layout.pixels_per_cycle` pixels a cycle and the LIF lanes take a stage more.

Nothing here depends on Amaranth, so the host driver and the tests can pack and unpack
weights exactly as the hardware stores them.
"""

import numpy as np


__all__ = ["Layout", "WIDE_LANES"]

#: Lanes from which the update unit overlaps its rows (and the wide blocks come in).
WIDE_LANES = 4


def _ceil_div(a, b):
    return -(-a // b)


class Layout:
    """Memory layout of a :class:`~spikefab.config.Config` on the chip."""

    def __init__(self, config):
        self.config = config
        self.lanes = config.lanes
        self.words_per_row = tuple(_ceil_div(fan_out, self.lanes)
                                   for _, fan_out in config.weight_shapes)
        bases, base = [], 0
        for (fan_in, _), words in zip(config.weight_shapes, self.words_per_row):
            bases.append(base)
            base += fan_in * words
        self.weight_base = tuple(bases)
        self.weight_depth = base
        self.neuron_words = tuple(_ceil_div(size, self.lanes)
                                  for size in config.layer_sizes[1:])
        self.neuron_base = tuple(int(b) for b in np.cumsum((0,) + self.neuron_words[:-1]))
        self.neuron_depth = sum(self.neuron_words)
        # Bytes per weight on the wire: little-endian two's complement.
        self.weight_bytes = 1 if config.w_bits <= 8 else 2

    @property
    def wide(self):
        """At least :data:`WIDE_LANES` lanes: the blocks spend logic to save cycles and
        to keep a wide chip at its clock (the LIF lanes register their tests)."""
        return self.lanes >= WIDE_LANES

    @property
    def overlap_rows(self):
        """Whether the update unit reads the rows it updates back to back (a row scanner
        queues them), rather than four cycles per row and a drain after each."""
        return self.wide

    @property
    def pixels_per_cycle(self):
        """Pixels the pixel encoder examines a cycle: 1 below 8 lanes, then a quarter
        of the lanes, at most 8 (a row of the input layer is ``words_per_row`` cycles of
        the synapse engine; the encoder must find the next spike in fewer)."""
        if self.lanes < 8:
            return 1
        return min(8, self.lanes // 4)

    @property
    def factor_b_base(self):
        """ES factor memories (``Config.es_on_chip``): a pair's ``B`` rows of weight layer
        ``l`` start at this row of the pair's ``B`` block (one ``r``-bit row per
        presynaptic neuron); its ``A`` rows are words of ``P`` lanes laid out as the
        neuron memory (:attr:`neuron_base`). Pair ``k``'s blocks start at
        ``k ·`` :attr:`factor_a_depth` and ``k ·`` :attr:`factor_b_depth`."""
        return tuple(int(b) for b in
                     np.cumsum((0,) + tuple(f for f, _ in self.config.weight_shapes[:-1])))

    @property
    def factor_a_depth(self):
        """Words of one pair's ``A`` rows (every hidden and output neuron)."""
        return self.neuron_depth

    @property
    def factor_b_depth(self):
        """Rows of one pair's ``B`` (every presynaptic neuron of every layer)."""
        return sum(f for f, _ in self.config.weight_shapes)

    @property
    def max_layer_words(self):
        """Words of the widest hidden or output layer."""
        return max(self.neuron_words)

    def pack_weights(self, weights):
        """Golden weight matrices → ``(weight_depth, lanes)`` int64 array of memory words."""
        words = np.zeros((self.weight_depth, self.lanes), dtype=np.int64)
        for w, base, per_row in zip(weights, self.weight_base, self.words_per_row):
            fan_in, fan_out = w.shape
            padded = np.zeros((fan_in, per_row * self.lanes), dtype=np.int64)
            padded[:, :fan_out] = w
            words[base:base + fan_in * per_row] = padded.reshape(fan_in * per_row, self.lanes)
        return words

    def unpack_weights(self, words):
        """Inverse of :meth:`pack_weights`: a list of ``(fan_in, fan_out)`` int64 arrays."""
        words = np.asarray(words, dtype=np.int64).reshape(self.weight_depth, self.lanes)
        weights = []
        for (fan_in, fan_out), base, per_row in zip(self.config.weight_shapes,
                                                    self.weight_base, self.words_per_row):
            rows = words[base:base + fan_in * per_row].reshape(fan_in, per_row * self.lanes)
            weights.append(rows[:, :fan_out].copy())
        return weights

    def words_to_bytes(self, words):
        """Memory words → wire bytes (lane 0 first, each weight little-endian)."""
        flat = np.asarray(words, dtype=np.int64).reshape(-1)
        raw = flat & ((1 << (8 * self.weight_bytes)) - 1)
        out = np.zeros((flat.size, self.weight_bytes), dtype=np.uint8)
        for b in range(self.weight_bytes):
            out[:, b] = (raw >> (8 * b)) & 0xFF
        return out.tobytes()

    def bytes_to_words(self, payload):
        """Wire bytes → ``(n, lanes)`` int64 words, sign-extended from ``w_bits``."""
        raw = np.frombuffer(bytes(payload), dtype=np.uint8).astype(np.int64)
        raw = raw.reshape(-1, self.weight_bytes)
        value = sum(raw[:, b] << (8 * b) for b in range(self.weight_bytes))
        bits = 8 * self.weight_bytes
        value = np.where(value >= 1 << (bits - 1), value - (1 << bits), value)
        return value.reshape(-1, self.lanes)
