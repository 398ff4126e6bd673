"""Sparse-feedback Direct Feedback Alignment (seed 000): the contract of the update unit.

After the forward pass of a training sample (see :mod:`golden.network`), with ``c`` the
output spike counts (``0 … T``) and ``a_l`` the spike counts of layer ``l`` (``a_0`` the
input counts):

1. **Error** ``e[k] = c[k] - target_count · [k == label]``, then clipped to
   ``[-error_clip, error_clip]`` when ``error_clip > 0``.
2. **Margin** When ``max_k |e[k]| ≤ margin`` the sample is learned well enough: no weight
   is read or written.
3. **Feedback** Hidden neuron ``j`` of every hidden layer sees ``k_fb`` output errors
   through a fixed table of indices and ±1 signs (:func:`feedback_table`):
   ``δ[j] = Σ_m sign[j, m] · e[index[j, m]]``, a sum of selects and ±adds (with
   ``k_fb = 1``, a select and a sign). ``k_fb = n_out`` is dense DFA. Every hidden layer
   gets its feedback straight from the output error.
4. **Gate** (the surrogate derivative's stand-in, two comparators) ``g[j] = 1`` when
   ``gate_lo ≤ a[j] ≤ gate_hi`` for the neuron's own spike count, else 0.
5. **Postsynaptic learning signal** ``p[k] = e[k]`` for the output layer,
   ``p[j] = g[j] · δ[j]`` for a hidden layer.
6. **Weight change** for the synapse from presynaptic ``i`` to postsynaptic ``j`` of a
   layer with shift ``s`` (the run-time ``lr_shift_out`` or ``lr_shift_hidden``):
   ``m = (|p[j]| · a_pre[i] + r) >> s`` and ``Δ = -sign(p[j]) · m``, the exact product
   scaled by ``2**-s`` and rounded as the config's ``rounding`` says. (In hardware: an
   unsigned multiply of the magnitudes, an add, a shift, then the sign.)

   * ``"nearest"``: ``r = 2**(s-1)`` (0 for ``s = 0``), half away from zero. Rounding
     is symmetric on purpose: products of small counts hit exact ties often, and
     round-half-up would turn every tie into a weight increase.
   * ``"stochastic"``: ``r = u >> (16 - s)``, the top ``s`` bits of the 16-bit dither
     ``u = (R + j · 0x9E37) mod 2**16``. ``R`` is the high half of the next state of
     the chip's *rounding generator* (xorshift32 from ``rounding_seed``, loaded at reset
     and kept from sample to sample), drawn once per presynaptic neuron with
     ``a_pre[i] ≠ 0`` in the order the update unit visits them: weight layers from the
     output layer down, presynaptic neurons in order, for every sample outside the
     margin (whatever its signals). Over many samples ``r`` is uniform on
     ``[0, 2**s)``, so ``E[m] = |p|·a / 2**s``: the small changes a large fan-in needs
     are made now and then instead of never. Along one row the dither is a Weyl
     sequence (0x9E37 is the 16-bit golden ratio), which spreads the row's rounding
     errors evenly over its synapses.
7. **Write** ``w' = clamp(w + Δ, -2**(w_bits-1), 2**(w_bits-1) - 1)``. A synapse with
   ``p[j] = 0``, ``a_pre[i] = 0`` or ``Δ = 0`` is not read; one whose ``w' == w`` (held at
   a rail) is not written. Only writes are counted as *weight writes*.

Every change of one sample is computed from that sample's forward pass, so no update
sees another's result and the order of the writes does not matter (only the order of
the rounding generator's draws does).
"""

import numpy as np
from numba import njit

from spikefab.golden.rng import XorShift32, xorshift32


__all__ = ["feedback_table", "output_error", "hidden_signal", "learning_signals",
           "apply_update", "round_shift", "RoundingGenerator", "draw_row_dither",
           "DITHER_STEP"]

DITHER_STEP = 0x9E37        # 2**16 / golden ratio, odd: the dither's Weyl increment


def feedback_table(config):
    """The fixed feedback table of every hidden layer: ``[(index, sign), …]``.

    ``index`` and ``sign`` have shape ``(hidden[l], k_fb)``. Generated with
    ``XorShift32(feedback_seed)``, hidden layers in order, neurons in order: a
    Fisher-Yates permutation of the outputs, in which output ``j mod n_out`` is then
    swapped to the front (so with ``k_fb = 1`` every output feeds an equal share of the
    neurons); the first ``k_fb`` entries are the indices; then one draw per entry gives
    its sign (+1 when the draw's bit 0 is 1).
    """
    rng = XorShift32(config.feedback_seed)
    tables = []
    for size in config.hidden:
        index = np.empty((size, config.k_fb), dtype=np.int64)
        sign = np.empty((size, config.k_fb), dtype=np.int64)
        for j in range(size):
            order = list(rng.permutation(config.n_out))
            front = order.index(j % config.n_out)
            order[0], order[front] = order[front], order[0]
            index[j] = order[:config.k_fb]
            sign[j] = [1 if rng.next() & 1 else -1 for _ in range(config.k_fb)]
        tables.append((index, sign))
    return tables


