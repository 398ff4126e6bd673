"""Integer evolution strategies with low-rank perturbations (EGGROLL, seed 001): the
contract of the ES units.

A *generation* scores ``N = es_population`` perturbed copies of the network (members)
on one mini-batch and moves every weight by at most ``es_max_step`` toward the better
side of each antithetic pair. Nothing but integers, shifts, XOR/popcount and adds; no
member's weights are ever stored. With ``r = es_rank``, ``σ = es_sigma_shift``,
``s_l`` the ES shift register of weight layer ``l`` (``es_lr_shift`` at reset), ``K =
N / 2`` pairs and ``w`` the stored weights:

1. **Members** Member ``m ∈ 0 … N-1`` belongs to pair ``k = m // 2`` with sign
   ``s = +1`` for even ``m`` and ``s = -1`` for odd ``m``. Each pair has a 32-bit *pair
   seed* ``q_k`` (the host draws it and sends it; see the schedule below).
2. **Factors** A pair's Rademacher factors come from ``XorShift32(q_k)``
   (:mod:`golden.rng`; seed 0 becomes ``0x9E3779B9``): its *words* are the generator's
   successive states ``x_1 = xorshift32(q_k), x_2 = xorshift32(x_1), …``. Weight layers
   in order, input side first; in each, ``A_l`` (``fan_out × r``) then ``B_l``
   (``fan_in × r``). Each matrix takes the next ``ceil(rows · r / 32)`` words (bits left
   over in its last word are dropped; the next matrix starts on a fresh word). Entry
   ``(row, t)`` is bit ``n = row · r + t`` of the matrix, bit ``n mod 32`` of its word
   ``n div 32`` (LSB first): ``+1`` when the bit is 1, ``-1`` when it is 0. A row's ``r``
   bits, entry ``t`` at bit ``t``, are the row's *factor bits* ``a_l[j]`` / ``b_l[i]``.
   (``A`` first: the update block keeps a pair's ``A_l`` rows and streams ``B_l`` row by
   row, in step with the weight rows.)
3. **Rank sum** of the synapse from presynaptic ``i`` to postsynaptic ``j``:
   ``S[i, j] = Σ_t A[j, t] · B[i, t] = r - 2 · popcount(a[j] XOR b[i])``, in
   ``[-r, r]``. This is what the chip computes: an ``r``-bit XOR, a popcount, a shift.
4. **Member weight** ``w̃ = clamp(w + s · (S << σ), w_min, w_max)``, computed on the fly
   wherever the forward pass reads ``w`` (the synapse engine, per synapse event, from
   the weight it reads and the factor bits of the spiking row and of each lane's
   neuron), and never stored. The forward pass is then :mod:`golden.lif` on ``w̃``:
   ``Config``'s ``v_bits`` guarantee holds because ``w̃`` is a ``w_bits`` weight. (In
   float, EGGROLL adds ``(x B)(s σ/√r A)ᵀ`` to ``x W``; the saturation makes the
   integer member weight exact per synapse instead.)
5. **Fitness** of member ``m`` on the generation's mini-batch of ``B`` samples (each
   run from membranes 0, as every sample), from the output error ``e_b`` of
   :func:`golden.learning.output_error` (counts minus ``target_count ·
   onehot(label)``, clipped to ``error_clip`` when set) and the config's ``margin``:
   ``f_m = -Σ_b Σ_k (max(|e_b[k]| - margin, 0)² << (2 if k = label_b else 0))``.
   The chip's readout computes ``e`` and compares it with the margin already; the
   fitness adds squares of ``|e| - margin`` (at most ``T``: a ``count_bits``-wide
   squarer or a small table), the label's shifted left by 2 (``ES_LABEL_SHIFT``).
   Each part was measured on digits (golden, 2,880 generations unless said):

   * squared, not absolute: ``-Σ|e|`` reached 39 % test accuracy after 540
     generations where ``-Σe²`` reached 72 %;
   * the margin: with plain ``-Σe²`` an output neuron that fires a little on other
     classes is pushed below threshold for good, and once silent no member's
     perturbation makes it fire again, so nothing tells the rule to revive it (seeds
     1–3: 94.7, 69.9 (three outputs dead), 86.1 %). A margin forgives those few
     spikes: 93.9, 96.1, 84.7 %;
   * the label's weight 4 keeps the pull toward the target count stronger than the
     push from the other nine outputs: 93.3, 93.6, 94.2 % (seed 4: 91.9 %).
6. **Pair signal** (the host's, sent to the chip): ``Δ_k = f_{2k} - f_{2k+1}`` (the +
   member better: positive), ``M = Σ_k |Δ_k|``, and ``d_k = 0`` for every pair when
   ``M = 0``, else ``d_k = sign(Δ_k) · min(3, (3 · K · |Δ_k| + M) div (2 · M))``: the
   pair's difference in units of two thirds of the mean ``|Δ|``, rounded half up and
   clipped to ``±3`` (``ES_SIGNAL_MAX``), so a pair whose members scored within a
   third of the mean difference of each other moves nothing. A small signed integer:
   the update block adds ``d_k · S`` with a shift and an add. (Plain ``sign(Δ_k)``,
   every pair alike, reached 82 % on digits after 1,440 generations, this rule 92 %:
   near-ties carry mostly the mini-batch's noise.)
7. **Update** ``Z[i, j] = Σ_k d_k · S_k[i, j]``, exact (``|Z| ≤ 3 · K · r``: 14 bits
   and a sign), then, like DFA's rule 6 of :mod:`golden.learning`,
   ``m = min((|Z| + ρ) >> s_l, es_max_step)`` and ``Δ = sign(Z) · m`` (toward the
   better member). The rounding offset ``ρ`` is ``2**(s_l-1)`` (0 for ``s_l = 0``) with
   ``rounding="nearest"``; with ``"stochastic"`` it is the top ``s_l`` bits of the
   dither ``u = (R + j · 0x9E37) mod 2**16``, ``R`` the high half of the rounding
   generator's next state (:class:`golden.learning.RoundingGenerator`, kept across
   generations), drawn once for *every* row ``i`` of every layer, layers input side
   first, rows in order, every generation.
8. **Write** ``w' = clamp(w + Δ, w_min, w_max)``. A synapse with ``Δ = 0`` is not
   written, nor one whose ``w' == w`` (held at a rail); only writes are counted as
   weight writes. Every change is computed from this generation's fitnesses, so the
   order of the writes does not matter (only that of the dither draws).

**Schedule** (the host's side, :func:`generation_plan`): the run's generator is
``XorShift32(seed + ORDER_SEED_OFFSET)`` (0x5EED, :mod:`golden.rng`), the generator of
DFA's training order. Each epoch draws a permutation of the training set from it (:meth:`XorShift32.permutation`); generation
``g`` of the epoch scores samples ``perm[g·B : (g+1)·B]`` (the last one may hold fewer),
and before it, its ``K`` pair seeds are the generator's next ``K`` values. An ES *epoch*
is ``ceil(n_train / B)`` generations. Before generation ``g`` of the run (counted from
0 over all epochs) the host sets every shift register to
:meth:`Config.es_lr_shift_at(g) <spikefab.config.Config.es_lr_shift_at>`
(``es_lr_shift``, one more after each ``es_anneal_generations``, at most
``es_anneal_max`` more). Over the wire, per generation: the samples, the pair seeds,
and back the fitnesses; the host sends ``d_k``.

:class:`GoldenES` runs it. For speed it does not run rule 4 per synapse event: the
first layer's synaptic input is summed as ``x W + s · 2**σ · (x B) Aᵀ`` plus a
correction where the clamp acts, and later layers run :mod:`golden.lif`'s kernel on a
temporary copy of each member's weights. Integer sums are exact in any order, so the
spikes are those of the on-the-fly kernel :func:`run_member_on_the_fly` (what the chip
does; ``tests/test_es.py`` checks the two against each other and against a plain
statement of rules 2–4).
"""

from dataclasses import dataclass

import numpy as np
from numba import njit
from threadpoolctl import ThreadpoolController

from spikefab.golden.learning import DITHER_STEP, draw_row_dither
from spikefab.golden.lif import _run_layer
from spikefab.golden.network import ForwardResult, GoldenNet, decide
from spikefab.golden.rng import XorShift32, xorshift32


__all__ = ["GoldenES", "GenerationResult", "pair_factors", "factor_words", "rank_sums",
           "member_weights", "run_member_on_the_fly", "fitness", "pair_signals",
           "accumulate_update", "apply_es_update", "generation_plan", "member_sign",
           "ES_SIGNAL_MAX", "ES_LABEL_SHIFT"]

# The float products here are small: one BLAS thread is fastest and leaves the other
# cores alone (OpenBLAS's threads spin on a busy machine: 4× slower on two shared cores).
BLAS = ThreadpoolController()
#: The label's squared error counts ``2**ES_LABEL_SHIFT`` times in the fitness (rule 5).
ES_LABEL_SHIFT = 2
#: The largest pair signal ``|d_k|`` (rule 6).
ES_SIGNAL_MAX = 3
#: popcount of a byte: factor rows have at most 8 bits.
POPCOUNT8 = np.array([bin(x).count("1") for x in range(256)], dtype=np.int64)