def output_error(config, counts, label):
    """``e = counts - target_count · onehot(label)``, clipped when ``error_clip > 0``."""
    error = np.asarray(counts, dtype=np.int64).copy()
    error[label] -= config.target_count
    if config.error_clip:
        np.clip(error, -config.error_clip, config.error_clip, out=error)
    return error


def hidden_signal(config, table, error, counts):
    """``p[j] = g[j] · Σ_m sign[j, m] · e[index[j, m]]`` for one hidden layer."""
    index, sign = table
    delta = (sign * error[index]).sum(axis=1)
    gate = (counts >= config.gate_lo) & (counts <= config.gate_hi)
    return np.where(gate, delta, 0)


def learning_signals(config, feedback, counts, label, margin=None):
    """Rules 1–5 for one sample: ``(error, signals)``.

    ``counts`` are the spike counts of every layer, input first. ``margin`` is the chip's
    run-time margin register (``config.margin`` when None). ``signals`` holds the
    postsynaptic signal ``p`` of every weight layer, or is None when the sample is within
    the margin and skips its update.
    """
    error = output_error(config, counts[-1], label)
    if np.abs(error).max() <= (config.margin if margin is None else margin):
        return error, None
    signals = [hidden_signal(config, table, error, layer_counts)
               for table, layer_counts in zip(feedback, counts[1:-1])]
    signals.append(error)
    return error, signals


@njit(cache=True, nogil=True)
def round_shift(x, shift):
    """``x / 2**shift`` rounded half away from zero (rule 6); the kernel's own rounding."""
    if shift == 0:
        return x
    magnitude = (abs(x) + (1 << (shift - 1))) >> shift
    return magnitude if x >= 0 else -magnitude


@njit(cache=True, nogil=True)
def draw_row_dither(state):
    """Advance the rounding generator (``state``, a one-element array) and return the
    row's dither ``R``: the high half of the new state (rule 6)."""
    state[0] = xorshift32(state[0])
    return state[0] >> 16


@njit(cache=True, nogil=True)
def _apply_update(weights, pre, post, shift, w_min, w_max, stochastic, state):
    writes = 0
    row_dither = 0
    for i in range(pre.shape[0]):
        a = pre[i]
        if a == 0:
            continue
        if stochastic:
            row_dither = draw_row_dither(state)
        for j in range(post.shape[0]):
            p = post[j]
            if p == 0:
                continue
            if stochastic:
                dither = (row_dither + j * DITHER_STEP) & 0xFFFF
                magnitude = (abs(p) * a + (dither >> (16 - shift))) >> shift
                delta = -magnitude if p > 0 else magnitude
            else:
                delta = round_shift(-p * a, shift)
            if delta == 0:
                continue
            old = weights[i, j]
            new = old + delta
            if new > w_max:
                new = w_max
            elif new < w_min:
                new = w_min
            if new != old:
                weights[i, j] = new
                writes += 1
    return writes


class RoundingGenerator:
    """The chip's rounding generator: a xorshift32 state, loaded with ``rounding_seed``."""

    def __init__(self, config):
        self.seed = config.rounding_seed
        self.state = np.array([self.seed], dtype=np.int64)

    def reseed(self):
        self.state[0] = self.seed

    def draw(self):
        """Advance the generator; the dither ``R`` of the row it is drawn for."""
        return int(draw_row_dither(self.state))


_NO_ROUNDING_STATE = np.zeros(1, dtype=np.int64)    # read and left at 0 when nearest


def apply_update(weights, pre, post, shift, w_min, w_max, rounding=None):
    """Apply rules 6–7 to ``weights[i, j]`` in place; return the number of writes.

    ``rounding`` is the :class:`RoundingGenerator` for stochastic rounding (advanced
    in place), None for round-to-nearest.
    """
    state = _NO_ROUNDING_STATE if rounding is None else rounding.state
    return _apply_update(weights, np.asarray(pre, dtype=np.int64),
                         np.asarray(post, dtype=np.int64), shift, w_min, w_max,
                         rounding is not None, state)