def member_sign(member):
    """Rule 1: ``+1`` for an even member, ``-1`` for an odd one."""
    return 1 - 2 * (member & 1)


# -- rule 2: factors -----------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _words(state, out):
    for n in range(out.shape[0]):
        state = xorshift32(state)
        out[n] = state
    return state


def factor_words(state, count):
    """The ``count`` words that follow generator state ``state`` (int64 array), and the
    state after the last."""
    out = np.empty(count, dtype=np.int64)
    state = _words(state, out)
    return out, int(state)


def _matrix_rows(state, rows, rank):
    """The factor bits of a ``rows × rank`` matrix from the words after ``state``."""
    words, state = factor_words(state, -(-rows * rank // 32))
    bits = np.unpackbits(words.astype("<u4").view(np.uint8), bitorder="little")
    bits = bits[:rows * rank].reshape(rows, rank).astype(np.int64)
    return bits @ (1 << np.arange(rank, dtype=np.int64)), state


def pair_factors(config, seed):
    """Rule 2: ``[(a, b)]`` per weight layer, input side first: the factor bits of each
    row of ``A`` (``fan_out`` rows) and ``B`` (``fan_in`` rows) as int64 ``r``-bit
    integers."""
    state = XorShift32(seed).state
    factors = []
    for fan_in, fan_out in config.weight_shapes:
        a, state = _matrix_rows(state, fan_out, config.es_rank)
        b, state = _matrix_rows(state, fan_in, config.es_rank)
        factors.append((a, b))
    return factors


# -- rules 3 and 4: rank sums and member weights -------------------------------------------

def rank_sums(config, factors):
    """Rule 3: ``S = r - 2 · popcount(a[j] XOR b[i])`` of every layer, ``(fan_in, fan_out)``
    int8 arrays."""
    r = config.es_rank
    return [(r - 2 * POPCOUNT8[b[:, None] ^ a[None, :]]).astype(np.int8)
            for a, b in factors]


def _perturb(config, w, S, sign):
    """Rule 4 on a whole matrix: ``clamp(w + sign · (S << σ))`` (the temporary copy)."""
    shifted = S.astype(np.int32) << config.es_sigma_shift
    member = w.astype(np.int32) + shifted if sign > 0 else w.astype(np.int32) - shifted
    return np.clip(member, config.w_min, config.w_max).astype(w.dtype)


def member_weights(config, weights, factors, sign):
    """Rule 4 for every layer: the weights member ``sign`` of a pair uses (a copy)."""
    return [_perturb(config, w, S, sign)
            for w, S in zip(weights, rank_sums(config, factors))]


@njit(cache=True, nogil=True)
def _run_layer_on_the_fly(raster, weights, a, b, rank, sign, sigma_shift, w_min, w_max,
                          popcount8, threshold, leak_shift, v_min, v_max, reset_zero,
                          out_raster, v):
    """golden.lif's kernel with rule 4 applied per synapse event."""
    timesteps, n_pre = raster.shape
    n_post = weights.shape[1]
    current = np.empty(n_post, dtype=np.int64)
    sops = 0
    for t in range(timesteps):
        current[:] = 0
        for i in range(n_pre):
            if raster[t, i]:
                sops += n_post
                for j in range(n_post):
                    S = rank - 2 * popcount8[a[j] ^ b[i]]
                    w = weights[i, j] + sign * (S << sigma_shift)
                    if w > w_max:
                        w = w_max
                    elif w < w_min:
                        w = w_min
                    current[j] += w
        for j in range(n_post):
            x = v[j]
            u = x - (x >> leak_shift) + current[j]
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


def run_member_on_the_fly(net, factors, sign, raster):
    """The forward pass of one member as the chip runs it: every synapse event reads
    ``w`` and adds ``clamp(w + sign · (S << σ))`` (rules 3–4). ``net`` is a
    :class:`~golden.network.GoldenNet` (or :class:`GoldenES`)."""
    config, lif = net.config, net.lif
    spikes = net.check_raster(raster)
    counts = [spikes.sum(axis=0, dtype=np.int64)]
    sops = 0
    for w, (a, b) in zip(net.weights, factors):
        out = np.empty((spikes.shape[0], w.shape[1]), dtype=np.uint8)
        v = np.zeros(w.shape[1], dtype=np.int64)
        sops += _run_layer_on_the_fly(spikes, w, a, b, config.es_rank, sign,
                                      config.es_sigma_shift, config.w_min, config.w_max,
                                      POPCOUNT8, lif.threshold, lif.leak_shift, lif.v_min,
                                      lif.v_max, lif.reset_zero, out, v)
        spikes = out
        counts.append(spikes.sum(axis=0, dtype=np.int64))
    return ForwardResult(counts=counts, prediction=decide(counts[-1]), sops=sops)


@njit(cache=True, nogil=True)
def _run_layer_batch(rasters, weights, threshold, leak_shift, v_min, v_max, reset_zero,
                     out):
    """golden.lif's kernel over a batch of samples, each from membranes 0."""
    n_post = weights.shape[1]
    sops = 0
    for n in range(rasters.shape[0]):
        v = np.zeros(n_post, dtype=np.int64)
        sops += _run_layer(rasters[n], weights, threshold, leak_shift, v_min, v_max,
                           reset_zero, out[n], v)
    return sops


@njit(cache=True, nogil=True)
def _input_currents(rasters, weights, rows, out):
    """``out[n, t] += Σ_i rasters[n, t, i] · weights[i]`` over the rows flagged in
    ``rows``: the synaptic input of every sample and timestep, summed exactly."""
    n_samples, timesteps, n_pre = rasters.shape
    n_post = weights.shape[1]
    for n in range(n_samples):
        for t in range(timesteps):
            for i in range(n_pre):
                if rasters[n, t, i] and rows[i]:
                    for j in range(n_post):
                        out[n, t, j] += weights[i, j]


@njit(cache=True, nogil=True)
def _lif_from_currents(currents, threshold, leak_shift, v_min, v_max, reset_zero, out):
    """golden.lif's rules 2–5 on given synaptic inputs ``(B, T, n)``, membranes from 0."""
    n_samples, timesteps, n_post = currents.shape
    v = np.empty(n_post, dtype=np.int64)
    for n in range(n_samples):
        v[:] = 0
        for t in range(timesteps):
            for j in range(n_post):
                x = v[j]
                u = x - (x >> leak_shift) + np.int64(currents[n, t, j])
                if u > v_max:
                    u = v_max
                elif u < v_min:
                    u = v_min
                if u >= threshold:
                    out[n, t, j] = 1
                    u = 0 if reset_zero else u - threshold
                else:
                    out[n, t, j] = 0
                v[j] = u


def _signs(bits, rank):
    """Factor bits → a ``(rows, rank)`` float32 matrix of ±1."""
    return (((bits[:, None] >> np.arange(rank)) & 1) * 2 - 1).astype(np.float32)


def batch_output_counts(lif, weights, rasters):
    """Output spike counts ``(B, n_out)`` of one weight set on a batch of rasters
    ``(B, T, n_in)``, and the synaptic operations."""
    spikes = rasters
    sops = 0
    for w in weights:
        out = np.empty((spikes.shape[0], spikes.shape[1], w.shape[1]), dtype=np.uint8)
        sops += _run_layer_batch(spikes, w, lif.threshold, lif.leak_shift, lif.v_min,
                                 lif.v_max, lif.reset_zero, out)
        spikes = out
    return spikes.sum(axis=1, dtype=np.int64), sops


# -- rules 5 and 6: fitness and pair signals -----------------------------------------------

def fitness(config, counts, labels):
    """Rule 5 for output counts ``(B, n_out)`` and their labels."""
    counts = np.asarray(counts, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    error = counts.copy()
    error[rows, labels] -= config.target_count
    if config.error_clip:
        np.clip(error, -config.error_clip, config.error_clip, out=error)
    excess = np.maximum(np.abs(error) - config.margin, 0)
    squares = excess * excess
    squares[rows, labels] <<= ES_LABEL_SHIFT
    return -int(squares.sum())


def pair_signals(fitnesses):
    """Rule 6: the pairs' signals ``d_k ∈ [-3, 3]`` from the ``N`` members' fitnesses."""
    f = np.asarray(fitnesses, dtype=np.int64)
    delta = f[0::2] - f[1::2]
    total = int(np.abs(delta).sum())
    if total == 0:
        return np.zeros(len(delta), dtype=np.int64)
    size = (ES_SIGNAL_MAX * len(delta) * np.abs(delta) + total) // (2 * total)
    return np.sign(delta) * np.minimum(ES_SIGNAL_MAX, size)


# -- rules 7 and 8: the update -------------------------------------------------------------

def accumulate_update(config, rank_sums_per_pair, signals):
    """Rule 7's ``Z = Σ_k d_k · S_k`` of every layer (int32), from each pair's
    :func:`rank_sums`."""
    shapes = config.weight_shapes
    Z = [np.zeros(shape, dtype=np.int32) for shape in shapes]
    for S, d in zip(rank_sums_per_pair, signals):
        if d:
            for layer in range(len(shapes)):
                Z[layer] += np.int32(d) * S[layer].astype(np.int32)
    return Z


@njit(cache=True, nogil=True)
def _apply_es_update(weights, Z, shift, max_step, w_min, w_max, stochastic, state):
    writes = 0
    row_dither = 0
    half = (1 << shift) >> 1
    for i in range(Z.shape[0]):
        if stochastic:
            row_dither = draw_row_dither(state)
        for j in range(Z.shape[1]):
            z = Z[i, j]
            if z == 0:
                continue
            if stochastic:
                dither = (row_dither + j * DITHER_STEP) & 0xFFFF
                offset = dither >> (16 - shift)
            else:
                offset = half
            step = (abs(z) + offset) >> shift
            if step > max_step:
                step = max_step
            if step == 0:
                continue
            old = weights[i, j]
            new = old + step if z > 0 else old - step
            if new > w_max:
                new = w_max
            elif new < w_min:
                new = w_min
            if new != old:
                weights[i, j] = new
                writes += 1
    return writes


_NO_ROUNDING_STATE = np.zeros(1, dtype=np.int64)


def apply_es_update(config, weights, Z, shifts, rounding=None):
    """Rules 7–8 on every layer in place, input side first; return the weight writes.

    ``shifts`` are the layers' ES shifts; ``rounding`` the
    :class:`~golden.learning.RoundingGenerator` (stochastic rounding) or None."""
    state = _NO_ROUNDING_STATE if rounding is None else rounding.state
    writes = 0
    for w, z, shift in zip(weights, Z, shifts):
        writes += _apply_es_update(w, np.asarray(z, dtype=np.int64), shift,
                                   config.es_max_step, config.w_min, config.w_max,
                                   rounding is not None, state)
    return writes


# -- the schedule --------------------------------------------------------------------------

def generation_plan(rng, n_train, batch, n_seeds):
    """One epoch's generations: yields ``(sample indices, pair seeds)``; ``rng`` is the
    run's :class:`~golden.rng.XorShift32`, advanced as the schedule says (``batch =
    es_batch``, ``n_seeds = es_population // 2``; other mini-batch learners pass 0)."""
    permutation = rng.permutation(n_train)
    for start in range(0, n_train, batch):
        seeds = np.array([rng.next() for _ in range(n_seeds)], dtype=np.int64)
        yield permutation[start:start + batch], seeds


# -- the model -----------------------------------------------------------------------------

@dataclass
class GenerationResult:
    fitness: np.ndarray       # (N,) member fitnesses, rule 5
    signals: np.ndarray       # (K,) d_k, rule 6
    correct: int              # correct decisions of all members on the batch
    sops: int                 # synaptic operations of all members' forward passes
    weight_writes: int


class GoldenES(GoldenNet):
    """Bit-exact integer model of the on-chip ES learner: :class:`GoldenNet`'s weights,
    forward pass and rounding generator, trained a generation at a time.

    :attr:`lr_shifts` are the ES shift registers of the weight layers (``es_lr_shift``
    at reset); there is no margin register.
    """

    def __init__(self, config, weights=None):
        super().__init__(config, weights)
        self.lr_shifts = (config.es_lr_shift,) * len(self.weights)
        self.margin = None

    def train(self, raster, label):
        raise TypeError("GoldenES learns a generation at a time: use generation()")

    def evaluate_population(self, rasters, labels, pair_seeds):
        """Rules 1–5: ``(fitness (N,), rank sums per pair, correct, sops)``.

        Every member's first layer sees the same input spikes ``x``, and rule 4 is
        linear until a member weight saturates, so its synaptic input is computed as the
        chip's sum would come out, without the chip's order of work:
        ``x W`` (once per batch) ``+ s · 2**σ · (x B) Aᵀ`` (the rank sums, summed over
        the spikes first: exact integers) ``+ x C``, where ``C = w̃ - (w + s·(S << σ))``
        is non-zero only where the clamp of rule 4 acted. Later layers run the LIF
        kernel on a temporary copy of the member's weights.
        """
        config, lif = self.config, self.lif
        rasters = np.ascontiguousarray(rasters, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64)
        n_samples, timesteps, n_in = rasters.shape
        first = self.weights[0]
        n_first = first.shape[1]
        base = np.zeros((n_samples, timesteps, n_first), dtype=np.int32)
        _input_currents(rasters, first, np.ones(n_in, dtype=np.bool_), base)
        x = rasters.reshape(n_samples * timesteps, n_in).astype(np.float32)
        first_sops = int(rasters.sum()) * n_first
        spikes = np.empty((n_samples, timesteps, n_first), dtype=np.uint8)
        fitnesses = np.empty(2 * len(pair_seeds), dtype=np.int64)
        sums, correct, sops = [], 0, 0
        for k, seed in enumerate(pair_seeds):
            factors = pair_factors(config, int(seed))
            S = rank_sums(config, factors)
            sums.append(S)
            a, b = factors[0]
            # (x B) Aᵀ: integers below 2**24 in magnitude, exact in float32
            low = (x @ _signs(b, config.es_rank)) @ _signs(a, config.es_rank).T
            low = np.rint(low).astype(np.int32).reshape(base.shape) << config.es_sigma_shift
            for m, sign in ((2 * k, 1), (2 * k + 1, -1)):
                linear = first.astype(np.int32) + sign * (S[0].astype(np.int32)
                                                          << config.es_sigma_shift)
                clamped = np.clip(linear, config.w_min, config.w_max)
                currents = base + low if sign > 0 else base - low
                rows = (clamped != linear).any(axis=1)
                if rows.any():
                    _input_currents(rasters, clamped - linear, rows, currents)
                _lif_from_currents(currents, lif.threshold, lif.leak_shift, lif.v_min,
                                   lif.v_max, lif.reset_zero, spikes)
                weights = [_perturb(config, w, s, sign)
                           for w, s in zip(self.weights[1:], S[1:])]
                counts, member_sops = batch_output_counts(lif, weights, spikes)
                fitnesses[m] = fitness(config, counts, labels)
                correct += int((counts.argmax(axis=1) == labels).sum())
                sops += first_sops + member_sops
        return fitnesses, sums, correct, sops

    def generation(self, rasters, labels, pair_seeds):
        """One generation on a mini-batch ``(B, T, n_in)`` with the given pair seeds."""
        with BLAS.limit(limits=1, user_api="blas"):
            fitnesses, sums, correct, sops = self.evaluate_population(rasters, labels,
                                                                      pair_seeds)
        signals = pair_signals(fitnesses)
        Z = accumulate_update(self.config, sums, signals)
        writes = apply_es_update(self.config, self.weights, Z, self.lr_shifts,
                                 self.rounding)
        return GenerationResult(fitness=fitnesses, signals=signals, correct=correct,
                                sops=sops, weight_writes=writes)
